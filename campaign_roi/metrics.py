"""Metric definitions (SPEC §5): one Polars expression per ratio KPI, null-safe.

Counts and sums come from SQL (``queries/marts``); every ratio is defined here once and
documented in docs/metrics.md (a test checks that every KPI below is documented there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import duckdb

#: 2^64: :func:`exact_sum` adds every value as an integer number of 2^-64 units
EXACT_SUM_UNIT = 18446744073709551616.0
#: 2^62: the largest absolute total (of absolute values) :func:`exact_sum` adds exactly
EXACT_SUM_LIMIT = 4611686018427387904.0

#: The SQL twin of :func:`exact_sum`, defined on every connection (usable in ad-hoc SQL too).
#: The total goes through its decimal text: DuckDB's HUGEINT → DOUBLE cast rounds twice.
EXACT_SUM_MACRO = """
CREATE OR REPLACE TEMP MACRO exact_sum(x) AS
    CAST(CAST(sum(CAST(trunc(CAST(x AS DOUBLE) * 18446744073709551616.0) AS HUGEINT))
              AS VARCHAR) AS DOUBLE) / 18446744073709551616.0
"""


def define_exact_sum(con: duckdb.DuckDBPyConnection) -> None:
    """Define the ``exact_sum`` macro (:data:`EXACT_SUM_MACRO`) on ``con``: datasets do when
    they connect; library functions that take any connection do before their queries."""
    con.sql(EXACT_SUM_MACRO)


def exact_sum(column: str | pl.Expr) -> pl.Expr:
    """The sum of money and credits, the same to the last bit whatever the row order.

    A floating-point sum adds its rows in the order the threads deliver them (DuckDB and
    Polars both split the work), and the last bits of the total follow that order: the same
    data gave ``gmv`` 18599999.429999977 on one run and 18599999.42999989 on the next
    (SPEC §11: same input, same bytes out). Here every value becomes an integer number of
    2^-64 units (exact for any value of at least 2^-12, as a double has 53 significant
    bits; smaller ones are cut at 2^-64 ≈ 5e-20), the integers are added exactly as 128-bit
    integers, and the total is rounded once: the correctly rounded exact sum (12.34 added
    1,000 times is 12340.0, not 12340.000000000115).

    128 bits hold totals below 2^63, and Polars would wrap beyond them: when the absolute
    values add up to 2^62 (4.6e18) or more, the result is the plain float sum instead (the
    SQL macro raises an error there)."""
    col = pl.col(column) if isinstance(column, str) else column
    # clipped so that the cast never fails; a clipped value makes the other branch win
    units = (col.clip(-EXACT_SUM_LIMIT, EXACT_SUM_LIMIT) * EXACT_SUM_UNIT).cast(pl.Int128)
    return (pl.when(col.abs().sum() < EXACT_SUM_LIMIT)
            .then(units.sum().cast(pl.Float64) / EXACT_SUM_UNIT)
            .otherwise(col.sum()))


def ratio(numerator: str | pl.Expr, denominator: str | pl.Expr) -> pl.Expr:
    """numerator ÷ denominator; null (never 0 or infinity) when the denominator is 0 or null."""
    num = pl.col(numerator) if isinstance(numerator, str) else numerator
    den = pl.col(denominator) if isinstance(denominator, str) else denominator
    return pl.when(den.is_not_null() & (den != 0)).then(num.cast(pl.Float64) / den).otherwise(None)


def change(value: str | pl.Expr, base: str | pl.Expr) -> pl.Expr:
    """Relative change (value − base) ÷ base; null when the base is 0 or missing."""
    v = pl.col(value) if isinstance(value, str) else value
    b = pl.col(base) if isinstance(base, str) else base
    return ratio(v - b, b)


#: KPI name → (expression over the kpi_counts columns, one-line definition)
KPIS: dict[str, tuple[pl.Expr, str]] = {
    "new_users": (pl.col("new_users").cast(pl.Float64),
                  "users whose first register falls in P"),
    "active_users": (pl.col("active_users").cast(pl.Float64),
                     "distinct users with a register, active, campaign_join or order event in P"),
    "dau_peak": (pl.col("dau_peak").cast(pl.Float64),
                 "max over P's days (within the data) of distinct active users that day"),
    "dau_avg": (pl.col("dau_avg").cast(pl.Float64),
                "mean over P's days (within the data) of distinct active users that day"),
    "payers": (pl.col("payers").cast(pl.Float64), "distinct users with an order in P"),
    "new_payers": (pl.col("new_payers").cast(pl.Float64),
                   "users whose first order falls in P"),
    "paid_conversion_rate": (ratio("payers", "active_users"), "payers ÷ active_users"),
    "gmv": (pl.col("gmv"), "sum of order amounts in P"),
    "refunds": (pl.col("refunds"), "sum of refund amounts in P"),
    "net_revenue": (pl.col("gmv") - pl.col("refunds"), "gmv − refunds"),
    "spend": (pl.col("spend"), "total cost in P (null without spend data)"),
    "cac": (ratio("spend", "new_users"), "spend ÷ new_users (blended)"),
    "paid_cac": (ratio("paid_spend", "paid_new_users"),
                 "paid groups' spend ÷ new users attributed (last_non_direct, register) to paid groups"),
    "passive_share": (ratio("passive_new_users", "new_users"),
                      "new users attributed (last_non_direct, register) to passive groups ÷ new_users"),
    "campaign_roi": (ratio("campaign_revenue", "campaign_cost"),
                     "Σ campaign revenue ÷ Σ campaign cost over campaigns starting in P (§5.2)"),
    "m1_retention": (ratio("m1_retained", "m1_cohort"),
                     "of users registered in P whose day 30–59 window ended by the data's last day: "
                     "share active on days 30–59 after registering"),
    "invitee_m1_retention": (ratio("invitee_m1_retained", "invitee_m1_cohort"),
                             "m1_retention of new users with a referrer_id"),
    "high_value_retention": (ratio("high_value_retained", "high_value_pairs"),
                             "over (user, calendar month m of P) pairs with order total ≥ 200 in m "
                             "and m+1 wholly within the data: share active in m+1"),
    "m3_payer_retention": (ratio("m3_payer_retained", "m3_payer_cohort"),
                           "of new payers of P whose day 90–119 window ended by the data's last "
                           "day: share active on days 90–119 after their first order"),
}

#: how each KPI is displayed: count, money, rate (a fraction), roi (shown 1:x) or average
KPI_KIND: dict[str, str] = {
    name: (
        "rate" if name.endswith(("_rate", "_share", "_retention"))
        else "money" if name in ("gmv", "refunds", "net_revenue", "spend", "cac", "paid_cac")
        else "roi" if name == "campaign_roi"
        else "average" if name == "dau_avg"
        else "count"
    )
    for name in KPIS
}


CHANNEL_METRICS: dict[str, str] = {
    "spend": "cost of the group's spend rows in P (0 when the spend data has none; null "
             "without spend data)",
    "touches": "touch events of the group in P",
    "new_users": "register conversions in P credited to the group under the model",
    "paid_rate": "credit-weighted share of those users with an order by the end of P "
                 "(null for markov, whose split is not per user)",
    "first_orders": "first_order conversions in P credited to the group",
    "revenue": "order value in P credited to the group",
    "cac": "spend ÷ new_users",
    "roas": "revenue ÷ spend",
    "roi_net": "(revenue − spend) ÷ spend",
}

CAMPAIGN_METRICS: dict[str, str] = {
    "cost": "sum of spend rows carrying the campaign_id (null when there are none)",
    "participants": "distinct users with its campaign_join within start_date..end_date",
    "converted_payers": "participants with an order from their first join to end_date + 7 days",
    "conversion_rate": "converted_payers ÷ participants",
    "revenue": "amounts of those orders",
    "roi": "revenue ÷ cost (tables show it as 1:x)",
    "cost_per_participant": "cost ÷ participants",
    "cost_per_payer": "cost ÷ converted_payers",
    "attributed_revenue": "order value (orders in --period, or all) credited under the model "
                          "to touches carrying the campaign_id",
}


def metrics_markdown() -> str:
    """docs/metrics.md (a test checks the file equals this text)."""
    out = [
        "# Metric definitions",
        "",
        "<!-- generated by `python -m campaign_roi.metrics`; do not edit by hand -->",
        "",
        "Period P is a closed range of local dates in the dataset's time zone. Every ratio is",
        "null (never 0 or infinity) when its denominator is 0 or missing. Activity = register,",
        "active, campaign_join or order events. Counts and sums come from",
        "`queries/marts/kpi_counts.sql`; ratios from `campaign_roi/metrics.py`.",
        "",
        "Every sum of money or credits (gmv, refunds, spend, revenue, attributed conversions",
        "and value, order totals) is an exact sum, `exact_sum` in SQL and Python: each value",
        "counted in units of 2^-64, the units added as 128-bit integers, the total rounded once",
        "to a double. It is the correctly rounded sum of the values (12.34 added 1,000 times is",
        "12340.0, where a running float sum gives 12340.000000000115) and it does not depend on",
        "the order rows arrive in, so the same data gives the same bytes on every run and any",
        "thread count. Beyond 2^62 (4.6e18) in absolute value, SQL raises an error and the",
        "Polars twin falls back to a float sum.",
        "",
        "## KPIs (`summary`)",
        "",
        "| metric | definition |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {text} |" for name, (_, text) in KPIS.items()]
    out += [
        "",
        "`previous` is the period of the same kind just before (环比, QoQ), `last_year` the same",
        "period a year earlier (同比, YoY); `change_*` = (value − base) ÷ base. A period with no",
        "data at all shows null. Targets: `kpi = x` → attainment = value ÷ x; `kpi_max = x` →",
        "x ÷ value; `kpi_min = x` → value ÷ x. Attainment ≥ 1 always means the target is met.",
        "",
        "## Channel table (`channels`, §5.1)",
        "",
        "| column | definition |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {text} |" for name, text in CHANNEL_METRICS.items()]
    out += ["", "## Campaign table (`campaigns`, §5.2)", "", "| column | definition |", "|---|---|"]
    out += [f"| `{name}` | {text} |" for name, text in CAMPAIGN_METRICS.items()]
    out += ["", "Campaigns listed for `--period P` are those starting in P (as for `campaign_roi`).",
            ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(metrics_markdown(), end="")

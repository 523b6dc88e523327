"""Metric definitions (SPEC §5): one Polars expression per ratio KPI, null-safe.

Counts and sums come from SQL (``queries/marts``); every ratio is defined here once and
documented in docs/metrics.md (a test checks that every KPI below is documented there).
"""

from __future__ import annotations

import polars as pl


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

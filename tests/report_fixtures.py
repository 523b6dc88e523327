"""Realistic fake AGGREGATED frames (the seed story's 2025Q3, SPEC §9) for chart and report
tests. Deterministic (no randomness): reuse them in any test that needs a report or chart.

Each function returns a frame with exactly the contract columns and dtypes the analysis
modules produce (SPEC §7 names); ``report_data()`` bundles them into a ``ReportData``.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

XSS_NAME = "<script>alert(1)</script>"


def summary_frame() -> pl.DataFrame:
    # metric, value, previous, last_year, target  (changes/attainment derived below)
    rows: list[tuple[str, float | None, float | None, float | None, float | None]] = [
        ("new_users", 325_000, 282_600, 253_900, None),
        ("active_users", 525_600, 489_000, 401_200, None),
        ("dau_peak", 128_000, 114_300, 96_500, None),
        ("dau_avg", 97_412.5, 88_120.3, 71_004.9, None),
        ("payers", 41_000 * 1.0, 30_318, 24_070, None),
        ("new_payers", 41_000, 29_900, 22_800, None),
        ("paid_conversion_rate", 0.078, 0.062, 0.060, None),
        ("gmv", 18_600_000, 15_200_000, 12_100_000, 17_714_000),
        ("refunds", 412_000, 365_500, 298_000, None),
        ("net_revenue", 18_188_000, 14_834_500, 11_802_000, None),
        ("spend", 20_150_000, 24_021_000, 19_800_000, None),
        ("cac", 62.0, 85.0, 78.0, 55.0),
        ("paid_cac", 118.4, 130.7, None, None),
        ("passive_share", 0.48, 0.35, 0.31, None),
        ("campaign_roi", 3.2, 2.71, None, 3.5),
        ("m1_retention", 0.52, 0.49, None, None),
        ("invitee_m1_retention", 0.68, None, None, None),
        ("high_value_retention", 0.45, 0.43, None, None),
    ]

    def change(now: float | None, before: float | None) -> float | None:
        if now is None or before is None or before == 0:
            return None
        return now / before - 1

    def attainment(metric: str, now: float | None, target: float | None) -> float | None:
        if now is None or target is None or now == 0:
            return None
        return target / now if metric == "cac" else now / target

    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "previous": [r[2] for r in rows],
            "change_qoq": [change(r[1], r[2]) for r in rows],
            "last_year": [r[3] for r in rows],
            "change_yoy": [change(r[1], r[3]) for r in rows],
            "target": [r[4] for r in rows],
            "attainment": [attainment(r[0], r[1], r[4]) for r in rows],
        },
        schema={
            "metric": pl.Utf8, "value": pl.Float64, "previous": pl.Float64,
            "change_qoq": pl.Float64, "last_year": pl.Float64, "change_yoy": pl.Float64,
            "target": pl.Float64, "attainment": pl.Float64,
        },
    )


def channels_frame() -> pl.DataFrame:
    # channel, spend, touches, new_users, paid_rate, first_orders, revenue
    rows: list[tuple[str, float | None, int, int, float, int, float]] = [
        ("campus_community", 6_780_000.0, 610_000, 113_000, 0.102, 11_526, 7_905_000.0),
        ("kol", 7_250_000.0, 540_000, 68_000, 0.081, 5_508, 5_320_000.0),
        ("feed_ads", 6_120_000.0, 890_000, 57_000, 0.066, 3_762, 3_410_000.0),
        ("referral", None, 198_000, 87_000, 0.092, 8_004, 1_420_000.0),
        ("direct", None, 0, 0, 0.0, 0, 0.0),
        ("organic", None, 0, 0, 0.0, 0, 545_000.0),
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "channel": pl.Utf8, "spend": pl.Float64, "touches": pl.Int64,
            "new_users": pl.Int64, "paid_rate": pl.Float64, "first_orders": pl.Int64,
            "revenue": pl.Float64,
        },
        orient="row",
    )
    nu = pl.col("new_users").cast(pl.Float64)
    return frame.with_columns(
        pl.when(nu > 0).then(pl.col("spend") / nu).alias("cac"),
        pl.when(pl.col("spend") > 0).then(pl.col("revenue") / pl.col("spend")).alias("roas"),
        pl.when(pl.col("spend") > 0)
        .then((pl.col("revenue") - pl.col("spend")) / pl.col("spend"))
        .alias("roi_net"),
    )


def attribution_frame() -> pl.DataFrame:
    channels = ["campus_community", "kol", "feed_ads", "referral", "direct", "organic"]
    # credit shares per model (each row sums to 1); the models disagree on multi-touch paths
    shares = {
        "first_touch": [0.41, 0.22, 0.17, 0.12, 0.03, 0.05],
        "last_touch": [0.28, 0.16, 0.14, 0.27, 0.10, 0.05],
        "last_non_direct": [0.31, 0.18, 0.15, 0.31, 0.00, 0.05],
        "linear": [0.34, 0.19, 0.16, 0.21, 0.05, 0.05],
        "position_based": [0.35, 0.19, 0.15, 0.21, 0.05, 0.05],
        "time_decay": [0.31, 0.17, 0.15, 0.25, 0.07, 0.05],
        "markov": [0.33, 0.21, 0.13, 0.24, 0.04, 0.05],
        "shapley": [0.32, 0.20, 0.14, 0.25, 0.04, 0.05],
    }
    total_conversions, total_value = 41_000.0, 18_600_000.0
    models, chans, conv, value, share = [], [], [], [], []
    for model, row in shares.items():
        for channel, s in zip(channels, row, strict=True):
            models.append(model)
            chans.append(channel)
            conv.append(total_conversions * s)
            value.append(total_value * s)
            share.append(s)
    return pl.DataFrame(
        {"model": models, "channel": chans, "conversions": conv, "value": value, "share": share},
        schema={
            "model": pl.Utf8, "channel": pl.Utf8, "conversions": pl.Float64,
            "value": pl.Float64, "share": pl.Float64,
        },
    )


def funnel_frame() -> pl.DataFrame:
    users = [325_000, 182_000, 61_400, 41_000]
    steps = ["register", "active", "campaign_join:brand_collab", "first_order"]
    previous = [None, *users[:-1]]
    return pl.DataFrame(
        {
            "step": steps,
            "users": users,
            "conversion_from_start": [u / users[0] for u in users],
            "conversion_from_previous": [None if p is None else u / p
                                         for u, p in zip(users, previous, strict=True)],
            "dropped": [0 if p is None else p - u for u, p in zip(users, previous, strict=True)],
            "median_time_from_previous": [None, 3_600.0 * 20, 3_600.0 * 52, 3_600.0 * 75],
        },
        schema={
            "step": pl.Utf8, "users": pl.Int64, "conversion_from_start": pl.Float64,
            "conversion_from_previous": pl.Float64, "dropped": pl.Int64,
            "median_time_from_previous": pl.Float64,
        },
    )


def retention_frame() -> pl.DataFrame:
    """Monthly register cohorts 2024-07 … 2025-09, periods 0…14; cells whose window has not
    ended by 2025-09-30 are null (a staircase)."""
    cohorts, sizes, periods, values = [], [], [], []
    for i in range(15):
        year, month = 2024 + (6 + i) // 12, (6 + i) % 12 + 1
        cohort = f"{year}-{month:02d}"
        size = 80_000 + 2_500 * i
        for k in range(15):
            cohorts.append(cohort)
            sizes.append(size)
            periods.append(k)
            available = 14 - i  # complete periods for this cohort
            if k > available - 1 and k > 0:
                values.append(None)
            else:
                values.append(1.0 if k == 0 else round(0.30 + 0.22 * math.exp(-0.35 * (k - 1))
                                                       + 0.004 * i, 4))
    return pl.DataFrame(
        {"cohort": cohorts, "cohort_size": sizes, "period": periods, "retention": values},
        schema={"cohort": pl.Utf8, "cohort_size": pl.Int64, "period": pl.Int64,
                "retention": pl.Float64},
    )


SEGMENT_USERS = {
    "new": 24_300, "silent_new": 31_800, "churned": 402_000, "churn_warning": 88_500,
    "high_value": 12_900, "payer": 37_600, "potential_payer": 21_400, "active": 146_700,
}


def segments_frame() -> pl.DataFrame:
    total = sum(SEGMENT_USERS.values())
    return pl.DataFrame(
        {
            "segment": list(SEGMENT_USERS),
            "users": list(SEGMENT_USERS.values()),
            "share": [u / total for u in SEGMENT_USERS.values()],
        },
        schema={"segment": pl.Utf8, "users": pl.Int64, "share": pl.Float64},
    )


def migration_frame() -> pl.DataFrame:
    segs = list(SEGMENT_USERS)
    rows_from, rows_to, users = [], [], []
    for i, a in enumerate(segs):
        for j, b in enumerate(segs):
            stay = SEGMENT_USERS[a] // 2 if i == j else SEGMENT_USERS[a] // (10 + 3 * abs(i - j))
            rows_from.append(a)
            rows_to.append(b)
            users.append(stay)
    return pl.DataFrame(
        {"from_segment": rows_from, "to_segment": rows_to, "users": users},
        schema={"from_segment": pl.Utf8, "to_segment": pl.Utf8, "users": pl.Int64},
    )


def campaigns_frame(include_xss: bool = True) -> pl.DataFrame:
    rows = [
        ("back_to_school", "开学季新人礼", dt.date(2025, 8, 20), dt.date(2025, 9, 15),
         1_450_000.0, 168_000, 9_800, 4_510_000.0, 4_020_000.0),
        ("winback", "老用户召回计划", dt.date(2025, 7, 10), dt.date(2025, 8, 10),
         720_000.0, 99_000, 5_200, 1_890_000.0, 1_640_000.0),
        ("brand_collab", "品牌联合推广", dt.date(2025, 7, 1), dt.date(2025, 9, 30),
         2_130_000.0, 185_000, 21_000, 7_680_000.0, 6_950_000.0),
    ]
    if include_xss:
        rows.append(("pilot", XSS_NAME, dt.date(2025, 9, 1), dt.date(2025, 9, 7),
                     50_000.0, 1_200, 30, 41_000.0, 38_000.0))
    frame = pl.DataFrame(
        rows,
        schema={
            "campaign_id": pl.Utf8, "name": pl.Utf8, "start_date": pl.Date,
            "end_date": pl.Date, "cost": pl.Float64, "participants": pl.Int64,
            "converted_payers": pl.Int64, "revenue": pl.Float64,
            "attributed_revenue": pl.Float64,
        },
        orient="row",
    )
    return frame.with_columns(
        (pl.col("converted_payers") / pl.col("participants")).alias("conversion_rate"),
        (pl.col("revenue") / pl.col("cost")).alias("roi"),
        (pl.col("cost") / pl.col("participants")).alias("cost_per_participant"),
        (pl.col("cost") / pl.col("converted_payers")).alias("cost_per_payer"),
    ).select(
        "campaign_id", "name", "start_date", "end_date", "cost", "participants",
        "converted_payers", "conversion_rate", "revenue", "roi", "cost_per_participant",
        "cost_per_payer", "attributed_revenue",
    )


def daily_frame(start: dt.date = dt.date(2025, 7, 1), days: int = 92) -> pl.DataFrame:
    base = {"campus_community": 1_230, "kol": 740, "feed_ads": 620, "referral": 945,
            "direct": 180, "organic": 260}
    dates, chans, new_users, revenue = [], [], [], []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        weekly = 1.0 + 0.12 * math.sin(2 * math.pi * d / 7)
        school = 1.6 if dt.date(2025, 8, 25) <= day <= dt.date(2025, 9, 10) else 1.0
        for channel, level in base.items():
            boost = school if channel == "campus_community" else 1.0
            n = round(level * weekly * boost * (1 + 0.002 * d))
            dates.append(day)
            chans.append(channel)
            new_users.append(n)
            revenue.append(round(n * (55.0 + 10 * math.cos(d / 9)), 2))
    return pl.DataFrame(
        {"date": dates, "channel": chans, "new_users": new_users, "revenue": revenue},
        schema={"date": pl.Date, "channel": pl.Utf8, "new_users": pl.Int64,
                "revenue": pl.Float64},
    )


FRAMES = {
    "summary": summary_frame,
    "channels": channels_frame,
    "attribution": attribution_frame,
    "funnel": funnel_frame,
    "retention": retention_frame,
    "segments": segments_frame,
    "migration": migration_frame,
    "campaigns": campaigns_frame,
    "daily": daily_frame,
}


def report_data(title: str = "Growth review 2025Q3") -> ReportData:  # noqa: F821
    from campaign_roi.report import ReportData

    return ReportData(
        title=title,
        period_label="2025Q3",
        data_range=(dt.date(2024, 7, 1), dt.date(2025, 9, 30)),
        generated_at=dt.datetime(2025, 10, 8, 9, 30, tzinfo=dt.UTC),
        summary=summary_frame(),
        channels=channels_frame(),
        attribution=attribution_frame(),
        funnel=funnel_frame(),
        retention=retention_frame(),
        segments=segments_frame(),
        migration=migration_frame(),
        campaigns=campaigns_frame(),
        daily=daily_frame(),
    )

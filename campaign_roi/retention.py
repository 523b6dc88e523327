"""Cohort retention (SPEC §6).

Counting runs in DuckDB (``queries/marts/retention.sql``); rates and the null rule for
unfinished windows are Polars expressions. Definitions: docs/funnels-retention-lifecycle.md.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from campaign_roi.errors import UserError
from campaign_roi.sql_files import load_query

#: window length in days per grain
GRAIN_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}
COHORT_EVENTS: tuple[str, ...] = ("register", "first_order")
COHORT_BY: tuple[str, ...] = ("month", "week")
RETENTION_COLUMNS: tuple[str, ...] = ("cohort", "cohort_size", "period", "retention")
MAX_PERIODS = 1000


def _choice(option: str, value: object, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise UserError(f"{option} {value!r} is not valid (accepted: {', '.join(accepted)})")
    return value


def retention(
    con: duckdb.DuckDBPyConnection,
    cohort_event: str = "register",
    grain: str = "month",
    periods: int = 3,
    cohort_by: str = "month",
    by: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pl.DataFrame:
    """Cohort retention, long shape.

    Columns: [``channel`` when by='channel',] cohort (String: ``2025-07`` or ``2025-W27``),
    cohort_size (Int64), period (Int64, 0..periods), retention (Float64 in [0, 1]; null
    unless every member's period window has ended by the data's last day). Sorted by
    [channel,] cohort, period. ``start``/``end`` bound the cohort day (inclusive).
    """
    _choice("--cohort", cohort_event, COHORT_EVENTS)
    w = GRAIN_DAYS[_choice("--grain", grain, tuple(GRAIN_DAYS))]
    _choice("--cohort-by", cohort_by, COHORT_BY)
    if isinstance(periods, bool) or not isinstance(periods, int) or not 0 <= periods <= MAX_PERIODS:
        raise UserError(
            f"--periods must be a whole number from 0 to {MAX_PERIODS} (got {periods!r})"
        )
    if by is not None and by != "channel":
        raise UserError(f"--by {by!r} is not valid for retention (accepted: channel)")
    if start is not None and end is not None and start > end:
        raise UserError(f"the cohort range starts after it ends ({start} > {end})")
    params = {
        "cohort_event": cohort_event,
        "w": w,
        "periods": periods,
        "cohort_by": cohort_by,
        "start": start,
        "end": end,
        "by_mode": "none" if by is None else "channel",
    }
    counts = con.sql(load_query("marts/retention"), params=params).pl()
    table = (
        counts.with_columns(
            pl.col("by_value").cast(pl.String),
            pl.col("cohort").cast(pl.String),
            pl.col("cohort_size").cast(pl.Int64),
            pl.col("period").cast(pl.Int64),
            pl.when(pl.col("complete") & (pl.col("cohort_size") > 0))
            .then(pl.col("retained").cast(pl.Float64) / pl.col("cohort_size").cast(pl.Float64))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("retention"),
        )
        .sort("by_value", "cohort", "period", nulls_last=True)
    )
    if by is None:
        return table.select(RETENTION_COLUMNS)
    return table.rename({"by_value": by}).select(by, *RETENTION_COLUMNS)


def to_wide(long: pl.DataFrame) -> pl.DataFrame:
    """Long retention → wide: [by,] cohort, cohort_size, period_0 … period_N."""
    index = [c for c in long.columns if c not in ("period", "retention")]
    if long.height == 0:
        return long.select(index)
    n_periods = long.select(pl.col("period").max()).item() + 1
    wide = long.with_columns(
        pl.format("period_{}", pl.col("period")).alias("period")
    ).pivot(on="period", index=index, values="retention")
    period_cols = [f"period_{k}" for k in range(n_periods)]
    missing = [
        pl.lit(None, dtype=pl.Float64).alias(c) for c in period_cols if c not in wide.columns
    ]
    return wide.with_columns(missing).select(*index, *period_cols).sort(index, nulls_last=True)

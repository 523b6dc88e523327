"""Conversion funnels over the event log (SPEC §6).

Step matching runs in DuckDB (``queries/marts/funnel.sql``: the entrants' events within
their window, then a recursive CTE over the steps, one row per user and reached step, kept
as a temp table); DuckDB counts the users and the median times per step, and the summary
table (rates, drop-off) is built from those with Polars expressions. ``by="channel"`` reads
the acquisition channel afterwards, for the entrants that need it only (entries that are
not touches). Definitions and edge cases: docs/funnels-retention-lifecycle.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import polars as pl

from campaign_roi.errors import UserError
from campaign_roi.retention import (
    FIRSTS,
    acquisition_relation,
    acquisition_window,
    staged_firsts,
)
from campaign_roi.slices import user_slices
from campaign_roi.sql_files import load_query

#: event types a funnel step may name (SPEC §2)
EVENT_TYPES: tuple[str, ...] = ("touch", "register", "active", "campaign_join", "order", "refund")
#: the step names accepted besides the event types
SPECIAL_STEPS: tuple[str, ...] = ("first_order", "campaign_join:<campaign_id>")
DEFAULT_WINDOW = timedelta(days=14)

FUNNEL_COLUMNS: tuple[str, ...] = (
    "step",
    "users",
    "conversion_from_start",
    "conversion_from_previous",
    "dropped",
    "median_time_from_previous",
)


@dataclass(frozen=True)
class FunnelStep:
    """One parsed step: which events match it."""

    label: str
    event_type: str
    campaign_id: str | None = None
    first_only: bool = False


def _accepted() -> str:
    return ", ".join((*EVENT_TYPES, *SPECIAL_STEPS))


def parse_steps(steps: Sequence[str] | str) -> list[FunnelStep]:
    """Parse step names (a list, or one comma-separated string) into :class:`FunnelStep`.

    Accepted: an event type, ``first_order`` (the user's first order ever) or
    ``campaign_join:ID``. Raises :class:`UserError` naming the bad step.
    """
    items = steps.split(",") if isinstance(steps, str) else list(steps)
    if not items or all(not str(s).strip() for s in items):
        raise UserError(f"--steps is empty: give at least one step, e.g. register,first_order "
                        f"(accepted: {_accepted()})")
    parsed: list[FunnelStep] = []
    for raw in items:
        text = str(raw).strip()
        kind, sep, campaign = text.partition(":")
        kind = kind.strip().lower()
        if sep:
            campaign = campaign.strip()
            if kind != "campaign_join" or not campaign:
                raise UserError(
                    f"funnel step {text!r} is not valid: only campaign_join:<campaign_id> "
                    f"takes a value (accepted: {_accepted()})"
                )
            parsed.append(FunnelStep(f"campaign_join:{campaign}", "campaign_join", campaign))
        elif kind == "first_order":
            parsed.append(FunnelStep("first_order", "order", None, True))
        elif kind in EVENT_TYPES:
            parsed.append(FunnelStep(kind, kind))
        else:
            raise UserError(f"funnel step {text!r} is not known (accepted: {_accepted()})")
    return parsed


def _events_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return list(con.sql("SELECT * FROM events LIMIT 0").columns)


def _resolve_by(con: duckdb.DuckDBPyConnection, by: str | None) -> tuple[str, str, str | None]:
    """Return (by_mode, events column, output column name) for the SQL parameters."""
    if by is None:
        return "none", "user_id", None
    if by == "channel":
        return "channel", "user_id", "channel"
    if by == "campaign":
        return "column", "campaign_id", "campaign"
    columns = _events_columns(con)
    if by not in columns:
        raise UserError(f"--by {by!r} is not known: use channel, campaign or an events column "
                        f"({', '.join(columns)})")
    return "column", by, by


def _check_period(start: date, end: date, window: timedelta) -> None:
    if start > end:
        raise UserError(f"the funnel period starts after it ends ({start} > {end})")
    if window < timedelta(0):
        raise UserError(f"--window must not be negative (got {window})")


#: the tables a funnel keeps while it runs (dropped at its end)
_FUNNEL_TABLES = ("funnel_reached", "funnel_entrants", "funnel_channels")

#: the median of ``s`` as Polars computes it (the two middle values lo and hi of an even
#: count interpolated as lo + (hi - lo) * 0.5; DuckDB's own ``median`` rounds differently in
#: the last bit): quantile_disc(s, 0.5) is the lower middle, -quantile_disc(-s, 0.5) the upper
_MEDIAN_SQL = ("quantile_disc({x}, 0.5) + (-quantile_disc(-{x}, 0.5) - quantile_disc({x}, 0.5))"
               " * 0.5")


@contextmanager
def _reached_table(
    con: duckdb.DuckDBPyConnection,
    parsed: list[FunnelStep],
    start: date,
    end: date,
    window: timedelta,
    by_mode: str = "none",
    by_column: str = "user_id",
) -> Iterator[None]:
    """Within the block, the temp table ``funnel_reached``: one row per (user, reached step)
    with by_value, entry_type, user_id, step, step_time, entry_time, seconds_from_previous,
    and with ``by_mode = 'channel'`` the table ``funnel_channels`` (user_id,
    acquisition_channel) of the entrants whose entry is not a touch; dropped after the block
    (or a failure). Kept in DuckDB (which spills) rather than in Polars: on large data a
    quarter's entrants are millions of rows."""
    try:
        _stage_reached(con, parsed, start, end, window, by_mode, by_column)
        yield
    finally:
        for table in _FUNNEL_TABLES:
            con.sql(f"DROP TABLE IF EXISTS temp.main.{table}")


def _stage_reached(con: duckdb.DuckDBPyConnection, parsed: list[FunnelStep], start: date,
                   end: date, window: timedelta, by_mode: str, by_column: str) -> None:
    window_us = window // timedelta(microseconds=1)
    params = {
        "step_types": [s.event_type for s in parsed],
        "step_campaigns": [s.campaign_id for s in parsed],
        "step_first": [s.first_only for s in parsed],
        "start": start,
        "end": end,
        # a later step's local date is at most end + window (+1 day for DST / rounding)
        "scan_end": end + timedelta(days=window.days + 2),
        "window_us": window_us,
        "by_mode": by_mode,
        "by_column": by_column,
        "numbered": numbered(parsed, by_mode),
    }
    slices = user_slices(con)
    with staged_firsts(con, ["first_order"] if any(s.first_only for s in parsed) else []):
        for i in range(slices):
            into = ("CREATE OR REPLACE TEMP TABLE funnel_reached AS " if i == 0
                    else "INSERT INTO funnel_reached ")
            con.sql(into + load_query("marts/funnel"),
                    params={**params, "user_slices": slices, "user_slice": i})
    if by_mode == "channel":
        _stage_channels(con)


def numbered(parsed: list[FunnelStep], by_mode: str) -> bool:
    """Whether marts/funnel.sql numbers the entrants' events (``$numbered``): needed when two
    steps share an event type (an event must not serve both; ``first_order`` is an order)
    or when the entry event's own columns are read (``by_mode`` other than ``"none"``: which
    of the events tied at the entry instant is the entry). Otherwise no event can match two
    steps and tied events give the same step times: the numbering window is skipped (about a
    third of the funnel's time at scale 1)."""
    types = [s.event_type for s in parsed]
    return by_mode != "none" or len(set(types)) < len(types)


_ENTRANT_REGISTER_SPAN = f"""
SELECT min(f.conversion_date), max(f.conversion_date)
FROM {FIRSTS} AS f
WHERE f.conversion_type = 'register'
  AND f.user_id IN (SELECT user_id FROM funnel_entrants)
"""


def _stage_channels(con: duckdb.DuckDBPyConnection) -> None:
    """``funnel_channels``: the acquisition channel of the entrants whose entry is not a
    touch (a touch entry's by_value is its own channel group), read for those entrants only;
    a user who never registered has none (by_value null)."""
    con.sql("CREATE OR REPLACE TEMP TABLE funnel_entrants AS SELECT user_id "
            "FROM funnel_reached WHERE step = 1 AND entry_type <> 'touch'")
    con.sql("CREATE OR REPLACE TEMP TABLE funnel_channels "
            "(user_id VARCHAR, acquisition_channel VARCHAR)")
    if not con.sql("SELECT count(*) FROM funnel_entrants").fetchall()[0][0]:
        return
    relation = acquisition_relation(con)
    window: AbstractContextManager[None] = nullcontext()
    if relation == "acquisition":
        # the acquisition view only for registrants of the entrants' first-register days
        with staged_firsts(con, ["register"]):
            first, last = con.sql(_ENTRANT_REGISTER_SPAN).fetchall()[0]
        if first is None:  # none of them ever registered
            return
        window = acquisition_window(con, first, last)
    with window:
        con.sql(
            "INSERT INTO funnel_channels SELECT e.user_id, "
            "CAST(a.acquisition_channel AS VARCHAR) FROM funnel_entrants AS e "
            f"JOIN {relation} AS a ON a.user_id = e.user_id"
        )


def _reached(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per (user, reached step) of ``funnel_reached``: user_id, step, step_time,
    entry_time (for the export of dropped users)."""
    return con.sql("SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(step AS BIGINT) AS step, "
                   "step_time, entry_time FROM funnel_reached").pl()


def _step_counts(con: duckdb.DuckDBPyConnection, by_mode: str) -> pl.DataFrame:
    """Users and median time from the previous step per (by_value, step) of
    ``funnel_reached``, counted in DuckDB: by_value, step, users, median_time_from_previous."""
    by, join = "r.by_value", ""
    if by_mode == "channel":
        by = "CASE WHEN r.entry_type = 'touch' THEN r.by_value ELSE c.acquisition_channel END"
        join = "LEFT JOIN funnel_channels AS c ON c.user_id = r.user_id"
    seconds = "CAST(r.seconds_from_previous AS DOUBLE)"
    return con.sql(
        f"SELECT CAST({by} AS VARCHAR) AS by_value, CAST(r.step AS BIGINT) AS step, "
        "count(*) AS users, "
        f"{_MEDIAN_SQL.format(x=seconds)} AS median_time_from_previous "
        f"FROM funnel_reached AS r {join} GROUP BY 1, 2"
    ).pl()


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null when den is 0 or null (never inf)."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)


def funnel_table(counts: pl.DataFrame, labels: list[str], by_name: str | None) -> pl.DataFrame:
    """The §7 funnel table from the per-(by_value, step) users and medians (Polars only)."""
    steps = pl.DataFrame(
        {"step_index": list(range(1, len(labels) + 1)), "step": labels},
        schema={"step_index": pl.Int64, "step": pl.String},
    )
    counts = counts.with_columns(pl.col("users").cast(pl.Int64)).rename({"step": "step_index"})
    if by_name is None:
        groups = pl.DataFrame({"by_value": [None]}, schema={"by_value": pl.String})
    else:
        groups = counts.filter(pl.col("step_index") == 1).select("by_value").unique()
    grid = groups.join(steps, how="cross").join(
        counts, on=["by_value", "step_index"], how="left", nulls_equal=True
    )
    first = pl.col("users").first().over("by_value", order_by="step_index")
    previous = pl.col("users").shift(1).over("by_value", order_by="step_index")
    table = (
        grid.with_columns(pl.col("users").fill_null(0))
        .sort("by_value", "step_index", nulls_last=True)
        .with_columns(
            _safe_div(pl.col("users"), first).alias("conversion_from_start"),
            _safe_div(pl.col("users"), previous).alias("conversion_from_previous"),
            (previous - pl.col("users")).alias("dropped"),
            pl.when(pl.col("step_index") > 1)
            .then(pl.col("median_time_from_previous"))
            .cast(pl.Float64)
            .alias("median_time_from_previous"),
        )
    )
    columns = list(FUNNEL_COLUMNS)
    if by_name is not None:
        table = table.rename({"by_value": by_name})
        columns = [by_name, *columns]
    return table.select(columns)


def funnel(
    con: duckdb.DuckDBPyConnection,
    steps: Sequence[str] | str,
    start: date,
    end: date,
    window: timedelta = DEFAULT_WINDOW,
    by: str | None = None,
) -> pl.DataFrame:
    """Funnel of ``steps`` for users entering (first step-1 event) in ``start..end``.

    Columns: [``by``,] step (String), users (Int64), conversion_from_start,
    conversion_from_previous (Float64, null at step 1 / when the base is 0), dropped
    (Int64, null at step 1), median_time_from_previous (Float64 seconds, null at step 1 or
    when nobody reached the step). ``by``: ``channel`` (a touch entry's own channel group,
    else users.acquisition_channel), ``campaign`` (the entry event's campaign_id) or any
    events column (the entry event's value, as text).
    """
    parsed = parse_steps(steps)
    _check_period(start, end, window)
    by_mode, by_column, by_name = _resolve_by(con, by)
    with _reached_table(con, parsed, start, end, window, by_mode, by_column):
        counts = _step_counts(con, by_mode)
    return funnel_table(counts, [s.label for s in parsed], by_name)


def funnel_dropped_users(
    con: duckdb.DuckDBPyConnection,
    steps: Sequence[str] | str,
    start: date,
    end: date,
    window: timedelta = DEFAULT_WINDOW,
    step: int = 2,
) -> pl.DataFrame:
    """Users who reached step ``step - 1`` but not step ``step`` (1-based), for export.

    Columns: user_id (String), entry_time (Datetime, tz), last_step (Int64 = step - 1),
    last_step_name (String), last_step_time (Datetime, tz); sorted by user_id.
    """
    parsed = parse_steps(steps)
    _check_period(start, end, window)
    if not 2 <= step <= len(parsed):
        raise UserError(f"--step must be between 2 and {len(parsed)} (the number of steps); "
                        f"got {step}")
    with _reached_table(con, parsed, start, end, window):
        reached = _reached(con)
    labels = pl.DataFrame(
        {"last_step": list(range(1, len(parsed) + 1)), "last_step_name": [s.label for s in parsed]},
        schema={"last_step": pl.Int64, "last_step_name": pl.String},
    )
    return (
        reached.filter(pl.col("step") == pl.col("step").max().over("user_id"))
        .filter(pl.col("step") == step - 1)
        .select(
            "user_id",
            "entry_time",
            pl.col("step").alias("last_step"),
            pl.col("step_time").alias("last_step_time"),
        )
        .join(labels, on="last_step", how="left")
        .select("user_id", "entry_time", "last_step", "last_step_name", "last_step_time")
        .sort("user_id")
    )

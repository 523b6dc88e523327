"""Cohort retention (SPEC §6).

Counting runs in DuckDB (``queries/marts/retention.sql``); rates and the null rule for
unfinished windows are Polars expressions. Definitions: docs/funnels-retention-lifecycle.md.

Cohort days come from each user's first register / first order (the materialised
``conversions`` table when a command has one, else ``events``), never from the per-user
``users`` view; acquisition channels are read only for ``by="channel"``, and then only for
the cohort's registrants (the ``acquisition`` view's window). The helpers that choose these
sources are shared with :mod:`campaign_roi.funnel`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date

import duckdb
import polars as pl

from campaign_roi.errors import UserError
from campaign_roi.slices import user_slices
from campaign_roi.sql_files import load_query

#: window length in days per grain
GRAIN_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}
COHORT_EVENTS: tuple[str, ...] = ("register", "first_order")
COHORT_BY: tuple[str, ...] = ("month", "week")
RETENTION_COLUMNS: tuple[str, ...] = ("cohort", "cohort_size", "period", "retention")
MAX_PERIODS = 1000

#: relations staged for the duration of one query (see the SQL files' headers)
FIRSTS = "first_conversions"
MEMBER_ACQUISITION_VIEW = "member_acquisition"
ACTIVITY_DAYS_VIEW = "activity_days"

# (user, local activity day) from the event log: one row per activity event
_ACTIVITY_FROM_EVENTS = """
SELECT user_id, local_time, event_date
FROM events
WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
"""
# no activity words (a command that did not compute them): the words branch reads nothing
_NO_ACTIVITY_WORDS = ("SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS BIGINT) AS word, "
                      "CAST(NULL AS UBIGINT) AS bits WHERE false")
ACTIVITY_WORDS = "activity_words"

_FIRSTS_FROM_CONVERSIONS = """
SELECT conversion_type, user_id, conversion_time, conversion_date
FROM conversions
WHERE conversion_type IN ('register', 'first_order')
"""
# the same rows from the event log (conversions' first register / first order are the
# earliest register / order event of the user), in one scan; $register / $first_order
# (BOOLEAN) say which are needed
_FIRSTS_FROM_EVENTS = """
SELECT
    CASE WHEN event_type = 'register' THEN 'register' ELSE 'first_order' END AS conversion_type,
    user_id,
    min(event_time) AS conversion_time,
    CAST(min(event_time) AS DATE) AS conversion_date
FROM events
WHERE (event_type = 'register' AND $register) OR (event_type = 'order' AND $first_order)
GROUP BY event_type, user_id
"""
_NO_FIRSTS = ("SELECT CAST(NULL AS VARCHAR) AS conversion_type, CAST(NULL AS VARCHAR) AS user_id, "
              "CAST(NULL AS TIMESTAMPTZ) AS conversion_time, CAST(NULL AS DATE) AS conversion_date "
              "WHERE false")
_NO_ACQUISITION = ("SELECT CAST(NULL AS VARCHAR) AS user_id, "
                   "CAST(NULL AS VARCHAR) AS acquisition_channel WHERE false")
_WINDOW_VARIABLES = ("acquisition_from", "acquisition_to")


# -- sources (shared with campaign_roi.funnel) ---------------------------------------------
def relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """``"table"`` when ``name`` resolves to a table (a temp table shadows a view of the same
    name, see Dataset.materialize), ``"view"`` for a view, None when it does not exist."""
    rows = con.sql(
        """
        SELECT 'table' FROM duckdb_tables()
        WHERE table_name = $name AND schema_name = 'main'
          AND database_name IN ('temp', current_database())
        UNION ALL
        SELECT 'view' FROM duckdb_views()
        WHERE view_name = $name AND schema_name = 'main' AND NOT internal
          AND database_name IN ('temp', current_database())
        """,
        params={"name": name},
    ).fetchall()
    kinds = {str(r[0]) for r in rows}
    return "table" if "table" in kinds else ("view" if kinds else None)


@contextmanager
def staged_view(con: duckdb.DuckDBPyConnection, name: str, query: str) -> Iterator[None]:
    """A temp view ``name`` (a fixed name; ``query`` is fixed SQL) for the block's queries."""
    con.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {query}")
    try:
        yield
    finally:
        con.sql(f"DROP VIEW IF EXISTS temp.main.{name}")


@contextmanager
def staged_firsts(
    con: duckdb.DuckDBPyConnection, kinds: Collection[str] = ("register", "first_order")
) -> Iterator[None]:
    """Stage :data:`FIRSTS` (the ``kinds`` among register / first_order) for the block: a
    view over the materialised ``conversions`` table when the command has one, else a temp
    table of the earliest register / order per user from ``events`` (one scan; the
    ``conversions`` view would number every order to find the same rows). A table, not a
    view, so that the planner knows its size (it is the small side of the joins)."""
    if not kinds:
        with staged_view(con, FIRSTS, _NO_FIRSTS):
            yield
        return
    if relation_kind(con, "conversions") == "table":
        with staged_view(con, FIRSTS, _FIRSTS_FROM_CONVERSIONS):
            yield
        return
    con.sql(f"CREATE OR REPLACE TEMP TABLE {FIRSTS} AS {_FIRSTS_FROM_EVENTS}",
            params={"register": "register" in kinds, "first_order": "first_order" in kinds})
    try:
        yield
    finally:
        con.sql(f"DROP TABLE IF EXISTS temp.main.{FIRSTS}")


@contextmanager
def staged_activity(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """Stage the activity sources of marts/retention.sql for the block and yield which one to
    read (its ``$activity``): ``"words"`` when the command has an ``activity_words`` table (a
    report, after its KPIs: each member's period windows are tested on 5 M words at scale 1,
    without reading the files again), else ``"days"``: the activity events of
    :data:`ACTIVITY_DAYS_VIEW`. Retention only asks whether a member has any activity on some
    day of a window, so the words (distinct days) and the events give the same counts."""
    from campaign_roi.kpis import define_day_mask

    define_day_mask(con)
    with staged_view(con, ACTIVITY_DAYS_VIEW, _ACTIVITY_FROM_EVENTS):
        if relation_kind(con, ACTIVITY_WORDS) == "table":
            yield "words"
            return
        with staged_view(con, ACTIVITY_WORDS, _NO_ACTIVITY_WORDS):
            yield "days"


def acquisition_relation(con: duckdb.DuckDBPyConnection) -> str:
    """Where ``acquisition_channel`` is read from: a materialised ``users`` table, else the
    ``acquisition`` view (registrants only, windowed by :func:`acquisition_window`), else
    ``users`` (a connection with only the documented ``events``/``users`` views)."""
    if relation_kind(con, "users") != "table" and relation_kind(con, "acquisition") is not None:
        return "acquisition"
    return "users"


@contextmanager
def acquisition_window(
    con: duckdb.DuckDBPyConnection, first: date | None, last: date | None
) -> Iterator[None]:
    """Within the block the ``acquisition`` view covers only users whose first register
    falls in ``first..last`` (None = open); the session's previous window is restored."""
    saved = con.sql(
        "SELECT getvariable('acquisition_from'), getvariable('acquisition_to')"
    ).fetchall()[0]

    def assign(values: tuple[object, ...]) -> None:
        for name, value in zip(_WINDOW_VARIABLES, values, strict=True):
            if value is None:
                con.sql(f"RESET VARIABLE {name}")
            else:
                con.sql(f"SET VARIABLE {name} = $d", params={"d": value})

    assign((first, last))
    try:
        yield
    finally:
        assign(tuple(saved))


def _choice(option: str, value: object, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise UserError(f"{option} {value!r} is not valid (accepted: {', '.join(accepted)})")
    return value


_FIRST_ORDER_REGISTER_SPAN = f"""
SELECT min(r.conversion_date), max(r.conversion_date)
FROM {FIRSTS} AS r
JOIN {FIRSTS} AS o ON o.user_id = r.user_id
WHERE r.conversion_type = 'register'
  AND o.conversion_type = 'first_order'
  AND ($start::DATE IS NULL OR o.conversion_date >= $start::DATE)
  AND ($end::DATE IS NULL OR o.conversion_date <= $end::DATE)
"""


@contextmanager
def _member_acquisition(
    con: duckdb.DuckDBPyConnection,
    by_channel: bool,
    cohort_event: str,
    start: date | None,
    end: date | None,
) -> Iterator[None]:
    """Stage :data:`MEMBER_ACQUISITION_VIEW` (needs :data:`FIRSTS` staged): empty
    unless ``by_channel``; else the acquisition channel, computed for the registrants of the
    cohorts' range only: a register cohort's days are its members' first-register days; a
    first-order cohort's members registered between the min and max first-register day of
    the users whose first order falls in ``start..end``."""
    if not by_channel:
        with staged_view(con, MEMBER_ACQUISITION_VIEW, _NO_ACQUISITION):
            yield
        return
    relation = acquisition_relation(con)
    window: AbstractContextManager[None] = nullcontext()
    if relation == "acquisition":
        first, last = start, end
        if cohort_event == "first_order" and (start is not None or end is not None):
            first, last = con.sql(_FIRST_ORDER_REGISTER_SPAN,
                                  params={"start": start, "end": end}).fetchall()[0]
            if first is None:  # nobody in these cohorts ever registered
                with staged_view(con, MEMBER_ACQUISITION_VIEW, _NO_ACQUISITION):
                    yield
                return
        window = acquisition_window(con, first, last)
    with window, staged_view(con, MEMBER_ACQUISITION_VIEW,
                             f"SELECT user_id, acquisition_channel FROM {relation}"):
        yield


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
    kinds = {cohort_event}
    if by == "channel" and cohort_event == "first_order" and (start or end):
        kinds.add("register")  # the span of the members' first registers
    # large data: one query per slice of members, whose counts add up (a single query over
    # the 14 M members of a 10x dataset ran out of a 1 GB memory limit in two of four reports)
    slices = user_slices(con)
    with staged_firsts(con, kinds), staged_activity(con) as activity, \
            _member_acquisition(con, by == "channel", cohort_event, start, end):
        parts = [con.sql(load_query("marts/retention"),
                         params={**params, "activity": activity, "user_slices": slices,
                                 "user_slice": i}).pl()
                 for i in range(slices)]
    counts = parts[0] if slices == 1 else _add_slices(parts)
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


def _add_slices(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The counts of one query from those of its slices of members: sizes and retained
    users add up; a cell is complete when it is in every slice that has the cohort (each
    slice tests its own latest cohort day, and the cohort's latest is one of them)."""
    return pl.concat(parts).group_by("by_value", "cohort", "period").agg(
        pl.col("cohort_size").sum(), pl.col("retained").sum(), pl.col("complete").all())


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

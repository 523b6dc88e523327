"""The 8-stage user lifecycle segmentation (SPEC §6).

Classification runs in DuckDB, per call one per-user aggregate over the activity and one
over the orders alone (a filtered read): one day in ``queries/marts/segments.sql``, two
days at once in ``queries/marts/segment_migration.sql``. Inside a report, whose KPIs have
packed the activity as words and materialised the conversions, the migration reads those
instead of the files (:func:`staged_sources`).
Counts are aggregated in DuckDB; shares, exports and the migration grid are Polars.
Definitions: docs/funnels-retention-lifecycle.md.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from campaign_roi.errors import UserError
from campaign_roi.metrics import define_exact_sum
from campaign_roi.retention import relation_kind, staged_activity, staged_view
from campaign_roi.slices import user_slices
from campaign_roi.sql_files import load_query

#: segment names in rule order (rule 1 first)
SEGMENTS: tuple[str, ...] = (
    "new",
    "silent_new",
    "churned",
    "churn_warning",
    "high_value",
    "payer",
    "potential_payer",
    "active",
)

SEGMENT_USER_COLUMNS: tuple[str, ...] = (
    "user_id",
    "segment",
    "register_date",
    "last_active_date",
    "active_days_30",
    "active_days_prev_30",
    "order_total_30",
    "last_order_date",
)


@dataclass(frozen=True)
class LifecycleThresholds:
    """Every lifecycle threshold (config table ``[lifecycle]``, same names). Day counts are
    whole days and windows are inclusive: "the last N days" = D-N+1 .. D."""

    #: rule 1: registered in the last new_days days (D-6..D)
    new_days: int = 7
    #: rule 2: registered new_days..silent_new_days days ago (D-30..D-7), nothing after that day
    silent_new_days: int = 30
    #: rule 3: no activity in the last churn_days days; also the length of the two windows
    #: compared by churn_warning's ratio rule (active_days_30 / active_days_prev_30)
    churn_days: int = 30
    #: rule 4: no activity in the last warning_days days …
    warning_days: int = 14
    #: … or active days (last churn_days) < warning_ratio × active days (churn_days before)
    warning_ratio: float = 0.5
    #: … the ratio rule applies only when the previous window had ≥ this many active days
    warning_min_prev_days: int = 4
    #: rule 5: order amounts in the last high_value_days days ≥ high_value_total
    high_value_total: float = 200.0
    high_value_days: int = 30
    #: rule 6: an order in the last payer_days days
    payer_days: int = 90
    #: rule 7: never ordered, active on ≥ potential_active_days days of the last
    #: potential_window_days days
    potential_active_days: int = 8
    potential_window_days: int = 30

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise UserError(f"lifecycle.{f.name} must be a whole number of days ≥ 1 "
                                    f"(got {value!r})")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise UserError(f"lifecycle.{f.name} must be a number ≥ 0 (got {value!r})")
        if self.silent_new_days < self.new_days:
            raise UserError(f"lifecycle.silent_new_days ({self.silent_new_days}) must be ≥ "
                            f"lifecycle.new_days ({self.new_days})")

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> LifecycleThresholds:
        """Build from the config's ``[lifecycle]`` table; missing keys keep their default.

        Whole-number floats (``7.0``) are accepted for day counts; unknown keys and
        non-numbers raise :class:`UserError` naming the key.
        """
        if not table:
            return cls()
        names = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in names:
                raise UserError(f"lifecycle.{key} is not a known threshold (accepted: "
                                f"{', '.join(names)})")
            is_int = names[key].type in ("int", int)
            if is_int and isinstance(value, float) and value.is_integer():
                value = int(value)
            if not is_int and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            values[key] = value
        return cls(**values)

    def as_params(self) -> dict[str, int | float]:
        return {k: (float(v) if isinstance(v, float) else int(v)) for k, v in asdict(self).items()}


DEFAULT_THRESHOLDS = LifecycleThresholds()


def data_last_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The data's last day: max(event_date) over events (None when there are no events)."""
    rows = con.sql("SELECT max(event_date) FROM events").fetchall()
    value = rows[0][0] if rows else None
    return value if isinstance(value, date) else None


def _empty_users() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "user_id": pl.String,
            "segment": pl.String,
            "register_date": pl.Date,
            "last_active_date": pl.Date,
            "active_days_30": pl.Int64,
            "active_days_prev_30": pl.Int64,
            "order_total_30": pl.Float64,
            "last_order_date": pl.Date,
        }
    )


def _resolve_day(con: duckdb.DuckDBPyConnection, as_of: date | None) -> date | None:
    day = data_last_day(con) if as_of is None else as_of
    if day is not None and not isinstance(day, date):
        raise UserError(f"--as-of must be a date (got {day!r})")
    return day


def _per_slice(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: dict[str, Any],
    counted_by: list[str] | None = None,
) -> pl.DataFrame:
    """Run a lifecycle query once per slice of users (campaign_roi.slices; one slice unless
    the data is large) and concatenate the rows; with ``counted_by``, each slice is counted
    in DuckDB (``count(*) AS users`` per those columns) and the counts are added up."""
    frames = []
    define_exact_sum(con)  # the order totals
    slices = user_slices(con)
    for i in range(slices):
        rel = con.sql(load_query(query),
                      params={**params, "user_slices": slices, "user_slice": i})
        if counted_by:
            keys = ", ".join(counted_by)
            rel = rel.aggregate(f"{keys}, count(*) AS users", keys)
        frames.append(rel.pl())
    frame = pl.concat(frames)
    if counted_by and slices > 1:
        frame = frame.group_by(counted_by).agg(pl.col("users").sum())
    return frame


def _classified(
    con: duckdb.DuckDBPyConnection, day: date, thresholds: LifecycleThresholds,
    counted: bool = False,
) -> pl.DataFrame:
    """marts/segments.sql as of ``day``: one row per user, or with ``counted`` the users
    per segment_rank."""
    params: dict[str, Any] = {"as_of": day, **thresholds.as_params()}
    return _per_slice(con, "marts/segments", params, ["segment_rank"] if counted else None)


def _segment_name(rank: str = "segment_rank", name: str = "segment") -> pl.Expr:
    """Segment name of a rule number column (1 = new … 8 = active; null stays null)."""
    names = {r: n for r, n in enumerate(SEGMENTS, start=1)}
    return pl.col(rank).replace_strict(names, default=None, return_dtype=pl.String).alias(name)


def segment_users(
    con: duckdb.DuckDBPyConnection,
    as_of: date | None = None,
    thresholds: LifecycleThresholds = DEFAULT_THRESHOLDS,
) -> pl.DataFrame:
    """One row per user as of ``as_of`` (default: the data's last day), sorted by segment
    (rule order) then user_id.

    Columns: user_id (String), segment (String), register_date (Date, null if never
    registered), last_active_date (Date), active_days_30, active_days_prev_30 (Int64),
    order_total_30 (Float64), last_order_date (Date, null if never ordered).
    """
    day = _resolve_day(con, as_of)
    if day is None:
        return _empty_users()
    frame = _classified(con, day, thresholds)
    return (
        frame.with_columns(
            pl.col("user_id").cast(pl.String),
            _segment_name(),
            pl.col("active_days_30").cast(pl.Int64),
            pl.col("active_days_prev_30").cast(pl.Int64),
            pl.col("order_total_30").cast(pl.Float64),
        )
        .sort("segment_rank", "user_id")
        .select(SEGMENT_USER_COLUMNS)
    )


def segment_counts(counts: pl.DataFrame) -> pl.DataFrame:
    """From ``segment, users`` rows (any order, missing segments allowed) to the §7 table:
    segment, users (Int64), share (Float64, null when there are no users); all 8 rows in
    rule order."""
    total = pl.col("users").sum()
    return (
        pl.DataFrame({"segment": list(SEGMENTS)}, schema={"segment": pl.String})
        .join(counts.select("segment", pl.col("users").cast(pl.Int64)), on="segment",
              how="left", maintain_order="left")
        .with_columns(pl.col("users").fill_null(0))
        .with_columns(
            pl.when(total > 0)
            .then(pl.col("users").cast(pl.Float64) / total.cast(pl.Float64))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("share")
        )
        .select("segment", "users", "share")
    )


def segments(
    con: duckdb.DuckDBPyConnection,
    as_of: date | None = None,
    thresholds: LifecycleThresholds = DEFAULT_THRESHOLDS,
) -> pl.DataFrame:
    """Segment sizes as of ``as_of``: ``segment, users, share``, all 8 segments in rule order
    (counted in DuckDB; no per-user rows leave the database)."""
    day = _resolve_day(con, as_of)
    empty = pl.DataFrame(schema={"segment": pl.String, "users": pl.Int64})
    if day is None:
        return segment_counts(empty)
    counts = _classified(con, day, thresholds, counted=True).select(_segment_name(), "users")
    return segment_counts(counts)


def _write_csv_atomic(frame: pl.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.write_csv(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_segments(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | os.PathLike[str],
    as_of: date | None = None,
    thresholds: LifecycleThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, int]:
    """Write ``segment_<name>.csv`` (the :func:`segment_users` columns) for each of the 8
    segments into ``out_dir`` (created if missing; empty segments get a header-only file),
    each written atomically. Returns {segment: number of users}."""
    directory = Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"--export {directory}: cannot create the directory ({exc.strerror})"
        ) from exc
    users = segment_users(con, as_of, thresholds)
    written: dict[str, int] = {}
    for name in SEGMENTS:  # 8 files, not a loop over data rows
        part = users.filter(pl.col("segment") == name)
        _write_csv_atomic(part, directory / f"segment_{name}.csv")
        written[name] = part.height
    return written


def _check_order(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise UserError(f"--compare: the earlier day must come first ({date_from} > {date_to})")


#: what marts/segment_migration.sql reads of the conversions with the activity words
LIFECYCLE_CONVERSIONS = "lifecycle_conversions"
_CONVERSIONS_FOR_LIFECYCLE = """
SELECT conversion_type, user_id, conversion_date, value
FROM conversions
WHERE conversion_type IN ('register', 'order')
"""
_NO_CONVERSIONS = ("SELECT CAST(NULL AS VARCHAR) AS conversion_type, "
                   "CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS DATE) AS conversion_date, "
                   "CAST(NULL AS DOUBLE) AS value WHERE false")

#: ``window_days(bits, word, a, b)``: the active days of word ``word`` (its ``bits``) that fall
#: in the day indexes a..b (0 when the word holds none of them; a before the data counts from
#: day 0). Uses the ``day_mask`` macro (campaign_roi.kpis).
WINDOW_DAYS_MACRO = """
CREATE OR REPLACE TEMP MACRO window_days(bits, word, a, b) AS
    CASE WHEN b >= 0 AND word BETWEEN greatest(a, 0) // 64 AND b // 64
         THEN bit_count(bits & day_mask(greatest(a, 0), b, word))
         ELSE 0 END
"""


@contextmanager
def staged_sources(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """Stage what marts/segment_migration.sql reads for the block and yield its
    ``$activity``: ``"words"`` when the command has an ``activity_words`` table and a
    materialised ``conversions`` table (a report, after its KPIs: about 5 M words and the
    conversions at scale 1 instead of every activity event read from the files again), else
    ``"days"`` (the events). Both give the same per-user facts: the words hold exactly the
    distinct (user, active day) pairs, the conversions each user's first register and every
    order with its amount. The activity words are staged as for retention
    (:func:`campaign_roi.retention.staged_activity`)."""
    with staged_activity(con) as activity:
        con.sql(WINDOW_DAYS_MACRO)
        if activity == "words" and relation_kind(con, "conversions") == "table":
            with staged_view(con, LIFECYCLE_CONVERSIONS, _CONVERSIONS_FOR_LIFECYCLE):
                yield "words"
            return
        with staged_view(con, LIFECYCLE_CONVERSIONS, _NO_CONVERSIONS):
            yield "days"


def _moves(
    con: duckdb.DuckDBPyConnection, date_from: date, date_to: date,
    thresholds: LifecycleThresholds, counted: bool = False,
) -> pl.DataFrame:
    """``user_id, from_rank, to_rank``: one row per user of ``date_to``, both days' segments
    from the same reads of the events, or of the activity words (:func:`staged_sources`);
    with ``counted``, the users per pair of ranks."""
    with staged_sources(con) as activity:
        params: dict[str, Any] = {"date_from": date_from, "date_to": date_to,
                                  "activity": activity, **thresholds.as_params()}
        return _per_slice(con, "marts/segment_migration", params,
                          ["from_rank", "to_rank"] if counted else None)


def segment_moves(
    con: duckdb.DuckDBPyConnection,
    date_from: date,
    date_to: date,
    thresholds: LifecycleThresholds = DEFAULT_THRESHOLDS,
) -> pl.DataFrame:
    """Each user's move between two days: ``user_id, from_segment, to_segment`` (String).

    One row per user on ``date_to``, sorted by user_id; from_segment is null for users who
    were not users yet on ``date_from``. Each day's segment is the one :func:`segment_users`
    gives for that day; both days come from the same reads of the events.
    """
    _check_order(date_from, date_to)
    return (
        _moves(con, date_from, date_to, thresholds)
        .select(
            pl.col("user_id").cast(pl.String),
            _segment_name("from_rank", "from_segment"),
            _segment_name("to_rank", "to_segment"),
        )
        .sort("user_id")
    )


def segment_migration(
    con: duckdb.DuckDBPyConnection,
    date_from: date,
    date_to: date,
    thresholds: LifecycleThresholds = DEFAULT_THRESHOLDS,
) -> pl.DataFrame:
    """Migration matrix between two days: ``from_segment, to_segment, users`` (Int64).

    Always 72 rows: every (from, to) pair of the 8 segments in rule order, then 8 rows with
    from_segment null = users who were not users yet on ``date_from``. Both days are
    classified from the same reads of the events; the moves are counted in DuckDB.
    """
    _check_order(date_from, date_to)
    moves = (
        _moves(con, date_from, date_to, thresholds, counted=True)
        .select(
            _segment_name("from_rank", "from_segment"),
            _segment_name("to_rank", "to_segment"),
            pl.col("users").cast(pl.Int64),
        )
    )
    from_values = pl.DataFrame(
        {"from_segment": [*SEGMENTS, None], "from_rank": list(range(len(SEGMENTS) + 1))},
        schema={"from_segment": pl.String, "from_rank": pl.Int64},
    )
    to_values = pl.DataFrame(
        {"to_segment": list(SEGMENTS), "to_rank": list(range(len(SEGMENTS)))},
        schema={"to_segment": pl.String, "to_rank": pl.Int64},
    )
    return (
        from_values.join(to_values, how="cross")
        .join(moves, on=["from_segment", "to_segment"], how="left", nulls_equal=True)
        .with_columns(pl.col("users").fill_null(0))
        .sort("from_rank", "to_rank")
        .select("from_segment", "to_segment", "users")
    )


def segments_from_migration(matrix: pl.DataFrame) -> pl.DataFrame:
    """The later day's segment table (as :func:`segments` gives it for ``date_to``) from a
    :func:`segment_migration` matrix, without another pass over the events: every user of
    ``date_to`` is in exactly one matrix row."""
    return segment_counts(
        matrix.group_by(pl.col("to_segment").alias("segment")).agg(pl.col("users").sum())
    )

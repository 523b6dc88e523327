"""Lifecycle segments computed in one pass (queries/marts/segments.sql and
segment_migration.sql): against a plain-Python reading of SPEC §6, the 64-day bit window and
its long-window fallback, the two-day migration against two one-day runs, exact totals."""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import polars as pl
import pytest
from conftest import write_dataset
from eventlog import Row, ev, make_con
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_funnel_retention_sources import events_frame

from campaign_roi.dataset import Dataset
from campaign_roi.kpis import prepare_activity_words
from campaign_roi.lifecycle import (
    LIFECYCLE_CONVERSIONS,
    SEGMENTS,
    LifecycleThresholds,
    segment_migration,
    segment_moves,
    segment_users,
    segments,
    segments_from_migration,
    staged_sources,
)
from campaign_roi.slices import user_slices
from campaign_roi.sql_files import load_query

ACTIVITY = ("register", "active", "campaign_join", "order")
D = date(2025, 9, 30)


# --- a plain-Python reading of the rules (SPEC §6, docs/funnels-retention-lifecycle.md) ----
@dataclass(frozen=True)
class Facts:
    segment: str
    register_date: date | None
    last_active_date: date
    active_days_30: int
    active_days_prev_30: int
    order_total_30: float
    last_order_date: date | None


def reference(rows: list[Row], as_of: date, t: LifecycleThresholds) -> dict[str, Facts]:
    seen: dict[str, list[tuple[date, str, float | None]]] = {}
    for user, when, kind, _channel, _campaign, amount in rows:
        day = datetime.fromisoformat(when).date()
        if kind in ACTIVITY and day <= as_of:
            seen.setdefault(user, []).append((day, kind, amount))
    out = {}
    for user, events in seen.items():
        ago = {(as_of - d).days for d, _, _ in events}
        registers = [d for d, k, _ in events if k == "register"]
        orders = [(d, a) for d, k, a in events if k == "order"]
        register = min(registers) if registers else None
        last_active = max(d for d, _, _ in events)
        last_order = max(d for d, _ in orders) if orders else None
        recent = sum(1 for n in ago if n < t.churn_days)
        previous = sum(1 for n in ago if t.churn_days <= n < 2 * t.churn_days)
        potential = sum(1 for n in ago if n < t.potential_window_days)
        total = math.fsum(a for d, a in orders
                          if a is not None and (as_of - d).days < t.high_value_days)
        if register is not None and (as_of - register).days < t.new_days:
            segment = "new"
        elif (register is not None
              and t.new_days <= (as_of - register).days <= t.silent_new_days
              and last_active == register):
            segment = "silent_new"
        elif (as_of - last_active).days >= t.churn_days:
            segment = "churned"
        elif ((as_of - last_active).days >= t.warning_days
              or (previous >= t.warning_min_prev_days
                  and recent < t.warning_ratio * previous)):
            segment = "churn_warning"
        elif total >= t.high_value_total:
            segment = "high_value"
        elif last_order is not None and (as_of - last_order).days < t.payer_days:
            segment = "payer"
        elif last_order is None and potential >= t.potential_active_days:
            segment = "potential_payer"
        else:
            segment = "active"
        out[user] = Facts(segment, register, last_active, recent, previous, total, last_order)
    return out


def as_facts(users: pl.DataFrame) -> dict[str, Facts]:
    return {r["user_id"]: Facts(r["segment"], r["register_date"], r["last_active_date"],
                                r["active_days_30"], r["active_days_prev_30"],
                                r["order_total_30"], r["last_order_date"])
            for r in users.to_dicts()}


# --- strategies ---------------------------------------------------------------------------
START = datetime(2025, 5, 1)
SPAN = 160  # days of events; as_of days fall inside


@st.composite
def logs(draw: st.DrawFn) -> list[Row]:
    rows: list[Row] = []
    for _ in range(draw(st.integers(min_value=0, max_value=60))):
        user = draw(st.sampled_from([f"u{i}" for i in range(6)]))
        when = START + timedelta(days=draw(st.integers(0, SPAN)),
                                 hours=draw(st.sampled_from([0, 12, 23])),
                                 minutes=draw(st.sampled_from([0, 59])))
        kind = draw(st.sampled_from(["register", "active", "active", "order", "touch",
                                     "campaign_join"]))
        rows.append(ev(user, when.strftime("%Y-%m-%d %H:%M"), kind,
                       "kol" if kind == "touch" else None,
                       "x" if kind == "campaign_join" else None,
                       # sums of these are exact in binary
                       draw(st.sampled_from([20.0, 62.5, 150.0])) if kind == "order" else None))
    return rows


@st.composite
def thresholds(draw: st.DrawFn) -> LifecycleThresholds:
    """Defaults, or windows around and beyond the 64 days of the bit window."""
    if draw(st.booleans()):
        return LifecycleThresholds()
    new_days = draw(st.integers(1, 40))
    return LifecycleThresholds(
        new_days=new_days,
        silent_new_days=draw(st.integers(new_days, 80)),
        churn_days=draw(st.sampled_from([1, 7, 30, 31, 32, 33, 45])),
        warning_days=draw(st.integers(1, 40)),
        warning_ratio=draw(st.sampled_from([0.0, 0.5, 1.0, 1.5])),
        warning_min_prev_days=draw(st.integers(1, 5)),
        high_value_total=draw(st.sampled_from([0.0, 100.0, 200.0, 300.0])),
        high_value_days=draw(st.integers(1, 100)),
        payer_days=draw(st.integers(1, 120)),
        potential_active_days=draw(st.integers(1, 6)),
        potential_window_days=draw(st.sampled_from([1, 30, 63, 64, 65, 90])),
    )


days_in_span = st.integers(0, SPAN).map(lambda n: START.date() + timedelta(days=n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), t=thresholds(), as_of=days_in_span)
def test_users_match_the_rules_read_plainly(rows: list[Row], t: LifecycleThresholds,
                                            as_of: date) -> None:
    got = as_facts(segment_users(make_con(rows), as_of, t))
    assert got == reference(rows, as_of, t)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), t=thresholds(), day_a=days_in_span, day_b=days_in_span)
def test_migration_equals_two_independent_days(rows: list[Row], t: LifecycleThresholds,
                                               day_a: date, day_b: date) -> None:
    con = make_con(rows)
    date_from, date_to = min(day_a, day_b), max(day_a, day_b)
    before = segment_users(con, date_from, t).select(
        "user_id", pl.col("segment").alias("from_segment"))
    after = segment_users(con, date_to, t).select(
        "user_id", pl.col("segment").alias("to_segment"))
    expected = (after.join(before, on="user_id", how="left")
                .select("user_id", "from_segment", "to_segment").sort("user_id"))
    moves = segment_moves(con, date_from, date_to, t)
    assert moves.schema == expected.schema
    assert moves.equals(expected)
    matrix = segment_migration(con, date_from, date_to, t)
    counted = {(r["from_segment"], r["to_segment"]): r["users"]
               for r in matrix.filter(pl.col("users") > 0).to_dicts()}
    assert counted == {
        (r["from_segment"], r["to_segment"]): r["len"]
        for r in moves.group_by("from_segment", "to_segment").len().to_dicts()
    }
    # the later day's table, read off the matrix, is the one segments() gives
    assert segments_from_migration(matrix).equals(segments(con, date_to, t))


# --- hand-computed edges ------------------------------------------------------------------
def _on(user: str, days_ago: list[int], hour: str = "12:00") -> list[Row]:
    return [ev(user, f"{(D - timedelta(days=n)).isoformat()} {hour}", "active")
            for n in days_ago]


@pytest.mark.parametrize(
    ("churn_days", "expected_prev"),
    [
        # 2 * 32 = 64 days: the bit window; D-63 is in the previous window, D-64 is not
        (32, 1),
        # 2 * 33 = 66 days: counted from (user, day) rows; D-63 and D-64 are both in
        (33, 2),
    ],
)
def test_windows_at_the_64_day_edge(churn_days: int, expected_prev: int) -> None:
    rows = _on("u", [0, 10, 63, 64]) + _on("u", [63], "23:59")
    t = LifecycleThresholds(churn_days=churn_days, warning_min_prev_days=9)
    user = segment_users(make_con(rows), D, t).row(0, named=True)
    assert user["active_days_30"] == 2  # D and D-10; two events on D-63 are one day
    assert user["active_days_prev_30"] == expected_prev
    assert user["last_active_date"] == D


@pytest.mark.parametrize("window", [63, 64, 65])
def test_potential_window_around_64_days(window: int) -> None:
    # active on D, D-62, D-63 and D-64: windows of 63, 64, 65 days hold 2, 3, 4 of those days
    rows = _on("p", [0, 62, 63, 64])
    t = LifecycleThresholds(potential_window_days=window, potential_active_days=4,
                            churn_days=20, warning_min_prev_days=9)
    got = segment_users(make_con(rows), D, t)["segment"].to_list()
    in_window = 1 + sum(1 for n in (62, 63, 64) if n < window)
    assert got == ["potential_payer" if in_window >= 4 else "active"]


def test_day_boundary_is_local_midnight() -> None:
    rows = [
        ev("a", "2025-09-30 23:59:59", "register"),  # on D: a user, registered today
        ev("b", "2025-10-01 00:00:00", "register"),  # the next day: not a user on D
        ev("c", "2025-10-01 00:00:00", "order", amount=500.0),
        ev("c", "2025-08-31 00:00:00", "active"),  # c's last activity by D: D-30
    ]
    users = segment_users(make_con(rows), D)
    assert dict(zip(users["user_id"], users["segment"], strict=True)) == {
        "a": "new", "c": "churned"}
    assert users.filter(pl.col("user_id") == "c")["last_order_date"].to_list() == [None]


def test_order_total_is_exact_whatever_the_row_order() -> None:
    # 0.1 + 0.2 + 0.3 is 0.6000000000000001 added left to right, 0.6 exactly
    amounts = [0.1, 0.2, 0.3, 0.1, 0.2, 0.3]
    rows = [ev("o", f"2025-09-{10 + i:02d} 10:00", "order", amount=a)
            for i, a in enumerate(amounts)]
    for ordered in (rows, rows[::-1]):
        user = segment_users(make_con(ordered), D).row(0, named=True)
        assert user["order_total_30"] == math.fsum(amounts) == 1.2


def test_migration_on_the_same_day_is_the_diagonal() -> None:
    rows = [ev("a", "2025-09-29 10:00", "register"), *_on("b", [0, 5, 40]),
            ev("c", "2025-06-01 10:00", "active")]
    con = make_con(rows)
    matrix = segment_migration(con, D, D)
    moved = matrix.filter(pl.col("users") > 0)
    assert (moved["from_segment"] == moved["to_segment"]).all()
    assert moved["users"].sum() == 3
    assert segments_from_migration(matrix).equals(segments(con, D))


def test_segments_from_an_empty_matrix() -> None:
    matrix = segment_migration(make_con([]), D - timedelta(days=1), D)
    assert matrix["users"].sum() == 0
    out = segments_from_migration(matrix)
    assert out["segment"].to_list() == list(SEGMENTS)
    assert out["users"].to_list() == [0] * 8
    assert out["share"].to_list() == [None] * 8


def _rules(name: str) -> str:
    text = load_query(name)
    match = re.search(r"\n( *)CASE\n(.*?)\n\1END AS segment_rank", text, re.S)
    assert match, name
    return match.group(2)


def test_both_queries_classify_with_the_same_rules() -> None:
    assert _rules("marts/segments") == _rules("marts/segment_migration")


# --- large data: one query per slice of users ---------------------------------------------
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), t=thresholds(), day_a=days_in_span, day_b=days_in_span)
def test_lifecycle_over_user_slices_equals_one_query(rows: list[Row], t: LifecycleThresholds,
                                                     day_a: date, day_b: date) -> None:
    """Above campaign_roi.slices.ROWS_PER_SLICE event rows each lifecycle query runs once
    per slice of users (hash of user_id): the same users, segments and moves."""
    assume(any(r[2] in ACTIVITY for r in rows))
    date_from, date_to = min(day_a, day_b), max(day_a, day_b)
    with tempfile.TemporaryDirectory() as tmp:
        ds = Dataset.open(write_dataset(Path(tmp), events_frame(rows), "parquet"))
        expected = segment_moves(ds.con, date_from, date_to, t)
        matrix = segment_migration(make_con(rows), date_from, date_to, t)
        users = segment_users(ds.con, date_to, t)
        table = segments(ds.con, date_to, t)
        with patch("campaign_roi.slices.ROWS_PER_SLICE", 3):
            assert user_slices(ds.con) == -(-len(rows) // 3)
            assert segment_moves(ds.con, date_from, date_to, t).equals(expected)
            assert segment_migration(ds.con, date_from, date_to, t).equals(matrix)
            assert segment_users(ds.con, date_to, t).equals(users)
            assert segments(ds.con, date_to, t).equals(table)


# --- inside a report: from the activity words and the conversions ------------------------
def with_words(root: Path) -> Dataset:
    """The dataset at ``root`` as a report leaves it after its KPIs: conversions
    materialised, the activity packed as words; the migration then reads those."""
    ds = Dataset.open(root)
    ds.materialize("conversions")
    first = ds.date_range[0]
    assert first is not None
    prepare_activity_words(ds, first)
    with staged_sources(ds.con) as source:
        assert source == "words"
    return ds


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), t=thresholds(), day_a=days_in_span, day_b=days_in_span)
def test_migration_from_the_activity_words_equals_the_events(
        rows: list[Row], t: LifecycleThresholds, day_a: date, day_b: date) -> None:
    """A report's KPIs leave the activity packed as words and the conversions materialised:
    the migration reads those (any window length, days before the data included) and gives
    the moves and the matrix it reads from the events."""
    assume(any(r[2] in ACTIVITY for r in rows))
    date_from, date_to = min(day_a, day_b), max(day_a, day_b)
    with tempfile.TemporaryDirectory() as tmp:
        ds = Dataset.open(write_dataset(Path(tmp), events_frame(rows), "parquet"))
        with staged_sources(ds.con) as source:
            assert source == "days"
        moves = segment_moves(ds.con, date_from, date_to, t)
        matrix = segment_migration(ds.con, date_from, date_to, t)
        ds = with_words(Path(tmp))
        assert segment_moves(ds.con, date_from, date_to, t).equals(moves)
        assert segment_migration(ds.con, date_from, date_to, t).equals(matrix)
        # nothing staged is left behind
        views = {str(r[0]) for r in ds.con.sql(
            "SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
        assert LIFECYCLE_CONVERSIONS not in views


# --- every window edge around the earlier day of a migration ------------------------------
def edge_log(day: date, t: LifecycleThresholds, prefix: str) -> list[Row]:
    """Users (``prefix`` + pattern) whose segment on ``day`` turns on one day of one window:
    each pattern on both sides of its edge (k days before ``day``)."""
    def at(user: str, ago: int, kind: str = "active", amount: float | None = None) -> Row:
        return ev(prefix + user, f"{(day - timedelta(days=ago)).isoformat()} 12:00", kind,
                  amount=amount)

    c, rows = t.churn_days, []
    for k in (t.high_value_days - 1, t.high_value_days):
        rows += [at(f"hv{k}", k, "order", 300.0), at(f"hv{k}", 0)]
    for k in (t.payer_days - 1, t.payer_days):
        rows += [at(f"pay{k}", k, "order", 10.0), at(f"pay{k}", 0)]
    for k in (2 * c - 1, 2 * c):  # three days before the edge + the edge day: 4 or 3
        rows += [at(f"ratio{k}", n) for n in (0, c, c + 1, c + 2, k)]
    for k in (c - 1, c, t.warning_days - 1, t.warning_days, 63, 64):
        rows += [at(f"last{k}", k)]
    for k in (t.potential_window_days - 1, t.potential_window_days):
        rows += [at(f"pot{k}", n) for n in (0, 1, 2, k)]
    for k in (t.new_days - 1, t.new_days, t.silent_new_days, t.silent_new_days + 1):
        rows += [at(f"reg{k}", k, "register")]
    return rows


EDGE_THRESHOLDS = [
    LifecycleThresholds(warning_min_prev_days=4, potential_active_days=4),
    # counting windows beyond the 64-day bit window
    LifecycleThresholds(churn_days=40, warning_days=20, warning_min_prev_days=4,
                        high_value_days=45, payer_days=100, potential_active_days=4,
                        potential_window_days=70, silent_new_days=66),
]


@pytest.mark.parametrize("t", EDGE_THRESHOLDS)
@pytest.mark.parametrize("later", [0, 1, 20, 70])
def test_window_edges_on_both_days(t: LifecycleThresholds, later: int) -> None:
    date_from = D - timedelta(days=later)
    rows = edge_log(date_from, t, "from_") + edge_log(D, t, "to_")
    # active before the earlier day, register / order only after it
    after = (date_from + timedelta(days=1)).isoformat()
    rows += [ev("late", f"{date_from.isoformat()} 08:00", "active"),
             ev("late", f"{after} 00:00", "register"),
             ev("late", f"{after} 09:00", "order", amount=500.0)]
    con = make_con(rows)
    for day in (date_from, D):
        assert as_facts(segment_users(con, day, t)) == reference(rows, day, t)
    before = segment_users(con, date_from, t).select(
        "user_id", pl.col("segment").alias("from_segment"))
    expected = (segment_users(con, D, t)
                .select("user_id", pl.col("segment").alias("to_segment"))
                .join(before, on="user_id", how="left")
                .select("user_id", "from_segment", "to_segment").sort("user_id"))
    assert segment_moves(con, date_from, D, t).equals(expected)
    # the same edges read from a report's activity words and conversions
    with tempfile.TemporaryDirectory() as tmp:
        ds = with_words(write_dataset(Path(tmp), events_frame(rows), "parquet"))
        assert segment_moves(ds.con, date_from, D, t).equals(expected)

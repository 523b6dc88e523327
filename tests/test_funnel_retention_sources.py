"""Funnels and retention on a real Dataset: every source the queries can read gives the
same numbers (SPEC §6).

funnel/retention read each user's first register / first order from the materialised
`conversions` table when a command has one, else from `events`; acquisition channels from
a materialised `users` table, else the `acquisition` view (windowed to the registrants
needed), else `users`. The tiny `eventlog` connections of test_funnel / test_retention only
have `events` and `users`; here the loader's own views are used, plain and materialised,
and compared with plain-Python references.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import duckdb
import polars as pl
from conftest import write_dataset
from eventlog import Row, ev, make_con
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_funnel import STEP_CHOICES, event_logs, reference_counts

from campaign_roi.dataset import Dataset
from campaign_roi.funnel import funnel, funnel_dropped_users
from campaign_roi.kpis import prepare_activity_words
from campaign_roi.retention import GRAIN_DAYS, retention, staged_activity
from campaign_roi.slices import user_slices

JUL1, JUL31 = date(2025, 7, 1), date(2025, 7, 31)
ACTIVITY = ("register", "active", "campaign_join", "order")
STAGED = ("first_conversions", "member_acquisition", "funnel_entrants", "activity_days")


def events_frame(rows: list[Row]) -> pl.DataFrame:
    """The rows as an events file (naive local times, event_id e<i>, raw channel labels
    that CONFIG maps to the group of the same name)."""
    raw = {"kol": "kol_douyin", "feed_ads": "feed_toutiao", "referral": "invite_link",
           "direct": "app_store"}
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event_time": [datetime.fromisoformat(r[1]) for r in rows],
            "event_type": [r[2] for r in rows],
            "channel": [raw.get(r[3], r[3]) if r[3] else None for r in rows],
            "campaign_id": [r[4] for r in rows],
            "amount": [r[5] for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
        },
        schema={"user_id": pl.String, "event_time": pl.Datetime("us"), "event_type": pl.String,
                "channel": pl.String, "campaign_id": pl.String, "amount": pl.Float64,
                "event_id": pl.String},
    )


def open_rows(rows: list[Row], root: Path) -> Dataset:
    ds = Dataset.open(write_dataset(root, events_frame(rows), "parquet"))
    ds.con.sql("SET enable_progress_bar = false")
    return ds


def staged_left(ds: Dataset) -> list[str]:
    names = ds.con.sql(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() "
        "WHERE NOT internal"
    ).fetchall()
    return [str(n[0]) for n in names if str(n[0]) in STAGED]


def window_variables(ds: Dataset) -> tuple[object, object]:
    row = ds.con.sql(
        "SELECT getvariable('acquisition_from'), getvariable('acquisition_to')"
    ).fetchall()[0]
    return row[0], row[1]


def acquisition_of(ds: Dataset) -> dict[str, str | None]:
    """users.acquisition_channel: the straightforward (whole-history) reading."""
    return dict(ds.con.sql("SELECT user_id, acquisition_channel FROM main.users").fetchall())


# --- reference retention -------------------------------------------------------------------

def reference_retention(
    rows: list[Row], cohort_event: str, grain: str, periods: int, cohort_by: str,
    start: date | None = None, end: date | None = None,
    group: dict[str, str | None] | None = None,
) -> list[tuple[object, ...]]:
    """Plain-Python reading of §6 retention: ([group,] cohort, size, period, retention)."""
    w = GRAIN_DAYS[grain]
    day = {i: datetime.fromisoformat(r[1]).date() for i, r in enumerate(rows)}
    last_day = max(day.values())
    kind = "register" if cohort_event == "register" else "order"
    cohort_day: dict[str, date] = {}
    active: dict[str, set[date]] = defaultdict(set)
    for i, r in enumerate(rows):
        if r[2] == kind and (r[0] not in cohort_day or day[i] < cohort_day[r[0]]):
            cohort_day[r[0]] = day[i]
        if r[2] in ACTIVITY:
            active[r[0]].add(day[i])
    cells: dict[tuple[object, str], list[str]] = defaultdict(list)
    for user, c in cohort_day.items():
        if (start is None or c >= start) and (end is None or c <= end):
            if cohort_by == "month":
                label = c.strftime("%Y-%m")
            else:
                iso = c.isocalendar()
                label = f"{iso.year}-W{iso.week:02d}"
            cells[(group.get(user) if group is not None else None, label)].append(user)
    out: list[tuple[object, ...]] = []
    for (g, label), users in cells.items():
        latest = max(cohort_day[u] for u in users)
        for k in range(periods + 1):
            retained = sum(
                any(cohort_day[u] + timedelta(days=k * w) <= d
                    <= cohort_day[u] + timedelta(days=k * w + w - 1) for d in active[u])
                for u in users
            )
            complete = latest + timedelta(days=k * w + w - 1) <= last_day
            value = retained / len(users) if complete else None
            out.append(((g,) if group is not None else ()) + (label, len(users), k, value))
    return sorted(out, key=lambda t: tuple((x is None, x) for x in t))


def rows_of(df: pl.DataFrame) -> list[tuple[object, ...]]:
    return sorted(df.rows(), key=lambda t: tuple((x is None, x) for x in t))


@st.composite
def retention_logs(draw: st.DrawFn) -> list[Row]:
    rows: list[Row] = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        user = draw(st.sampled_from("abcdef"))
        when = datetime(2025, 6, 1) + timedelta(days=draw(st.integers(0, 120)),
                                                minutes=draw(st.sampled_from([0, 600, 1439])))
        kind = draw(st.sampled_from(["register", "active", "order", "touch", "campaign_join",
                                     "refund"]))
        rows.append(ev(user, when.strftime("%Y-%m-%d %H:%M"), kind,
                       draw(st.sampled_from(["kol", "feed_ads", "direct"])) if kind == "touch"
                       else None,
                       "x" if kind == "campaign_join" else None,
                       1.0 if kind in ("order", "refund") else None))
    return rows


RETENTION_ARGS = st.fixed_dictionaries({
    "cohort_event": st.sampled_from(["register", "first_order"]),
    "grain": st.sampled_from(["day", "week", "month"]),
    "periods": st.integers(min_value=0, max_value=4),
    "cohort_by": st.sampled_from(["month", "week"]),
    "start": st.sampled_from([None, date(2025, 6, 15), date(2025, 7, 1)]),
    "end": st.sampled_from([None, date(2025, 7, 31), date(2025, 9, 1)]),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=retention_logs(), args=RETENTION_ARGS)
def test_retention_matches_reference(rows: list[Row], args: dict[str, object]) -> None:
    out = retention(make_con(rows), **args)  # type: ignore[arg-type]
    assert rows_of(out) == reference_retention(rows, **args)  # type: ignore[arg-type]


# --- the loader's views: plain, materialised, and by channel --------------------------------

@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=retention_logs(), args=RETENTION_ARGS)
def test_retention_on_a_dataset_every_source(rows: list[Row], args: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ds = open_rows(rows, Path(tmp))
        plain = retention(ds.con, **args)  # type: ignore[arg-type]
        by = retention(ds.con, by="channel", **args)  # type: ignore[arg-type]
        assert rows_of(plain) == reference_retention(rows, **args)  # type: ignore[arg-type]
        group = acquisition_of(ds)
        assert rows_of(by) == reference_retention(rows, group=group, **args)  # type: ignore[arg-type]
        ds.materialize("conversions", "orders")
        assert retention(ds.con, **args).equals(plain)  # type: ignore[arg-type]
        assert retention(ds.con, by="channel", **args).equals(by)  # type: ignore[arg-type]
        ds.materialize("users")
        assert retention(ds.con, by="channel", **args).equals(by)  # type: ignore[arg-type]
        # large data runs one query per slice of members (hash of user_id): the same cells
        with patch("campaign_roi.slices.ROWS_PER_SLICE", 2):
            assert user_slices(ds.con) == -(-len(rows) // 2)
            assert retention(ds.con, **args).equals(plain)  # type: ignore[arg-type]
            assert retention(ds.con, by="channel", **args).equals(by)  # type: ignore[arg-type]
        # a report's KPIs leave the activity packed as words: retention tests the members'
        # period windows on those words instead of reading the events
        first = ds.date_range[0]
        assert first is not None
        prepare_activity_words(ds, first)
        with staged_activity(ds.con) as source:
            assert source == "words"
        assert retention(ds.con, **args).equals(plain)  # type: ignore[arg-type]
        assert retention(ds.con, by="channel", **args).equals(by)  # type: ignore[arg-type]
        with patch("campaign_roi.slices.ROWS_PER_SLICE", 2):
            assert retention(ds.con, **args).equals(plain)  # type: ignore[arg-type]
        assert staged_left(ds) == []


def test_retention_from_words_at_window_edges(tmp_path: Path) -> None:
    """Month grain (30 days), periods 1 and 2, read from the activity words. The data starts
    06-01 (day index 0); a, b, c and d register 06-10 (day 9): period 1 is days 39..68
    (07-10..08-08) across the word edge at day 64 (08-04), period 2 days 69..98
    (08-09..09-07). a is active on 08-08 (period 1's last day), b on 08-09 (period 2's
    first), c on 07-09 (day 29 after registering: period 0), d on 09-07 (period 2's last);
    z's events on 06-01 and 10-31 span the data, so every window has ended."""
    rows = [ev("z", "2025-06-01 08:00", "active"), ev("z", "2025-10-31 08:00", "active"),
            *[ev(u, "2025-06-10 09:00", "register") for u in "abcd"],
            ev("a", "2025-08-08 23:00", "active"), ev("b", "2025-08-09 00:30", "active"),
            ev("c", "2025-07-09 12:00", "active"), ev("d", "2025-09-07 18:00", "active")]
    ds = open_rows(rows, tmp_path)
    ds.materialize("conversions")
    prepare_activity_words(ds, date(2025, 6, 1))
    with staged_activity(ds.con) as source:
        assert source == "words"
    out = retention(ds.con, "register", "month", periods=2)
    # cohort 2025-06 of 4: period 0 all 4 (1.0); period 1 a alone (1/4); period 2 b and d
    # (2/4)
    assert out.select("cohort", "period", "cohort_size", "retention").rows() == [
        ("2025-06", 0, 4, 1.0), ("2025-06", 1, 4, 0.25), ("2025-06", 2, 4, 0.5)]


def test_retention_slices_keep_a_cell_open_until_every_window_ends(tmp_path: Path) -> None:
    """Month grain, period 1, the members of one cohort in two slices of users. The data
    spans 07-01..08-31 (z). e registers 07-01 and is active 08-05 (period 1: 07-31..08-29,
    ended by 08-31); l registers 07-31 (period 1: 08-30..09-28, not ended). The cohort's
    period 1 is incomplete (its latest member's window has not ended), so null, however the
    members are sliced; period 0 has ended for both: 2/2."""
    con = duckdb.connect()
    names = [f"u{i}" for i in range(20)]
    slot = dict(con.sql("SELECT u, hash(u) % 2 FROM unnest($n) AS t(u)",
                        params={"n": names}).fetchall())
    early = names[0]
    late = next(n for n in names if slot[n] != slot[early])  # the other slice of two
    rows = [ev("z", "2025-07-01 08:00", "active"), ev("z", "2025-08-31 20:00", "active"),
            ev(early, "2025-07-01 09:00", "register"), ev(early, "2025-08-05 09:00", "active"),
            ev(late, "2025-07-31 09:00", "register")]
    ds = open_rows(rows, tmp_path)
    want = [("2025-07", 0, 2, 1.0), ("2025-07", 1, 2, None)]
    out = retention(ds.con, "register", "month", periods=1)
    assert out.select("cohort", "period", "cohort_size", "retention").rows() == want
    with patch("campaign_roi.slices.ROWS_PER_SLICE", 3):  # 5 rows: 2 slices
        assert user_slices(ds.con) == 2
        out = retention(ds.con, "register", "month", periods=1)
    assert out.select("cohort", "period", "cohort_size", "retention").rows() == want


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=event_logs(),
    steps=st.lists(st.sampled_from(STEP_CHOICES), min_size=1, max_size=4),
    window_hours=st.integers(min_value=0, max_value=20 * 24),
)
def test_funnel_on_a_dataset_every_source(rows: list[Row], steps: list[str],
                                          window_hours: int) -> None:
    window = timedelta(hours=window_hours)
    rows = [*rows, ev("z", "2025-08-15 12:00", "touch", "kol")]  # a dataset is never empty
    with tempfile.TemporaryDirectory() as tmp:
        ds = open_rows(rows, Path(tmp))
        plain = funnel(ds.con, steps, JUL1, JUL31, window)
        assert plain["users"].to_list() == reference_counts(rows, steps, window)
        assert plain.equals(funnel(make_con(rows), steps, JUL1, JUL31, window))
        by = funnel(ds.con, steps, JUL1, JUL31, window, by="channel")
        if steps[0] != "touch":  # the group is the user's acquisition channel
            group = acquisition_of(ds)
            for g in by["channel"].unique().to_list():
                mine = [r for r in rows if group.get(r[0]) == g]
                got = by.filter(pl.col("channel").eq_missing(g))["users"].to_list()
                assert got == reference_counts(mine, steps, window)
        dropped = [funnel_dropped_users(ds.con, steps, JUL1, JUL31, window, step=k)
                   for k in range(2, len(steps) + 1)]
        ds.materialize("conversions", "orders")
        assert funnel(ds.con, steps, JUL1, JUL31, window).equals(plain)
        assert funnel(ds.con, steps, JUL1, JUL31, window, by="channel").equals(by)
        for k, frame in enumerate(dropped, start=2):
            assert funnel_dropped_users(ds.con, steps, JUL1, JUL31, window, step=k).equals(frame)
        ds.materialize("users")
        assert funnel(ds.con, steps, JUL1, JUL31, window, by="channel").equals(by)
        # large data runs one query per slice of users (hash of user_id): the same numbers
        with patch("campaign_roi.slices.ROWS_PER_SLICE", 2):
            assert user_slices(ds.con) == -(-len(rows) // 2)
            assert funnel(ds.con, steps, JUL1, JUL31, window).equals(plain)
            assert funnel(ds.con, steps, JUL1, JUL31, window, by="channel").equals(by)
            for k, frame in enumerate(dropped, start=2):
                assert funnel_dropped_users(ds.con, steps, JUL1, JUL31, window,
                                            step=k).equals(frame)
        assert staged_left(ds) == []


# --- hand-computed cases ----------------------------------------------------------------------

# Local times, Asia/Shanghai. CONFIG groups: kol_* -> kol, feed_* -> feed_ads, app_store -> direct.
HISTORY: list[Row] = [
    # p: registered in March via kol, active again in July
    ev("p", "2025-03-01 09:00", "touch", "kol"),
    ev("p", "2025-03-02 09:00", "register"),
    ev("p", "2025-07-02 10:00", "active"),
    ev("p", "2025-07-03 10:00", "order", amount=5),  # first order: 2025-07
    # q: registered in July via feed_ads (a direct touch after it does not count)
    ev("q", "2025-07-04 08:00", "touch", "feed_ads"),
    ev("q", "2025-07-04 09:00", "touch", "direct"),
    ev("q", "2025-07-04 10:00", "register"),
    ev("q", "2025-07-05 10:00", "active"),
    ev("q", "2025-08-20 10:00", "order", amount=5),  # first order: 2025-08
    # r: never registers, active and ordering in July
    ev("r", "2025-07-06 10:00", "active"),
    ev("r", "2025-07-06 12:00", "order", amount=5),  # first order: 2025-07
    # s: registered organically in January, active in July, never orders
    ev("s", "2025-01-10 10:00", "register"),
    ev("s", "2025-07-08 10:00", "active"),
    ev("z", "2025-09-30 10:00", "touch", "kol"),  # the data's last day
]


def test_funnel_by_channel_reads_acquisition_of_earlier_registrants(tmp_path: Path) -> None:
    ds = open_rows(HISTORY, tmp_path)
    out = funnel(ds.con, ["active", "order"], JUL1, JUL31, by="channel")
    # entries (active in July): p (kol, registered in March), q (feed_ads), r (never
    # registered: null), s (organic, January); orders within 14 days: p (+1 day), r (+2 h)
    assert out.select("channel", "step", "users").rows() == [
        ("feed_ads", "active", 1), ("feed_ads", "order", 0),
        ("kol", "active", 1), ("kol", "order", 1),
        ("organic", "active", 1), ("organic", "order", 0),
        (None, "active", 1), (None, "order", 1),
    ]
    # a window set by the caller (KPIs) does not leak into the funnel, and is restored
    with ds.acquisition_window(date(2025, 7, 1), date(2025, 7, 31)):
        assert funnel(ds.con, ["active", "order"], JUL1, JUL31, by="channel").equals(out)
        assert window_variables(ds) == (date(2025, 7, 1), date(2025, 7, 31))
    assert window_variables(ds) == (None, None)
    assert staged_left(ds) == []


def test_retention_first_order_cohorts_by_channel(tmp_path: Path) -> None:
    ds = open_rows(HISTORY, tmp_path)
    out = retention(ds.con, "first_order", "month", periods=1, by="channel",
                    start=date(2025, 7, 1), end=date(2025, 7, 31))
    # first orders in July: p (kol, registered in March) and r (never registered: null);
    # period 1 = days 30..59: nobody active; last day 09-30 >= 07-06 + 59
    assert out.rows() == [
        ("kol", "2025-07", 1, 0, 1.0), ("kol", "2025-07", 1, 1, 0.0),
        (None, "2025-07", 1, 0, 1.0), (None, "2025-07", 1, 1, 0.0),
    ]
    # only r's cohort: nobody of it ever registered
    only_r = retention(ds.con, "first_order", "month", periods=0, by="channel",
                       start=date(2025, 7, 6), end=date(2025, 7, 6))
    assert only_r.rows() == [(None, "2025-07", 1, 0, 1.0)]
    registers = retention(ds.con, periods=0, by="channel")
    assert registers.select("channel", "cohort").rows() == [
        ("feed_ads", "2025-07"), ("kol", "2025-03"), ("organic", "2025-01"),
    ]
    assert window_variables(ds) == (None, None)
    assert staged_left(ds) == []

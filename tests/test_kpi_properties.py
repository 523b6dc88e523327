"""KPI activity counts (active users, DAU, M1 / M3 / high-value retention) against a
plain-Python reference on random logs.

The KPI query tests "active on some day in [a, b]" on activity days packed 64 to a word
(queries/intermediate/activity_words.sql); random days over ~300 days put windows across
word boundaries, at the first and last day of the data, and at the edges of the periods.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from tempfile import TemporaryDirectory
from unittest.mock import patch

import polars as pl
from conftest import CONFIG
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from campaign_roi.dataset import Dataset
from campaign_roi.file_layer import ENV_FILE_LAYER
from campaign_roi.kpis import (
    ACTIVITY_MAX_USER_SLICES,
    ACTIVITY_ROWS_PER_SLICE,
    ACTIVITY_WORDS_PER_SLICE,
    _needed_span,
    activity_slices,
    activity_user_slices,
    kpi_activity_days,
    kpi_counts,
)
from campaign_roi.periods import Period, parse_period

FIRST = date(2025, 1, 1)
USERS = ("u1", "u2", "u3", "u4", "u5")
HIGH_VALUE = 200.0  # config default high_value_order_total (checked below)

# (user index, day offset from FIRST, kind, amount)
event = st.tuples(st.integers(0, len(USERS) - 1), st.integers(0, 300),
                  st.sampled_from(["active", "register", "order", "campaign_join", "touch"]),
                  st.sampled_from([60.0, 90.0, 150.0]))
# a register or order followed by activity just inside or outside a retention window's edge
anchored = st.tuples(st.integers(0, len(USERS) - 1), st.integers(0, 180),
                     st.sampled_from(["register", "order"]),
                     st.sampled_from([29, 30, 59, 60, 89, 90, 119, 120]))


def with_anchors(raw: list[tuple[int, int, str, float]],
                 anchors: list[tuple[int, int, str, int]]) -> list[tuple[int, int, str, float]]:
    out = list(raw)
    for u, day, kind, offset in anchors:
        out += [(u, day, kind, 150.0), (u, day + offset, "active", 0.0)]
    return out


def build(raw: list[tuple[int, int, str, float]]) -> pl.DataFrame:
    rows = []
    for i, (u, day, kind, amount) in enumerate(raw):
        when = datetime.combine(FIRST + timedelta(days=day), datetime.min.time()) \
            + timedelta(hours=9, minutes=i)
        rows.append({
            "user_id": USERS[u], "event_time": when, "event_type": kind,
            "channel": "app_store" if kind == "touch" else None,
            "amount": amount if kind == "order" else None,
            "order_id": f"o{i}" if kind == "order" else None, "event_id": f"e{i}",
        })
    return pl.DataFrame(rows, schema={
        "user_id": pl.String, "event_time": pl.Datetime("us"), "event_type": pl.String,
        "channel": pl.String, "amount": pl.Float64, "order_id": pl.String,
        "event_id": pl.String})


def reference(df: pl.DataFrame, period: Period) -> dict[str, float]:
    """The §5 definitions, user by user and day by day."""
    rows = df.with_columns(day=pl.col("event_time").dt.date()).to_dicts()
    first, last = min(r["day"] for r in rows), max(r["day"] for r in rows)
    active: dict[str, set[date]] = {}
    register: dict[str, date] = {}
    first_order: dict[str, date] = {}
    month_orders: dict[tuple[str, date], float] = {}
    for r in sorted(rows, key=lambda r: r["event_time"]):
        u, d = r["user_id"], r["day"]
        if r["event_type"] != "touch":
            active.setdefault(u, set()).add(d)
        if r["event_type"] == "register":
            register.setdefault(u, d)
        if r["event_type"] == "order":
            first_order.setdefault(u, d)
            key = (u, d.replace(day=1))
            month_orders[key] = month_orders.get(key, 0.0) + r["amount"]

    def active_in(u: str, a: date, b: date) -> bool:
        return any(a <= d <= b for d in active.get(u, ()))

    days = [period.start + timedelta(days=k) for k in range((period.end - period.start).days + 1)]
    days = [d for d in days if first <= d <= last]
    dau = [sum(d in s for s in active.values()) for d in days]
    m1 = [u for u, d in register.items() if period.start <= d <= period.end
          and d + timedelta(days=59) <= last]
    m3 = [u for u, d in first_order.items() if period.start <= d <= period.end
          and d + timedelta(days=119) <= last]

    def next_month(m: date) -> tuple[date, date]:
        start = (m + timedelta(days=32)).replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)

    # months "of P": the calendar months P overlaps (a week's or a day's month too)
    pairs = [(u, m) for (u, m), total in month_orders.items()
             if total >= HIGH_VALUE and period.start.replace(day=1) <= m <= period.end
             and next_month(m)[1] <= last]
    return {
        "active_users": sum(active_in(u, period.start, period.end) for u in active),
        "dau_peak": max(dau) if dau else None,
        "dau_sum": sum(dau),
        "m1_cohort": len(m1),
        "m1_retained": sum(active_in(u, register[u] + timedelta(days=30),
                                     register[u] + timedelta(days=59)) for u in m1),
        "m3_payer_cohort": len(m3),
        "m3_payer_retained": sum(active_in(u, first_order[u] + timedelta(days=90),
                                           first_order[u] + timedelta(days=119)) for u in m3),
        "high_value_pairs": len(pairs),
        "high_value_retained": sum(active_in(u, *next_month(m)) for u, m in pairs),
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.lists(event, min_size=1, max_size=30),
       anchors=st.lists(anchored, max_size=8),
       rows_per_slice=st.sampled_from([ACTIVITY_ROWS_PER_SLICE, 1, 7]),
       large=st.booleans(), keep_words=st.booleans(),
       alone=st.sampled_from([None, "2025Q1", "2025-03", "2025-W10", "2025-03-05"]),
       files=st.integers(1, 3), layer=st.booleans())
# every window edge once: day 30 and 59 after a register, 90 and 119 after a first order,
# and just outside them (29, 60, 89, 120); a register on day 70 puts days 100..129 across
# the word boundary at day 128
@example(raw=[(0, 0, "active", 0.0)],
         anchors=[(1, 10, "register", 30), (2, 10, "register", 59), (3, 70, "register", 60),
                  (4, 11, "register", 29)], rows_per_slice=ACTIVITY_ROWS_PER_SLICE,
         large=False, keep_words=False, alone=None, files=1, layer=True)
@example(raw=[(0, 0, "active", 0.0)],
         anchors=[(1, 5, "order", 90), (2, 5, "order", 119), (3, 6, "order", 89),
                  (4, 6, "order", 120)], rows_per_slice=1, large=True, keep_words=False,
         alone=None, files=1, layer=False)
# one period alone, whose KPIs read part of the data's days: March's new payer u2 (first
# order day 70, 03-12) is active on day 160 (06-10), inside its day 90..119 window, which
# lies beyond March's other days (to 05-29); u1's activity on day 200 ends the data after
# that window
@example(raw=[(0, 200, "active", 0.0)], anchors=[(1, 70, "order", 90)],
         rows_per_slice=ACTIVITY_ROWS_PER_SLICE, large=False, keep_words=False, alone="2025-03",
         files=2, layer=True)
# week 10 (03-03..03-09): u1 orders 150 twice (March total 300: a high-value pair) and is
# active on 04-01 (day 90), in April but before the week's day 30..59 windows (from 04-02)
@example(raw=[(0, 62, "order", 150.0), (0, 63, "order", 150.0), (0, 90, "active", 0.0),
              (1, 200, "active", 0.0)], anchors=[], rows_per_slice=ACTIVITY_ROWS_PER_SLICE,
         large=False, keep_words=False, alone="2025-W10", files=1, layer=True)
# the day 03-05 (day 63, the last of word 0 when u2's activity on day 0 starts the data; one
# word a slice): u1 orders 150 twice that day
# (a high-value pair for March) and is active on 04-02 (day 91), in April before the day's
# day 30..59 window (04-04..05-03): only the high-value month brings 04-01..04-03 into word
# 1's slice
@example(raw=[(1, 0, "active", 0.0), (0, 63, "order", 150.0), (0, 63, "order", 150.0),
              (0, 91, "active", 0.0), (1, 200, "active", 0.0)], anchors=[], rows_per_slice=1,
         large=False, keep_words=False, alone="2025-03-05", files=3, layer=True)
# u1 active on days 1 and 2 (one word), the two events in two files: the layer's words of
# the two files must be merged bit by bit (days 1 and 2 both active: a DAU sum of 2 + 1)
@example(raw=[(0, 1, "active", 0.0), (0, 2, "active", 0.0), (1, 100, "active", 0.0),
              (1, 5, "active", 0.0)], anchors=[], rows_per_slice=ACTIVITY_ROWS_PER_SLICE,
         large=False, keep_words=False, alone=None, files=2, layer=True)
def test_activity_kpis_match_the_definitions(raw: list[tuple[int, int, str, float]],
                                             anchors: list[tuple[int, int, str, int]],
                                             rows_per_slice: int, large: bool,
                                             keep_words: bool, alone: str | None,
                                             files: int, layer: bool) -> None:
    """Also with the activity grouped in slices of words (one slice per word when each
    slice may hold 1 row): the slices must give the same table as one grouping; and as for
    large data (``large``: one query per period, the acquisition in parts, no shared
    tables); with the activity of the KPIs' days only (kpi_activity_days) or of all days
    (``keep_words``); the periods all at once (their KPIs read every day of the data) or one
    ``alone`` (part of its days); the events in ``files`` files (rows dealt out in turn, so
    that a user's word spans files), read from the files or from the file layer
    (campaign_roi.file_layer: each file's own words, merged)."""
    df = build(with_anchors(raw, anchors))
    periods = [parse_period(p) for p in (
        [alone] if alone else ("2025Q1", "2025Q2", "2025Q3", "2025-03", "2025-W10"))]
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "events").mkdir()
        for k in range(files):
            df.filter(pl.int_range(pl.len()) % files == k).write_parquet(
                root / "events" / f"part-{k}.parquet")
        (root / "campaign_roi.toml").write_text(CONFIG, encoding="utf-8")
        with (patch("campaign_roi.kpis.ACTIVITY_ROWS_PER_SLICE", rows_per_slice),
              patch("campaign_roi.dataset.SHARED_TABLES_MAX_ROWS", 0 if large else 10**9),
              patch.dict(os.environ, {ENV_FILE_LAYER: "on" if layer else "off"})):
            ds = Dataset.open(root)
            # large data never uses the layer
            assert (ds.file_layer is not None) == (layer and not large)
            assert ds.config.high_value_order_total == HIGH_VALUE
            table = kpi_counts(ds, periods, keep_words)
            # part of the activity never outlives the query; all of it stays (small data)
            kept = ds.con.sql("SELECT count(*) FROM duckdb_tables() "
                              "WHERE table_name = 'activity_words'").fetchall()[0][0]
            assert kept == (1 if keep_words and not large else 0)
            if keep_words and not large:  # all the days, kept: a later summary reads them
                again = kpi_counts(ds, periods)
                assert ds.con.sql("SELECT count(*) FROM duckdb_tables() "
                                  "WHERE table_name = 'activity_words'").fetchall()[0][0] == 1
                assert again.equals(table)
        assert table["period"].to_list() == sorted(p.label for p in periods)
        counts = {r["period"]: r for r in table.to_dicts()}
    for p in periods:
        want = reference(df, p)
        got = counts[p.label]
        n_days = len([d for d in range((p.end - p.start).days + 1)
                      if df["event_time"].dt.date().min() <= p.start + timedelta(days=d)
                      <= df["event_time"].dt.date().max()])
        dau_sum = round(got["dau_avg"] * n_days) if got["dau_avg"] is not None else 0
        assert {**{k: got[k] for k in want if k != "dau_sum"}, "dau_sum": dau_sum} == want, p.label


@given(rows=st.integers(0, 10**9), n_words=st.integers(1, 400),
       per_slice=st.integers(1, 10**8))
def test_activity_slices_partition_the_words(rows: int, n_words: int, per_slice: int) -> None:
    """Consecutive, non-empty, covering 0 .. n_words - 1 exactly once; as many slices as the
    rows need (at most one per word), none wider than ACTIVITY_WORDS_PER_SLICE words."""
    slices = activity_slices(rows, n_words, per_slice)
    assert slices[0][0] == 0 and slices[-1][1] == n_words
    assert all(0 < hi - lo <= ACTIVITY_WORDS_PER_SLICE for lo, hi in slices)
    assert all(a[1] == b[0] for a, b in pairwise(slices))
    need = min(n_words, max(1, -(-rows // per_slice)))
    assert need <= len(slices) <= n_words
    # 25 rows at most 10 a slice: 3 slices needed; 10 // 3 = 3 words, capped at 2 → 5 slices
    assert activity_slices(25, 10, 10) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    # 10 words, rows enough for 6 slices: 10 // 6 = 1 word a slice → 10 slices
    assert activity_slices(60, 10, 10) == [(w, w + 1) for w in range(10)]
    # scale 1: 8 words (457 days), four groupings of two words
    assert activity_slices(53_000_000, 8, 60_000_000) == [(0, 2), (2, 4), (4, 6), (6, 8)]


def test_kpi_activity_days() -> None:
    """The days whose activity the KPIs read, hand-listed per period: its days, its
    registrants' day 30..59 windows, its new payers' day 90..119 windows and the month after
    each of its months; merged, within the data."""
    first, last = date(2024, 7, 1), date(2025, 9, 30)
    q3 = parse_period("2025Q3")
    # 07-01..09-30; m1 07-31..11-28, m3 09-29..2026-01-27, high value 08-01..10-31: all
    # clipped to the data's last day 09-30
    assert kpi_activity_days([q3], first, last) == [(date(2025, 7, 1), last)]
    # summary --compare: 2025Q2 adds 04-01..06-30, m1 05-01..08-28, m3 06-30..10-27, high
    # value 05-01..07-31; 2024Q3 07-01..09-30, m1 07-31..11-28, m3 09-29..2025-01-27, high
    # value 08-01..10-31 → 2024-07-01..2025-01-27 and 2025-04-01..09-30 (not 01-28..03-31)
    assert kpi_activity_days([q3, q3.previous(), q3.last_year()], first, last) == [
        (date(2024, 7, 1), date(2025, 1, 27)), (date(2025, 4, 1), last)]
    # from a later first day: 2024Q3 starts at the data's first day
    assert kpi_activity_days([q3.last_year()], date(2024, 8, 15), last) == [
        (date(2024, 8, 15), date(2025, 1, 27))]
    # 2025-W10 (03-03..03-09): m1 04-02..05-07, m3 06-01..07-06, high value (March's next
    # month) 04-01..04-30
    assert kpi_activity_days([parse_period("2025-W10")], first, last) == [
        (date(2025, 3, 3), date(2025, 3, 9)), (date(2025, 4, 1), date(2025, 5, 7)),
        (date(2025, 6, 1), date(2025, 7, 6))]
    # December: the next month is January of the next year; 12-01..12-31, m1 12-31..02-28,
    # high value 01-01..01-31, m3 03-01..04-29 (touching 02-28): one range
    assert kpi_activity_days([parse_period("2024-12")], first, last) == [
        (date(2024, 12, 1), date(2025, 4, 29))]
    # a period after the data: nothing
    assert kpi_activity_days([parse_period("2026Q1")], first, last) == []


def test_needed_span_of_a_slice() -> None:
    # a slice of day indexes 0..127 from 2025-01-01; needed 01-10..01-20 (9..19) and
    # 03-01..12-31 (59..127 within the slice): one span from the first to the last, 9..127
    days = [(date(2025, 1, 10), date(2025, 1, 20)), (date(2025, 3, 1), date(2025, 12, 31))]
    assert _needed_span(date(2025, 1, 1), 0, 128, days) == [(9, 128)]
    # the slice of indexes 128..255 (05-09..) holds only the second range: 128..255 whole
    assert _needed_span(date(2025, 1, 1), 128, 256, days) == [(128, 256)]
    # a slice with no needed day reads nothing; without days it reads all of its days
    assert _needed_span(date(2025, 1, 1), 0, 5, days) == []
    assert _needed_span(date(2025, 1, 1), 0, 128, None) == [(0, 128)]


def test_activity_user_slices() -> None:
    """A word range is grouped in slices of users when it holds more than half a slice of
    rows (the KPI property test above runs that path with tiny slices)."""
    # scale 1: 53 M rows over 8 words; a 2-word range holds 13.25 M <= 30 M: one grouping
    assert activity_user_slices(53_000_000, 8, 2, 60_000_000) == 1
    # 10x: 533 M rows, one word holds 66.6 M: ceil(66.6 / 30) = 3 slices of users
    assert activity_user_slices(533_000_000, 8, 1, 60_000_000) == 3
    # at most ACTIVITY_MAX_USER_SLICES (each slice reads the range's files again)
    assert activity_user_slices(10**12, 8, 1, 60_000_000) == ACTIVITY_MAX_USER_SLICES
    # no words, or a slice of one row: still a whole number of slices >= 1
    assert activity_user_slices(0, 0, 0, 60_000_000) == 1
    assert activity_user_slices(10, 5, 1, 1) == 2  # 2 rows a word, 1 row a grouping

"""Funnels (SPEC §6): exact values on hand-built logs, validation, and properties.

All times are local (Asia/Shanghai); the period is July 2025 unless stated.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise
from unittest.mock import patch

import polars as pl
import pytest
from eventlog import Row, ev, make_con
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign_roi.errors import UserError
from campaign_roi.funnel import funnel, funnel_dropped_users, numbered, parse_steps

JUL1, JUL31 = date(2025, 7, 1), date(2025, 7, 31)
DAY = 86400.0

BASIC: list[Row] = [
    # u1: straight through
    ev("u1", "2025-07-01 10:00", "register"),
    ev("u1", "2025-07-02 10:00", "active"),  # +1 day after register
    ev("u1", "2025-07-03 10:00", "order", amount=10),  # +1 day after active
    # u2: order before register (out of order) does not serve step 3
    ev("u2", "2025-07-01 08:00", "order", amount=5),
    ev("u2", "2025-07-01 09:00", "register"),
    ev("u2", "2025-07-01 12:00", "active"),  # +3 h
    # u3: two registers (entry = first), active before entry ignored, order 15 days after entry
    ev("u3", "2025-07-05 09:00", "active"),
    ev("u3", "2025-07-05 10:00", "register"),
    ev("u3", "2025-07-06 10:00", "register"),
    ev("u3", "2025-07-07 10:00", "active"),  # +2 days
    ev("u3", "2025-07-20 10:00", "order", amount=5),  # entry + 15 days: outside the window
    # u4: active at the same instant as register; order exactly 14 days after entry
    ev("u4", "2025-07-10 00:00", "register"),
    ev("u4", "2025-07-10 00:00", "active"),  # +0 s
    ev("u4", "2025-07-24 00:00", "order", amount=7),  # entry + 14 days exactly: inside
    # u5: registered before the period: never enters
    ev("u5", "2025-06-30 23:59", "register"),
    ev("u5", "2025-07-01 10:00", "active"),
    # u6: enters on the period's last day, next step after the period but within the window
    ev("u6", "2025-07-31 23:00", "register"),
    ev("u6", "2025-08-01 01:00", "active"),  # +2 h
    # u7: no register at all
    ev("u7", "2025-07-02 10:00", "active"),
]
STEPS3 = ["register", "active", "order"]


def test_basic_funnel_exact() -> None:
    out = funnel(make_con(BASIC), STEPS3, JUL1, JUL31)
    # entries: u1 u2 u3 u4 u6 = 5 (u5 registered 06-30, u7 never)
    # active: u1 (+86400 s), u2 (+10800), u3 (+172800), u4 (+0), u6 (+7200) = 5,
    #   median of [0, 7200, 10800, 86400, 172800] = 10800
    # order: u1 (+86400), u4 (+14 d = 1209600; inclusive bound) = 2; u2's order precedes
    #   its register, u3's order is 15 days after entry; median = (86400 + 1209600) / 2
    assert out.columns == [
        "step", "users", "conversion_from_start", "conversion_from_previous", "dropped",
        "median_time_from_previous",
    ]
    assert out.to_dicts() == [
        {"step": "register", "users": 5, "conversion_from_start": 1.0,
         "conversion_from_previous": None, "dropped": None, "median_time_from_previous": None},
        {"step": "active", "users": 5, "conversion_from_start": 1.0,
         "conversion_from_previous": 1.0, "dropped": 0, "median_time_from_previous": 10800.0},
        {"step": "order", "users": 2, "conversion_from_start": 0.4,
         "conversion_from_previous": 0.4, "dropped": 3, "median_time_from_previous": 648000.0},
    ]
    assert out.schema["median_time_from_previous"] == pl.Float64
    assert out.schema["users"] == pl.Int64


def test_window_bound_is_inclusive_to_the_microsecond() -> None:
    rows = [
        ev("a", "2025-07-01 00:00:00", "register"),
        ev("a", "2025-07-15 00:00:00", "order", amount=1),  # exactly 14 d: counts
        ev("b", "2025-07-01 00:00:00", "register"),
        ev("b", "2025-07-15 00:00:01", "order", amount=1),  # 14 d + 1 s: does not count
    ]
    out = funnel(make_con(rows), ["register", "order"], JUL1, JUL31)
    assert out["users"].to_list() == [2, 1]
    # a shorter window (13 days) excludes both; a zero window keeps neither
    assert funnel(make_con(rows), ["register", "order"], JUL1, JUL31,
                  window=timedelta(days=13))["users"].to_list() == [2, 0]
    assert funnel(make_con(rows), ["register", "order"], JUL1, JUL31,
                  window=timedelta(0))["users"].to_list() == [2, 0]


def test_dropped_users_export() -> None:
    out = funnel_dropped_users(make_con(BASIC), STEPS3, JUL1, JUL31, step=3)
    # reached "active" but not "order": u2, u3, u6
    assert out["user_id"].to_list() == ["u2", "u3", "u6"]
    assert out["last_step"].to_list() == [2, 2, 2]
    assert out["last_step_name"].to_list() == ["active"] * 3
    assert [t.replace(tzinfo=None) for t in out["entry_time"].to_list()] == [
        datetime(2025, 7, 1, 9), datetime(2025, 7, 5, 10), datetime(2025, 7, 31, 23)
    ]
    # nobody dropped between register and active
    assert funnel_dropped_users(make_con(BASIC), STEPS3, JUL1, JUL31, step=2).height == 0
    with pytest.raises(UserError, match="between 2 and 3"):
        funnel_dropped_users(make_con(BASIC), STEPS3, JUL1, JUL31, step=1)


def test_user_enters_once_at_first_step1_event() -> None:
    rows = [
        # x joins twice; only the first join is the entry, and the order is 20 days after it
        ev("x", "2025-07-01 10:00", "campaign_join", campaign="bts"),
        ev("x", "2025-07-20 10:00", "campaign_join", campaign="bts"),
        ev("x", "2025-07-21 10:00", "order", amount=9),
        # y joins twice, orders 1 day after the first join
        ev("y", "2025-07-03 10:00", "campaign_join", campaign="bts"),
        ev("y", "2025-07-04 10:00", "campaign_join", campaign="bts"),
        ev("y", "2025-07-04 12:00", "order", amount=9),  # +26 h = 93600 s
    ]
    out = funnel(make_con(rows), ["campaign_join", "order"], JUL1, JUL31)
    # 2 entries (each counted once); only y converts
    assert out["users"].to_list() == [2, 1]
    assert out["median_time_from_previous"].to_list() == [None, 93600.0]


def test_campaign_join_id_steps_and_one_event_per_step() -> None:
    rows = [
        # p: joins 'other' then 'bts': reaches both steps of campaign_join -> campaign_join:bts
        ev("p", "2025-07-01 10:00", "campaign_join", campaign="other"),
        ev("p", "2025-07-02 10:00", "campaign_join", campaign="bts"),
        ev("p", "2025-07-02 11:00", "order", amount=3),
        # q: a single bts join cannot serve both steps
        ev("q", "2025-07-01 10:00", "campaign_join", campaign="bts"),
        ev("q", "2025-07-01 11:00", "order", amount=3),
        # r: joins 'other' only
        ev("r", "2025-07-01 10:00", "campaign_join", campaign="other"),
    ]
    con = make_con(rows)
    out = funnel(con, ["campaign_join", "campaign_join:bts", "order"], JUL1, JUL31)
    assert out["step"].to_list() == ["campaign_join", "campaign_join:bts", "order"]
    # entries p q r = 3; bts after entry: p only (q's join is its entry); order: p
    assert out["users"].to_list() == [3, 1, 1]
    # campaign_join:bts as the first step: p (07-02) and q (07-01) enter; both order
    out2 = funnel(con, ["campaign_join:bts", "order"], JUL1, JUL31)
    assert out2["users"].to_list() == [2, 2]
    # p: 1 h, q: 1 h -> median 3600
    assert out2["median_time_from_previous"].to_list() == [None, 3600.0]


def test_first_order_is_the_first_ever_order() -> None:
    rows = [
        # m ordered before registering: the order in July is not their first order
        ev("m", "2025-06-20 10:00", "order", amount=1),
        ev("m", "2025-07-02 10:00", "register"),
        ev("m", "2025-07-03 10:00", "order", amount=1),
        # n: first order after register
        ev("n", "2025-07-02 10:00", "register"),
        ev("n", "2025-07-03 10:00", "order", amount=1),
        ev("n", "2025-07-04 10:00", "order", amount=1),
    ]
    con = make_con(rows)
    assert funnel(con, ["register", "first_order"], JUL1, JUL31)["users"].to_list() == [2, 1]
    assert funnel(con, ["register", "order"], JUL1, JUL31)["users"].to_list() == [2, 2]
    # order then first_order: n's first order serves step 2 only if it is not step 1's event;
    # entry for n is its first July order (07-03, also its first ever) -> step 2 impossible
    assert funnel(con, ["order", "first_order"], JUL1, JUL31)["users"].to_list() == [2, 0]


def test_by_channel_uses_entry_touch_group_else_acquisition() -> None:
    rows = [
        # t1: first touch in July is kol; acquisition (attribution) says feed_ads
        ev("t1", "2025-06-30 10:00", "touch", "campus_community"),  # before the period
        ev("t1", "2025-07-01 10:00", "touch", "kol"),
        ev("t1", "2025-07-02 10:00", "touch", "feed_ads"),
        ev("t1", "2025-07-02 11:00", "register"),
        # t2: touch feed_ads, registers
        ev("t2", "2025-07-05 10:00", "touch", "feed_ads"),
        ev("t2", "2025-07-05 12:00", "register"),
        # t3: touch feed_ads, never registers (a prospect still enters a touch funnel)
        ev("t3", "2025-07-06 10:00", "touch", "feed_ads"),
    ]
    con = make_con(rows, acquisition={"t1": "feed_ads", "t2": "feed_ads"})
    out = funnel(con, ["touch", "register"], JUL1, JUL31, by="channel")
    assert out.columns[0] == "channel"
    # feed_ads: t2, t3 enter, t2 registers (+2 h); kol: t1 enters and registers (+25 h)
    assert out.select("channel", "step", "users", "median_time_from_previous").to_dicts() == [
        {"channel": "feed_ads", "step": "touch", "users": 2, "median_time_from_previous": None},
        {"channel": "feed_ads", "step": "register", "users": 1,
         "median_time_from_previous": 7200.0},
        {"channel": "kol", "step": "touch", "users": 1, "median_time_from_previous": None},
        {"channel": "kol", "step": "register", "users": 1,
         "median_time_from_previous": 90000.0},
    ]
    # a non-touch entry uses users.acquisition_channel: both t1 and t2 are feed_ads
    out2 = funnel(con, ["register"], JUL1, JUL31, by="channel")
    assert out2.to_dicts()[0]["channel"] == "feed_ads"
    assert out2["users"].to_list() == [2]


def test_by_campaign_and_by_any_events_column() -> None:
    rows = [
        ev("a", "2025-07-01 10:00", "campaign_join", campaign="bts"),
        ev("a", "2025-07-02 10:00", "order", amount=1),
        ev("b", "2025-07-01 10:00", "campaign_join", campaign="winback"),
        ev("c", "2025-07-03 10:00", "campaign_join", campaign="bts"),
    ]
    con = make_con(rows)
    out = funnel(con, ["campaign_join", "order"], JUL1, JUL31, by="campaign")
    # bts: a, c enter; a orders. winback: b enters.
    assert out.select("campaign", "step", "users", "dropped").to_dicts() == [
        {"campaign": "bts", "step": "campaign_join", "users": 2, "dropped": None},
        {"campaign": "bts", "step": "order", "users": 1, "dropped": 1},
        {"campaign": "winback", "step": "campaign_join", "users": 1, "dropped": None},
        {"campaign": "winback", "step": "order", "users": 0, "dropped": 1},
    ]
    same = funnel(con, ["campaign_join", "order"], JUL1, JUL31, by="campaign_id")
    assert same["users"].to_list() == out["users"].to_list()
    with pytest.raises(UserError, match="not known"):
        funnel(con, ["campaign_join"], JUL1, JUL31, by="no_such_column")


def test_empty_period_gives_zero_rows_with_null_rates() -> None:
    out = funnel(make_con(BASIC), STEPS3, date(2024, 1, 1), date(2024, 1, 31))
    assert out["users"].to_list() == [0, 0, 0]
    assert out["conversion_from_start"].to_list() == [None, None, None]
    assert out["conversion_from_previous"].to_list() == [None, None, None]
    assert out["dropped"].to_list() == [None, 0, 0]
    by = funnel(make_con(BASIC), STEPS3, date(2024, 1, 1), date(2024, 1, 31), by="channel")
    assert by.height == 0 and by.columns[0] == "channel"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "empty"),
        ("", "empty"),
        (["register", "purchase"], "'purchase' is not known"),
        (["campaign_join:"], "not valid"),
        (["order:x"], "not valid"),
    ],
)
def test_step_validation(steps: list[str] | str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse_steps(steps)
    assert "first_order" in str(info.value)  # the accepted values are listed


def test_parse_steps_accepts_comma_string_and_case() -> None:
    parsed = parse_steps("Register, first_order ,campaign_join:BTS")
    assert [s.label for s in parsed] == ["register", "first_order", "campaign_join:BTS"]


def test_bad_period_and_window() -> None:
    con = make_con(BASIC)
    with pytest.raises(UserError, match="starts after"):
        funnel(con, STEPS3, JUL31, JUL1)
    with pytest.raises(UserError, match="negative"):
        funnel(con, STEPS3, JUL1, JUL31, window=timedelta(days=-1))


# --- properties ---------------------------------------------------------------------------

STEP_CHOICES = ["register", "active", "order", "first_order", "campaign_join",
                "campaign_join:x", "touch"]
TYPES = ["touch", "register", "active", "order", "campaign_join"]
BASE = datetime(2025, 6, 28)


@st.composite
def event_logs(draw: st.DrawFn) -> list[Row]:
    n = draw(st.integers(min_value=0, max_value=25))
    rows: list[Row] = []
    for _ in range(n):
        user = draw(st.sampled_from(["a", "b", "c", "d"]))
        when = BASE + timedelta(hours=draw(st.integers(min_value=0, max_value=45 * 24)))
        kind = draw(st.sampled_from(TYPES))
        campaign = draw(st.sampled_from(["x", "y"])) if kind == "campaign_join" else None
        channel = "kol" if kind == "touch" else None
        amount = 1.0 if kind == "order" else None
        rows.append(ev(user, when.strftime("%Y-%m-%d %H:%M"), kind, channel, campaign, amount))
    return rows


def reference_counts(rows: list[Row], steps: list[str], window: timedelta) -> list[int]:
    """Plain-Python reading of §6, used to cross-check the SQL."""
    def matches(row: Row, step: str, first_order: dict[str, str]) -> bool:
        if step == "first_order":
            return row[2] == "order" and row[1] == first_order.get(row[0])
        if step.startswith("campaign_join:"):
            return row[2] == "campaign_join" and row[4] == step.split(":", 1)[1]
        return row[2] == step

    first_order: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: r[1]):
        if r[2] == "order":
            first_order.setdefault(r[0], r[1])
    counts = [0] * len(steps)
    indexed = [(r, f"e{i}") for i, r in enumerate(rows)]
    for user in sorted({r[0] for r in rows}):
        mine = sorted(
            (x for x in indexed if x[0][0] == user),
            key=lambda x: (x[0][1], x[0][2], x[0][4] is None, x[0][4] or "", x[1]),
        )
        entries = [x for x in mine if matches(x[0], steps[0], first_order)
                   and "2025-07-01" <= x[0][1][:10] <= "2025-07-31"]
        if not entries:
            continue
        used = {entries[0][1]}
        entry_time = datetime.fromisoformat(entries[0][0][1])
        previous = entry_time
        counts[0] += 1
        for k in range(1, len(steps)):
            nxt = next(
                (x for x in mine
                 if x[1] not in used and matches(x[0], steps[k], first_order)
                 and previous <= datetime.fromisoformat(x[0][1]) <= entry_time + window),
                None,
            )
            if nxt is None:
                break
            used.add(nxt[1])
            previous = datetime.fromisoformat(nxt[0][1])
            counts[k] += 1
    return counts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=event_logs(),
    steps=st.lists(st.sampled_from(STEP_CHOICES), min_size=1, max_size=4),
    window_hours=st.integers(min_value=0, max_value=20 * 24),
)
def test_funnel_properties(rows: list[Row], steps: list[str], window_hours: int) -> None:
    window = timedelta(hours=window_hours)
    out = funnel(make_con(rows), steps, JUL1, JUL31, window=window)
    users = out["users"].to_list()
    # counts never increase along the steps
    assert all(a >= b for a, b in pairwise(users))
    # conservation: entries = last step + everyone dropped on the way
    assert users[0] == users[-1] + sum(d for d in out["dropped"].to_list() if d is not None)
    rates = [r for r in out["conversion_from_start"].to_list() if r is not None]
    assert all(0.0 <= r <= 1.0 for r in rates)
    assert users == reference_counts(rows, steps, window)


def test_events_are_numbered_only_when_steps_share_a_type_or_the_entry_is_read() -> None:
    def of(*steps: str, by_mode: str = "none") -> bool:
        return numbered(parse_steps(list(steps)), by_mode)

    assert not of("register", "active", "first_order")
    assert not of("touch", "register", "campaign_join:x", "order")
    assert of("order", "first_order")  # first_order is an order: one event could serve both
    assert of("campaign_join:x", "campaign_join:y")
    assert of("active", "active")
    assert of("register", "active", by_mode="channel")  # which tied event is the entry
    assert of("register", "active", by_mode="column")


DISTINCT_STEPS = [["register", "active", "first_order"], ["touch", "register", "order"],
                  ["active", "campaign_join:x", "order"], ["campaign_join", "first_order"],
                  ["register", "order", "active", "touch"]]


@st.composite
def tied_logs(draw: st.DrawFn) -> list[Row]:
    """Logs whose events often share an instant (six instants over four days)."""
    rows: list[Row] = []
    for _ in range(draw(st.integers(min_value=0, max_value=30))):
        user = draw(st.sampled_from(["a", "b", "c"]))
        when = draw(st.sampled_from(["2025-06-30 23:00", "2025-07-01 10:00", "2025-07-01 10:00:30",
                                     "2025-07-02 08:00", "2025-07-03 12:00", "2025-07-31 23:59"]))
        kind = draw(st.sampled_from(TYPES))
        campaign = draw(st.sampled_from(["x", "y"])) if kind == "campaign_join" else None
        rows.append(ev(user, when, kind, "kol" if kind == "touch" else None, campaign,
                       1.0 if kind == "order" else None))
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.one_of(event_logs(), tied_logs()), steps=st.sampled_from(DISTINCT_STEPS),
       window_hours=st.integers(min_value=0, max_value=20 * 24))
def test_unnumbered_events_give_the_numbered_result(rows: list[Row], steps: list[str],
                                                     window_hours: int) -> None:
    """Steps of distinct event types skip the numbering of the events (funnel.numbered): the
    counts, the median times and every dropped user's entry and last step time are those of
    the numbered query, ties on event_time included."""
    window = timedelta(hours=window_hours)
    assert not numbered(parse_steps(steps), "none")
    con = make_con(rows)
    fast = (funnel(con, steps, JUL1, JUL31, window=window),
            [funnel_dropped_users(con, steps, JUL1, JUL31, window=window, step=k)
             for k in range(2, len(steps) + 1)])
    with patch("campaign_roi.funnel.numbered", lambda parsed, by_mode: True):
        slow = (funnel(con, steps, JUL1, JUL31, window=window),
                [funnel_dropped_users(con, steps, JUL1, JUL31, window=window, step=k)
                 for k in range(2, len(steps) + 1)])
    assert fast[0].equals(slow[0])
    assert all(a.equals(b) for a, b in zip(fast[1], slow[1], strict=True))


def test_by_channel_null_group_for_users_never_registered() -> None:
    rows = [
        ev("a", "2025-07-01 10:00", "active"),  # never registered: no acquisition channel
        ev("a", "2025-07-02 10:00", "order", amount=1),  # +1 day
        ev("b", "2025-07-01 10:00", "active"),
        ev("c", "2025-07-01 10:00", "register"),
        ev("c", "2025-07-01 11:00", "active"),
    ]
    out = funnel(make_con(rows, {"c": "kol"}), ["active", "order"], JUL1, JUL31, by="channel")
    # kol: c enters, no order; null (last): a, b enter, a orders -> 1/2
    assert out.select("channel", "users", "conversion_from_start").rows() == [
        ("kol", 1, 1.0), ("kol", 0, 0.0), (None, 2, 1.0), (None, 1, 0.5),
    ]


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.lists(st.one_of(
    st.none(), st.floats(0, 1e7, allow_nan=False),
    st.integers(0, 10**9).map(lambda us: us / 1e6)), max_size=7), min_size=1, max_size=6))
def test_sql_median_is_the_polars_median(groups: list[list[float | None]]) -> None:
    """The funnel's medians are computed in DuckDB with the expression _MEDIAN_SQL: the
    same value as Polars' median to the last bit (lo + (hi - lo) * 0.5 for an even count,
    nulls ignored, null when there is no value); DuckDB's own median differs in the last
    bit now and then."""
    import duckdb

    from campaign_roi.funnel import _MEDIAN_SQL

    frame = pl.DataFrame(
        {"g": [i for i, xs in enumerate(groups) for _ in xs],
         "x": [x for xs in groups for x in xs]},
        schema={"g": pl.Int64, "x": pl.Float64})
    want = frame.group_by("g").agg(pl.col("x").median()).sort("g").rows()
    con = duckdb.connect()
    got = con.sql(f"SELECT g, {_MEDIAN_SQL.format(x='x')} AS x FROM frame GROUP BY g "
                  "ORDER BY g").fetchall()
    assert got == want

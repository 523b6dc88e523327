"""Lifecycle segments (SPEC §6): one user per rule, precedence, edges, export, migration."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from eventlog import Row, ev, make_con
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign_roi.errors import UserError
from campaign_roi.lifecycle import (
    SEGMENTS,
    LifecycleThresholds,
    export_segments,
    segment_migration,
    segment_users,
    segments,
)

# D = 2025-09-30 (the data's last day). Windows: last 7 days = 09-24..09-30,
# silent_new registered 08-31..09-23, last 14 days = 09-17..09-30,
# last 30 days = 09-01..09-30, previous 30 days = 08-02..08-31, last 90 days = 07-03..09-30.
D = date(2025, 9, 30)


def days(user: str, first: str, n: int, kind: str = "active") -> list[Row]:
    start = datetime.fromisoformat(first)
    return [ev(user, (start + timedelta(days=i)).strftime("%Y-%m-%d 12:00"), kind)
            for i in range(n)]


LOG: list[Row] = [
    ev("z", "2025-09-30 20:00", "touch", "kol"),  # a prospect only; sets the last day
    # new
    ev("u_new", "2025-09-24 10:00", "register"),  # D-6: the oldest "new" day
    ev("u_new_today", "2025-09-30 23:00", "register"),  # activity on D counts
    ev("u_new_hv", "2025-09-28 10:00", "register"),
    ev("u_new_hv", "2025-09-29 10:00", "order", amount=300),  # new beats high_value
    # silent_new
    ev("u_silent7", "2025-09-23 10:00", "register"),  # D-7
    ev("u_silent30", "2025-08-31 10:00", "register"),  # D-30
    ev("u_silent_sameday", "2025-09-10 10:00", "register"),
    ev("u_silent_sameday", "2025-09-10 18:00", "active"),  # same day: not "after"
    # churn_warning by silence: registered 09-10, active 09-11, nothing since 09-17
    ev("u_warn_quiet", "2025-09-10 10:00", "register"),
    ev("u_warn_quiet", "2025-09-11 10:00", "active"),
    # churned
    ev("u_churn_reg31", "2025-08-30 10:00", "register"),  # D-31: too old for silent_new
    ev("u_churn_noreg", "2025-08-31 10:00", "active"),  # last activity D-30
    # churn_warning by ratio: 4 previous days, 1 recent day: 1 < 0.5 * 4
    *days("u_warn_ratio", "2025-08-10", 4),
    ev("u_warn_ratio", "2025-09-25 10:00", "active"),
    # 4 previous days, 2 recent days: 2 < 2 is false -> active
    *days("u_ratio_ok", "2025-08-10", 4),
    ev("u_ratio_ok", "2025-09-20 10:00", "active"),
    ev("u_ratio_ok", "2025-09-25 10:00", "active"),
    # 3 previous days: the ratio rule does not apply -> active
    *days("u_ratio_min", "2025-08-10", 3),
    ev("u_ratio_min", "2025-09-25 10:00", "active"),
    # high_value: 150 + 60 = 210 >= 200
    ev("u_hv", "2025-05-01 10:00", "register"),
    ev("u_hv", "2025-09-20 10:00", "order", amount=150),
    ev("u_hv", "2025-09-25 10:00", "order", amount=60),
    # high_value at exactly 200 inside 09-01..09-30; the 500 on 08-31 is outside
    ev("u_hv_edge", "2025-08-31 10:00", "order", amount=500),
    ev("u_hv_edge", "2025-09-01 10:00", "order", amount=100),
    ev("u_hv_edge", "2025-09-29 10:00", "order", amount=100),
    # payer: an order on D-89
    ev("u_payer", "2025-07-03 10:00", "order", amount=50),
    ev("u_payer", "2025-09-28 10:00", "active"),
    # order on D-90: not a payer, and not "never ordered" -> active
    ev("u_old_order", "2025-07-02 10:00", "order", amount=50),
    ev("u_old_order", "2025-09-28 10:00", "active"),
    # potential_payer: 8 distinct active days 09-20..09-27 (two events on 09-20)
    *days("u_potential", "2025-09-20", 8),
    ev("u_potential", "2025-09-20 18:00", "campaign_join", campaign="bts"),
    # 7 days -> active
    *days("u_potential7", "2025-09-21", 7),
    # active
    ev("u_active", "2025-01-01 10:00", "register"),
    ev("u_active", "2025-09-29 10:00", "active"),
    # events after D are ignored when as_of is earlier (see test_as_of)
]

EXPECTED = {
    "u_new": "new", "u_new_today": "new", "u_new_hv": "new",
    "u_silent7": "silent_new", "u_silent30": "silent_new", "u_silent_sameday": "silent_new",
    "u_churn_reg31": "churned", "u_churn_noreg": "churned",
    "u_warn_quiet": "churn_warning", "u_warn_ratio": "churn_warning",
    "u_hv": "high_value", "u_hv_edge": "high_value",
    "u_payer": "payer",
    "u_potential": "potential_payer",
    "u_ratio_ok": "active", "u_ratio_min": "active", "u_old_order": "active",
    "u_potential7": "active", "u_active": "active",
}


def test_one_user_per_rule_and_precedence() -> None:
    users = segment_users(make_con(LOG))
    assert dict(zip(users["user_id"], users["segment"], strict=True)) == EXPECTED
    assert "z" not in users["user_id"].to_list()  # touch-only ids are prospects
    # sorted by rule order, then user_id
    ranks = [SEGMENTS.index(s) for s in users["segment"]]
    assert ranks == sorted(ranks)


def test_segment_user_columns() -> None:
    users = segment_users(make_con(LOG))
    assert users.columns == ["user_id", "segment", "register_date", "last_active_date",
                             "active_days_30", "active_days_prev_30", "order_total_30",
                             "last_order_date"]
    rows = {r["user_id"]: r for r in users.to_dicts()}
    assert rows["u_warn_ratio"]["active_days_30"] == 1
    assert rows["u_warn_ratio"]["active_days_prev_30"] == 4
    assert rows["u_warn_ratio"]["register_date"] is None
    assert rows["u_hv_edge"]["order_total_30"] == 200.0  # 100 + 100; 08-31 is outside
    assert rows["u_hv_edge"]["last_order_date"] == date(2025, 9, 29)
    assert rows["u_potential"]["active_days_30"] == 8  # two events on 09-20 = one day
    assert rows["u_new_hv"]["register_date"] == date(2025, 9, 28)
    assert rows["u_new_today"]["last_active_date"] == date(2025, 9, 30)


def test_segment_counts_and_shares() -> None:
    out = segments(make_con(LOG))
    # new 3, silent_new 3, churned 2, churn_warning 2, high_value 2, payer 1,
    # potential_payer 1, active 5: 19 users
    assert out.columns == ["segment", "users", "share"]
    assert out["segment"].to_list() == list(SEGMENTS)
    assert out["users"].to_list() == [3, 3, 2, 2, 2, 1, 1, 5]
    assert out["share"].to_list() == pytest.approx([n / 19 for n in [3, 3, 2, 2, 2, 1, 1, 5]])


def test_as_of_ignores_later_events() -> None:
    users = segment_users(make_con(LOG), as_of=date(2025, 9, 23))
    got = dict(zip(users["user_id"], users["segment"], strict=True))
    # registered after 09-23: not users yet
    assert {"u_new", "u_new_today", "u_new_hv"}.isdisjoint(got)
    # u_silent7 registered on D itself -> new; u_hv: its 09-25 order does not exist yet,
    # 150 < 200 -> payer
    assert got["u_silent7"] == "new"
    assert got["u_hv"] == "payer"
    # u_potential: active 09-20..09-23 = 4 days < 8 -> active
    assert got["u_potential"] == "active"


def test_thresholds_change_the_rules() -> None:
    t = LifecycleThresholds(new_days=3, high_value_total=100.0)
    got = dict(zip(*segment_users(make_con(LOG), thresholds=t)
                   .select("user_id", "segment").get_columns(), strict=True))
    # u_new (registered D-6) is no longer new: silent_new (D-30..D-3, nothing after)
    assert got["u_new"] == "silent_new"
    # u_payer's 50 is still < 100; u_hv_edge 200 >= 100
    assert got["u_payer"] == "payer"
    assert got["u_hv_edge"] == "high_value"


def test_from_config() -> None:
    assert LifecycleThresholds.from_config(None) == LifecycleThresholds()
    t = LifecycleThresholds.from_config({"new_days": 5.0, "high_value_total": 150})
    assert t.new_days == 5 and isinstance(t.new_days, int)
    assert t.high_value_total == 150.0
    with pytest.raises(UserError, match=r"lifecycle\.new_dayz"):
        LifecycleThresholds.from_config({"new_dayz": 5})
    with pytest.raises(UserError, match=r"lifecycle\.churn_days"):
        LifecycleThresholds.from_config({"churn_days": 7.5})
    with pytest.raises(UserError, match=r"lifecycle\.warning_ratio"):
        LifecycleThresholds.from_config({"warning_ratio": "half"})
    with pytest.raises(UserError, match="silent_new_days"):
        LifecycleThresholds.from_config({"new_days": 40})


def test_no_events_gives_eight_zero_rows() -> None:
    out = segments(make_con([]))
    assert out["users"].to_list() == [0] * 8
    assert out["share"].to_list() == [None] * 8


def test_export_segments(tmp_path: Path) -> None:
    target = tmp_path / "crm" / "out"
    written = export_segments(make_con(LOG), target)
    assert written == dict(zip(SEGMENTS, [3, 3, 2, 2, 2, 1, 1, 5], strict=True))
    assert sorted(p.name for p in target.iterdir()) == sorted(f"segment_{s}.csv" for s in SEGMENTS)
    warn = pl.read_csv(target / "segment_churn_warning.csv")
    assert warn["user_id"].to_list() == ["u_warn_quiet", "u_warn_ratio"]
    assert warn.columns[:2] == ["user_id", "segment"]
    # empty segment -> header only
    empty = export_segments(make_con([ev("a", "2025-09-30 10:00", "register")]), tmp_path / "e")
    assert empty["new"] == 1 and empty["payer"] == 0
    assert (tmp_path / "e" / "segment_payer.csv").read_text().startswith("user_id,segment,")
    assert (tmp_path / "e" / "segment_payer.csv").read_text().count("\n") == 1


def test_segment_migration() -> None:
    rows = [
        ev("m1", "2025-09-10 10:00", "register"),  # 09-15: new; 09-30: silent_new
        ev("m2", "2025-09-28 10:00", "register"),  # not a user on 09-15; 09-30: new
        # m3 on 09-15: 300 in 08-17..09-15 -> high_value; on 09-30 the order is outside
        # 09-01..09-30 but inside 90 days -> payer
        ev("m3", "2025-06-01 10:00", "register"),
        ev("m3", "2025-08-25 10:00", "order", amount=300),
        ev("m3", "2025-09-12 10:00", "active"),
        ev("m3", "2025-09-29 10:00", "active"),
        ev("m4", "2025-08-01 10:00", "active"),  # churned on both days
    ]
    out = segment_migration(make_con(rows), date(2025, 9, 15), date(2025, 9, 30))
    assert out.columns == ["from_segment", "to_segment", "users"]
    assert out.height == 72  # 8 x 8 + 8 rows from "not yet a user" (null)
    moved = {(r["from_segment"], r["to_segment"]): r["users"]
             for r in out.filter(pl.col("users") > 0).to_dicts()}
    assert moved == {("new", "silent_new"): 1, ("churned", "churned"): 1,
                     ("high_value", "payer"): 1, (None, "new"): 1}
    assert out["users"].sum() == 4
    with pytest.raises(UserError, match="earlier day"):
        segment_migration(make_con(rows), date(2025, 9, 30), date(2025, 9, 15))


# --- properties ---------------------------------------------------------------------------

@st.composite
def logs(draw: st.DrawFn) -> list[Row]:
    rows: list[Row] = []
    for _ in range(draw(st.integers(min_value=0, max_value=40))):
        user = draw(st.sampled_from([f"u{i}" for i in range(8)]))
        day = datetime(2025, 6, 1) + timedelta(days=draw(st.integers(0, 121)))
        kind = draw(st.sampled_from(["register", "active", "order", "touch", "campaign_join"]))
        rows.append(ev(user, day.strftime("%Y-%m-%d 12:00"), kind,
                       "kol" if kind == "touch" else None,
                       "x" if kind == "campaign_join" else None,
                       draw(st.sampled_from([20.0, 150.0])) if kind == "order" else None))
    return rows


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), offset=st.integers(min_value=0, max_value=60))
def test_segments_partition_users(rows: list[Row], offset: int) -> None:
    con = make_con(rows)
    as_of = date(2025, 10, 1) - timedelta(days=offset)
    expected_users = {r[0] for r in rows if r[2] != "touch" and r[1][:10] <= as_of.isoformat()}
    users = segment_users(con, as_of)
    assert users["user_id"].n_unique() == users.height  # exactly one segment each
    assert set(users["user_id"]) == expected_users
    out = segments(con, as_of)
    assert out["segment"].to_list() == list(SEGMENTS)
    assert out["users"].sum() == len(expected_users)
    if expected_users:
        assert out["share"].sum() == pytest.approx(1.0)
    # the counts (aggregated in DuckDB) agree with the per-user table
    per_user = users.group_by("segment").len()
    assert dict(zip(out["segment"], out["users"], strict=True)) == {
        s: dict(zip(per_user["segment"], per_user["len"], strict=True)).get(s, 0)
        for s in SEGMENTS
    }
    # the migration matrix conserves the users of the later day
    assert segment_migration(con, as_of - timedelta(days=10), as_of)["users"].sum() == len(
        expected_users
    )

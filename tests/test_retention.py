"""Cohort retention (SPEC §6): exact cells, the null rule, grains, by channel, properties."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from eventlog import Row, ev, make_con
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign_roi.errors import UserError
from campaign_roi.retention import retention, to_wide

# Month grain (30-day windows): period k = days 30k .. 30k+29 after the register day.
MONTHLY: list[Row] = [
    ev("a", "2025-07-01 10:00", "register"),
    ev("a", "2025-07-30 10:00", "active"),  # day 29 -> period 0
    ev("a", "2025-08-29 10:00", "active"),  # day 59 -> period 1
    ev("b", "2025-07-15 10:00", "register"),
    ev("b", "2025-08-14 10:00", "order", amount=5),  # day 30 -> period 1
    ev("b", "2025-09-13 10:00", "campaign_join", campaign="x"),  # day 60 -> period 2
    ev("c", "2025-07-31 23:30", "register"),  # no activity afterwards
    ev("d", "2025-08-01 00:10", "register"),
    ev("d", "2025-08-31 10:00", "active"),  # day 30 -> period 1
    ev("z", "2025-09-29 10:00", "touch", "kol"),  # data's last day: 2025-09-29
]


def cells(df: pl.DataFrame) -> dict[tuple[str, int], float | None]:
    return {(r["cohort"], r["period"]): r["retention"] for r in df.to_dicts()}


def test_monthly_cells_and_null_rule() -> None:
    out = retention(make_con(MONTHLY), "register", "month", periods=2)
    assert out.columns == ["cohort", "cohort_size", "period", "retention"]
    assert out.schema["retention"] == pl.Float64
    # cohort 2025-07 = a, b, c (size 3), latest cohort day 07-31:
    #   p0 ends 07-31+29 = 08-29 <= 09-29: 3/3 = 1.0 (the register is activity)
    #   p1 ends 07-31+59 = 09-28 <= 09-29: a (day 59), b (day 30) -> 2/3
    #   p2 ends 07-31+89 = 10-29 > 09-29: null, although b is active on day 60
    # cohort 2025-08 = d: p1 ends 08-01+59 = 09-29 = last day: complete, 1/1; p2 null
    assert out["cohort_size"].to_list() == [3, 3, 3, 1, 1, 1]
    assert cells(out) == {
        ("2025-07", 0): 1.0, ("2025-07", 1): 2 / 3, ("2025-07", 2): None,
        ("2025-08", 0): 1.0, ("2025-08", 1): 1.0, ("2025-08", 2): None,
    }


def test_cell_is_null_until_the_last_members_window_ends() -> None:
    # the same log ending one day earlier (last day 09-28): cohort 2025-08's period 1 ends
    # 09-29 > 09-28 -> null; cohort 2025-07's period 1 ends 09-28 -> still complete
    rows = [*MONTHLY[:-1], ev("z", "2025-09-28 10:00", "touch", "kol")]
    got = cells(retention(make_con(rows), periods=1))
    assert got == {("2025-07", 0): 1.0, ("2025-07", 1): 2 / 3,
                   ("2025-08", 0): 1.0, ("2025-08", 1): None}


def test_week_grain_iso_week_cohorts() -> None:
    rows = [
        ev("e", "2025-07-01 10:00", "register"),  # Tuesday, ISO 2025-W27
        ev("e", "2025-07-08 10:00", "active"),  # day 7 -> period 1
        ev("f", "2025-07-06 10:00", "register"),  # Sunday, still W27
        ev("f", "2025-07-12 10:00", "active"),  # day 6 -> period 0
        ev("g", "2025-07-07 10:00", "register"),  # Monday, W28
        ev("g", "2025-07-21 10:00", "active"),  # day 14 -> period 2; last day = 07-21
    ]
    out = retention(make_con(rows), grain="week", cohort_by="week", periods=2)
    # W27 (e, f; latest 07-06): p1 ends 07-06+13 = 07-19 <= 07-21: e only -> 1/2;
    #   p2 ends 07-06+20 = 07-26 > 07-21 -> null
    # W28 (g, 07-07): p1 ends 07-20 <= 07-21: 0/1; p2 ends 07-27 -> null
    assert cells(out) == {
        ("2025-W27", 0): 1.0, ("2025-W27", 1): 0.5, ("2025-W27", 2): None,
        ("2025-W28", 0): 1.0, ("2025-W28", 1): 0.0, ("2025-W28", 2): None,
    }
    # day grain, month cohorts: p1 = the day after registering: nobody (e 07-02, f 07-07,
    # g 07-08 all silent); complete (07-07 + 1 = 07-08 <= 07-21)
    day = retention(make_con(rows), grain="day", cohort_by="month", periods=1)
    assert cells(day) == {("2025-07", 0): 1.0, ("2025-07", 1): 0.0}


def test_iso_week_label_across_new_year() -> None:
    rows = [ev("y", "2024-12-30 10:00", "register"), ev("y", "2025-01-02 10:00", "active")]
    out = retention(make_con(rows), grain="day", cohort_by="week", periods=0)
    assert out["cohort"].to_list() == ["2025-W01"]  # Monday 2024-12-30 is in ISO week 2025-W01


def test_first_order_cohorts() -> None:
    rows = [
        ev("h", "2025-06-01 10:00", "register"),
        ev("h", "2025-07-03 10:00", "order", amount=10),  # first order: cohort 2025-07
        ev("h", "2025-08-05 10:00", "order", amount=10),  # day 33 -> period 1
        ev("i", "2025-07-10 10:00", "order", amount=10),  # never registered; still a payer
        ev("z", "2025-09-10 10:00", "touch", "kol"),
    ]
    out = retention(make_con(rows), cohort_event="first_order", periods=1)
    # 2025-07 = h, i; p1 ends 07-10+59 = 09-07 <= 09-10: h -> 1/2
    assert cells(out) == {("2025-07", 0): 1.0, ("2025-07", 1): 0.5}
    assert out["cohort_size"].to_list() == [2, 2]


def test_by_channel_and_cohort_bounds() -> None:
    con = make_con(MONTHLY, acquisition={"a": "kol", "b": "kol"})
    out = retention(con, periods=1, by="channel")
    assert out.columns == ["channel", "cohort", "cohort_size", "period", "retention"]
    # kol 2025-07: a, b both active in period 1 -> 1.0; organic 2025-07: c -> 0.0;
    # organic 2025-08: d -> 1.0
    assert out.select("channel", "cohort", "period", "retention").rows() == [
        ("kol", "2025-07", 0, 1.0), ("kol", "2025-07", 1, 1.0),
        ("organic", "2025-07", 0, 1.0), ("organic", "2025-07", 1, 0.0),
        ("organic", "2025-08", 0, 1.0), ("organic", "2025-08", 1, 1.0),
    ]
    # cohort days 07-10..07-31: b and c -> size 2; p1: b -> 0.5
    bounded = retention(con, periods=1, start=date(2025, 7, 10), end=date(2025, 7, 31))
    assert bounded.rows() == [("2025-07", 2, 0, 1.0), ("2025-07", 2, 1, 0.5)]


def test_to_wide() -> None:
    wide = to_wide(retention(make_con(MONTHLY), periods=2))
    assert wide.columns == ["cohort", "cohort_size", "period_0", "period_1", "period_2"]
    assert wide.rows() == [("2025-07", 3, 1.0, 2 / 3, None), ("2025-08", 1, 1.0, 1.0, None)]
    by = to_wide(retention(make_con(MONTHLY), periods=0, by="channel"))
    assert by.columns == ["channel", "cohort", "cohort_size", "period_0"]
    empty = retention(make_con([ev("z", "2025-09-29 10:00", "touch", "kol")]))
    assert empty.height == 0
    assert to_wide(empty).columns == ["cohort", "cohort_size"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grain": "year"}, "--grain"),
        ({"cohort_event": "order"}, "--cohort"),
        ({"cohort_by": "day"}, "--cohort-by"),
        ({"periods": -1}, "--periods"),
        ({"by": "campaign"}, "--by"),
        ({"start": date(2025, 8, 1), "end": date(2025, 7, 1)}, "starts after"),
    ],
)
def test_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        retention(make_con(MONTHLY), **kwargs)  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------

@st.composite
def logs(draw: st.DrawFn) -> list[Row]:
    rows: list[Row] = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        user = draw(st.sampled_from("abcdef"))
        day = datetime(2025, 6, 1) + timedelta(days=draw(st.integers(0, 120)))
        kind = draw(st.sampled_from(["register", "active", "order", "touch"]))
        rows.append(ev(user, day.strftime("%Y-%m-%d 12:00"), kind,
                       "kol" if kind == "touch" else None, None,
                       1.0 if kind == "order" else None))
    return rows


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), grain=st.sampled_from(["day", "week", "month"]),
       cohort_event=st.sampled_from(["register", "first_order"]),
       cohort_by=st.sampled_from(["month", "week"]))
def test_retention_properties(rows: list[Row], grain: str, cohort_event: str,
                              cohort_by: str) -> None:
    out = retention(make_con(rows), cohort_event, grain, periods=3, cohort_by=cohort_by)
    values = out["retention"].drop_nulls().to_list()
    assert all(0.0 <= v <= 1.0 for v in values)
    # cohorts partition the users who have the cohort event
    kind = "register" if cohort_event == "register" else "order"
    members = {r[0] for r in rows if r[2] == kind}
    sizes = out.filter(pl.col("period") == 0)["cohort_size"].sum()
    assert sizes == len(members)
    # period 0 contains the cohort event itself
    assert set(out.filter(pl.col("period") == 0)["retention"].drop_nulls().to_list()) <= {1.0}
    # once a cell is null, every later period of that cohort is null too
    for _, group in out.group_by("cohort"):
        flags = group.sort("period")["retention"].is_null().to_list()
        assert flags == sorted(flags)

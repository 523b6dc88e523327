"""Hand-computed attribution fixtures (SPEC §4, §4.1): six rule models × four transforms.

Times in the fixtures are naive local times (Asia/Shanghai, see conftest.CONFIG). Raw labels map
to groups: kol_* → kol, feed_* → feed_ads, wechat_campus_* → campus_community,
invite_* → referral, app_store → direct.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from campaign_roi.attribution import (
    RULE_MODELS,
    Attribution,
    AttributionOptions,
    attribute,
    attribute_path_table,
    drop_attribution_tables,
    path_table,
    prepare_window_touches,
)
from campaign_roi.dataset import Dataset
from campaign_roi.errors import UserError

COLS = ["user_id", "event_time", "event_type", "channel", "campaign_id", "amount", "order_id",
        "event_id"]
SCHEMA: dict[str, Any] = dict(zip(COLS, [pl.String, pl.Datetime("us"), pl.String, pl.String, pl.String,
                         pl.Float64, pl.String, pl.String], strict=True))
D = timedelta(days=1)
Row = tuple[Any, ...]


def events(*rows: Row) -> pl.DataFrame:
    """Rows ``(user, time, type, channel=None, campaign=None, amount=None, order_id=None,
    event_id=None)``; a missing event_id becomes ``e<row number>`` (zero-padded, so row order
    is journey order for equal times unless a test says otherwise)."""
    out = []
    for i, r in enumerate(rows):
        full = list(r) + [None] * (len(COLS) - len(r))
        if len(r) < len(COLS):
            full[7] = f"e{i:04d}"
        out.append(tuple(full))
    return pl.DataFrame(out, schema=SCHEMA, orient="row")


def touch(user: str, when: datetime, channel: str, campaign: str | None = None,
          event_id: str | None = None) -> Row:
    row: Row = (user, when, "touch", channel, campaign, None, None)
    return (*row, event_id) if event_id is not None else row


def reg(user: str, when: datetime) -> Row:
    return (user, when, "register")


def order(user: str, when: datetime, amount: float, order_id: str) -> Row:
    return (user, when, "order", None, None, amount, order_id)


def refund(user: str, when: datetime, amount: float, order_id: str) -> Row:
    return (user, when, "refund", None, None, amount, order_id)


@pytest.fixture
def open_ds(make_dataset: Callable[..., Path]) -> Callable[..., Dataset]:
    def make(*rows: Row) -> Dataset:
        return Dataset.open(make_dataset(events(*rows), form="parquet"))

    return make


def credits_by(ds: Dataset, key: str = "channel", **kw: Any) -> dict[tuple[str, Any], float]:
    """{(model, channel or campaign_id): conversions} with zero rows dropped, rounded to 9
    places."""
    opts = AttributionOptions(**{"models": RULE_MODELS, **kw})
    df = attribute(ds, opts, by="campaign" if key == "campaign_id" else key)
    return {(m, c): round(x, 9) for m, c, x in df.select("model", key, "conversions").iter_rows()
            if x != 0}


def value_by(ds: Dataset, key: str = "channel", **kw: Any) -> dict[tuple[str, Any], float]:
    opts = AttributionOptions(**{"models": RULE_MODELS, **kw})
    df = attribute(ds, opts, by=key)
    return {(m, c): round(x, 9) for m, c, x in df.select("model", key, "value").iter_rows()
            if x != 0}


def expect(**per_model: dict[str, Any]) -> dict[tuple[str, Any], float]:
    return {(m, c): round(x, 9) for m, d in per_model.items() for c, x in d.items() if x != 0}


# -- the model × transform grid ------------------------------------------------------------
# One register at R = 2025-07-29 12:00. Touches (days before R → group, campaign):
#   t1 28 d kol (c0), t2 21 d kol (c1), t3 14 d feed_ads (c2), t4 7 d kol (c3), t5 0 d direct
# (t5 at exactly T: included). Time-decay weights relative to the latest touch t5, H = 7 d:
#   t1 1/16, t2 1/8, t3 1/4, t4 1/2, t5 1.
R = datetime(2025, 7, 29, 12)
GRID = (
    touch("u1", R - 28 * D, "kol_a", "c0"),
    touch("u1", R - 21 * D, "kol_b", "c1"),
    touch("u1", R - 14 * D, "feed_x", "c2"),
    touch("u1", R - 7 * D, "kol_c", "c3"),
    touch("u1", R, "app_store"),
    reg("u1", R),
)

GRID_EXPECTED: dict[str, dict[tuple[str, Any], float]] = {
    # unique: kol kol feed kol direct (n=5)
    "unique": expect(
        first_touch={"kol": 1}, last_touch={"direct": 1},
        last_non_direct={"kol": 1},  # t4 is the last non-direct touch
        linear={"kol": 3 / 5, "feed_ads": 1 / 5, "direct": 1 / 5},
        # 0.4 first + 0.4 last; each of 3 middles 0.2/3: kol = 0.4 + 2 × 0.2/3
        position_based={"kol": 0.4 + 2 * 0.2 / 3, "feed_ads": 0.2 / 3, "direct": 0.4},
        # weights 1/16 1/8 1/4 1/2 1, sum 31/16 → kol (1+2+8)/31, feed 4/31, direct 16/31
        time_decay={"kol": 11 / 31, "feed_ads": 4 / 31, "direct": 16 / 31},
    ),
    # exposure: run kol,kol collapses to its latest (t2): kol(21) feed kol(7) direct (n=4)
    "exposure": expect(
        first_touch={"kol": 1}, last_touch={"direct": 1}, last_non_direct={"kol": 1},
        linear={"kol": 2 / 4, "feed_ads": 1 / 4, "direct": 1 / 4},
        # n=4: 0.4 / 0.1 / 0.1 / 0.4
        position_based={"kol": 0.4 + 0.1, "feed_ads": 0.1, "direct": 0.4},
        # weights 1/8 1/4 1/2 1, sum 15/8 → kol (1+4)/15, feed 2/15, direct 8/15
        time_decay={"kol": 5 / 15, "feed_ads": 2 / 15, "direct": 8 / 15},
    ),
    # first: first occurrence of each channel: kol(28) feed(14) direct(0) (n=3)
    "first": expect(
        first_touch={"kol": 1}, last_touch={"direct": 1},
        last_non_direct={"feed_ads": 1},  # the kept kol is t1; feed is the last non-direct
        linear={"kol": 1 / 3, "feed_ads": 1 / 3, "direct": 1 / 3},
        position_based={"kol": 0.4, "feed_ads": 0.2, "direct": 0.4},
        # weights 1/16 1/4 1, sum 21/16 → 1/21, 4/21, 16/21
        time_decay={"kol": 1 / 21, "feed_ads": 4 / 21, "direct": 16 / 21},
    ),
}
# frequency: one entry per channel in first-seen order, time = its first touch → same as first
GRID_EXPECTED["frequency"] = GRID_EXPECTED["first"]


@pytest.mark.parametrize("transform", ["unique", "exposure", "first", "frequency"])
def test_grid_every_model_and_transform(open_ds: Callable[..., Dataset], transform: str) -> None:
    ds = open_ds(*GRID)
    assert credits_by(ds, transform=transform) == GRID_EXPECTED[transform]


def test_grid_first_order_values_are_credit_times_amount(open_ds: Callable[..., Dataset]) -> None:
    # the same journey converting to a first order of 70 at R: value = 70 × credit
    rows = [r for r in GRID if r[2] != "register"] + [order("u1", R, 70.0, "o1")]
    ds = open_ds(*rows)
    got = value_by(ds, conversion="first_order", transform="exposure")
    assert got == pytest.approx({k: 70 * v for k, v in GRID_EXPECTED["exposure"].items()})


@pytest.mark.parametrize(("transform", "max_touches", "expected"), [
    # exposure, last 2: kol(7) direct(0); time decay weights 1/2, 1 → 1/3, 2/3
    ("exposure", 2, expect(
        first_touch={"kol": 1}, last_touch={"direct": 1}, last_non_direct={"kol": 1},
        linear={"kol": 0.5, "direct": 0.5}, position_based={"kol": 0.5, "direct": 0.5},
        time_decay={"kol": 1 / 3, "direct": 2 / 3})),
    # unique, last 3: feed(14) kol(7) direct(0); weights 1/4 1/2 1 → 1/7 2/7 4/7
    ("unique", 3, expect(
        first_touch={"feed_ads": 1}, last_touch={"direct": 1}, last_non_direct={"kol": 1},
        linear={"feed_ads": 1 / 3, "kol": 1 / 3, "direct": 1 / 3},
        position_based={"feed_ads": 0.4, "kol": 0.2, "direct": 0.4},
        time_decay={"feed_ads": 1 / 7, "kol": 2 / 7, "direct": 4 / 7})),
    # first, last 1: direct only → every model gives direct 1 (last_non_direct: all direct)
    ("first", 1, expect(**{m: {"direct": 1} for m in RULE_MODELS})),
    # max larger than the path: no change
    ("exposure", 10, GRID_EXPECTED["exposure"]),
])
def test_max_touches_keeps_the_last_n(open_ds: Callable[..., Dataset], transform: str,
                                      max_touches: int,
                                      expected: dict[tuple[str, Any], float]) -> None:
    ds = open_ds(*GRID)
    assert credits_by(ds, transform=transform, max_touches=max_touches) == expected


@pytest.mark.parametrize(("transform", "first_campaign", "linear"), [
    # unique keeps t1 (c0); linear over c0 c1 c2 c3 None, 1/5 each
    ("unique", "c0", {"c0": 0.2, "c1": 0.2, "c2": 0.2, "c3": 0.2, None: 0.2}),
    # exposure keeps the latest of the kol run (t2, c1); 4 entries, 1/4 each
    ("exposure", "c1", {"c1": 0.25, "c2": 0.25, "c3": 0.25, None: 0.25}),
    # first / frequency: each entry is its first touch (kol t1 c0); 3 entries
    ("first", "c0", {"c0": 1 / 3, "c2": 1 / 3, None: 1 / 3}),
    ("frequency", "c0", {"c0": 1 / 3, "c2": 1 / 3, None: 1 / 3}),
])
def test_by_campaign_uses_the_kept_touch(open_ds: Callable[..., Dataset], transform: str,
                                         first_campaign: str,
                                         linear: dict[str | None, float]) -> None:
    ds = open_ds(*GRID)
    got = credits_by(ds, key="campaign_id", transform=transform)
    assert got[("first_touch", first_campaign)] == 1
    assert {c: x for (m, c), x in got.items() if m == "linear"} == {
        c: round(x, 9) for c, x in linear.items()}
    assert got[("last_touch", None)] == 1  # the direct touch has no campaign
    df = attribute(ds, AttributionOptions(models=("linear",), transform=transform),
                   by="campaign")
    assert df.columns == ["model", "campaign_id", "conversions", "value", "share"]


# -- eligibility and journey order -----------------------------------------------------------
def test_lookback_bounds_and_touches_after_the_conversion(
        open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 31, 12)
    ds = open_ds(
        touch("u1", t - 30 * D, "kol_a"),                        # exactly T − 30 d: excluded
        touch("u1", t - 29 * D, "feed_x"),                       # included
        touch("u1", t, "app_store"),                             # exactly T: included
        touch("u1", t + timedelta(seconds=1), "wechat_campus_1"),  # after T: excluded
        reg("u1", t),
    )
    # path (unique): feed_ads > direct
    assert credits_by(ds, transform="unique") == expect(
        first_touch={"feed_ads": 1}, last_touch={"direct": 1}, last_non_direct={"feed_ads": 1},
        linear={"feed_ads": 0.5, "direct": 0.5}, position_based={"feed_ads": 0.5, "direct": 0.5},
        # 29 days apart, H = 7: weights 2^(−29/7), 1
        time_decay={"feed_ads": 2 ** (-29 / 7) / (1 + 2 ** (-29 / 7)),
                    "direct": 1 / (1 + 2 ** (-29 / 7))},
    )
    # lookback override 31 d: the touch at T − 30 d now counts (kol > feed_ads > direct)
    got = credits_by(ds, transform="unique", lookback_days=31)
    assert got[("first_touch", "kol")] == 1
    assert got[("linear", "kol")] == round(1 / 3, 9)
    # fractional lookback 29.5 d: only the touch at T stays... and feed (29 d) too
    got = credits_by(ds, transform="unique", lookback_days=29.5)
    assert got[("first_touch", "feed_ads")] == 1
    # lookback 28 d: only the touch at T
    assert credits_by(ds, transform="unique", lookback_days=28) == expect(
        **{m: {"direct": 1} for m in RULE_MODELS})


def test_ties_order_by_event_id_then_raw_channel(open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 10, 9)
    ds = open_ds(
        # u1: same time; event ids b (kol) then a (feed), written in reverse: order a, b
        touch("u1", t, "kol_x", event_id="b1"),
        touch("u1", t, "feed_y", event_id="a1"),
        reg("u1", t + D),
        # u2: same time, no event ids: by raw channel: invite_a < kol_b (as groups, kol <
        # referral would be the other way round)
        ("u2", t, "touch", "kol_b", None, None, None, None),
        ("u2", t, "touch", "invite_a", None, None, None, None),
        reg("u2", t + D),
    )
    got = credits_by(ds, transform="unique")
    # first_touch: u1 → feed_ads, u2 → referral; last_touch: u1 → kol, u2 → kol
    assert got[("first_touch", "feed_ads")] == 1
    assert got[("first_touch", "referral")] == 1
    assert got[("last_touch", "kol")] == 2
    # same instant: time decay weights equal → 0.5 each per user
    assert got[("time_decay", "kol")] == 1.0
    assert got[("time_decay", "feed_ads")] == 0.5


def test_last_non_direct_direct_only_and_trailing_direct(
        open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 20, 12)
    ds = open_ds(
        # u1: direct only → last touch (direct)
        touch("u1", t - 2 * D, "app_store"), touch("u1", t - D, "app_store"), reg("u1", t),
        # u2: kol, feed, direct, direct → feed (trailing directs skipped)
        touch("u2", t - 4 * D, "kol_a"), touch("u2", t - 3 * D, "feed_b"),
        touch("u2", t - 2 * D, "app_store"), touch("u2", t - D, "app_store"), reg("u2", t),
    )
    for transform in ("unique", "exposure", "first", "frequency"):
        got = credits_by(ds, transform=transform)
        assert got[("last_non_direct", "direct")] == 1, transform
        assert got[("last_non_direct", "feed_ads")] == 1, transform
        assert got[("last_touch", "direct")] == 2, transform


def test_position_based_one_and_two_touches(open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 20, 12)
    ds = open_ds(
        touch("u1", t - D, "kol_a"), reg("u1", t),                                   # n = 1
        touch("u2", t - 2 * D, "kol_a"), touch("u2", t - D, "feed_b"), reg("u2", t),  # n = 2
    )
    got = credits_by(ds, transform="unique")
    # kol: 1 (u1) + 0.5 (u2); feed: 0.5
    assert {c: x for (m, c), x in got.items() if m == "position_based"} == {
        "kol": 1.5, "feed_ads": 0.5}


def test_credit_rows_in_a_fixed_order_when_a_channel_repeats(
        open_ds: Callable[..., Dataset]) -> None:
    """kol, feed, kol (same campaign) 3, 2 and 1 days before one register: the journey holds
    two kol rows of equal key (model, conversion, channel, campaign) and different credits,
    which end the sort key. time_decay, H = 7 d, ages 2, 1, 0 days from the latest touch:
    weights 2^(-2/7) = 0.820335, 2^(-1/7) = 0.905724, 1; sum 2.726059 →
    kol 0.300924, feed 0.332246, kol 0.366830."""
    t = datetime(2025, 7, 20, 12)
    ds = open_ds(touch("u1", t - 3 * D, "kol_a", "c1"), touch("u1", t - 2 * D, "feed_b"),
                 touch("u1", t - D, "kol_a", "c1"), reg("u1", t))
    frame = Attribution(ds, AttributionOptions(models=("time_decay",), transform="unique",
                                               half_life_days=7)).credits()
    assert frame.select("channel", "campaign_id", "credit").rows() == [
        ("feed_ads", None, pytest.approx(0.332246, abs=1e-6)),
        ("kol", "c1", pytest.approx(0.300924, abs=1e-6)),
        ("kol", "c1", pytest.approx(0.366830, abs=1e-6))]
    shapley = Attribution(ds, AttributionOptions(models=("shapley",),
                                                 transform="unique")).credits()
    keys = shapley.select("channel", "campaign_id", "credit").rows()
    assert keys == sorted(keys, key=lambda r: (r[0], r[1] or "", r[2]))
    assert sum(r[2] for r in keys) == pytest.approx(1.0)  # one conversion, all credited


def test_time_decay_halves_each_half_life(open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 20, 12)
    last = t - 3 * D  # the latest touch is 3 days before T: normalisation cancels the offset
    ds = open_ds(
        touch("u1", last - 14 * D, "kol_a"), touch("u1", last - 7 * D, "feed_b"),
        touch("u1", last, "wechat_campus_1"), reg("u1", t),
    )
    # weights 1/4 : 1/2 : 1 → 1/7, 2/7, 4/7
    got = credits_by(ds, transform="unique")
    assert {c: x for (m, c), x in got.items() if m == "time_decay"} == {
        "kol": round(1 / 7, 9), "feed_ads": round(2 / 7, 9), "campus_community": round(4 / 7, 9)}
    # half-life 3.5 d: 14 d = 4 half-lives, 7 d = 2 → 1/16 : 1/4 : 1, sum 21/16
    got = credits_by(ds, transform="unique", half_life_days=3.5)
    assert {c: x for (m, c), x in got.items() if m == "time_decay"} == {
        "kol": round(1 / 21, 9), "feed_ads": round(4 / 21, 9),
        "campus_community": round(16 / 21, 9)}
    # half-life 10.5 d (fractional days): 14 d → 2^(−4/3), 7 d → 2^(−2/3)
    w = [2 ** (-4 / 3), 2 ** (-2 / 3), 1.0]
    got = credits_by(ds, transform="unique", half_life_days=10.5)
    assert got[("time_decay", "kol")] == round(w[0] / sum(w), 9)
    assert got[("time_decay", "campus_community")] == round(w[2] / sum(w), 9)


# -- conversions, values, organic -------------------------------------------------------------
SHARED = (
    touch("u1", datetime(2025, 7, 1, 10), "kol_a"),
    order("u1", datetime(2025, 7, 5, 10), 50.0, "o1"),
    touch("u1", datetime(2025, 7, 10, 10), "feed_b"),
    order("u1", datetime(2025, 7, 15, 10), 80.0, "o2"),
    refund("u1", datetime(2025, 7, 16, 10), 30.0, "o2"),
    order("u2", datetime(2025, 7, 15, 10), 20.0, "o3"),  # no touch: organic
)


def test_orders_share_touches_first_order_vs_order(open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(*SHARED)
    # order: o1 ← [kol]; o2 ← [kol, feed] (the kol touch serves both); o3 organic
    assert credits_by(ds, conversion="order") == expect(
        first_touch={"kol": 2, "organic": 1}, last_touch={"kol": 1, "feed_ads": 1, "organic": 1},
        last_non_direct={"kol": 1, "feed_ads": 1, "organic": 1},
        linear={"kol": 1.5, "feed_ads": 0.5, "organic": 1},
        position_based={"kol": 1.5, "feed_ads": 0.5, "organic": 1},
        # o2: kol 14 d and feed 5 d before T, 9 d apart: weights 2^(−9/7), 1
        time_decay={"kol": 1 + 2 ** (-9 / 7) / (1 + 2 ** (-9 / 7)),
                    "feed_ads": 1 / (1 + 2 ** (-9 / 7)), "organic": 1},
    )
    # gross values: linear kol 50 + 80/2 = 90, feed 40, organic 20
    v = value_by(ds, conversion="order")
    assert (v[("linear", "kol")], v[("linear", "feed_ads")], v[("linear", "organic")]) == (
        90.0, 40.0, 20.0)
    # net (o2 refunded 30 → 50): linear kol 50 + 25 = 75, feed 25; last_touch feed 50
    v = value_by(ds, conversion="order", net=True)
    assert (v[("linear", "kol")], v[("linear", "feed_ads")], v[("last_touch", "feed_ads")]) == (
        75.0, 25.0, 50.0)
    # first_order: only o1 (kol, 50) and o3 (organic, 20)
    assert credits_by(ds, conversion="first_order") == expect(
        **{m: {"kol": 1, "organic": 1} for m in RULE_MODELS})
    assert value_by(ds, conversion="first_order") == expect(
        **{m: {"kol": 50, "organic": 20} for m in RULE_MODELS})


def test_credit_table_rows(open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(*SHARED)
    cr = Attribution(ds, AttributionOptions(conversion="order", models=("linear",), net=True)
                     ).credits()
    assert cr.columns == ["conversion_id", "user_id", "conversion_time", "model", "channel",
                          "campaign_id", "credit", "value_credit", "net_value_credit"]
    rows = cr.select("conversion_id", "channel", "credit", "value_credit",
                     "net_value_credit").rows()
    assert rows == [
        ("u1:order:1", "kol", 1.0, 50.0, 50.0),
        ("u1:order:2", "feed_ads", 0.5, 40.0, 25.0),
        ("u1:order:2", "kol", 0.5, 40.0, 25.0),
        ("u2:order:1", "organic", 1.0, 20.0, 20.0),
    ]
    assert cr["conversion_time"].dtype == pl.Datetime("us", "Asia/Shanghai")


def test_no_touch_conversions_are_organic_in_every_model(
        open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 20, 12)
    ds = open_ds(
        reg("u1", t),                                              # no touch at all
        touch("u2", t - 40 * D, "kol_a"), reg("u2", t),            # only outside the lookback
        touch("u3", t + D, "kol_a"), reg("u3", t),                 # only after T
        touch("u4", t - D, "kol_a"), reg("u4", t),                 # kol
    )
    assert credits_by(ds) == expect(**{m: {"organic": 3, "kol": 1} for m in RULE_MODELS})
    for transform in ("unique", "first", "frequency"):
        assert credits_by(ds, transform=transform, max_touches=1) == expect(
            **{m: {"organic": 3, "kol": 1} for m in RULE_MODELS})
    df = attribute(ds, AttributionOptions(models=("linear",)))
    assert df.rows() == [("linear", "kol", 1.0, 0.0, 0.25), ("linear", "organic", 3.0, 0.0, 0.75)]


def test_register_is_the_first_register_only(open_ds: Callable[..., Dataset]) -> None:
    t = datetime(2025, 7, 20, 12)
    ds = open_ds(touch("u1", t - D, "kol_a"), reg("u1", t), touch("u1", t + D, "feed_b"),
                 reg("u1", t + 2 * D))
    assert credits_by(ds) == expect(**{m: {"kol": 1} for m in RULE_MODELS})


def test_period_uses_the_conversions_local_date(open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(
        touch("u1", datetime(2025, 7, 30, 9), "kol_a"),
        reg("u1", datetime(2025, 7, 31, 23, 30)),     # local July 31 (15:30 UTC): July
        touch("u2", datetime(2025, 7, 30, 9), "feed_b"),
        reg("u2", datetime(2025, 8, 1, 0, 15)),       # local Aug 1 (= July 31 16:15 UTC): August
        reg("u3", datetime(2025, 6, 30, 23, 59)),     # June
    )
    july = credits_by(ds, start=date(2025, 7, 1), end=date(2025, 7, 31))
    assert july == expect(**{m: {"kol": 1} for m in RULE_MODELS})
    aug = credits_by(ds, start=date(2025, 8, 1), end=date(2025, 8, 31))
    assert aug == expect(**{m: {"feed_ads": 1} for m in RULE_MODELS})
    everything = credits_by(ds)
    assert everything == expect(**{m: {"kol": 1, "feed_ads": 1, "organic": 1}
                                   for m in RULE_MODELS})


def test_period_conversion_still_sees_touches_before_the_period(
        open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(touch("u1", datetime(2025, 6, 25, 9), "kol_a"),
                 reg("u1", datetime(2025, 7, 2, 9)))
    assert credits_by(ds, start=date(2025, 7, 1), end=date(2025, 7, 31)) == expect(
        **{m: {"kol": 1} for m in RULE_MODELS})


# -- path table (§4.1) ------------------------------------------------------------------------
# Period July 2025, register lookback 30 d: null touches must be after 2025-07-02 00:00 local
# (period end 2025-08-01 00:00 − 30 d) and inside July.
PATHS = (
    # uA: converts (kol > feed_ads), then touches again (null path direct > kol)
    touch("uA", datetime(2025, 7, 10, 9), "kol_a"), touch("uA", datetime(2025, 7, 12, 9), "feed_b"),
    reg("uA", datetime(2025, 7, 15, 9)),
    touch("uA", datetime(2025, 7, 20, 9), "app_store"), touch("uA", datetime(2025, 7, 25, 9), "kol_c"),
    # uB: prospect; 07-01 10:00 is before the window (dropped); feed, feed → exposure "feed_ads"
    touch("uB", datetime(2025, 7, 1, 10), "kol_a"),
    touch("uB", datetime(2025, 7, 5, 9), "feed_b"), touch("uB", datetime(2025, 7, 6, 9), "feed_c"),
    # uC: touch in July, registers in August (after the period): a null path in July
    touch("uC", datetime(2025, 7, 29, 9), "feed_b"), reg("uC", datetime(2025, 8, 3, 9)),
    # uD: registers without touches: organic, not in the path table
    reg("uD", datetime(2025, 7, 16, 9)),
    # uE: kol then register; nothing after
    touch("uE", datetime(2025, 7, 18, 9), "kol_a"), reg("uE", datetime(2025, 7, 20, 9)),
    # uF: prospect with only a direct touch
    touch("uF", datetime(2025, 7, 30, 9), "app_store"),
    # uH: registered in June (outside the period), touched in July: null "kol"
    reg("uH", datetime(2025, 6, 10, 9)), touch("uH", datetime(2025, 7, 28, 9), "kol_a"),
    # uP: prospect touched only in August: outside the period
    touch("uP", datetime(2025, 8, 2, 9), "kol_a"),
)


def test_paths_table_exact_rows(open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(*PATHS)
    july = dict(start=date(2025, 7, 1), end=date(2025, 7, 31))
    table = path_table(ds, AttributionOptions(**july))  # type: ignore[arg-type]
    assert table.columns == ["path", "conversions", "value", "nulls"]
    assert table.rows() == [
        ("direct", 0, 0.0, 1),             # uF
        ("direct > kol", 0, 0.0, 1),       # uA after its register
        ("feed_ads", 0, 0.0, 2),           # uB (exposure), uC
        ("kol", 1, 0.0, 1),                # uE converts; uH null
        ("kol > feed_ads", 1, 0.0, 0),     # uA converts
    ]
    unique = path_table(ds, AttributionOptions(transform="unique", **july))  # type: ignore[arg-type]
    assert ("feed_ads > feed_ads", 0, 0.0, 1) in unique.rows()
    # conversions with a touch (uA, uE) = the table's conversions; uD is organic
    assert unique["conversions"].sum() == 2
    # a one-day lookback: null touches must be after 2025-07-31 00:00 → none; uA's converting
    # path keeps only touches within 1 d of its register → none; uE's kol (2 d) → none
    short = path_table(ds, AttributionOptions(lookback_days=1, **july))  # type: ignore[arg-type]
    assert short.height == 0


def test_paths_value_and_net(open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(*SHARED)
    table = path_table(ds, AttributionOptions(conversion="order"))
    # o1: kol (50); o2: kol > feed_ads (80); no touches after the last order
    assert table.rows() == [("kol", 1, 50.0, 0), ("kol > feed_ads", 1, 80.0, 0)]
    net = path_table(ds, AttributionOptions(conversion="order", net=True))
    assert net.rows() == [("kol", 1, 50.0, 0), ("kol > feed_ads", 1, 50.0, 0)]


def test_users_acquisition_channel(open_ds: Callable[..., Dataset]) -> None:
    ds = open_ds(*PATHS, touch("uG", datetime(2025, 7, 1, 9), "kol_a"),
                 touch("uG", datetime(2025, 7, 2, 9), "app_store"),
                 reg("uG", datetime(2025, 7, 3, 9)))
    got = ds.sql("SELECT user_id, acquisition_channel FROM users ORDER BY user_id").rows()
    # last_non_direct over the first register's 30-day journey; prospects uB, uF, uP absent
    assert got == [("uA", "feed_ads"), ("uC", "feed_ads"), ("uD", "organic"),
                   ("uE", "kol"), ("uG", "kol"), ("uH", "organic")]


def test_acquisition_ties_at_one_instant(open_ds: Callable[..., Dataset]) -> None:
    # touches at one instant before each register, in journey order (event_time, event_id
    # with a missing id last, raw channel, campaign); the acquisition is the last non-direct
    t = datetime(2025, 7, 10, 9)
    ds = open_ds(
        # u1: kol without an id sorts after feed's e5: kol is last
        ("u1", t, "touch", "kol_x", None, None, None, None),
        touch("u1", t, "feed_y", event_id="e5"),
        reg("u1", t + D),
        # u2: ids e2 (kol) < e9 (feed): feed is last
        touch("u2", t, "kol_x", event_id="e2"),
        touch("u2", t, "feed_y", event_id="e9"),
        reg("u2", t + D),
        # u3: no ids: raw channels feed_y < kol_x, so kol is last; campaigns c1 < c2 on
        # the same channel make c2's touch last
        ("u3", t, "touch", "feed_y", None, None, None, None),
        ("u3", t, "touch", "kol_x", "c2", None, None, None),
        ("u3", t, "touch", "kol_x", "c1", None, None, None),
        reg("u3", t + D),
    )
    got = ds.sql("SELECT user_id, acquisition_channel, acquisition_campaign_id "
                 "FROM acquisition ORDER BY user_id").rows()
    assert got == [("u1", "kol", None), ("u2", "feed_ads", None), ("u3", "kol", "c2")]


def test_acquisition_with_window_touches_reads_every_touch(
        open_ds: Callable[..., Dataset]) -> None:
    """While an attribution run's window_touches table exists, the acquisition reads its
    touches there and the others from the files (view acquisition_touches): touches on the
    last day before the window, its first and last days, and the first day after it."""
    ds = open_ds(
        touch("uA", datetime(2025, 7, 4, 23), "kol_a"), reg("uA", datetime(2025, 7, 5, 1)),
        touch("uB", datetime(2025, 7, 5, 0, 30), "feed_b"), reg("uB", datetime(2025, 7, 5, 2)),
        touch("uC", datetime(2025, 7, 10, 23, 30), "invite_c"),
        reg("uC", datetime(2025, 7, 11, 0, 30)),
        touch("uD", datetime(2025, 7, 11, 0, 10), "wechat_campus_1"),
        reg("uD", datetime(2025, 7, 11, 1)),
    )
    query = "SELECT user_id, acquisition_channel FROM acquisition ORDER BY user_id"
    want = [("uA", "kol"), ("uB", "feed_ads"), ("uC", "referral"), ("uD", "campus_community")]
    assert ds.sql(query).rows() == want
    # lookback 1 day: the window holds local days 7-05 (7-07 - ceil(1) - 1) to 7-10
    prepare_window_touches(ds, date(2025, 7, 7), date(2025, 7, 10), 1)
    assert ds.temp_keys["window_touches"] == (date(2025, 7, 5), date(2025, 7, 10))
    assert ds.sql("SELECT user_id FROM window_touches ORDER BY 1").rows() == [("uB",), ("uC",)]
    assert ds.sql(query).rows() == want
    drop_attribution_tables(ds)  # the view over the table goes with it
    assert ds.sql(query).rows() == want


# -- external path tables ---------------------------------------------------------------------
EXTERNAL = pl.DataFrame({
    "path": ["kol > feed_ads > kol", "direct", "feed_ads", "kol > kol"],
    "conversions": [2, 1, 0, 1],
    "value": [100.0, 10.0, 0.0, 30.0],
    "nulls": [1, 0, 3, 2],
})


def test_attribute_path_table_rule_models() -> None:
    opts = AttributionOptions(models=("first_touch", "last_non_direct", "linear",
                                      "position_based"), transform="unique")
    df = attribute_path_table(EXTERNAL, opts)
    got = {(m, c): (round(x, 9), round(v, 9)) for m, c, x, v in
           df.select("model", "channel", "conversions", "value").iter_rows() if x}
    assert got == {
        # first_touch: kol 2 + 1 (values 100 + 30), direct 1 (10)
        ("first_touch", "kol"): (3, 130), ("first_touch", "direct"): (1, 10),
        ("last_non_direct", "kol"): (3, 130), ("last_non_direct", "direct"): (1, 10),
        # linear: kol>feed>kol: kol 2×2/3, feed 2×1/3; kol>kol: kol 1 → kol 7/3, value
        # 100×2/3 + 30 = 96.667; feed 2/3, 33.333
        ("linear", "kol"): (round(7 / 3, 9), round(100 * 2 / 3 + 30, 9)),
        ("linear", "feed_ads"): (round(2 / 3, 9), round(100 / 3, 9)),
        ("linear", "direct"): (1, 10),
        # position_based n=3: kol 0.8×2 + 1 (n=2: 0.5+0.5) = 2.6, value 80 + 30
        ("position_based", "kol"): (2.6, 110), ("position_based", "feed_ads"): (0.4, 20),
        ("position_based", "direct"): (1, 10),
    }
    # exposure collapses kol > kol to kol; first drops the second kol of kol>feed>kol
    first = attribute_path_table(EXTERNAL, AttributionOptions(models=("last_touch",),
                                                               transform="first"))
    # last_touch under first: kol>feed (feed 2, 100), direct (1, 10), kol (1, 30)
    assert {c: (x, v) for _, c, x, v, _ in first.iter_rows() if x} == {
        "feed_ads": (2.0, 100.0), "direct": (1.0, 10.0), "kol": (1.0, 30.0)}


def test_attribute_path_table_refuses_time_decay() -> None:
    with pytest.raises(UserError, match="time_decay"):
        attribute_path_table(EXTERNAL, AttributionOptions(models=("linear", "time_decay")))
    with pytest.raises(UserError, match="campaign"):
        attribute_path_table(EXTERNAL, AttributionOptions(), by="campaign")


def test_attribute_path_table_all_leaves_time_decay_out() -> None:
    pytest.importorskip("campaign_roi.markov")
    pytest.importorskip("campaign_roi.shapley")
    from campaign_roi.attribution import MODELS

    df = attribute_path_table(EXTERNAL, AttributionOptions(models=MODELS))
    assert "time_decay" not in set(df["model"])
    assert set(df["model"]) == set(MODELS) - {"time_decay"}

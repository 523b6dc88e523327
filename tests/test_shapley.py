"""Simplified Shapley attribution (SPEC §4 ``shapley``)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_roi.shapley import shapley_attribution, shapley_touch_weights

# Any NumPy/Polars warning (overflow, division by zero, …) fails the test.
pytestmark = pytest.mark.filterwarnings("error")


def _table(rows: list[tuple[str, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"path": pl.String, "conversions": pl.Float64, "value": pl.Float64, "nulls": pl.Float64},
        orient="row",
    )


def _weights(df: pl.DataFrame) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for path, _pos, channel, w in df.iter_rows():
        out.setdefault(path, []).append((channel, w))
    return out


# Hand example.  P(path) = conversions / (conversions + nulls):
#   "a": 1/(1+1) = 1/2     "b": 0/2 = 0     "a > b": 3/4     "b > a": 1/4     "a > c > b": 2/2 = 1
# "a > b":  m_a = P(a>b) − P(b) = 3/4 − 0 = 3/4;  m_b = 3/4 − P(a) = 1/4  → weights 3/4, 1/4
# "b > a":  m_b = max(1/4 − P(a), 0) = max(−1/4, 0) = 0;  m_a = 1/4 − P(b) = 1/4 → 0, 1
# "a > c > b": without a "c > b" unseen → m_a = 1; without c "a > b" → m_c = 1 − 3/4 = 1/4;
#   without b "a > c" unseen → m_b = 1;  Σ = 9/4 → 4/9, 1/9, 4/9
# "a", "b": one touch → 1.
# Credits (conversions): a = 1·1 + 3·3/4 + 1·1 + 2·4/9 = 4 + 1/4 + 8/9 = 5.138…(= 185/36)
#   b = 0·1 + 3·1/4 + 1·0 + 2·4/9 = 3/4 + 8/9 = 59/36;  c = 2·1/9 = 2/9;  Σ = 7 ✓
# Values are 10 × conversions here, so value credits are 10 × those; "" (no touch) → organic.
HAND = [
    ("a", 1.0, 10.0, 1.0),
    ("b", 0.0, 0.0, 2.0),
    ("a > b", 3.0, 30.0, 1.0),
    ("b > a", 1.0, 10.0, 3.0),
    ("a > c > b", 2.0, 20.0, 0.0),
    ("", 4.0, 7.0, 0.0),
]


def test_hand_example_weights() -> None:
    w = _weights(shapley_touch_weights(_table(HAND)))
    assert w.keys() == {"a", "b", "a > b", "b > a", "a > c > b"}
    assert w["a"] == [("a", 1.0)] and w["b"] == [("b", 1.0)]
    assert w["a > b"] == [("a", 0.75), ("b", 0.25)]
    assert w["b > a"] == [("b", 0.0), ("a", 1.0)]
    got = w["a > c > b"]
    assert [c for c, _ in got] == ["a", "c", "b"]
    assert [x for _, x in got] == pytest.approx([4 / 9, 1 / 9, 4 / 9], abs=1e-15)


def test_hand_example_credits() -> None:
    cr = {c: (conv, val) for c, conv, val in shapley_attribution(_table(HAND)).iter_rows()}
    assert list(cr) == ["a", "b", "c", "organic"]
    assert cr["a"] == pytest.approx((185 / 36, 1850 / 36), abs=1e-12)
    assert cr["b"] == pytest.approx((59 / 36, 590 / 36), abs=1e-12)
    assert cr["c"] == pytest.approx((2 / 9, 20 / 9), abs=1e-12)
    assert cr["organic"] == (4.0, 7.0)


def test_all_zero_marginals_last_touch_gets_one() -> None:
    # P(a > b) = 1 = P(a) = P(b): both marginals 0 → last touch b gets 1.
    # P(x > y) = 0 (only nulls): marginals 0 → y gets 1.
    t = _table(
        [("a > b", 1.0, 5.0, 0.0), ("a", 1.0, 0.0, 0.0), ("b", 1.0, 0.0, 0.0), ("x > y", 0.0, 0.0, 4.0)]
    )
    w = _weights(shapley_touch_weights(t))
    assert w["a > b"] == [("a", 0.0), ("b", 1.0)]
    assert w["x > y"] == [("x", 0.0), ("y", 1.0)]
    cr = {c: (conv, val) for c, conv, val in shapley_attribution(t).iter_rows()}
    assert cr == {"a": (1.0, 0.0), "b": (2.0, 5.0), "x": (0.0, 0.0), "y": (0.0, 0.0)}


def test_repeats_and_multibyte_names() -> None:
    # Exact path strings, no collapsing. "抖音 > 微信 > 抖音": P = 1.
    #   without touch 1 → "微信 > 抖音" (P = 1/2) → m = 1/2
    #   without touch 2 → "抖音 > 抖音" (P = 0, only nulls) → m = 1
    #   without touch 3 → "抖音 > 微信" unseen → m = 1;  Σ = 5/2 → 1/5, 2/5, 2/5
    t = _table(
        [
            ("抖音 > 微信 > 抖音", 2.0, 2.0, 0.0),
            ("微信 > 抖音", 1.0, 1.0, 1.0),
            ("抖音 > 抖音", 0.0, 0.0, 3.0),
        ]
    )
    w = _weights(shapley_touch_weights(t))
    assert [x for _, x in w["抖音 > 微信 > 抖音"]] == pytest.approx([0.2, 0.4, 0.4], abs=1e-15)
    # "抖音 > 抖音": P = 0, marginals 0 → last touch.
    assert w["抖音 > 抖音"] == [("抖音", 0.0), ("抖音", 1.0)]


def test_duplicate_and_non_canonical_rows_are_merged() -> None:
    a = shapley_attribution(_table([("a>b", 1.0, 1.0, 0.0), ("a > b", 1.0, 1.0, 2.0), ("a", 1.0, 0.0, 1.0)]))
    b = shapley_attribution(_table([("a > b", 2.0, 2.0, 2.0), ("a", 1.0, 0.0, 1.0)]))
    assert a.equals(b)


def test_empty_table() -> None:
    assert shapley_attribution(_table([])).height == 0
    assert shapley_touch_weights(_table([])).height == 0


def test_many_paths_vectorised() -> None:
    rng = np.random.default_rng(5)
    names = np.array(["kol", "feed_ads", "referral", "campus_community", "direct"])
    paths = sorted({" > ".join(rng.choice(names, int(rng.integers(1, 9)))) for _ in range(20_000)})
    conv = rng.integers(0, 5, len(paths)).astype(float)
    t = pl.DataFrame(
        {
            "path": paths,
            "conversions": conv,
            "value": conv * 12.5,
            "nulls": rng.integers(0, 9, len(paths)) * 1.0,
        }
    )
    cr = shapley_attribution(t)
    assert cr.get_column("conversions").sum() == pytest.approx(conv.sum(), rel=1e-12)
    assert cr.get_column("value").sum() == pytest.approx(conv.sum() * 12.5, rel=1e-12)
    assert shapley_attribution(t.reverse()).equals(cr)  # same bytes whatever the row order


rows = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a", "b", "c", "抖音"]), min_size=0, max_size=5).map(" > ".join),
        st.integers(0, 5).map(float) | st.floats(0, 5, allow_nan=False),
        st.floats(0, 1000, allow_nan=False),
        st.integers(0, 5).map(float),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(rows)
def test_properties(rows: list[tuple[str, float, float, float]]) -> None:
    t = _table(rows)
    w = shapley_touch_weights(t)
    assert (w.get_column("weight") >= 0).all()
    sums = w.group_by("path").agg(pl.col("weight").sum()).get_column("weight").to_numpy()
    assert np.allclose(sums, 1.0, rtol=0, atol=1e-12)
    cr = shapley_attribution(t)
    conv = cr.get_column("conversions").to_numpy()
    val = cr.get_column("value").to_numpy()
    assert np.isfinite(conv).all() and (conv >= 0).all() and (val >= 0).all()
    assert conv.sum() == pytest.approx(sum(r[1] for r in rows), rel=1e-9, abs=1e-9)
    assert val.sum() == pytest.approx(sum(r[2] for r in rows), rel=1e-9, abs=1e-9)

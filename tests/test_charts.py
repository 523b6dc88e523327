"""Charts: every chart's spec validates and compiles, its data is the aggregated input,
labels come in both languages, the 5000-row limit cannot be hit."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from typing import Any

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_roi import charts, i18n
from campaign_roi.errors import DataError, UserError
from tests import report_fixtures as rf


def _datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(spec.get("datasets", {}).values())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat()
    return value


def _input_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _chart_rows(spec: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    """The rows of the (single) dataset that carries the frame's columns, restricted to them."""
    found = [d for d in _datasets(spec) if d and all(c in d[0] for c in columns)]
    assert len(found) == 1, f"expected one dataset with {columns}, found {len(found)}"
    return [{c: row[c] for c in columns} for row in found[0]]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", sorted(charts.CHARTS))
def test_chart_validates_compiles_and_carries_the_aggregates(name: str, lang: str) -> None:
    frame = rf.FRAMES[charts.CHART_FRAME[name]]()
    chart = charts.CHARTS[name](frame, lang)
    chart.to_dict(validate=True)  # raises on a schema violation
    spec = charts.chart_spec(chart)
    # Vega-Lite compiles it to Vega (catches errors the JSON schema cannot see)
    vega = vlc.vegalite_to_vega(spec)
    assert vega["marks"]
    # the chart's data is the input frame: same rows, same values, same order
    cols = list(charts.FRAME_COLUMNS[charts.CHART_FRAME[name]])
    if name == "kpi_cards":  # cards show the card metrics only
        frame = frame.filter(pl.col("metric").is_in(charts.CARD_METRICS))
    assert _chart_rows(spec, cols) == _input_rows(frame)
    # and the project theme is applied
    assert spec["config"]["font"] == charts.FONT


def test_theme_is_registered_not_forced() -> None:
    assert charts.THEME_NAME in alt.theme.names()
    assert alt.theme.active != charts.THEME_NAME  # importing charts changes nobody's theme
    plain = charts.segment_bars(rf.segments_frame()).to_dict()
    assert "font" not in plain.get("config", {})


def test_zh_labels_reach_the_chart() -> None:
    spec = json.dumps(charts.chart_spec(charts.segment_bars(rf.segments_frame(), "zh")),
                      ensure_ascii=False)
    for name in ("新用户", "沉默新用户", "活跃用户", "潜力付费用户", "付费用户", "高价值用户",
                 "流失预警用户", "流失用户", "用户生命周期分层"):
        assert name in spec
    channels = json.dumps(charts.chart_spec(charts.daily_trends(rf.daily_frame(), "zh")),
                          ensure_ascii=False)
    for name in ("校园社群", "KOL", "信息流广告", "邀请裂变/推荐", "直接访问", "自然流量"):
        assert name in channels


def test_kpi_card_texts() -> None:
    cards = {c["metric_label"]: c for c in charts.card_texts(rf.summary_frame(), "en")}
    # new_users 325,000 vs 282,600: 325000/282600 - 1 = 0.15003 → ▲ 15.0%, good
    assert cards["New users"]["value_text"] == "325,000"
    assert cards["New users"]["qoq_text"] == "QoQ ▲ 15.0%"
    assert cards["New users"]["qoq_tone"] == "good"
    # CAC 62 vs 85: 62/85 - 1 = -0.2706 → ▼ 27.1%, and lower CAC is good
    assert cards["CAC"]["qoq_text"] == "QoQ ▼ 27.1%"
    assert cards["CAC"]["qoq_tone"] == "good"
    # GMV 18.6M against target 17.714M: 18.6/17.714 = 1.050 → 105%
    assert cards["GMV"]["target_text"] == "Target 17,714,000 · Attainment 105%"
    assert cards["Campaign ROI"]["value_text"] == "1:3.2"
    assert cards["Invitee M1 retention"]["qoq_text"] == "QoQ n/a"
    zh = {c["metric_label"]: c for c in charts.card_texts(rf.summary_frame(), "zh")}
    assert zh["新注册用户"]["qoq_text"] == "环比 ▲ 15.0%"
    assert zh["邀请用户次月留存率"]["yoy_text"] == "同比 无数据"


def test_number_formats() -> None:
    assert charts.format_roi(3.2) == "1:3.2"
    assert charts.format_roi(2.71) == "1:2.71"
    assert charts.format_roi(3.0) == "1:3"
    assert charts.format_roi(None) == "n/a"
    assert charts.format_metric("gmv", 18_600_000.0) == "18,600,000"
    assert charts.format_metric("cac", 62.0) == "62.00"
    assert charts.format_metric("paid_conversion_rate", 0.078) == "7.8%"
    assert charts.format_metric("dau_avg", 97_412.46) == "97,412.5"
    assert charts.format_change(-0.2706) == "▼ 27.1%"
    assert charts.format_change(0.0) == "■ 0.0%"
    assert charts.format_change(float("nan")) == "n/a"
    assert charts.change_tone("refunds", 0.1) == "bad"
    assert charts.change_tone("gmv", None) == "none"


def test_missing_column_is_a_data_error() -> None:
    with pytest.raises(DataError, match="roas"):
        charts.channel_cac_roas(rf.channels_frame().drop("roas"))


def test_row_level_data_is_refused() -> None:
    big = pl.DataFrame({"segment": [f"s{i}" for i in range(charts.MAX_ROWS + 1)],
                        "users": [1] * (charts.MAX_ROWS + 1), "share": [0.0] * (charts.MAX_ROWS + 1)})
    with pytest.raises(DataError, match="aggregate"):
        charts.segment_bars(big)


def test_long_daily_series_rolls_up_to_weeks() -> None:
    # 900 days × 6 channels = 5,400 rows > 5,000: rolled up to ISO weeks (≤ 129 weeks × 6)
    daily = rf.daily_frame(start=dt.date(2023, 1, 2), days=900)
    spec = charts.chart_spec(charts.daily_trends(daily))
    rows = _chart_rows(spec, ["date", "channel", "new_users", "revenue"])
    assert len(rows) <= 130 * 6
    assert sum(r["new_users"] for r in rows) == daily["new_users"].sum()
    assert sum(r["revenue"] for r in rows) == pytest.approx(daily["revenue"].sum())


def test_nan_becomes_null() -> None:
    seg = rf.segments_frame().with_columns(pl.lit(float("nan")).alias("share"))
    rows = _chart_rows(charts.chart_spec(charts.segment_bars(seg)), ["segment", "share"])
    assert all(r["share"] is None for r in rows)


def test_duplicate_campaign_names_are_told_apart() -> None:
    camp = rf.campaigns_frame(include_xss=False).with_columns(pl.lit("Same").alias("name"))
    spec = charts.chart_spec(charts.campaign_roi(camp))
    (data,) = [d for d in _datasets(spec) if d and "campaign_label" in d[0]]
    assert sorted(r["campaign_label"] for r in data) == [
        "Same (back_to_school)", "Same (brand_collab)", "Same (winback)"]


def test_attribution_by_campaign() -> None:
    frame = rf.attribution_frame().rename({"channel": "campaign_id"})
    spec = charts.chart_spec(charts.attribution_comparison(frame))
    assert json.dumps(spec).count("campus_community") > 0  # ids shown as given


def test_i18n_every_key_in_both_languages() -> None:
    for key in i18n.label_keys():
        en, zh = i18n.label(key, "en"), i18n.label(key, "zh")
        assert en.strip() and zh.strip(), key
    for kind, order in (("segment", charts.SEGMENT_ORDER), ("channel", charts.CHANNEL_ORDER),
                        ("model", charts.MODEL_ORDER), ("metric", charts.METRIC_ORDER)):
        for value in order:
            assert i18n.has_label(f"{kind}.{value}"), (kind, value)
    assert i18n.label("segment.churn_warning", "zh") == "流失预警用户"
    assert i18n.label("channel.organic", "zh") == "自然流量"
    assert i18n.value_label("channel", "partner_x", "zh") == "partner_x"
    assert i18n.value_label("step", "campaign_join:brand_collab", "zh") == "参与活动: brand_collab"
    with pytest.raises(UserError, match="lang"):
        i18n.label("segment.new", "fr")
    with pytest.raises(UserError):
        charts.segment_bars(rf.segments_frame(), "fr")


segment_tables = st.lists(
    st.tuples(st.sampled_from((*charts.SEGMENT_ORDER, "custom")), st.integers(0, 10**7)),
    min_size=1, max_size=9, unique_by=lambda t: t[0],
)


@settings(max_examples=25, deadline=None)
@given(segment_tables)
def test_property_segment_chart_keeps_every_row(rows: list[tuple[str, int]]) -> None:
    total = sum(u for _, u in rows)
    frame = pl.DataFrame(
        {"segment": [s for s, _ in rows], "users": [u for _, u in rows],
         "share": [None if total == 0 else u / total for _, u in rows]},
        schema={"segment": pl.Utf8, "users": pl.Int64, "share": pl.Float64},
    )
    spec = charts.segment_bars(frame).to_dict()
    got = _chart_rows(spec, ["segment", "users", "share"])
    assert got == _input_rows(frame)  # conservation: nothing dropped, added or changed


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_property_change_arrow_matches_sign(x: float) -> None:
    text = charts.format_change(x)
    expected = "▲" if x > 0 else "▼" if x < 0 else "■"
    assert text.startswith(expected)
    # lower-is-better metrics judge the same change the other way round
    tone_up, tone_down = charts.change_tone("gmv", x), charts.change_tone("cac", x)
    if x != 0:
        assert {tone_up, tone_down} == {"good", "bad"}


def test_no_warning_on_build() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, fn in charts.CHARTS.items():
            charts.chart_spec(fn(rf.FRAMES[charts.CHART_FRAME[name]](), "en"))

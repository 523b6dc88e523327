"""Altair charts built from aggregated Polars frames (never row-level events).

One function per chart; each takes one aggregated frame (column contracts in ``FRAME_COLUMNS``,
SPEC §7 names) and ``lang`` (``en``/``zh``) and returns an Altair chart. ``CHARTS`` maps a chart
name to its function and ``CHART_FRAME`` to the frame it needs, for ``campaign-roi chart NAME``.

The chart's data is the input frame itself (only the contract columns, same rows and values),
plus display-only columns (translated labels, formatted text) that a chart needs. Frames
with more than ``MAX_ROWS`` rows are refused (``daily_trends`` first rolls days up to weeks),
so Altair's 5000-row limit is never reached.

The look comes from ONE registered Altair theme, ``campaign_roi`` (``THEME_NAME``). It is
registered, not enabled globally: :func:`chart_spec` (used by ``report.save_chart`` and the
HTML report) applies it; in a notebook, ``alt.theme.enable("campaign_roi")``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Final, Union

import altair as alt
import polars as pl
import polars.selectors

from campaign_roi.errors import DataError
from campaign_roi.i18n import label, value_label
from campaign_roi.metrics import KPI_KIND, exact_sum

AnyChart = Union[  # noqa: UP007 - altair's classes, readable as one alias
    alt.Chart, alt.LayerChart, alt.HConcatChart, alt.VConcatChart, alt.FacetChart
]

MAX_ROWS: Final = 5000
THEME_NAME: Final = "campaign_roi"
FONT: Final = (
    "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'WenQuanYi Zen Hei', "
    "'PingFang SC', 'Microsoft YaHei', 'Helvetica Neue', Arial, sans-serif"
)
WIDTH: Final = 760

# The column contract of each aggregated frame (SPEC §7 names).
FRAME_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "summary": (
        "metric", "value", "previous", "change_qoq", "last_year", "change_yoy", "target",
        "attainment",
    ),
    "channels": (
        "channel", "spend", "touches", "new_users", "paid_rate", "first_orders", "revenue",
        "cac", "roas", "roi_net",
    ),
    "attribution": ("model", "channel", "conversions", "value", "share"),
    "funnel": (
        "step", "users", "conversion_from_start", "conversion_from_previous", "dropped",
        "median_time_from_previous",
    ),
    "retention": ("cohort", "cohort_size", "period", "retention"),
    "segments": ("segment", "users", "share"),
    "migration": ("from_segment", "to_segment", "users"),
    "campaigns": (
        "campaign_id", "name", "start_date", "end_date", "cost", "participants",
        "converted_payers", "conversion_rate", "revenue", "roi", "cost_per_participant",
        "cost_per_payer", "attributed_revenue",
    ),
    "daily": ("date", "channel", "new_users", "revenue"),
}

# Display order and colours: the same channel/segment gets the same colour in every chart.
CHANNEL_ORDER: Final = (
    "campus_community", "kol", "feed_ads", "referral", "direct", "organic", "other",
)
_CHANNEL_COLORS: Final = {
    "campus_community": "#3b6ea8", "kol": "#e8833a", "feed_ads": "#d45959",
    "referral": "#4f9e5a", "direct": "#9a6fb0", "organic": "#5fb3b0", "other": "#9a8a78",
}
_EXTRA_COLORS: Final = ("#c9a227", "#6f8fbf", "#b5656f", "#7d9f4e", "#8c6d9e", "#4d7f8c")
SEGMENT_ORDER: Final = (
    "new", "silent_new", "active", "potential_payer", "payer", "high_value",
    "churn_warning", "churned",
)
_SEGMENT_COLORS: Final = {
    "new": "#3b6ea8", "silent_new": "#9cbbdd", "active": "#5fb3b0",
    "potential_payer": "#d9b43c", "payer": "#4f9e5a", "high_value": "#2f6b3a",
    "churn_warning": "#e8833a", "churned": "#c94a4a",
}
MODEL_ORDER: Final = (
    "first_touch", "last_touch", "last_non_direct", "linear", "position_based",
    "time_decay", "markov", "shapley",
)
METRIC_ORDER: Final = (
    "new_users", "active_users", "dau_peak", "dau_avg", "payers", "new_payers",
    "paid_conversion_rate", "gmv", "refunds", "net_revenue", "spend", "cac", "paid_cac",
    "passive_share", "campaign_roi", "m1_retention", "invitee_m1_retention",
    "high_value_retention",
)
_RATE_METRICS: Final = frozenset(k for k, kind in KPI_KIND.items() if kind == "rate")
_MONEY_METRICS: Final = frozenset(k for k, kind in KPI_KIND.items() if kind == "money")
LOWER_IS_BETTER: Final = frozenset({"cac", "paid_cac", "refunds"})
# The metrics shown as KPI cards (the rest are in the report's full table).
CARD_METRICS: Final = (
    "new_users", "dau_peak", "paid_conversion_rate", "new_payers", "gmv", "cac",
    "passive_share", "campaign_roi", "m1_retention", "high_value_retention",
    "invitee_m1_retention", "net_revenue",
)

_GOOD: Final = "#2e7d4f"
_BAD: Final = "#c0392b"
_NEUTRAL: Final = "#6b7280"
_INK: Final = "#1f2a37"
_ACCENT: Final = "#3b6ea8"


# --------------------------------------------------------------------------------------
# Theme
# --------------------------------------------------------------------------------------
@alt.theme.register(THEME_NAME, enable=False)
def campaign_roi_theme() -> alt.theme.ThemeConfig:
    """The project's one chart theme: quiet grid, readable type, CJK-capable font stack."""
    return {
        "background": "#ffffff",
        "padding": 8,
        "config": {
            "font": FONT,
            "view": {"stroke": None, "continuousWidth": 400, "continuousHeight": 260},
            "title": {
                "font": FONT, "fontSize": 15, "fontWeight": 600, "color": _INK,
                "anchor": "start", "offset": 12, "subtitleColor": _NEUTRAL,
                "subtitleFontSize": 12,
            },
            "axis": {
                "labelFont": FONT, "titleFont": FONT, "labelFontSize": 11,
                "titleFontSize": 12, "titleFontWeight": 500, "labelColor": "#4b5563",
                "titleColor": "#374151", "gridColor": "#e5e7eb", "domainColor": "#9ca3af",
                "tickColor": "#9ca3af", "labelLimit": 220,
            },
            "axisBand": {"grid": False, "ticks": False},
            "legend": {
                "labelFont": FONT, "titleFont": FONT, "labelFontSize": 11,
                "titleFontSize": 12, "titleFontWeight": 500, "labelColor": "#374151",
                "orient": "bottom", "direction": "horizontal", "columns": 4,
                "symbolType": "square", "labelLimit": 220,
            },
            "header": {"labelFont": FONT, "titleFont": FONT, "labelFontSize": 12},
            "text": {"font": FONT, "fontSize": 11, "color": _INK},
            "bar": {"color": _ACCENT, "cornerRadiusEnd": 2},
            "line": {"strokeWidth": 2},
            "range": {"category": list(_CHANNEL_COLORS.values()) + list(_EXTRA_COLORS)},
            "concat": {"spacing": 36},
        },
    }


def chart_spec(chart: AnyChart, validate: bool = True) -> dict[str, Any]:
    """The chart's Vega-Lite spec (a dict) with the project theme applied.

    ``validate=False`` skips Altair's JSON-schema check (half the time of a report; every
    chart is validated by the tests)."""
    with alt.theme.enable(THEME_NAME):
        spec: dict[str, Any] = chart.to_dict(validate=validate)
    return spec


# --------------------------------------------------------------------------------------
# Formatting of single numbers (used by KPI cards and the report's tables)
# --------------------------------------------------------------------------------------
def metric_kind(metric: str) -> str:
    """``rate``, ``money``, ``roi``, ``average`` or ``count`` — how a KPI is displayed."""
    if metric in _RATE_METRICS:
        return "rate"
    if metric in _MONEY_METRICS:
        return "money"
    if metric == "campaign_roi":
        return "roi"
    if metric == "dau_avg":
        return "average"
    return "count"


def _missing(value: float | int | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def format_number(value: float | int | None, decimals: int = 0, lang: str = "en") -> str:
    """``12,345`` / ``12,345.68``; ``n/a`` (``无数据``) for null."""
    if value is None or _missing(value):
        return label("ui.no_data", lang)
    return f"{value:,.{decimals}f}"


def format_money(value: float | int | None, lang: str = "en") -> str:
    """Whole units from 1,000 up (``18,600,000``), two decimals below (``62.35``)."""
    if value is None or _missing(value):
        return label("ui.no_data", lang)
    return format_number(value, 0 if abs(value) >= 1000 else 2, lang)


def format_percent(value: float | int | None, decimals: int = 1, lang: str = "en") -> str:
    """A fraction as a percentage: ``0.078`` → ``7.8%``."""
    if value is None or _missing(value):
        return label("ui.no_data", lang)
    return f"{value * 100:.{decimals}f}%"


def format_roi(value: float | int | None, lang: str = "en") -> str:
    """ROI written the team's way: ``3.2`` → ``1:3.2`` (at most two decimals)."""
    if value is None or _missing(value):
        return label("ui.no_data", lang)
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"1:{text}"


def format_change(value: float | int | None, lang: str = "en") -> str:
    """A relative change with an arrow: ``0.15`` → ``▲ 15.0%``, ``-0.27`` → ``▼ 27.0%``."""
    if value is None or _missing(value):
        return label("ui.no_data", lang)
    if value > 0:
        return f"▲ {value * 100:.1f}%"
    if value < 0:
        return f"▼ {-value * 100:.1f}%"
    return "■ 0.0%"


def format_metric(metric: str, value: float | int | None, lang: str = "en") -> str:
    """A KPI value formatted by its kind (rate as %, money, ``1:x`` ROI, count)."""
    kind = metric_kind(metric)
    if kind == "rate":
        return format_percent(value, 1, lang)
    if kind == "money":
        return format_money(value, lang)
    if kind == "roi":
        return format_roi(value, lang)
    if kind == "average":
        return format_number(value, 1, lang)
    return format_number(value, 0, lang)


def change_tone(metric: str, change: float | int | None) -> str:
    """``good``, ``bad`` or ``flat`` for a change of ``metric`` (CAC going down is good);
    ``none`` when there is no change to judge."""
    if change is None or _missing(change):
        return "none"
    if change == 0:
        return "flat"
    better = change < 0 if metric in LOWER_IS_BETTER else change > 0
    return "good" if better else "bad"


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def checked_frame(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """The contract columns of an aggregated frame; refuses missing columns and frames
    too large to be aggregates (Altair would refuse them too)."""
    wanted = FRAME_COLUMNS[name]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"The {name} table lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(wanted)}."
        )
    if frame.height > MAX_ROWS:
        raise DataError(
            f"The {name} table has {frame.height:,} rows (limit {MAX_ROWS:,}); charts take "
            "aggregated tables, not row-level data: aggregate it first."
        )
    # NaN is not a number a chart or JSON can show: it becomes null (a missing value).
    return frame.select(wanted).with_columns(pl.selectors.float().fill_nan(None))


def _js(text: str) -> str:
    """A JavaScript string literal for a Vega expression (our own labels only)."""
    return json.dumps(text, ensure_ascii=False)


def _ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    """Known values in ``order``, then the others alphabetically (deterministic)."""
    present = set(values)
    known = [v for v in order if v in present]
    return known + sorted(present - set(known))


def _label_column(
    frame: pl.DataFrame, column: str, kind: str, lang: str, alias: str
) -> pl.DataFrame:
    values = frame.get_column(column).drop_nulls().unique().to_list()
    mapping = {v: value_label(kind, v, lang) for v in values}
    return frame.with_columns(
        pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias(alias)
    )


def _channel_scale(channels: Sequence[str], lang: str) -> alt.Scale:
    ordered = _ordered(channels, CHANNEL_ORDER)
    extra = iter(_EXTRA_COLORS * (len(ordered) // len(_EXTRA_COLORS) + 1))
    colors = [_CHANNEL_COLORS[c] if c in _CHANNEL_COLORS else next(extra) for c in ordered]
    return alt.Scale(domain=[value_label("channel", c, lang) for c in ordered], range=colors)


def _channel_sort(channels: Sequence[str], lang: str) -> list[str]:
    return [value_label("channel", c, lang) for c in _ordered(channels, CHANNEL_ORDER)]


def _unit_legend() -> alt.Legend:
    """A 0–100 % colour legend whose labels never overlap."""
    return alt.Legend(format=".0%", direction="horizontal", values=[0, 0.25, 0.5, 0.75, 1],
                      gradientLength=240)


def _title(key: str, lang: str, subtitle: str | None = None) -> alt.TitleParams:
    if subtitle is None:
        return alt.TitleParams(text=label(key, lang))
    return alt.TitleParams(text=label(key, lang), subtitle=subtitle)


# --------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------
def card_texts(
    summary: pl.DataFrame, lang: str = "en", metrics: Sequence[str] | None = CARD_METRICS
) -> list[dict[str, Any]]:
    """Display texts of KPI cards, one dict per summary row (in the summary's row order):
    ``metric_label, value_text, qoq_text, qoq_tone, yoy_text, yoy_tone, target_text,
    card_order`` (tone: good/bad/flat/none). Shared by the chart and the HTML report."""
    order = list(metrics) if metrics is not None else list(METRIC_ORDER)
    rows = summary.select(FRAME_COLUMNS["summary"]).to_dicts()
    sort = _ordered([r["metric"] for r in rows], order)
    qoq, yoy = label("ui.qoq", lang), label("ui.yoy", lang)
    out: list[dict[str, Any]] = []
    for r in rows:  # at most a few dozen KPI rows: display text only
        m = r["metric"]
        target = (
            ""
            if _missing(r["target"])
            else f"{label('ui.target', lang)} {format_metric(m, r['target'], lang)}"
            f" · {label('col.attainment', lang)} {format_percent(r['attainment'], 0, lang)}"
        )
        out.append({
            "metric_label": value_label("metric", m, lang),
            "value_text": format_metric(m, r["value"], lang),
            "qoq_text": f"{qoq} {format_change(r['change_qoq'], lang)}",
            "qoq_tone": change_tone(m, r["change_qoq"]),
            "yoy_text": f"{yoy} {format_change(r['change_yoy'], lang)}",
            "yoy_tone": change_tone(m, r["change_yoy"]),
            "target_text": target,
            "card_order": sort.index(m),
        })
    return out


def kpi_cards(
    summary: pl.DataFrame, lang: str = "en", metrics: Sequence[str] | None = CARD_METRICS
) -> AnyChart:
    """KPI cards: value, QoQ and YoY change arrows (green = better), target attainment.

    ``metrics``: which KPIs become cards, in this order (``None``: every row).
    """
    data = checked_frame(summary, "summary")
    if metrics is not None:
        data = data.filter(pl.col("metric").is_in(list(metrics)))
    texts = card_texts(data, lang, metrics)
    display = pl.DataFrame(
        texts,
        schema={
            "metric_label": pl.Utf8, "value_text": pl.Utf8, "qoq_text": pl.Utf8,
            "qoq_tone": pl.Utf8, "yoy_text": pl.Utf8, "yoy_tone": pl.Utf8,
            "target_text": pl.Utf8, "card_order": pl.Int64,
        },
    )
    data = pl.concat([data, display], how="horizontal")
    tone = alt.Scale(
        domain=["good", "bad", "flat", "none"], range=[_GOOD, _BAD, _NEUTRAL, "#9ca3af"]
    )
    card_w, card_h, gap, per_row = 212, 118, 14, 4
    n_rows = max(1, -(-data.height // per_row))
    # Cards laid out on a pixel grid (scale=None: the field values are pixels).
    base = alt.Chart(data).transform_calculate(
        x0=f"(datum.card_order % {per_row}) * {card_w + gap}",
        y0=f"floor(datum.card_order / {per_row}) * {card_h + gap}",
    ).transform_calculate(
        x1=f"datum.x0 + {card_w}", y1=f"datum.y0 + {card_h}", tx="datum.x0 + 14",
        tx2=f"datum.x0 + {card_w // 2 + 6}",
        ty_name="datum.y0 + 14", ty_value="datum.y0 + 36", ty_change="datum.y0 + 74",
        ty_target="datum.y0 + 96",
    )

    def px(field: str, axis: str) -> Any:
        channel = alt.X if axis == "x" else alt.Y
        return channel(f"{field}:Q", scale=None, axis=None)

    card = base.mark_rect(fill="#f6f8fb", stroke="#e3e8ef", cornerRadius=8).encode(
        x=px("x0", "x"), x2="x1:Q", y=px("y0", "y"), y2="y1:Q"
    )

    def text(x: str, y: str, field: str, **mark: Any) -> alt.Chart:
        return base.mark_text(align="left", baseline="top", **mark).encode(
            x=px(x, "x"), y=px(y, "y"), text=f"{field}:N"
        )

    name = text("tx", "ty_name", "metric_label", fontSize=12, color=_NEUTRAL)
    value = text("tx", "ty_value", "value_text", fontSize=24, fontWeight=600, color=_INK)
    qoq_mark = text("tx", "ty_change", "qoq_text", fontSize=11).encode(
        color=alt.Color("qoq_tone:N", scale=tone, legend=None)
    )
    yoy_mark = text("tx2", "ty_change", "yoy_text", fontSize=11).encode(
        color=alt.Color("yoy_tone:N", scale=tone, legend=None)
    )
    target = text("tx", "ty_target", "target_text", fontSize=11, color=_ACCENT)
    return alt.layer(card, name, value, qoq_mark, yoy_mark, target).properties(
        title=_title("title.kpi_cards", lang),
        width=per_row * card_w + (per_row - 1) * gap,
        height=n_rows * card_h + (n_rows - 1) * gap,
    )


def channel_cac_roas(channels: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Two bar panels: CAC and ROAS per channel group (channels without spend are blank)."""
    data = checked_frame(channels, "channels")
    data = _label_column(data, "channel", "channel", lang, "channel_label")
    names = data.get_column("channel").to_list()
    y = alt.Y("channel_label:N", sort=_channel_sort(names, lang), title=None)
    color = alt.Color("channel_label:N", scale=_channel_scale(names, lang), legend=None)
    base = alt.Chart(data).properties(width=WIDTH // 2 - 130, height=alt.Step(26))

    def panel(field: str, axis_key: str, title_key: str, fmt: str) -> AnyChart:
        valid = base.transform_filter(f"isValid(datum.{field})")
        bars = valid.mark_bar().encode(
            x=alt.X(f"{field}:Q", title=label(axis_key, lang)),
            y=y,
            color=color,
            tooltip=[
                alt.Tooltip("channel_label:N", title=label("col.channel", lang)),
                alt.Tooltip(f"{field}:Q", title=label(f"col.{field}", lang), format=fmt),
                alt.Tooltip("spend:Q", title=label("col.spend", lang), format=",.0f"),
                alt.Tooltip("new_users:Q", title=label("col.new_users", lang), format=","),
            ],
        )
        text = valid.mark_text(align="left", dx=4).encode(
            x=f"{field}:Q", y=y, text=alt.Text(f"{field}:Q", format=fmt)
        )
        return alt.layer(bars, text, title=label(title_key, lang))

    return alt.hconcat(
        panel("cac", "axis.cac", "title.channel_cac", ",.2f"),
        panel("roas", "axis.roas", "title.channel_roas", ".2f"),
    ).resolve_scale(y="shared")


def spend_vs_revenue(channels: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Grouped bars: spend and attributed revenue side by side for each channel group."""
    data = checked_frame(channels, "channels")
    data = _label_column(data, "channel", "channel", lang, "channel_label")
    names = data.get_column("channel").to_list()
    spend_l, revenue_l = label("axis.spend", lang), label("axis.revenue", lang)
    return (
        alt.Chart(data, title=_title("title.spend_vs_revenue", lang))
        .transform_fold(["spend", "revenue"], as_=["measure", "amount"])
        .transform_filter("isValid(datum.amount)")
        .transform_calculate(
            measure_label=f"datum.measure === 'spend' ? {_js(spend_l)} : {_js(revenue_l)}"
        )
        .mark_bar()
        .encode(
            x=alt.X("channel_label:N", sort=_channel_sort(names, lang), title=None,
                    axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("measure_label:N", sort=[spend_l, revenue_l]),
            y=alt.Y("amount:Q", title=label("axis.amount", lang), axis=alt.Axis(format="~s")),
            color=alt.Color(
                "measure_label:N",
                scale=alt.Scale(domain=[spend_l, revenue_l], range=["#9ca3af", _ACCENT]),
                title=None,
            ),
            tooltip=[
                alt.Tooltip("channel_label:N", title=label("col.channel", lang)),
                alt.Tooltip("measure_label:N", title=label("axis.measure", lang)),
                alt.Tooltip("amount:Q", title=label("axis.amount", lang), format=",.0f"),
            ],
        )
        .properties(width=WIDTH, height=280)
    )


def attribution_comparison(attribution: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Heatmap of channel × attribution model, cells = share of conversions credited.

    Accepts ``campaign_id`` in place of ``channel`` (``attribute --by campaign``)."""
    frame = attribution
    key = "channel"
    if "channel" not in frame.columns and "campaign_id" in frame.columns:
        frame, key = frame.rename({"campaign_id": "channel"}), "campaign_id"
    data = checked_frame(frame, "attribution")
    data = _label_column(data, "model", "model", lang, "model_label")
    data = (
        _label_column(data, "channel", "channel", lang, "channel_label")
        if key == "channel"
        else data.with_columns(pl.col("channel").alias("channel_label"))
    )
    models = _ordered(data.get_column("model").to_list(), MODEL_ORDER)
    channels = data.get_column("channel").to_list()
    y_sort = _channel_sort(channels, lang) if key == "channel" else None
    base = alt.Chart(data, title=_title("title.attribution_comparison", lang)).encode(
        x=alt.X("model_label:N", sort=[value_label("model", m, lang) for m in models],
                title=label("axis.model", lang), axis=alt.Axis(labelAngle=-30, orient="top")),
        y=alt.Y("channel_label:N", sort=y_sort, title=None),
    )
    cells = base.mark_rect(stroke="#ffffff", strokeWidth=2).encode(
        color=alt.Color("share:Q", title=label("axis.share", lang),
                        scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=_unit_legend()),
        tooltip=[
            alt.Tooltip("model_label:N", title=label("col.model", lang)),
            alt.Tooltip("channel_label:N", title=label(f"col.{key}", lang)),
            alt.Tooltip("conversions:Q", title=label("col.conversions", lang), format=",.1f"),
            alt.Tooltip("value:Q", title=label("col.value", lang), format=",.0f"),
            alt.Tooltip("share:Q", title=label("col.share", lang), format=".1%"),
        ],
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("share:Q", format=".1%"),
        color=alt.condition("datum.share > 0.5", alt.value("#ffffff"), alt.value(_INK)),
    )
    return alt.layer(cells, text).properties(width=WIDTH - 160, height=alt.Step(34))


def funnel(funnel_frame: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Funnel bars in step order; the pale red tail of each bar is the drop-off since the
    previous step, labelled with users and conversion from start / from previous."""
    data = checked_frame(funnel_frame, "funnel")
    data = _label_column(data, "step", "step", lang, "step_label")
    steps = data.get_column("step_label").to_list()
    y = alt.Y("step_label:N", sort=steps, title=None)
    title = _title("title.funnel", lang, label("ui.funnel_subtitle", lang))
    base = alt.Chart(data, title=title).transform_calculate(
        reached_plus_dropped="datum.users + (isValid(datum.dropped) ? datum.dropped : 0)",
        label_text=(
            "format(datum.users, ',') + '  ·  ' + format(datum.conversion_from_start, '.1%')"
            " + (isValid(datum.conversion_from_previous) && datum.dropped > 0 ? '   −' + "
            "format(datum.dropped, ',') + ' (−' + "
            "format(1 - datum.conversion_from_previous, '.1%') + ')' : '')"
        ),
    )
    tooltip = [
        alt.Tooltip("step_label:N", title=label("col.step", lang)),
        alt.Tooltip("users:Q", title=label("col.users", lang), format=","),
        alt.Tooltip("conversion_from_start:Q", title=label("col.conversion_from_start", lang),
                    format=".1%"),
        alt.Tooltip("conversion_from_previous:Q",
                    title=label("col.conversion_from_previous", lang), format=".1%"),
        alt.Tooltip("dropped:Q", title=label("col.dropped", lang), format=","),
    ]
    dropped = base.mark_bar(color="#f3c6c0").encode(
        x=alt.X("users:Q", title=label("axis.users", lang), axis=alt.Axis(format="~s")),
        x2="reached_plus_dropped:Q", y=y, tooltip=tooltip,
    )
    reached = base.mark_bar(color=_ACCENT).encode(x="users:Q", y=y, tooltip=tooltip)
    text = base.mark_text(align="left", dx=6, color=_INK).encode(
        x="reached_plus_dropped:Q", y=y, text="label_text:N"
    )
    return alt.layer(dropped, reached, text).properties(width=WIDTH - 320, height=alt.Step(44))


def retention_heatmap(retention: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Cohort × period heatmap of retention; incomplete (null) cells stay blank."""
    data = checked_frame(retention, "retention")
    cohorts = sorted(data.get_column("cohort").drop_nulls().unique().to_list())
    base = alt.Chart(data, title=_title("title.retention_heatmap", lang)).transform_filter(
        "isValid(datum.retention)"
    ).encode(
        x=alt.X("period:O", title=label("axis.period", lang), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", sort=cohorts, title=label("axis.cohort", lang)),
    )
    cells = base.mark_rect(stroke="#ffffff", strokeWidth=1.5).encode(
        color=alt.Color("retention:Q", title=label("axis.retention", lang),
                        scale=alt.Scale(scheme="tealblues", domain=[0, 1]),
                        legend=_unit_legend()),
        tooltip=[
            alt.Tooltip("cohort:N", title=label("col.cohort", lang)),
            alt.Tooltip("cohort_size:Q", title=label("col.cohort_size", lang), format=","),
            alt.Tooltip("period:O", title=label("col.period", lang)),
            alt.Tooltip("retention:Q", title=label("col.retention", lang), format=".1%"),
        ],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("retention:Q", format=".0%"),
        color=alt.condition("datum.retention > 0.55", alt.value("#ffffff"), alt.value(_INK)),
    )
    return alt.layer(cells, text).properties(width=WIDTH - 140, height=alt.Step(24))


def segment_bars(segments: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Users per lifecycle segment (lifecycle order), labelled with count and share."""
    data = checked_frame(segments, "segments")
    data = _label_column(data, "segment", "segment", lang, "segment_label")
    keys_ = _ordered(data.get_column("segment").to_list(), SEGMENT_ORDER)
    labels = [value_label("segment", s, lang) for s in keys_]
    colors = [_SEGMENT_COLORS.get(s, "#9ca3af") for s in keys_]
    y = alt.Y("segment_label:N", sort=labels, title=None)
    base = alt.Chart(data, title=_title("title.segment_bars", lang))
    bars = base.mark_bar().encode(
        x=alt.X("users:Q", title=label("axis.users", lang), axis=alt.Axis(format="~s")),
        y=y,
        color=alt.Color("segment_label:N", scale=alt.Scale(domain=labels, range=colors),
                        legend=None),
        tooltip=[
            alt.Tooltip("segment_label:N", title=label("col.segment", lang)),
            alt.Tooltip("users:Q", title=label("col.users", lang), format=","),
            alt.Tooltip("share:Q", title=label("col.share", lang), format=".1%"),
        ],
    )
    text = base.transform_calculate(
        label_text="format(datum.users, ',') + '  (' + format(datum.share, '.1%') + ')'"
    ).mark_text(align="left", dx=5).encode(x="users:Q", y=y, text="label_text:N")
    return alt.layer(bars, text).properties(width=WIDTH - 280, height=alt.Step(30))


def segment_migration(migration: pl.DataFrame, lang: str = "en") -> AnyChart:
    """Heatmap of users moving from one lifecycle segment (rows) to another (columns)."""
    data = checked_frame(migration, "migration")
    data = _label_column(data, "from_segment", "segment", lang, "from_label")
    data = _label_column(data, "to_segment", "segment", lang, "to_label")
    present = data.get_column("from_segment").to_list() + data.get_column("to_segment").to_list()
    labels = [value_label("segment", s, lang) for s in _ordered(present, SEGMENT_ORDER)]
    base = alt.Chart(data, title=_title("title.segment_migration", lang)).encode(
        x=alt.X("to_label:N", sort=labels, title=label("axis.to_segment", lang),
                axis=alt.Axis(labelAngle=-30, orient="top")),
        y=alt.Y("from_label:N", sort=labels, title=label("axis.from_segment", lang)),
    )
    cells = base.mark_rect(stroke="#ffffff", strokeWidth=2).encode(
        color=alt.Color("users:Q", title=label("axis.users", lang),
                        scale=alt.Scale(scheme="purples"),
                        legend=alt.Legend(format="~s", direction="horizontal",
                                          gradientLength=240, tickCount=4)),
        tooltip=[
            alt.Tooltip("from_label:N", title=label("col.from_segment", lang)),
            alt.Tooltip("to_label:N", title=label("col.to_segment", lang)),
            alt.Tooltip("users:Q", title=label("col.users", lang), format=","),
        ],
    )
    text = base.transform_joinaggregate(max_users="max(users)").mark_text(fontSize=10).encode(
        text=alt.Text("users:Q", format=","),
        color=alt.condition("datum.users > 0.5 * datum.max_users", alt.value("#ffffff"),
                            alt.value(_INK)),
    )
    return alt.layer(cells, text).properties(width=WIDTH - 200, height=alt.Step(34))


def campaign_roi(campaigns: pl.DataFrame, lang: str = "en") -> AnyChart:
    """ROI per campaign as bars labelled ``1:x``, with the break-even line at 1:1."""
    data = checked_frame(campaigns, "campaigns")
    # Display name: the campaign's name, or its id; a duplicated name gets its id appended.
    blank = pl.col("name").is_null() | (pl.col("name").str.strip_chars() == "")
    display = pl.when(blank).then(pl.col("campaign_id")).otherwise(pl.col("name"))
    data = data.with_columns(display.alias("campaign_label"))
    data = data.with_columns(
        pl.when(pl.len().over("campaign_label") > 1)
        .then(pl.col("campaign_label") + " (" + pl.col("campaign_id") + ")")
        .otherwise(pl.col("campaign_label"))
        .alias("campaign_label")
    )
    base = alt.Chart(data, title=_title("title.campaign_roi", lang)).transform_filter(
        "isValid(datum.roi)"
    )
    y = alt.Y("campaign_label:N", sort=alt.EncodingSortField("roi", order="descending"),
              title=None)
    bars = base.mark_bar(color=_ACCENT).encode(
        x=alt.X("roi:Q", title=label("axis.roi", lang), axis=alt.Axis(tickCount=8)),
        y=y,
        color=alt.condition("datum.roi >= 1", alt.value(_ACCENT), alt.value(_BAD)),
        tooltip=[
            alt.Tooltip("campaign_label:N", title=label("col.name", lang)),
            alt.Tooltip("cost:Q", title=label("col.cost", lang), format=",.0f"),
            alt.Tooltip("revenue:Q", title=label("col.revenue", lang), format=",.0f"),
            alt.Tooltip("participants:Q", title=label("col.participants", lang), format=","),
            alt.Tooltip("converted_payers:Q", title=label("col.converted_payers", lang),
                        format=","),
            alt.Tooltip("roi:Q", title=label("col.roi", lang), format=".2f"),
        ],
    )
    text = base.transform_calculate(roi_text="'1:' + format(datum.roi, '.2~f')").mark_text(
        align="left", dx=5, fontWeight=600
    ).encode(x="roi:Q", y=y, text="roi_text:N")
    rule = (
        alt.Chart(alt.Data(values=[{"x": 1}]))
        .mark_rule(color=_NEUTRAL, strokeDash=[4, 3])
        .encode(x="x:Q", tooltip=alt.value(label("axis.break_even", lang)))
    )
    return alt.layer(bars, text, rule).properties(width=WIDTH - 260, height=alt.Step(34))


def daily_trends(daily: pl.DataFrame, lang: str = "en") -> AnyChart:
    """New users and revenue per day (per week when days × channels exceed ``MAX_ROWS``),
    one line per channel group."""
    columns = FRAME_COLUMNS["daily"]
    if daily.height > MAX_ROWS and all(c in daily.columns for c in columns):
        daily = (
            daily.group_by(pl.col("date").dt.truncate("1w"), "channel")
            .agg(exact_sum("new_users"), exact_sum("revenue"))
            .sort("date", "channel")
        )
    data = checked_frame(daily, "daily")
    data = _label_column(data, "channel", "channel", lang, "channel_label")
    names = data.get_column("channel").to_list()
    color = alt.Color("channel_label:N", scale=_channel_scale(names, lang), title=None,
                      legend=alt.Legend(symbolType="stroke", columns=8))
    base = alt.Chart(data).properties(width=WIDTH, height=200)
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%m-%d", labelAngle=0))

    def panel(field: str, axis_key: str, title_key: str, fmt: str) -> alt.Chart:
        return base.mark_line().encode(
            x=x,
            y=alt.Y(f"{field}:Q", title=label(axis_key, lang), axis=alt.Axis(format="~s")),
            color=color,
            tooltip=[
                alt.Tooltip("date:T", title=label("col.date", lang), format="%Y-%m-%d"),
                alt.Tooltip("channel_label:N", title=label("col.channel", lang)),
                alt.Tooltip(f"{field}:Q", title=label(axis_key, lang), format=fmt),
            ],
        ).properties(title=label(title_key, lang))

    return alt.vconcat(
        panel("new_users", "axis.new_users", "title.daily_new_users", ","),
        panel("revenue", "axis.daily_revenue", "title.daily_revenue", ",.0f"),
    ).resolve_scale(color="shared")


ChartFunction = Callable[[pl.DataFrame, str], AnyChart]

# chart name -> function; CHART_FRAME says which aggregated frame each one takes.
CHARTS: Final[dict[str, ChartFunction]] = {
    "kpi_cards": kpi_cards,
    "channel_cac_roas": channel_cac_roas,
    "spend_vs_revenue": spend_vs_revenue,
    "attribution_comparison": attribution_comparison,
    "funnel": funnel,
    "retention_heatmap": retention_heatmap,
    "segment_bars": segment_bars,
    "segment_migration": segment_migration,
    "campaign_roi": campaign_roi,
    "daily_trends": daily_trends,
}
CHART_FRAME: Final[dict[str, str]] = {
    "kpi_cards": "summary",
    "channel_cac_roas": "channels",
    "spend_vs_revenue": "channels",
    "attribution_comparison": "attribution",
    "funnel": "funnel",
    "retention_heatmap": "retention",
    "segment_bars": "segments",
    "segment_migration": "migration",
    "campaign_roi": "campaigns",
    "daily_trends": "daily",
}

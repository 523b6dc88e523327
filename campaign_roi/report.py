"""Self-contained offline HTML reports and chart files (SPEC §8).

The only module that writes report and chart files. A report is ONE HTML file:

* the Vega, Vega-Lite and vega-embed JavaScript is inlined once (from ``vl_convert``'s
  offline bundle; nothing loads from the network), each chart's Vega-Lite spec is embedded
  as JSON (``<``, ``>``, ``&`` escaped as ``\\u003c`` … so data can never close the script);
* KPI cards and tables are real HTML, every text from data is HTML-escaped;
* a "how each number is defined" footnote and a footer with generation time and data range;
* ``lang="zh"`` labels everything in Chinese. Same data and timestamp → same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import altair as alt
import polars as pl
import vl_convert as vlc

from campaign_roi import charts
from campaign_roi.charts import (
    CARD_METRICS,
    METRIC_ORDER,
    SEGMENT_ORDER,
    AnyChart,
    change_tone,
    checked_frame,
    format_change,
    format_metric,
    format_money,
    format_number,
    format_percent,
    format_roi,
)
from campaign_roi.errors import UserError
from campaign_roi.i18n import LANGS, label, value_label
from campaign_roi.render import write_atomic

CHART_FORMATS: Final = (".html", ".png", ".svg", ".json")
# Where Debian/Ubuntu put CJK fonts (fonts-noto-cjk, fonts-wqy-zenhei, fonts-wqy-microhei).
CJK_FONT_DIRS: Final = (
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/truetype/wqy",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/noto-cjk",
    "/usr/share/fonts/google-noto-cjk",
)
FONT_DIR_ENV: Final = "CAMPAIGN_ROI_FONT_DIR"


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows. A section whose frame is None is left out.

    Frames follow the contracts in ``charts.FRAME_COLUMNS`` (SPEC §7 column names).
    ``generated_at`` None means now (the only non-deterministic part of a report).
    """

    title: str
    period_label: str
    data_range: tuple[dt.date, dt.date] | None = None
    generated_at: dt.datetime | None = None
    summary: pl.DataFrame | None = None
    channels: pl.DataFrame | None = None
    attribution: pl.DataFrame | None = None
    funnel: pl.DataFrame | None = None
    retention: pl.DataFrame | None = None
    segments: pl.DataFrame | None = None
    migration: pl.DataFrame | None = None
    campaigns: pl.DataFrame | None = None
    daily: pl.DataFrame | None = None


# --------------------------------------------------------------------------------------
# Offline JavaScript and safe embedding
# --------------------------------------------------------------------------------------
def vl_version() -> str | None:
    """The Vega-Lite version vl-convert should use: Altair's (``6.4``), when it has it."""
    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega + Vega-Lite + vega-embed as one offline script (defines ``window.vegaEmbed``).

    Built by vl-convert from the JavaScript it ships (no network); about 0.9 MB. Building it
    takes about 2 s, so it is kept in the cache directory per vl-convert and Vega-Lite
    version (campaign_roi.cache.cached_text)."""
    from importlib.metadata import version

    from campaign_roi.cache import cached_text

    make: Callable[..., str] = vlc.javascript_bundle  # its stub wrongly requires `snippet`
    wanted = vl_version()
    bundle = cached_text(f"vega-bundle-{version('vl-convert-python')}-{wanted or 'default'}.js",
                         lambda: make(vl_version=wanted))
    # Never let the code close its own <script> element early.
    return re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)


def json_for_script(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` and the
    JavaScript line separators are written as ``\\u`` escapes, so no ``</script>``,
    ``<!--`` or ``</`` can appear, and JSON.parse gives back the same value."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (
        ("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
        ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _embeddable_spec(chart: AnyChart) -> dict[str, Any]:
    spec = charts.chart_spec(chart, validate=False)
    spec.pop("$schema", None)  # only an identifier, but keep the file free of URLs
    return spec


# --------------------------------------------------------------------------------------
# Page shell
# --------------------------------------------------------------------------------------
_CSS: Final = """
:root { --ink:#1f2a37; --muted:#6b7280; --line:#e3e8ef; --soft:#f6f8fb; --accent:#3b6ea8;
  --good:#2e7d4f; --bad:#c0392b; }
* { box-sizing: border-box; }
body { margin:0; background:#eef1f5; color:var(--ink);
  font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","PingFang SC",
  "Microsoft YaHei","WenQuanYi Zen Hei","Helvetica Neue",Arial,sans-serif;
  font-size:14px; line-height:1.5; }
main { max-width:1000px; margin:0 auto; padding:28px 24px 40px; }
header.report { background:#1f3a5f; color:#fff; padding:28px 32px 22px; border-radius:12px; }
header.report h1 { margin:0 0 6px; font-size:26px; font-weight:650; letter-spacing:.2px; }
header.report .meta { color:#d6e2f0; font-size:13px; }
header.report .meta span { margin-right:22px; }
nav.toc { margin:14px 2px 0; font-size:13px; display:flex; flex-wrap:wrap; gap:4px 16px; }
nav.toc a { color:var(--accent); text-decoration:none; white-space:nowrap; }
section { background:#fff; border:1px solid var(--line); border-radius:12px;
  padding:22px 26px; margin-top:18px; break-inside:avoid; }
section h2 { margin:0 0 14px; font-size:18px; font-weight:650; }
section h3 { margin:18px 0 8px; font-size:14px; font-weight:600; color:#374151; }
.cards { display:grid; grid-template-columns:repeat(4, 1fr); gap:12px; }
.card { background:var(--soft); border:1px solid var(--line); border-radius:10px;
  padding:12px 14px; }
.card .name { color:var(--muted); font-size:12px; }
.card .value { font-size:24px; font-weight:650; margin:2px 0 4px;
  font-variant-numeric:tabular-nums; }
.card .changes { font-size:12px; display:flex; gap:12px; flex-wrap:wrap; }
.card .target { font-size:12px; color:var(--accent); margin-top:3px; }
.good { color:var(--good); } .bad { color:var(--bad); } .flat, .none { color:var(--muted); }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:12.5px; }
th, td { padding:6px 9px; border-bottom:1px solid var(--line); text-align:right;
  white-space:nowrap; font-variant-numeric:tabular-nums; }
th { background:var(--soft); color:#374151; font-weight:600; }
th:first-child, td:first-child, td.text, th.text { text-align:left; }
tbody tr:nth-child(even) { background:#fafbfc; }
.chart { margin:8px 0 4px; overflow-x:auto; }
.chart-error { color:var(--bad); font-weight:600; }
.note { color:var(--muted); font-size:12px; margin:6px 0 0; }
dl.defs { margin:0; display:grid; grid-template-columns:190px 1fr; gap:6px 16px;
  font-size:13px; }
dl.defs dt { font-weight:600; } dl.defs dd { margin:0; color:#374151; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:22px; }
@media (max-width: 820px) { .cards { grid-template-columns:repeat(2, 1fr); } }
@media print { body { background:#fff; } section { border:none; } nav.toc { display:none; } }
"""

_EMBED_JS: Final = """
(function () {
  var opts = {actions: false, renderer: "svg", mode: "vega-lite"};
  var nodes = document.querySelectorAll("script.chart-spec");
  Array.prototype.forEach.call(nodes, function (node) {
    var target = document.getElementById(node.getAttribute("data-target"));
    var fail = function (err) {
      target.className += " chart-error";
      target.textContent = ERROR_TEXT + ": " + err;
    };
    try {
      vegaEmbed(target, JSON.parse(node.textContent), opts).catch(fail);
    } catch (err) { fail(err); }
  });
})();
"""


class _Page:
    """Collects sections and chart specs; renders one HTML document."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.sections: list[tuple[str, str, str]] = []  # (anchor, heading, body html)
        self.specs: list[tuple[str, str]] = []  # (container id, spec json)

    def chart(self, name: str, chart: AnyChart) -> str:
        chart_id = f"chart-{len(self.specs) + 1}"
        self.specs.append((chart_id, json_for_script(_embeddable_spec(chart))))
        return f'<div class="chart" id="{chart_id}" data-chart="{_esc(name)}"></div>'

    def section(self, anchor: str, heading: str, body: str) -> None:
        self.sections.append((anchor, heading, body))

    def render(self, title: str, header_meta: str, footer: str, toc: bool = True) -> str:
        lang_attr = "zh-CN" if self.lang == "zh" else "en"
        nav = ""
        if toc and len(self.sections) > 1:
            links = "".join(f'<a href="#{a}">{_esc(h)}</a>' for a, h, _ in self.sections)
            nav = f'<nav class="toc">{links}</nav>'
        body = "\n".join(
            f'<section id="{a}"><h2>{_esc(h)}</h2>\n{b}\n</section>' for a, h, b in self.sections
        )
        specs = "\n".join(
            f'<script type="application/json" class="chart-spec" data-target="{cid}">'
            f"{spec}</script>"
            for cid, spec in self.specs
        )
        scripts = ""
        if self.specs:
            embed = _EMBED_JS.replace(
                "ERROR_TEXT", json_for_script(label("ui.chart_error", self.lang))
            )
            scripts = (
                f'<script type="text/javascript">{javascript_bundle()}</script>\n'
                f"{specs}\n<script type=\"text/javascript\">{embed}</script>"
            )
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="{lang_attr}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="generator" content="campaign-roi">\n'
            f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            f'<header class="report"><h1>{_esc(title)}</h1>'
            f'<div class="meta">{header_meta}</div></header>\n{nav}\n{body}\n'
            f"<footer>{footer}</footer>\n</main>\n{scripts}\n</body>\n</html>\n"
        )


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------
Cell = Callable[[Any], str]


def _table(
    frame: pl.DataFrame, columns: Sequence[tuple[str, Cell]], lang: str,
    text_columns: Sequence[str] = (),
) -> str:
    """An HTML table of ``frame``: header labels from ``col.<name>``, every cell escaped."""
    head = "".join(
        f'<th class="text">{_esc(label(f"col.{c}", lang))}</th>' if c in text_columns
        else f"<th>{_esc(label(f'col.{c}', lang))}</th>"
        for c, _ in columns
    )
    lines = []
    for row in frame.iter_rows(named=True):  # an aggregated table: display only
        cells = "".join(
            f'<td class="text">{_esc(fmt(row[c]))}</td>' if c in text_columns
            else f"<td>{_esc(fmt(row[c]))}</td>"
            for c, fmt in columns
        )
        lines.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def _sorted_by(frame: pl.DataFrame, column: str, order: Sequence[str]) -> pl.DataFrame:
    """Rows in a canonical order of ``column`` (unknown values last, alphabetically)."""
    rank = {v: i for i, v in enumerate(order)}
    return frame.with_columns(
        pl.col(column).replace_strict(rank, default=len(order), return_dtype=pl.Int64)
        .alias("__rank")
    ).sort("__rank", column).drop("__rank")


def _hours(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 3600:,.1f} {label('ui.hours', lang)}"


def _date(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------
def _kpi_sections(page: _Page, summary: pl.DataFrame, lang: str) -> None:
    frame = checked_frame(summary, "summary")
    cards = charts.card_texts(frame.filter(pl.col("metric").is_in(CARD_METRICS)), lang)
    cards.sort(key=lambda c: int(c["card_order"]))
    html_cards = "".join(
        '<div class="card">'
        f'<div class="name">{_esc(c["metric_label"])}</div>'
        f'<div class="value">{_esc(c["value_text"])}</div>'
        f'<div class="changes"><span class="{c["qoq_tone"]}">{_esc(c["qoq_text"])}</span>'
        f'<span class="{c["yoy_tone"]}">{_esc(c["yoy_text"])}</span></div>'
        + (f'<div class="target">{_esc(c["target_text"])}</div>' if c["target_text"] else "")
        + "</div>"
        for c in cards
    )
    if html_cards:
        page.section("kpis", label("section.kpis", lang), f'<div class="cards">{html_cards}</div>')

    ordered = _sorted_by(frame, "metric", METRIC_ORDER)
    head = "".join(
        f'<th class="text">{_esc(label("col.metric", lang))}</th>' if c == "metric"
        else f"<th>{_esc(label(f'col.{c}', lang))}</th>"
        for c in charts.FRAME_COLUMNS["summary"]
    )
    rows = []
    for r in ordered.iter_rows(named=True):  # ≤ a few dozen KPI rows: display only
        m = r["metric"]
        qoq_tone, yoy_tone = change_tone(m, r["change_qoq"]), change_tone(m, r["change_yoy"])
        rows.append(
            "<tr>"
            f'<td class="text">{_esc(value_label("metric", m, lang))}</td>'
            f"<td><b>{_esc(format_metric(m, r['value'], lang))}</b></td>"
            f"<td>{_esc(format_metric(m, r['previous'], lang))}</td>"
            f'<td class="{qoq_tone}">{_esc(format_change(r["change_qoq"], lang))}</td>'
            f"<td>{_esc(format_metric(m, r['last_year'], lang))}</td>"
            f'<td class="{yoy_tone}">{_esc(format_change(r["change_yoy"], lang))}</td>'
            f"<td>{_esc('' if r['target'] is None else format_metric(m, r['target'], lang))}"
            "</td>"
            f"<td>{_esc('' if r['attainment'] is None else format_percent(r['attainment'], 0, lang))}"
            "</td></tr>"
        )
    table = (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    page.section("kpi-table", label("section.kpi_table", lang), table)


def _channels_section(page: _Page, channels: pl.DataFrame, lang: str) -> None:
    frame = _sorted_by(checked_frame(channels, "channels"), "channel", charts.CHANNEL_ORDER)

    def ch(v: str) -> str:
        return value_label("channel", v, lang)

    def count(v: float | None) -> str:
        return format_number(v, 0, lang)

    def money(v: float | None) -> str:
        return format_money(v, lang)

    def pct(v: float | None) -> str:
        return format_percent(v, 1, lang)

    def ratio(v: float | None) -> str:
        return format_number(v, 2, lang)

    table = _table(frame, [
        ("channel", ch), ("spend", money), ("touches", count), ("new_users", count),
        ("paid_rate", pct), ("first_orders", count), ("revenue", money), ("cac", money),
        ("roas", ratio), ("roi_net", pct),
    ], lang, text_columns=("channel",))
    body = (
        page.chart("channel_cac_roas", charts.channel_cac_roas(channels, lang))
        + page.chart("spend_vs_revenue", charts.spend_vs_revenue(channels, lang))
        + table
        + f'<p class="note">{_esc(label("def.channels", lang))}</p>'
    )
    page.section("channels", label("section.channels", lang), body)


def _funnel_section(page: _Page, funnel: pl.DataFrame, lang: str) -> None:
    frame = checked_frame(funnel, "funnel")
    table = _table(frame, [
        ("step", lambda v: value_label("step", v, lang)),
        ("users", lambda v: format_number(v, 0, lang)),
        ("conversion_from_start", lambda v: format_percent(v, 1, lang)),
        ("conversion_from_previous", lambda v: "–" if v is None else format_percent(v, 1, lang)),
        ("dropped", lambda v: format_number(v, 0, lang)),
        ("median_time_from_previous", lambda v: _hours(v, lang)),
    ], lang, text_columns=("step",))
    body = page.chart("funnel", charts.funnel(funnel, lang)) + table
    page.section("funnel", label("section.funnel", lang), body)


def _segments_section(
    page: _Page, segments: pl.DataFrame | None, migration: pl.DataFrame | None, lang: str
) -> None:
    parts = []
    if segments is not None:
        frame = _sorted_by(checked_frame(segments, "segments"), "segment", SEGMENT_ORDER)
        parts.append(page.chart("segment_bars", charts.segment_bars(segments, lang)))
        parts.append(_table(frame, [
            ("segment", lambda v: value_label("segment", v, lang)),
            ("users", lambda v: format_number(v, 0, lang)),
            ("share", lambda v: format_percent(v, 1, lang)),
        ], lang, text_columns=("segment",)))
    if migration is not None:
        parts.append(page.chart("segment_migration", charts.segment_migration(migration, lang)))
    page.section("segments", label("section.segments", lang), "\n".join(parts))


def _campaigns_section(page: _Page, campaigns: pl.DataFrame, lang: str) -> None:
    frame = checked_frame(campaigns, "campaigns")

    def money(v: float | None) -> str:
        return format_money(v, lang)

    def count(v: float | None) -> str:
        return format_number(v, 0, lang)

    table = _table(frame, [
        ("name", lambda v: "" if v is None else str(v)), ("campaign_id", str),
        ("start_date", _date), ("end_date", _date), ("cost", money), ("participants", count),
        ("converted_payers", count), ("conversion_rate", lambda v: format_percent(v, 1, lang)),
        ("revenue", money), ("roi", lambda v: format_roi(v, lang)),
        ("cost_per_participant", money), ("cost_per_payer", money),
        ("attributed_revenue", money),
    ], lang, text_columns=("name", "campaign_id", "start_date", "end_date"))
    body = page.chart("campaign_roi", charts.campaign_roi(campaigns, lang)) + table
    page.section("campaigns", label("section.campaigns", lang), body)


_DEFINITIONS: Final = (
    ("metric.new_users", "def.new_users"),
    ("metric.active_users", "def.active_users"),
    ("metric.dau_peak", "def.dau_peak"),
    ("metric.payers", "def.payers"),
    ("metric.paid_conversion_rate", "def.paid_conversion_rate"),
    ("metric.gmv", "def.gmv"),
    ("metric.cac", "def.cac"),
    ("metric.passive_share", "def.passive_share"),
    ("metric.campaign_roi", "def.campaign_roi"),
    ("metric.m1_retention", "def.m1_retention"),
    ("metric.high_value_retention", "def.high_value_retention"),
    ("metric.m3_payer_retention", "def.m3_payer_retention"),
    ("ui.compare", "def.compare"),
)


def _definitions(lang: str) -> str:
    items = "".join(
        f"<dt>{_esc(label(term, lang))}</dt><dd>{_esc(label(text, lang))}</dd>"
        for term, text in _DEFINITIONS
    )
    return f'<dl class="defs">{items}</dl>'


def _when(generated_at: dt.datetime | None) -> str:
    moment = generated_at or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    offset = moment.strftime("%z")
    zone = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{moment.strftime('%Y-%m-%d %H:%M')} {zone}"


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise UserError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}.")


def render_report(data: ReportData, lang: str = "en") -> str:
    """The report as one self-contained HTML document (a string)."""
    _check_lang(lang)
    page = _Page(lang)
    if data.summary is not None:
        _kpi_sections(page, data.summary, lang)
    if data.channels is not None:
        _channels_section(page, data.channels, lang)
    if data.attribution is not None:
        page.section("attribution", label("section.attribution", lang),
                     page.chart("attribution_comparison",
                                charts.attribution_comparison(data.attribution, lang)))
    if data.funnel is not None:
        _funnel_section(page, data.funnel, lang)
    if data.retention is not None:
        page.section("retention", label("section.retention", lang),
                     page.chart("retention_heatmap",
                                charts.retention_heatmap(data.retention, lang))
                     + f'<p class="note">{_esc(label("ui.retention_note", lang))}</p>')
    if data.segments is not None or data.migration is not None:
        _segments_section(page, data.segments, data.migration, lang)
    if data.campaigns is not None:
        _campaigns_section(page, data.campaigns, lang)
    if data.daily is not None:
        page.section("daily", label("section.daily", lang),
                     page.chart("daily_trends", charts.daily_trends(data.daily, lang)))
    page.section("definitions", label("section.definitions", lang), _definitions(lang))

    data_range = (
        f"{data.data_range[0].isoformat()} – {data.data_range[1].isoformat()}"
        if data.data_range is not None else label("ui.no_data", lang)
    )
    meta = (
        f"<span>{_esc(label('ui.period', lang))}: <b>{_esc(data.period_label)}</b></span>"
        f"<span>{_esc(label('ui.data_range', lang))}: {_esc(data_range)}</span>"
    )
    footer = (
        f"{_esc(label('ui.generated_at', lang))}: {_esc(_when(data.generated_at))}"
        f" · {_esc(label('ui.data_range', lang))}: {_esc(data_range)}"
        f" · {_esc(label('ui.footer', lang))}<br>{_esc(label('ui.offline_note', lang))}"
    )
    return page.render(data.title, meta, footer)


def write_report(
    data: ReportData, path: str | os.PathLike[str], lang: str = "en"
) -> Path:
    """Render the report and write it to ``path`` atomically; returns the path."""
    text = render_report(data, lang)
    write_atomic(path, text)
    return Path(path)


# --------------------------------------------------------------------------------------
# Single charts
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def cjk_fonts() -> tuple[str, ...]:
    """Font directories with CJK fonts that were found and registered with vl-convert
    (``$CAMPAIGN_ROI_FONT_DIR`` first, then the usual Debian locations)."""
    found: list[str] = []
    candidates = [os.environ.get(FONT_DIR_ENV, ""), *CJK_FONT_DIRS]
    for directory in candidates:
        if directory and Path(directory).is_dir() and any(
            p.suffix.lower() in (".ttf", ".otf", ".ttc") for p in Path(directory).rglob("*")
        ):
            vlc.register_font_directory(str(Path(directory).resolve()))
            found.append(directory)
    return tuple(found)


def save_chart(
    chart: AnyChart, path: str | os.PathLike[str], *, scale: float = 2.0, lang: str = "en",
    title: str | None = None,
) -> Path:
    """Write one chart to ``path``; the suffix picks the format: ``.html`` (self-contained,
    offline), ``.png`` (``scale`` × pixels), ``.svg`` or ``.json`` (the Vega-Lite spec)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in CHART_FORMATS:
        raise UserError(
            f"--out must end in {', '.join(CHART_FORMATS)} (got {target.name!r})."
        )
    _check_lang(lang)
    if suffix == ".json":
        spec = charts.chart_spec(chart)
        write_atomic(target, json.dumps(spec, ensure_ascii=False, indent=2) + "\n")
    elif suffix == ".html":
        page = _Page(lang)
        page.section("chart", title or label("ui.default_title", lang), page.chart("chart", chart))
        write_atomic(target, page.render(title or label("ui.default_title", lang), "",
                                         _esc(label("ui.footer", lang)), toc=False))
    else:
        spec = charts.chart_spec(chart)
        if not cjk_fonts():
            warnings.warn(
                "No CJK font found: Chinese text in PNG/SVG charts may show as boxes. "
                "Install fonts-noto-cjk (Debian) or set CAMPAIGN_ROI_FONT_DIR.",
                stacklevel=2,
            )
        if suffix == ".png":
            write_atomic(target, vlc.vegalite_to_png(spec, vl_version=vl_version(), scale=scale))
        else:
            write_atomic(target, vlc.vegalite_to_svg(spec, vl_version=vl_version()))
    return target


def report_sections(data: ReportData) -> list[str]:
    """Names of the ReportData frames that are present (the report's sections)."""
    return [
        f.name for f in fields(data)
        if isinstance(getattr(data, f.name), pl.DataFrame)
    ]

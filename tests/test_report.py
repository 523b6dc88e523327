"""The HTML report: offline (no external script or data), one copy of the Vega bundle,
escaped data, both languages, deterministic; chart files in every format."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_roi import charts
from campaign_roi.errors import DataError, UserError
from campaign_roi.report import (
    ReportData,
    javascript_bundle,
    json_for_script,
    render_report,
    report_sections,
    save_chart,
    write_report,
)
from tests import report_fixtures as rf

SPEC_RE = re.compile(
    r'<script type="application/json" class="chart-spec" data-target="([^"]+)">(.*?)</script>',
    re.S,
)
N_CHARTS = 9  # cac/roas, spend/revenue, attribution, funnel, retention, segments ×2, campaigns, daily


@pytest.fixture(scope="module")
def report_en() -> str:
    return render_report(rf.report_data(), "en")


@pytest.fixture(scope="module")
def report_zh() -> str:
    return render_report(rf.report_data(), "zh")


def _outside_bundle(report: str) -> str:
    bundle = javascript_bundle()
    assert report.count(bundle) == 1
    return report.replace(bundle, "")


def test_bundle_is_built_once_then_read_from_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vl_convert

    from campaign_roi import report

    built = javascript_bundle()  # this session's bundle (lru-cached)
    monkeypatch.setenv("CAMPAIGN_ROI_CACHE_DIR", str(tmp_path))
    calls: list[object] = []
    real = vl_convert.javascript_bundle

    def counting(*args: object, **kw: object) -> str:
        calls.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(report.vlc, "javascript_bundle", counting)
    for _ in range(2):
        report.javascript_bundle.cache_clear()
        assert report.javascript_bundle() == built
    assert len(calls) == 1  # the second process-like call read the file
    [stored] = tmp_path.glob("vega-bundle-*.js")
    assert len(stored.read_text(encoding="utf-8")) > 500_000
    monkeypatch.setenv("CAMPAIGN_ROI_CACHE_DIR", "off")  # no cache: built every time
    report.javascript_bundle.cache_clear()
    assert report.javascript_bundle() == built
    assert len(calls) == 2
    report.javascript_bundle.cache_clear()


def test_offline_one_bundle_no_external_resources(report_en: str) -> None:
    assert report_en.startswith("<!DOCTYPE html>")
    assert "<script src" not in report_en.lower()
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", report_en, re.I)
    assert "@import" not in report_en and "url(" not in _outside_bundle(report_en)
    # outside the inlined library there is no URL at all (no fetch of scripts or data)
    assert not re.search(r"https?://", _outside_bundle(report_en))
    # the library is there exactly once, whatever the number of charts
    assert report_en.count("window.vegaEmbed=") == 1
    assert len(report_en.encode()) < 3 * 1024 * 1024


def test_every_chart_is_embedded_as_its_spec(report_en: str) -> None:
    found = SPEC_RE.findall(report_en)
    assert len(found) == N_CHARTS
    containers = re.findall(r'<div class="chart" id="(chart-\d+)" data-chart="([a-z_]+)">', report_en)
    assert [cid for cid, _ in containers] == [cid for cid, _ in found]
    data = rf.report_data()
    for (_, name), (_, text) in zip(containers, found, strict=True):
        spec = json.loads(text)
        frame = getattr(data, charts.CHART_FRAME[name])
        expected = charts.chart_spec(charts.CHARTS[name](frame, "en"))
        expected.pop("$schema")
        assert spec == expected, name


def test_data_text_is_escaped(report_en: str) -> None:
    # the campaign named <script>alert(1)</script> is text in the table and JSON-escaped in the spec
    assert rf.XSS_NAME not in report_en
    assert "<td class=\"text\">&lt;script&gt;alert(1)&lt;/script&gt;</td>" in report_en
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in report_en
    # the only <script elements are ours: bundle, specs, bootstrap
    assert report_en.count("<script") == 2 + N_CHARTS
    for _, text in SPEC_RE.findall(report_en):
        assert "</" not in text and "<!--" not in text and "<" not in text


def test_title_and_period_are_escaped() -> None:
    data = dataclasses.replace(rf.report_data(), title="Q3 <b>&</b> \"review\"",
                               period_label="<i>2025Q3</i>")
    out = render_report(data)
    assert "<title>Q3 &lt;b&gt;&amp;&lt;/b&gt; &quot;review&quot;</title>" in out
    assert "<i>2025Q3</i>" not in out and "&lt;i&gt;2025Q3&lt;/i&gt;" in out


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_property_json_for_script_round_trips_and_cannot_close_a_script(text: str) -> None:
    value = {"name": text, "list": [text, 1.5, None]}
    escaped = json_for_script(value)
    assert json.loads(escaped) == value
    assert "<" not in escaped and ">" not in escaped
    assert "\u2028" not in escaped and "\u2029" not in escaped


def test_chinese_report(report_zh: str) -> None:
    assert '<html lang="zh-CN">' in report_zh
    for text in ("核心指标", "全部指标", "新注册用户", "获客成本(CAC)", "环比", "同比", "目标完成率",
                 "校园社群", "邀请裂变/推荐", "转化漏斗", "流失预警用户", "活动ROI", "1:3.2",
                 "指标口径说明", "生成时间", "数据范围", "开学季新人礼"):
        assert text in report_zh, text
    visible = _outside_bundle(report_zh)
    for english in ("Key metrics", "All metrics", "How each number is defined", "Generated",
                    "Data range", "New users", "Churn warning"):
        assert english not in visible, english


def test_kpi_table_is_an_html_table(report_en: str) -> None:
    assert '<section id="kpi-table"><h2>All metrics</h2>' in report_en
    table = report_en.split('<section id="kpi-table">')[1].split("</section>")[0]
    assert table.count("<tr>") == 1 + 18  # header + one row per KPI
    # gmv 18,600,000 vs 15,200,000: 18.6/15.2 - 1 = 0.2237 → ▲ 22.4%, target attainment 105%
    assert ("<td><b>18,600,000</b></td><td>15,200,000</td><td class=\"good\">▲ 22.4%</td>"
            in table)
    assert "<td>17,714,000</td><td>105%</td>" in table


def test_definitions_and_footer(report_en: str) -> None:
    assert "How each number is defined" in report_en
    assert "payers ÷ active users" in report_en.lower()
    assert "Generated: 2025-10-08 09:30 UTC · Data range: 2024-07-01 – 2025-09-30" in report_en


def test_deterministic_apart_from_the_timestamp(report_en: str) -> None:
    data = rf.report_data()
    first = render_report(data)
    assert first == report_en
    later = render_report(dataclasses.replace(
        data, generated_at=dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)))
    changed = [line for line in difflib.ndiff(first.splitlines(), later.splitlines())
               if line.startswith(("- ", "+ "))]
    assert len(changed) == 2 and all("Generated" in line for line in changed)


def test_sections_without_frames_are_left_out() -> None:
    data = ReportData(title="KPIs only", period_label="2025Q3", summary=rf.summary_frame(),
                      generated_at=dt.datetime(2025, 10, 1))
    out = render_report(data)
    assert report_sections(data) == ["summary"]
    assert 'id="kpis"' in out and 'id="definitions"' in out
    for absent in ('id="channels"', 'id="funnel"', 'id="campaigns"', "chart-spec", "<script"):
        assert absent not in out
    assert len(out) < 50_000  # no library when there is no chart


def test_bad_inputs() -> None:
    with pytest.raises(UserError, match="lang"):
        render_report(rf.report_data(), "de")
    broken = dataclasses.replace(rf.report_data(), funnel=rf.funnel_frame().drop("dropped"))
    with pytest.raises(DataError, match=r"funnel.*dropped"):
        render_report(broken)


def test_write_report_is_atomic_and_complete(tmp_path: Path, report_zh: str) -> None:
    out = write_report(rf.report_data(), tmp_path / "sub" / "report.html", "zh")
    assert out.read_text(encoding="utf-8") == report_zh
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_save_chart_every_format(tmp_path: Path) -> None:
    chart = charts.campaign_roi(rf.campaigns_frame(), "zh")
    spec = json.loads(save_chart(chart, tmp_path / "c.json").read_text(encoding="utf-8"))
    assert spec == charts.chart_spec(chart)
    assert save_chart(chart, tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save_chart(chart, tmp_path / "c.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "品牌联合推广" in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg  # data text stays text in SVG too
    page = save_chart(chart, tmp_path / "c.html", lang="zh").read_text(encoding="utf-8")
    assert page.count("window.vegaEmbed=") == 1 and len(SPEC_RE.findall(page)) == 1
    assert not re.search(r"https?://", _outside_bundle(page))
    with pytest.raises(UserError, match="--out"):
        save_chart(chart, tmp_path / "c.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.html", "c.json", "c.png", "c.svg"]


def test_png_without_cjk_font_warns_but_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from campaign_roi import report

    monkeypatch.setattr(report, "cjk_fonts", lambda: ())
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        out = save_chart(charts.segment_bars(rf.segments_frame(), "zh"), tmp_path / "s.svg")
    assert out.read_text(encoding="utf-8").startswith("<svg")

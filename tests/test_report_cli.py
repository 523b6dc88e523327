"""`report` and `chart` on a real (tiny, hand-computed) dataset: the sections are the
analyses' own frames, and the files are written."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from campaign_roi.cli import main
from campaign_roi.dataset import Dataset
from campaign_roi.periods import parse_period
from campaign_roi.report import report_sections
from campaign_roi.report_data import campaign_report, chart_frame, period_report, segment_frames


def test_period_report_frames_come_from_the_analyses(story: Path) -> None:
    ds = Dataset.open(story)
    data = period_report(ds, parse_period("2025Q3"))
    assert data.title == "Growth review 2025Q3"
    assert data.summary is not None and data.channels is not None
    new_users = data.summary.filter(data.summary["metric"] == "new_users")
    assert new_users["value"][0] == 4 and new_users["previous"][0] == 3
    assert data.attribution is not None
    # every model credits the 4 Q3 registrations
    totals = data.attribution.group_by("model").agg(total=pl.col("conversions").sum())
    assert set(totals["total"].round(9).to_list()) == {4.0}
    assert data.attribution["model"].n_unique() == 8
    # daily: a (campus, 07-01), b (referral, 07-05), c (organic, 07-20), d (kol, 08-15)
    assert data.daily is not None and int(data.daily["new_users"].sum()) == 4
    assert float(data.daily["revenue"].sum()) == 800.0  # Q3 GMV
    # as of 09-30 every one of the 8 users is churned (no activity since 09-01) except f,
    # active on 09-30 alone (1 active day vs 0 before: no warning) → active
    assert data.segments is not None
    assert dict(data.segments.select("segment", "users").iter_rows()) == {
        "new": 0, "silent_new": 0, "churned": 7, "churn_warning": 0, "high_value": 0,
        "payer": 0, "potential_payer": 0, "active": 1}
    assert data.data_range is not None and str(data.data_range[1]) == "2025-09-30"


def test_campaign_report(story: Path) -> None:
    data = campaign_report(Dataset.open(story), "brand_collab", lang="zh")
    assert data.title == "活动复盘 品牌联合推广"
    assert data.campaigns is not None and data.campaigns["revenue"][0] == 370.0
    assert data.funnel is not None
    # a and h join brand_collab; both order within the window
    assert data.funnel["users"].to_list() == [2, 2]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_command_writes_one_offline_file(story: Path, tmp_path: Path, lang: str) -> None:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "--data", str(story), "--period", "2025Q3",
                                  "--out", str(out), "--lang", lang])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert "<script src" not in html
    assert len(report_sections_of(html)) == 9
    assert ("增长复盘" in html) == (lang == "zh")


def report_sections_of(html: str) -> list[str]:
    return [s for s in ("kpis", "kpi-table", "channels", "attribution", "funnel", "retention",
                        "segments", "campaigns", "daily") if f'<section id="{s}"' in html]


def test_report_sections_helper_is_consistent(story: Path) -> None:
    data = period_report(Dataset.open(story), parse_period("2025Q3"))
    assert "channels" in report_sections(data)


def test_report_errors(story: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["report", "--data", str(story), "--out", str(tmp_path / "x.html")])
    assert r.exit_code == 2 and "--period" in r.output
    r = runner.invoke(main, ["report", "--data", str(story), "--campaign", "nope",
                             "--out", str(tmp_path / "x.html")])
    assert r.exit_code == 1 and "nope" in r.output and "Traceback" not in r.output


def test_chart_command(story: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "c.json"
    r = runner.invoke(main, ["chart", "channel_cac_roas", "--data", str(story), "--period",
                             "2025Q3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    spec = json.loads(out.read_text(encoding="utf-8"))
    assert "$schema" in spec
    r = runner.invoke(main, ["chart", "nope", "--data", str(story), "--period", "2025Q3",
                             "--out", str(out)])
    assert r.exit_code == 2 and "unknown chart" in r.output
    frame = chart_frame(Dataset.open(story), "segment_bars", parse_period("2025Q3"))
    assert list(frame.columns) == ["segment", "users", "share"]


def test_report_sections_share_work_and_report_progress(story: Path) -> None:
    """Progress names every section in order; the channel table's register credits reuse
    the journeys of the attribution section, and equal a standalone channel table."""
    from campaign_roi.channels import channel_table

    ds = Dataset.open(story)
    heard: list[str] = []
    data = period_report(ds, parse_period("2025Q3"), progress=heard.append)
    # retention and segments read the KPIs' activity words, the daily trend their
    # acquisition table (both freed after it), before the attribution runs
    assert heard == ["[1/8] summary", "[2/8] retention", "[3/8] segments",
                     "[4/8] daily trend", "[5/8] attribution", "[6/8] channels",
                     "[7/8] campaigns", "[8/8] funnel"]
    # the segments from the words are those a standalone run reads from the files
    assert data.migration is not None and data.segments is not None
    alone_segments, alone_migration = segment_frames(Dataset.open(story), parse_period("2025Q3"))
    assert data.migration.equals(alone_migration)
    assert data.segments.equals(alone_segments)
    # the attribution tables are freed after the campaign table: no later section reads them;
    # neither the words nor the acquisition are kept past the daily trend
    from campaign_roi.attribution import ATTRIBUTION_TABLES

    freed = {*ATTRIBUTION_TABLES, "activity_words", "period_acquisition"}
    assert not freed & set(ds.temp_keys)
    left = ds.con.sql("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert not freed & {str(r[0]) for r in left}
    alone = channel_table(Dataset.open(story), parse_period("2025Q3"))
    assert data.channels is not None and data.channels.equals(alone)


def test_report_without_shared_tables_gives_the_same_frames(
        story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SHARED_TABLES_MAX_ROWS a report keeps no large table between sections (no
    shared acquisition, touches or activity words): every frame is the same."""
    from collections.abc import Iterator
    from contextlib import contextmanager
    from dataclasses import fields

    import duckdb

    from campaign_roi import retention

    sources: list[str] = []
    real = retention.staged_activity

    @contextmanager
    def spy(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
        with real(con) as source:
            sources.append(source)
            yield source

    monkeypatch.setattr(retention, "staged_activity", spy)
    shared_ds = Dataset.open(story)
    shared = period_report(shared_ds, parse_period("2025Q3"))
    assert sources == ["words"]  # retention read the KPIs' activity words
    monkeypatch.setattr("campaign_roi.dataset.SHARED_TABLES_MAX_ROWS", 0)
    alone_ds = Dataset.open(story)
    heard: list[str] = []
    alone = period_report(alone_ds, parse_period("2025Q3"), progress=heard.append)
    assert sources == ["words", "days"]  # … here the events
    # without words the segments read the events, last (every other table freed)
    assert heard[2] == "[3/8] daily trend" and heard[-1] == "[8/8] segments"
    assert "activity_words" not in alone_ds.temp_keys
    assert alone_ds.con.sql("SELECT count(*) FROM duckdb_tables() "
                            "WHERE table_name IN ('activity_words', 'acquisition', "
                            "'period_acquisition')"
                            ).fetchall()[0][0] == 0
    for f in fields(shared):
        a, b = getattr(shared, f.name), getattr(alone, f.name)
        assert (a.equals(b) if isinstance(a, pl.DataFrame) else a == b), f.name


def test_report_progress_is_quiet_when_piped(story: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--data", str(story), "--period", "2025Q3",
                                       "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {tmp_path / 'r.html'}\n"  # no "[1/8] …" lines

"""CLI wiring of generate, demo, funnel, retention and segments (the analyses themselves are
tested exactly in test_funnel/test_retention/test_lifecycle; here: options, formats, files,
error paths)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from campaign_roi.cli import main


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def test_funnel_json_is_monotone_and_exports_dropped(small_seed: Path, tmp_path: Path) -> None:
    code, out = run("funnel", "--data", str(small_seed), "--steps", "register,first_order,order",
                    "--window", "30d", "--period", "2025Q3", "--format", "json",
                    "--export-dropped", "2", str(tmp_path))
    assert code == 0, out
    rows = json.loads(out.split("\nwrote")[0])
    assert [r["step"] for r in rows] == ["register", "first_order", "order"]
    users = [r["users"] for r in rows]
    assert users == sorted(users, reverse=True)
    dropped = (tmp_path / "dropped_before_step_2.csv").read_text().splitlines()
    assert len(dropped) - 1 == rows[1]["dropped"]  # header + one line per dropped user


def test_funnel_errors(small_seed: Path) -> None:
    code, out = run("funnel", "--data", str(small_seed), "--steps", "register,bogus")
    assert code == 1 and "bogus" in out and "Traceback" not in out
    code, out = run("funnel", "--data", str(small_seed), "--steps", "register", "--window", "two")
    assert code == 2 and "14d" in out


def test_retention_wide_and_long(small_seed: Path) -> None:
    code, out = run("retention", "--data", str(small_seed), "--periods", "2", "--format", "csv")
    assert code == 0, out
    assert out.splitlines()[0] == "cohort,cohort_size,period_0,period_1,period_2"
    code, out = run("retention", "--data", str(small_seed), "--shape", "long", "--by", "channel",
                    "--format", "json")
    rows = json.loads(out)
    assert set(rows[0]) == {"channel", "cohort", "cohort_size", "period", "retention"}
    assert all(r["retention"] is None or 0 <= r["retention"] <= 1 for r in rows)


def test_segments_export_and_compare(small_seed: Path, tmp_path: Path) -> None:
    code, out = run("segments", "--data", str(small_seed), "--format", "json", "--export",
                    str(tmp_path))
    assert code == 0, out
    rows = json.loads(out.split("\nwrote")[0])
    assert len(rows) == 8
    files = sorted(tmp_path.glob("segment_*.csv"))
    assert len(files) == 8
    exported = sum(len(f.read_text().splitlines()) - 1 for f in files)
    assert exported == sum(r["users"] for r in rows)  # every user in exactly one file
    code, out = run("sql", "--data", str(small_seed), "--format", "json",
                    "SELECT count(*) AS n FROM users")
    assert json.loads(out)[0]["n"] == exported
    code, out = run("segments", "--data", str(small_seed), "--compare", "2025-06-30", "--format", "csv")
    assert code == 0 and out.splitlines()[0] == "from_segment,to_segment,users"
    code, out = run("segments", "--data", str(small_seed), "--as-of", "yesterday")
    assert code == 1 and "--as-of" in out


def test_demo_prints_the_summary_and_writes_the_report(tmp_path: Path) -> None:
    code, out = run("demo", "--out", str(tmp_path / "d"), "--scale", "0.002", "--quiet")
    assert code == 0, out
    assert "2025Q3 summary" in out and "campaign_roi" in out
    html = (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    assert html.count("<script") >= 2 and "<script src" not in html

"""The progress line of long commands (issue 8): on a terminal only, never with --quiet,
erased before any result is printed, so stdout holds the same bytes either way."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from campaign_roi import cli
from campaign_roi.cli import main
from campaign_roi.progress import ERASE, ProgressLine


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeConnection:
    def __init__(self, progress: float | Exception) -> None:
        self.progress = progress
        self.statements: list[str] = []

    def sql(self, query: str) -> None:
        self.statements.append(query)

    def query_progress(self) -> float:
        if isinstance(self.progress, Exception):
            raise self.progress
        return self.progress


def test_line_shows_command_section_stage_percentage_and_seconds() -> None:
    clock, out = Clock(100.0), io.StringIO()
    line = ProgressLine("report", out, clock=clock, width=200)
    clock.t = 103.4  # 3.4 s after the start: shown as 3 s
    line.stage("conversions")
    assert out.getvalue() == ERASE + "  report · conversions · 3 s"
    con = FakeConnection(45.6)
    line.attach(con)  # type: ignore[arg-type]
    assert con.statements == ["SET progress_bar_time = 0"]
    line.section("[5/8] attribution")  # a section clears the stage of the one before
    assert out.getvalue().split(ERASE)[-1] == "  report · [5/8] attribution · query 46 % · 3 s"
    line.stage("journeys (order)")
    clock.t = 170.0
    con.progress = -1.0  # between statements DuckDB answers -1: no percentage
    line.draw()
    assert out.getvalue().split(ERASE)[-1] == "  report · [5/8] attribution · journeys (order) · 70 s"


def test_line_survives_a_failing_progress_query_and_fits_the_width() -> None:
    out = io.StringIO()
    line = ProgressLine("summary", out, clock=Clock(0.0), width=12)
    line.attach(FakeConnection(RuntimeError("connection closed")))  # type: ignore[arg-type]
    line.stage("activity words")
    # "  summary · activity words · 0 s" cut to width - 1 = 11 characters
    assert out.getvalue() == ERASE + "  summary ·"


def test_close_erases_once_and_silences_the_line() -> None:
    out = io.StringIO()
    line = ProgressLine("channels", out, clock=Clock(0.0), width=80)
    line.stage("credits")
    line.close()
    line.close()
    line.stage("late")
    line.draw()
    assert out.getvalue() == ERASE + "  channels · credits · 0 s" + ERASE


def test_ticker_redraws_during_a_query_and_stops_on_close() -> None:
    out = io.StringIO()
    con = duckdb.connect()
    con.sql("SET enable_progress_bar_print = false")
    line = ProgressLine("sql", out, interval=0.01, width=80)
    line.attach(con)
    with line:
        con.sql("SELECT count(DISTINCT hash(i)) FROM range(3000000) t(i)").fetchall()
        threading.Event().wait(0.05)
    assert not any(t.name == "campaign-roi-progress" and t.is_alive()
                   for t in threading.enumerate())
    text = out.getvalue()
    assert text.endswith(ERASE) and text.count(ERASE) >= 3  # start, some redraws, the end
    assert all(part.startswith("  sql · ") for part in text.split(ERASE)[1:-1])


def invoke(args: list[str], terminal: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: terminal)
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("command", [
    ["summary", "--period", "2025Q3", "--compare", "--format", "csv"],
    ["attribute", "--model", "all", "--conversion", "order", "--period", "2025Q3"],
    ["validate"],
])
def test_terminal_shows_the_stages_and_stdout_is_unchanged(
        small_seed: Path, command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    args = [*command, "--data", str(small_seed)]
    piped = invoke(args, False, monkeypatch)
    shown = invoke(args, True, monkeypatch)
    quiet = invoke([*args, "--quiet"], True, monkeypatch)
    assert piped.exit_code == shown.exit_code == quiet.exit_code == 0, shown.output
    assert shown.stdout == piped.stdout == quiet.stdout
    assert piped.stderr == quiet.stderr == ""
    # the line, redrawn per stage, then erased before the result
    frames = shown.stderr.split(ERASE)
    assert frames[0] == "" and frames[-1] == ""
    assert all(f.startswith(f"  {command[0]} · ") for f in frames[1:-1])
    stages = {f.split(" · ")[1] for f in frames[1:-1] if f.count(" · ") >= 2}
    expected = {"summary": {"conversions", "activity words", "acquisition", "kpi counts"},
                "attribute": {"journeys (order)"},
                "validate": {"checking events", "profile"}}[command[0]]
    assert expected <= stages, stages


def test_report_sections_show_on_the_line(small_seed: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.html"
    shown = invoke(["report", "--period", "2025Q3", "--data", str(small_seed), "--out", str(out)],
                   True, monkeypatch)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == f"wrote {out}\n"
    sections = [f.split(" · ")[1] for f in shown.stderr.split(ERASE)[1:-1] if " · [" in f]
    assert sections[0] == "[1/8] summary" and sections[-1] == "[8/8] funnel"


def test_errors_print_on_a_clean_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "events.csv").write_text("user_id,event_time,event_type\nu1,not a time,active\n")
    shown = invoke(["summary", "--period", "2025Q3", "--data", str(tmp_path)], True, monkeypatch)
    assert shown.exit_code == 1
    # the line was drawn and erased; the error starts a clean line, no traceback
    before, error = shown.stderr.rsplit(ERASE, 1)
    assert before.startswith(ERASE + "  summary · ")
    assert error.startswith("Error: ") and "event_time" in error and "Traceback" not in error

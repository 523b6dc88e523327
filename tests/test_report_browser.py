"""The report renders in a real browser with no network: headless Chromium loads the file,
every chart container gets exactly one drawn SVG/canvas and no error text; a screenshot is
taken (kept in $REPORT_SCREENSHOT_DIR when set, for a person to look at).

Skipped only when Chromium is absent and CI is not set; under CI=true a missing Chromium
fails (install: Debian packages `chromium fonts-noto-cjk`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from campaign_roi.report import write_report
from tests import report_fixtures as rf
from tests.test_report import N_CHARTS

pytestmark = pytest.mark.browser

CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--no-first-run", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--virtual-time-budget=10000",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI: chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    pytest.skip("chromium not installed (apt-get install chromium fonts-noto-cjk)")


def _run(chrome: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chrome, *CHROME_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )


class _ChartCensus(HTMLParser):
    """For each element with class "chart": how many outermost <svg>/<canvas> it holds, its
    classes (a failed chart gets "chart-error") and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []  # (tag, chart id when a container)
        self.charts: dict[str, dict[str, object]] = {}
        self.svg_depth = 0

    def _current_chart(self) -> str | None:
        for _, chart_id in reversed(self.stack):
            if chart_id:
                return chart_id
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        chart_id = attr.get("id") if tag == "div" and "chart" in classes else None
        if chart_id:
            self.charts[chart_id] = {"drawn": 0, "classes": classes, "text": ""}
        owner = self._current_chart()
        if tag in ("svg", "canvas") and owner and self.svg_depth == 0:
            drawn = self.charts[owner]["drawn"]
            assert isinstance(drawn, int)
            self.charts[owner]["drawn"] = drawn + 1
        if tag == "svg":
            self.svg_depth += 1
        self.stack.append((tag, chart_id))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == "svg":
                self.svg_depth -= 1
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        owner = self._current_chart()
        if owner and self.svg_depth == 0:
            self.charts[owner]["text"] = str(self.charts[owner]["text"]) + data


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_renders_every_chart_offline(tmp_path: Path, lang: str) -> None:
    chrome = _chromium()
    report = write_report(rf.report_data(), tmp_path / f"report_{lang}.html", lang)
    keep = os.environ.get("REPORT_SCREENSHOT_DIR")
    shot = (Path(keep) if keep else tmp_path) / f"report_{lang}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    # one browser run: the DOM after the scripts ran, and a screenshot of the page
    dom = _run(chrome, tmp_path / "profile", "--dump-dom", f"--screenshot={shot}",
               "--window-size=1280,4000", "--hide-scrollbars", report.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    census = _ChartCensus()
    census.feed(dom.stdout)
    assert len(census.charts) == N_CHARTS
    for chart_id, info in census.charts.items():
        assert info["drawn"] == 1, (chart_id, info)
        assert "chart-error" not in info["classes"], (chart_id, info)
        assert "error" not in str(info["text"]).lower(), (chart_id, info)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 100_000  # a full page of charts, not a blank image

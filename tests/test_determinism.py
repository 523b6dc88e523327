"""Same input, same bytes out (SPEC §11), whatever the thread count: money and credit totals
are exact sums (campaign_roi.metrics.exact_sum), not floating-point sums whose last bits
follow the order the threads deliver rows in. Before exact sums, two runs of `summary` on the
same files printed gmv 18599999.429999977 and 18599999.42999989."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from campaign_roi.cli import main
from campaign_roi.metrics import define_exact_sum, exact_sum


@pytest.fixture(scope="module")
def copies(small_seed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The seed story twice, run by DuckDB with 1 and with 4 threads."""
    base = tmp_path_factory.mktemp("threads")
    out = {}
    for threads in (1, 4):
        target = base / f"threads{threads}"
        shutil.copytree(small_seed, target)
        config = target / "campaign_roi.toml"
        text = config.read_text(encoding="utf-8") if config.exists() else ""
        assert "[engine]" not in text
        config.write_text(text + f"\n[engine]\nthreads = {threads}\n", encoding="utf-8")
        out[threads] = target
    return out


@pytest.mark.parametrize("command", [
    ["summary", "--period", "2025Q3", "--compare"],
    ["attribute", "--model", "all", "--conversion", "order", "--period", "2025Q3"],
    ["attribute", "--model", "all", "--conversion", "first_order", "--by", "campaign",
     "--period", "2025Q3"],
    ["channels", "--period", "2025Q3"],
    ["campaigns", "--period", "2025Q3"],
    ["paths", "--conversion", "order", "--period", "2025Q3"],
    ["segments", "--as-of", "2025-09-30"],
])
def test_same_bytes_with_one_or_four_threads(copies: dict[int, Path], command: list[str]) -> None:
    outputs = set()
    for threads, data in copies.items():
        for _ in range(2):
            r = CliRunner().invoke(main, [*command, "--data", str(data), "--format", "csv"])
            assert r.exit_code == 0, (threads, r.output)
            outputs.add(r.stdout)
    assert len(outputs) == 1


def test_exact_sum_is_the_correctly_rounded_sum() -> None:
    # 12.34 added 1,000 times: a left-to-right float sum ends at 12340.000000000115; the
    # exact sum of the 1,000 doubles (each 12.339999999999999857891…) rounds to 12340.0
    # three doubles nearest 1/3 add up to 1 - 2^-54 exactly, a tie that rounds to even: 1.0
    values = {"a": [12.34] * 1000, "b": [1 / 3] * 3 + [0.0] * 997}
    frame = pl.DataFrame(values)
    assert sum(values["a"]) == 12340.000000000115
    assert frame.select(exact_sum("a"), exact_sum("b")).row(0) == (12340.0, 1.0)
    con = duckdb.connect()
    define_exact_sum(con)
    assert con.sql("SELECT exact_sum(a), exact_sum(b), exact_sum(CAST(NULL AS DOUBLE)) "
                   "FROM frame").fetchall() == [(12340.0, 1.0, None)]


def test_exact_sum_never_wraps_what_it_cannot_hold() -> None:
    con = duckdb.connect()
    define_exact_sum(con)
    with pytest.raises(duckdb.Error):  # 1e19 · 2^64 is beyond 128 bits: an error, not a wrap
        con.sql("SELECT exact_sum(1e19::DOUBLE)").fetchall()
    with pytest.raises(duckdb.Error):  # four values of 2^62: the 128-bit total overflows
        con.sql("SELECT exact_sum(v) FROM (VALUES (2.0 ^ 62), (2.0 ^ 62), (2.0 ^ 62), "
                "(2.0 ^ 62)) t(v)").fetchall()
    # Polars would wrap 4 · 2^126 to 0: at or beyond 2^62 of absolute values it is the float
    # sum (2^64, exact here); just below, still the exact sum
    frame = pl.DataFrame({"big": [2.0**62] * 4, "huge": [1e19, 2.0, None, None],
                          "below": [2.0**61, 2.0**60, 0.5, 0.25]})
    # 1e19 + 2 as floats is 1e19 (its neighbours are 2048 apart); 2^61 + 2^60 + 0.75 is exact
    assert frame.select(exact_sum("big"), exact_sum("huge"), exact_sum("below")).row(0) == (
        2.0**64, 1e19, 2.0**61 + 2.0**60 + 0.75)


def test_report_same_bytes_with_one_or_four_threads(copies: dict[int, Path]) -> None:
    """The period report (every section, charts included) with a fixed generation time."""
    from datetime import UTC, datetime

    from campaign_roi.dataset import Dataset
    from campaign_roi.periods import parse_period
    from campaign_roi.report import render_report
    from campaign_roi.report_data import period_report

    when = datetime(2025, 10, 1, tzinfo=UTC)
    pages = {render_report(period_report(Dataset.open(data), parse_period("2025Q3"),
                                         generated_at=when))
             for data in copies.values()}
    assert len(pages) == 1

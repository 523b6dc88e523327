"""The file layer (campaign_roi.file_layer): per events file, its rare events, touches and
activity words kept in the cache; the views read them instead of the files.

What it must guarantee: the same rows as the files (every command's output the same bytes
with and without it), each layer file written once per events file and written again when
that file changes, and no layer where it could differ (repeated event_ids across files) or
cannot work (CSV, large data, an unusable cache directory, turned off)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import tiny_events

from campaign_roi.cli import main
from campaign_roi.dataset import Dataset
from campaign_roi.file_layer import ENV_FILE_LAYER, layer_dir
from campaign_roi.kpis import drop_activity_words, kpi_activity_days, prepare_activity_words
from campaign_roi.periods import parse_period


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, so that the layer files it finds are the ones it wrote."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CAMPAIGN_ROI_CACHE_DIR", str(cache))
    monkeypatch.delenv(ENV_FILE_LAYER, raising=False)
    return cache


def _unique() -> pl.DataFrame:
    """The tiny events without their repeated event_id (e9 repeats e3)."""
    events = tiny_events()
    assert events["event_id"].n_unique() == events.height - 1
    return events.head(events.height - 1)


def _layer_files() -> dict[str, int]:
    """Layer file name → inode: a file written again (a new file renamed over it) has a new
    one; its modification time says when it was last used, not written."""
    folder = layer_dir()
    return {p.name: p.stat().st_ino for p in folder.iterdir()} if folder.is_dir() else {}


def _view_sql(ds: Dataset, view: str) -> str:
    return str(ds.con.sql("SELECT sql FROM duckdb_views() WHERE view_name = $v",
                          params={"v": view}).fetchall()[0][0])


COMMANDS = [
    ["summary", "--period", "2025Q3", "--compare", "--format", "csv"],
    ["channels", "--period", "2025Q3", "--compare", "--format", "csv"],
    ["campaigns", "--period", "2025Q3", "--format", "csv"],
    ["attribute", "--model", "all", "--conversion", "register", "--period", "2025Q3",
     "--format", "csv"],
    ["attribute", "--model", "all", "--conversion", "first_order", "--period", "2025Q3",
     "--by", "campaign", "--format", "csv"],
    ["attribute", "--model", "all", "--conversion", "order", "--period", "2025Q3",
     "--format", "csv"],
    ["paths", "--conversion", "register", "--period", "2025Q3", "--format", "csv"],
    ["funnel", "--steps", "register,first_order", "--period", "2025Q3", "--by", "channel",
     "--format", "csv"],
    ["retention", "--grain", "month", "--periods", "3", "--by", "channel", "--format", "csv"],
    ["segments", "--format", "csv"],
    ["campaign", "brand_collab"],  # its row, participants -> payers funnel, daily series
    ["sql", "SELECT * FROM touches ORDER BY event_id LIMIT 200", "--format", "csv"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_commands_give_the_same_bytes_with_and_without_the_layer(
        small_seed: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch,
        args: list[str]) -> None:
    runner = CliRunner()
    data = ["--data", str(small_seed)]
    monkeypatch.setenv(ENV_FILE_LAYER, "off")
    off = runner.invoke(main, [*args, *data])
    assert off.exit_code == 0, off.output
    assert _layer_files() == {}  # off: nothing written
    monkeypatch.setenv(ENV_FILE_LAYER, "on")
    if args[0] == "sql":  # ad-hoc SQL reads the layer an analysis wrote, never writes it
        assert runner.invoke(main, ["summary", "--period", "2025Q3", *data]).exit_code == 0
    first = runner.invoke(main, [*args, *data])  # writes the layer (reads it: sql)
    again = runner.invoke(main, [*args, *data])  # reads it
    assert _layer_files()  # the layer was in use
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert first.output == off.output
    assert again.output == off.output


def test_the_report_is_the_same_with_and_without_the_layer(
        small_seed: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    def report(name: str) -> str:
        out = tmp_path / f"{name}.html"
        r = CliRunner().invoke(main, ["report", "--period", "2025Q3", "--data",
                                      str(small_seed), "--out", str(out), "--quiet"])
        assert r.exit_code == 0, r.output
        # the footer's generation minute is the one part allowed to differ
        return re.sub(r"Generated: [0-9-]+ [0-9:]+ UTC", "", out.read_text(encoding="utf-8"))

    monkeypatch.setenv(ENV_FILE_LAYER, "off")
    off = report("off")
    monkeypatch.setenv(ENV_FILE_LAYER, "on")
    assert report("on") == off
    assert _layer_files()


def test_the_views_read_the_layer_written_once_per_file(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    root = make_dataset(_unique())  # events in two files (month=2025-06, month=2025-07)
    ds = Dataset.open(root)
    assert ds.file_layer is not None
    written = _layer_files()
    # three layer files per events file: rare events, touches, words
    assert sorted(n.split(".")[1] for n in written) == ["rare"] * 2 + ["touches"] * 2 \
        + ["words"] * 2
    for view in ("touches", "key_events", "layer_words"):
        assert str(layer_dir()) in _view_sql(ds, view)
    assert str(layer_dir()) not in _view_sql(ds, "events")
    # the layer's touches are the events' touches, every column
    assert ds.con.sql("SELECT * FROM touches ORDER BY event_id").fetchall() == ds.con.sql(
        "SELECT * FROM events WHERE event_type = 'touch' ORDER BY event_id").fetchall()
    Dataset.open(root)
    assert _layer_files() == written  # read, not written again


def test_a_changed_file_is_written_again_alone(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    root = make_dataset(_unique())
    ds = Dataset.open(root)
    touches_before = ds.con.sql("SELECT count(*) FROM touches").fetchall()[0][0]
    before = set(_layer_files())
    # one more touch in July's file
    july = root / "events" / "month=2025-07" / "part-0.parquet"
    frame = pl.read_parquet(july, hive_partitioning=False)
    extra = frame.filter(pl.col("event_type") == "touch").head(1).with_columns(
        event_id=pl.lit("e-extra"))
    assert extra.height == 1
    pl.concat([frame, extra]).write_parquet(july)
    ds = Dataset.open(root)
    after = set(_layer_files())
    # July's three layer files are new, its old ones deleted; June's are the same ones
    assert len(after - before) == 3
    assert len(before - after) == 3
    assert len(before & after) == 3
    assert ds.file_layer is not None
    assert {p.name for ps in ds.file_layer.files.values() for p in ps} == after
    assert ds.con.sql("SELECT count(*) FROM touches").fetchall()[0][0] == touches_before + 1
    assert ds.con.sql("SELECT count(*) FROM touches WHERE event_id = 'e-extra'"
                      ).fetchall()[0][0] == 1




@pytest.mark.parametrize("case", ["off", "csv", "repeated event_id", "large", "no cache"])
def test_no_layer_where_it_could_differ_or_cannot_work(
        make_dataset: Callable[..., Path], private_cache: Path,
        monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    root = make_dataset(tiny_events() if case == "repeated event_id" else _unique(),
                        form="csv" if case == "csv" else "parquet_dir")
    if case == "off":
        monkeypatch.setenv(ENV_FILE_LAYER, "off")
    if case == "large":
        monkeypatch.setattr("campaign_roi.dataset.SHARED_TABLES_MAX_ROWS", 0)
    if case == "no cache":  # the cache directory's place is taken by a file
        private_cache.write_text("not a directory", encoding="utf-8")
    ds = Dataset.open(root)
    assert ds.file_layer is None
    assert "read_parquet" not in _view_sql(ds, "touches")
    if case != "no cache":
        assert _layer_files() == {}
    # the commands still work, from the files
    r = CliRunner().invoke(main, ["summary", "--period", "2025-07", "--data", str(root),
                                  "--format", "csv"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("sliced", [False, True])
@pytest.mark.parametrize("part", [False, True])
def test_the_layer_words_are_the_files_words(
        small_seed: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch,
        sliced: bool, part: bool) -> None:
    """The activity words merged from the layer (activity_words_layer.sql) are the rows the
    files give (activity_words.sql): all days, or a summary's days only (each slice cut to its
    days); in one grouping or in slices of words and of users."""
    if sliced:  # a few rows a slice: a slice per word and eight slices of users
        monkeypatch.setattr("campaign_roi.kpis.ACTIVITY_ROWS_PER_SLICE", 50)
    ds = Dataset.open(small_seed)
    assert ds.file_layer is not None
    first, last = ds.date_range
    assert first is not None and last is not None
    p = parse_period("2025Q3")
    days = kpi_activity_days([p, p.previous(), p.last_year()], first, last) if part else None

    def words() -> list[tuple[str, int, int]]:
        drop_activity_words(ds)
        prepare_activity_words(ds, first, days)
        return ds.con.sql("SELECT user_id, word, bits FROM activity_words "
                          "ORDER BY ALL").fetchall()

    from_layer = words()
    layer, ds.file_layer = ds.file_layer, None
    from_files = words()
    ds.file_layer = layer
    assert from_layer == from_files
    assert len(from_files) > 100


def test_the_cache_directory_can_be_deleted(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    """Deleting the layer (as the docs tell) costs a rewrite, never a wrong or failed run."""
    root = make_dataset(_unique())
    first = CliRunner().invoke(main, ["summary", "--period", "2025-07", "--data", str(root),
                                      "--format", "csv"])
    for f in layer_dir().iterdir():
        os.remove(f)
    again = CliRunner().invoke(main, ["summary", "--period", "2025-07", "--data", str(root),
                                      "--format", "csv"])
    assert first.exit_code == 0 and again.exit_code == 0
    assert again.output == first.output
    assert len(_layer_files()) == 6


def test_a_damaged_layer_file_is_written_again(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    root = make_dataset(_unique())
    args = ["summary", "--period", "2025-07", "--data", str(root), "--format", "csv"]
    first = CliRunner().invoke(main, args)
    touches = next(p for p in layer_dir().iterdir() if p.name.endswith(".touches.parquet"))
    touches.write_bytes(touches.read_bytes()[:20])  # cut short
    again = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert again.output == first.output
    assert pl.read_parquet(touches).height > 0  # the same name, whole again


def test_another_time_zone_or_channel_mapping_writes_its_own_layer(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    """The layer's rows depend on the configuration (naive times are wall times of the
    dataset's zone; the touches carry their channel group): a changed configuration reads
    layer files of its own, whose rows are again the files' rows."""
    root = make_dataset(_unique())
    config = root / "campaign_roi.toml"

    def check() -> list[tuple[object, ...]]:
        ds = Dataset.open(root)
        assert ds.file_layer is not None
        rows = ds.con.sql("SELECT * FROM touches ORDER BY event_id").fetchall()
        assert rows == ds.con.sql("SELECT * FROM events WHERE event_type = 'touch' "
                                  "ORDER BY event_id").fetchall()
        assert ds.con.sql("SELECT * FROM key_events ORDER BY ALL").fetchall() == ds.con.sql(
            "SELECT event_type, user_id, event_time, event_date, event_id, order_id, "
            "campaign_id, referrer_id, amount FROM events WHERE event_type IN "
            "('register', 'order', 'refund', 'campaign_join') ORDER BY ALL").fetchall()
        return rows

    shanghai = check()
    config.write_text(config.read_text(encoding="utf-8").replace(
        'timezone = "Asia/Shanghai"', 'timezone = "Europe/Berlin"'), encoding="utf-8")
    berlin = check()
    assert berlin != shanghai  # the same wall times, other instants
    # KOL_douyin_beauty: kol -> feed_ads
    config.write_text(config.read_text(encoding="utf-8").replace(
        'kol = ["kol_*"]', 'kol = ["kolx_*"]').replace(
        'feed_ads = ["feed_*"]', 'feed_ads = ["feed_*", "kol_*"]'), encoding="utf-8")
    remapped = check()
    assert remapped != berlin


def test_ad_hoc_sql_reads_the_layer_but_never_writes_it(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    """A quick question (`sql`, `query run`) does not wait for the layer to be written; once
    an analysis has written it, the same question reads it, with the same answer."""
    root = make_dataset(_unique())
    question = ["sql", "SELECT channel, count(*) AS n FROM touches GROUP BY ALL ORDER BY ALL",
                "--data", str(root), "--format", "csv"]
    runner = CliRunner()
    before = runner.invoke(main, question)
    assert before.exit_code == 0, before.output
    assert _layer_files() == {}
    assert Dataset.open(root, write_layer=False).file_layer is None
    summary = runner.invoke(main, ["summary", "--period", "2025-07", "--data", str(root)])
    assert summary.exit_code == 0, summary.output
    written = _layer_files()
    assert len(written) == 6
    ds = Dataset.open(root, write_layer=False)
    assert ds.file_layer is not None
    assert str(layer_dir()) in _view_sql(ds, "touches")
    after = runner.invoke(main, question)
    assert after.output == before.output
    assert _layer_files() == written


def test_layer_files_unused_for_30_days_are_deleted(
        make_dataset: Callable[..., Path], private_cache: Path) -> None:
    """Every open marks the layer files it reads as used; a layer file no command used for
    UNUSED_DAYS days (an events file that is gone) is deleted, one in use is kept however
    old it was."""
    import time

    from campaign_roi.file_layer import UNUSED_DAYS

    root = make_dataset(_unique())
    Dataset.open(root)
    in_use = sorted(layer_dir().iterdir())
    assert len(in_use) == 6
    stray = layer_dir() / "0123-4567.touches.parquet"  # the layer of a file that is gone
    stray.write_bytes(in_use[0].read_bytes())
    crashed = layer_dir() / "0123-4567.words.parquet.999.tmp"  # a killed writer's
    crashed.write_bytes(b"partial")
    fresh = layer_dir() / "89ab-cdef.rare.parquet"  # gone too, but used a day ago
    fresh.write_bytes(in_use[0].read_bytes())
    old = time.time() - (UNUSED_DAYS + 1) * 86_400
    for p in [*in_use, stray, crashed]:
        os.utime(p, (old, old))
    os.utime(fresh, (time.time() - 86_400,) * 2)
    Dataset.open(root)
    assert sorted(layer_dir().iterdir()) == sorted([*in_use, fresh])
    assert all(p.stat().st_mtime > time.time() - 60 for p in in_use)  # marked as used

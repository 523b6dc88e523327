"""The data layer on the tiny hand-written dataset (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from conftest import tiny_campaigns, tiny_spend

from campaign_roi.dataset import Dataset


@pytest.mark.parametrize("form", ["parquet_dir", "nested_dir", "parquet", "csv", "csv.gz"])
def test_every_form_gives_the_same_events(make_dataset: Callable[..., Path], form: str) -> None:
    ds = Dataset.open(make_dataset(form=form))
    # 9 raw rows, one repeats event_id e3 → 8 events
    assert ds.sql("SELECT count(*) AS n FROM events")["n"][0] == 8
    by_type = dict(ds.sql(
        "SELECT event_type, count(*) AS n FROM events GROUP BY 1").iter_rows())
    assert by_type == {"touch": 4, "register": 2, "order": 1, "refund": 1}
    # users: u1, u2 (p1 only touched: a prospect)
    assert sorted(ds.sql("SELECT user_id FROM users")["user_id"]) == ["u1", "u2"]


def test_local_dates_in_dataset_zone(tiny: Path) -> None:
    ds = Dataset.open(tiny)
    row = ds.sql(
        "SELECT event_time, local_time, event_date FROM events WHERE event_id = 'e7'").row(0)
    # u2 registered 2025-07-10 00:15 Shanghai = 2025-07-09 16:15 UTC; the local day is the 10th
    assert row[2] == date(2025, 7, 10)
    assert str(row[1]) == "2025-07-10 00:15:00"
    assert row[0].utcoffset().total_seconds() == 8 * 3600


def test_channel_groups_and_net_orders(tiny: Path) -> None:
    ds = Dataset.open(tiny)
    groups = dict(ds.sql("SELECT channel, channel_group FROM touches").iter_rows())
    assert groups == {"wechat_campus_group_1": "campus_community",
                      "KOL_douyin_beauty": "kol",  # case-insensitive glob kol_*
                      "mystery_src": "other", "feed_toutiao": "feed_ads"}
    order = ds.sql("SELECT amount, refunded, net_amount FROM orders").row(0)
    assert order == (100.0, 30.0, 70.0)  # 100 − 30 refunded
    spend = dict(ds.sql("SELECT channel_group, cost FROM spend").iter_rows())
    assert spend == {"campus_community": 50.0, "kol": 80.0, "feed_ads": 20.0}
    assert tiny_spend().height == 3 and tiny_campaigns().height == 1


def test_aware_timestamps_are_converted(make_dataset: Callable[..., Path]) -> None:
    import polars as pl
    from conftest import tiny_events

    ev = tiny_events().with_columns(pl.col("event_time").dt.replace_time_zone("UTC"))
    ds = Dataset.open(make_dataset(ev))
    # 2025-07-10 00:15 UTC is 08:15 in Shanghai, same day
    assert str(ds.sql("SELECT local_time FROM events WHERE event_id='e7'")["local_time"][0]) \
        == "2025-07-10 08:15:00"
    # 2025-07-05 23:30 UTC is already the 6th in Shanghai
    assert ds.sql("SELECT event_date FROM events WHERE event_id='e4'")["event_date"][0] \
        == date(2025, 7, 6)


def test_event_types_read_as_stored_only_when_canonical(
        make_dataset: Callable[..., Path]) -> None:
    """Canonical event types are read as stored (filters reach the Parquet reader); any
    upper-case or padded type switches every row to lower(trim()), with the same events."""
    import polars as pl
    from conftest import tiny_events

    clean = Dataset.open(make_dataset())
    messy_events = tiny_events().with_columns(
        pl.when(pl.col("event_id") == "e1").then(pl.lit(" Touch "))
        .when(pl.col("event_id") == "e7").then(pl.lit("REGISTER"))
        .otherwise(pl.col("event_type")).alias("event_type"))
    messy = Dataset.open(make_dataset(messy_events))
    assert clean.canonical_event_types() is True
    assert messy.canonical_event_types() is False
    query = "SELECT * EXCLUDE (month) FROM events ORDER BY event_id"
    assert messy.sql(query).equals(clean.sql(query))
    assert messy.sql("SELECT count(*) AS n FROM touches")["n"][0] == 4


def test_channel_group_lookup_matches_channel_map(tiny: Path) -> None:
    """events.channel_group is the channel_map table's group of the raw label; no label, no
    group."""
    ds = Dataset.open(tiny)
    mismatches = ds.sql(
        "SELECT count(*) AS n FROM events e LEFT JOIN channel_map m ON m.channel = e.channel "
        "WHERE e.channel_group IS DISTINCT FROM m.channel_group")
    assert mismatches["n"][0] == 0
    assert ds.sql("SELECT count(*) AS n FROM events WHERE channel IS NULL "
                  "AND channel_group IS NOT NULL")["n"][0] == 0


def test_file_facts_are_cached_per_file_stamp(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Facts that cost a scan (row count, channels, …) are read back from the cache while the
    files stay the same, and computed again once a file changes."""
    import json
    import os

    import polars as pl
    from conftest import tiny_events, write_dataset

    monkeypatch.setenv("CAMPAIGN_ROI_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "d", tiny_events(), form="parquet")
    Dataset.open(root)
    [stored] = (tmp_path / "cache").glob("*.json")
    facts = json.loads(stored.read_text(encoding="utf-8"))
    # the tiny events: 9 raw rows, one repeated event_id; their four distinct raw channels
    assert facts["event_rows"] == 9 and facts["duplicate_event_ids"] == 1
    assert facts["channels"] == ["KOL_douyin_beauty", "feed_toutiao", "mystery_src",
                                 "wechat_campus_group_1"]
    # a planted fact is believed while the files are unchanged …
    stored.write_text(json.dumps({**facts, "channels": ["planted"]}), encoding="utf-8")
    assert Dataset.open(root).sql(
        "SELECT channel FROM channel_map")["channel"].to_list() == ["planted"]
    # … and a rewritten file (new channel, one more row) is another stamp: computed again
    extra = pl.DataFrame({"user_id": ["u9"], "event_time": [tiny_events()["event_time"][0]],
                          "event_type": ["touch"], "channel": ["new_src"], "event_id": ["e99"]})
    pl.concat([tiny_events(), extra], how="diagonal_relaxed").write_parquet(
        root / "events.parquet")
    os.utime(root / "events.parquet", ns=(1, 1))  # another mtime even on coarse clocks
    ds = Dataset.open(root)
    assert ds.event_rows() == 10
    assert "new_src" in ds.sql("SELECT channel FROM channel_map")["channel"].to_list()


def test_merge_ranges() -> None:
    from campaign_roi.dataset import merge_ranges

    d = date.fromisoformat
    # Jul 1–10 and Jul 5–20 overlap, Jul 21–22 touches them; Aug 1 stands alone; the empty
    # range (start after end) holds no day
    assert merge_ranges([(d("2025-08-01"), d("2025-08-01")), (d("2025-07-05"), d("2025-07-20")),
                         (d("2025-07-01"), d("2025-07-10")), (d("2025-07-21"), d("2025-07-22")),
                         (d("2025-09-02"), d("2025-09-01"))]) == [
        (d("2025-07-01"), d("2025-07-22")), (d("2025-08-01"), d("2025-08-01"))]
    assert merge_ranges([]) == []
    # the last representable day, then another range (no day after it to compute)
    assert merge_ranges([(d("9999-12-01"), d("9999-12-31")), (d("9999-12-05"), d("9999-12-31")),
                         (d("0001-01-01"), d("2025-01-01")),
                         (d("2025-01-02"), d("2025-01-03"))]) == [
        (d("0001-01-01"), d("2025-01-03")), (d("9999-12-01"), d("9999-12-31"))]


def test_no_automatic_checkpoint_unless_the_data_is_large(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory session is not checkpointed after large writes (that compressed every
    new temp table); above the shared-tables size DuckDB's default (16 MiB) stays."""
    def threshold() -> str:
        con = Dataset.open(tiny).con
        return str(con.sql("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0])

    assert threshold() == "931.3 GiB"  # 1 TB
    monkeypatch.setattr("campaign_roi.dataset.SHARED_TABLES_MAX_ROWS", 0)
    assert threshold() == "16.0 MiB"


def test_large_data_acquisition_parts(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SHARED_TABLES_MAX_ROWS the acquisition is computed in parts of registrant days,
    fewer days per part for more rows, within the data's days."""
    ds = Dataset.open(tiny)
    monkeypatch.setattr(Dataset, "event_rows", lambda self: 533_000_000)  # 10x scale 1
    monkeypatch.setitem(ds.__dict__, "date_range", (date(2024, 7, 1), date(2025, 9, 30)))
    # 920 days × 60 M / 533 M = 103.56…: 103 days
    assert ds.acquisition_part_days() == 103
    # a report's daily trend: every registrant up to 2025-09-30, from the data's first day
    # (2024-07-01 .. 2025-09-30 is 457 days = 4 × 103 + 45)
    parts = ds._acquisition_parts([(date(1, 1, 1), date(2025, 9, 30))])
    assert parts == [(date(2024, 7, 1), date(2024, 10, 11)), (date(2024, 10, 12), date(2025, 1, 22)),
                     (date(2025, 1, 23), date(2025, 5, 5)), (date(2025, 5, 6), date(2025, 8, 16)),
                     (date(2025, 8, 17), date(2025, 9, 30))]
    # a quarter is one part; days outside the data none
    assert ds._acquisition_parts([(date(2025, 7, 1), date(2025, 9, 30)),
                                  (date(2026, 1, 1), date(2026, 3, 31))]) == [
        (date(2025, 7, 1), date(2025, 9, 30))]
    monkeypatch.setattr(Dataset, "event_rows", lambda self: 10**12)
    assert ds.acquisition_part_days() == 1  # never 0

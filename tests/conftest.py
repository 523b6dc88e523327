"""Shared fixtures: a tiny hand-written dataset (SPEC §2) written in every supported form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

CONFIG = """
timezone = "Asia/Shanghai"
currency = "CNY"
[channels]
campus_community = ["wechat_campus_*"]
kol = ["kol_*"]
feed_ads = ["feed_*"]
referral = ["invite_*"]
direct = ["app_store"]
"""


def tiny_events() -> pl.DataFrame:
    """Nine rows, naive local times (Asia/Shanghai).

    u1: campus touch, kol touch, register, order o1 (100), refund of o1 (30)
    u2: touch with an unmatched label `mystery_src`, register (invited by u1)
    p1: a touch only (a prospect, not a user)
    e9 repeats event_id e3 (u1's register): dropped, counted
    """
    rows = [
        ("u1", datetime(2025, 7, 1, 10), "touch", "wechat_campus_group_1", None, None, None, None, "e1"),
        ("u1", datetime(2025, 7, 2, 10), "touch", "KOL_douyin_beauty", "brand_collab", None, None, None, "e2"),
        ("u1", datetime(2025, 7, 3, 9), "register", None, None, None, None, None, "e3"),
        ("u1", datetime(2025, 7, 5, 23, 30), "order", None, None, 100.0, "o1", None, "e4"),
        ("u1", datetime(2025, 7, 6, 8), "refund", None, None, 30.0, "o1", None, "e5"),
        ("u2", datetime(2025, 7, 9, 12), "touch", "mystery_src", None, None, None, None, "e6"),
        ("u2", datetime(2025, 7, 10, 0, 15), "register", None, None, None, None, "u1", "e7"),
        ("p1", datetime(2025, 7, 11, 18), "touch", "feed_toutiao", None, None, None, None, "e8"),
        ("u1", datetime(2025, 7, 3, 9), "register", None, None, None, None, None, "e3"),
    ]
    cols = ["user_id", "event_time", "event_type", "channel", "campaign_id", "amount",
            "order_id", "referrer_id", "event_id"]
    return pl.DataFrame(rows, schema=dict(zip(cols, [
        pl.String, pl.Datetime("us"), pl.String, pl.String, pl.String, pl.Float64, pl.String,
        pl.String, pl.String], strict=True)), orient="row")


def tiny_spend() -> pl.DataFrame:
    return pl.DataFrame({
        "date": [date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 2)],
        "channel": ["wechat_campus_group_1", "kol", "feed_toutiao"],
        "campaign_id": [None, "brand_collab", None],
        "cost": [50.0, 80.0, 20.0],
    })


def tiny_campaigns() -> pl.DataFrame:
    return pl.DataFrame({
        "campaign_id": ["brand_collab"], "name": ["品牌联合推广"],
        "start_date": [date(2025, 7, 1)], "end_date": [date(2025, 7, 31)], "budget": [100.0],
    })


def write_dataset(root: Path, events: pl.DataFrame, form: str = "parquet_dir",
                  config: str = CONFIG, spend: pl.DataFrame | None = None,
                  campaigns: pl.DataFrame | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    half = events.height // 2
    if form == "parquet_dir":  # hive partitions
        for part, frame in (("month=2025-06", events.head(half)), ("month=2025-07",
                                                                    events.slice(half))):
            (root / "events" / part).mkdir(parents=True)
            frame.write_parquet(root / "events" / part / "part-0.parquet")
    elif form == "nested_dir":  # plain nested folders, any depth
        (root / "events" / "2025" / "07").mkdir(parents=True)
        events.head(half).write_parquet(root / "events" / "2025" / "a.parquet")
        events.slice(half).write_parquet(root / "events" / "2025" / "07" / "b.parquet")
    elif form == "parquet":
        events.write_parquet(root / "events.parquet")
    elif form == "csv":
        events.write_csv(root / "events.csv")
    elif form == "csv.gz":
        import gzip

        (root / "events.csv.gz").write_bytes(gzip.compress(events.write_csv().encode()))
    else:
        raise ValueError(form)
    if spend is not None:
        spend.write_parquet(root / "spend.parquet")
    if campaigns is not None:
        campaigns.write_csv(root / "campaigns.csv")
    if config:
        (root / "campaign_roi.toml").write_text(config, encoding="utf-8")
    return root


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(events: pl.DataFrame | None = None, form: str = "parquet_dir", **kw: object) -> Path:
        root = tmp_path / f"ds{next(counter)}"
        return write_dataset(root, tiny_events() if events is None else events, form,
                             **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def tiny(make_dataset: Callable[..., Path]) -> Path:
    return make_dataset(spend=tiny_spend(), campaigns=tiny_campaigns())


from story import story  # noqa: E402, F401  (the hand-computed KPI story fixture)


@pytest.fixture(scope="session")
def small_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed story (SPEC §9) at scale 0.002, written once by `campaign-roi generate`; for
    tests of wiring (CLI options, progress), never mutated."""
    from click.testing import CliRunner

    from campaign_roi.cli import main

    out = tmp_path_factory.mktemp("seed") / "data"
    r = CliRunner().invoke(main, ["generate", "--out", str(out), "--scale", "0.002", "--quiet"])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Derived-facts cache (campaign_roi.cache) in a temp dir, never the user's home."""
    import os

    os.environ["CAMPAIGN_ROI_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))

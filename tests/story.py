"""The hand-computed three-quarter story used by the KPI and report tests (see test_kpis)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import CONFIG

TARGETS = """
[targets."2025Q3"]
gmv = 1000
cac_max = 120
passive_share_min = 0.4
"""


def _events() -> pl.DataFrame:
    E = None
    rows = [
        # user, time, type, channel, campaign, amount, order_id, referrer
        ("a", datetime(2025, 6, 25, 9), "touch", "wechat_campus_group_3", E, E, E, E),
        ("a", datetime(2025, 7, 1, 10), "register", E, E, E, E, E),
        ("a", datetime(2025, 7, 1, 11), "campaign_join", E, "brand_collab", E, E, E),
        ("a", datetime(2025, 7, 2, 12), "order", E, E, 250.0, "oa1", E),
        ("a", datetime(2025, 8, 5, 20), "active", E, E, E, E, E),
        ("a", datetime(2025, 8, 10, 21), "order", E, E, 50.0, "oa2", E),
        ("b", datetime(2025, 7, 5, 11), "touch", "invite_link", E, E, E, E),
        ("b", datetime(2025, 7, 5, 12), "register", E, E, E, E, "a"),
        ("b", datetime(2025, 8, 5, 9), "active", E, E, E, E, E),
        ("c", datetime(2025, 7, 20, 8), "register", E, E, E, E, E),
        ("d", datetime(2025, 8, 15, 0, 10), "touch", "kol_douyin_beauty", "brand_collab", E, E, E),
        ("d", datetime(2025, 8, 15, 0, 30), "register", E, E, E, E, E),
        ("d", datetime(2025, 8, 16, 10), "order", E, E, 300.0, "od1", E),
        ("d", datetime(2025, 8, 20, 10), "refund", E, E, 100.0, "od1", E),
        ("e", datetime(2025, 4, 10, 8), "touch", "feed_toutiao", E, E, E, E),
        ("e", datetime(2025, 4, 10, 9), "register", E, E, E, E, E),
        ("e", datetime(2025, 4, 12, 9), "campaign_join", E, "spring_sale", E, E, E),
        ("e", datetime(2025, 5, 1, 9), "order", E, E, 40.0, "oe1", E),
        ("e", datetime(2025, 7, 3, 9), "order", E, E, 80.0, "oe2", E),
        ("g", datetime(2025, 5, 19, 9), "touch", "app_store", E, E, E, E),
        ("g", datetime(2025, 5, 20, 9), "register", E, E, E, E, E),
        ("h", datetime(2025, 6, 1, 9), "register", E, E, E, E, E),
        ("h", datetime(2025, 7, 10, 9), "campaign_join", E, "brand_collab", E, E, E),
        ("h", datetime(2025, 7, 12, 9), "order", E, E, 120.0, "oh1", E),
        ("f", datetime(2024, 7, 30, 9), "touch", "wechat_campus_group_1", E, E, E, E),
        ("f", datetime(2024, 8, 1, 9), "register", E, E, E, E, E),
        ("f", datetime(2025, 7, 15, 9), "active", E, E, E, E, E),
        ("f", datetime(2025, 9, 30, 23, 59), "active", E, E, E, E, E),
        ("p", datetime(2025, 9, 1, 9), "touch", "feed_toutiao", E, E, E, E),
    ]
    cols = {"user_id": pl.String, "event_time": pl.Datetime("us"), "event_type": pl.String,
            "channel": pl.String, "campaign_id": pl.String, "amount": pl.Float64,
            "order_id": pl.String, "referrer_id": pl.String}
    return pl.DataFrame(rows, schema=cols, orient="row")


def _spend() -> pl.DataFrame:
    return pl.DataFrame({
        "date": [date(2025, 7, 1), date(2025, 8, 15), date(2025, 7, 1), date(2025, 4, 10),
                 date(2025, 4, 1), date(2024, 8, 1)],
        "channel": ["wechat_campus_group_3", "kol", "kol_douyin_beauty", "feed_toutiao",
                    "feed_toutiao", "wechat_campus_group_1"],
        "campaign_id": [None, None, "brand_collab", None, "spring_sale", None],
        "cost": [300.0, 200.0, 100.0, 150.0, 50.0, 90.0],
    })


def _campaigns() -> pl.DataFrame:
    return pl.DataFrame({
        "campaign_id": ["spring_sale", "brand_collab"], "name": ["春季促销", "品牌联合推广"],
        "start_date": [date(2025, 4, 1), date(2025, 7, 1)],
        "end_date": [date(2025, 4, 30), date(2025, 7, 31)],
    })


@pytest.fixture
def story(make_dataset: Callable[..., Path]) -> Path:
    return make_dataset(_events(), form="parquet", config=CONFIG + TARGETS, spend=_spend(),
                        campaigns=_campaigns())

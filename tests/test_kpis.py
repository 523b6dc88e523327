"""KPIs (SPEC §5), channel table (§5.1) and campaign table (§5.2), checked by hand.

The dataset (Asia/Shanghai, naive local times) spans 2024Q3, 2025Q2 and 2025Q3; the data's
first day is 2024-07-30 (f's touch) and its last day 2025-09-30 (f's activity).

2025Q3 users: a (campus touch 06-25, register 07-01, joins brand_collab 07-01, orders 250 on
07-02 and 50 on 08-10, active 08-05), b (invite touch + register 07-05, invited by a, active
08-05), c (register 07-20, no touch: organic), d (kol touch + register 08-15, order 300 on
08-16, refund 100 on 08-20). Older users: e (feed touch + register 2025-04-10, joins
spring_sale 04-12, orders 40 on 05-01 and 80 on 07-03), g (app_store touch 05-19, register
05-20: direct), h (register 06-01 without touch, joins brand_collab 07-10, order 120 on 07-12),
f (campus touch 2024-07-30, register 2024-08-01, active 2025-07-15 and 2025-09-30).
p only touches (feed, 2025-09-01): a prospect.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from campaign_roi.campaigns import campaign_table
from campaign_roi.channels import channel_table
from campaign_roi.cli import main
from campaign_roi.dataset import Dataset
from campaign_roi.kpis import summary
from campaign_roi.periods import parse_period


def _rows(df: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["metric"]: r for r in df.to_dicts()}


def test_summary_2025q3_with_comparisons(story: Path) -> None:
    ds = Dataset.open(story)
    s = _rows(summary(ds, parse_period("2025Q3"), compare=True))
    v = {k: r["value"] for k, r in s.items()}
    prev = {k: r["previous"] for k, r in s.items()}
    ly = {k: r["last_year"] for k, r in s.items()}
    assert v["new_users"] == 4  # a, b, c, d
    assert prev["new_users"] == 3 and ly["new_users"] == 1  # e, g, h / f
    assert s["new_users"]["change_qoq"] == pytest.approx(1 / 3)  # (4 − 3) / 3
    assert s["new_users"]["change_yoy"] == pytest.approx(3.0)  # (4 − 1) / 1
    assert v["active_users"] == 7  # a b c d e f h (g idle, p a prospect)
    assert v["dau_peak"] == 2  # 08-05: a and b
    # 14 active user-days over the 92 days of Q3: a ×4 (07-01, 07-02, 08-05, 08-10),
    # b ×2, h ×2, d ×2, f ×2, c, e
    assert v["dau_avg"] == pytest.approx(14 / 92)
    # 2024Q3: one active day (f registers 08-01) over 2024-07-30..09-30 (63 days of data)
    assert ly["dau_avg"] == pytest.approx(1 / 63)
    assert v["payers"] == 4  # a d e h
    assert v["new_payers"] == 3  # a d h (e first paid in Q2)
    assert v["paid_conversion_rate"] == pytest.approx(4 / 7)
    assert v["gmv"] == 800.0  # 250 + 50 + 300 + 80 + 120
    assert v["refunds"] == 100.0 and v["net_revenue"] == 700.0
    assert v["spend"] == 600.0 and v["cac"] == 150.0  # (300 + 200 + 100) / 4
    assert prev["cac"] == pytest.approx(200 / 3)  # (150 + 50) / 3
    # paid groups: a campus, d kol → 600 / 2; passive: b referral, c organic → 2 / 4
    assert v["paid_cac"] == 300.0 and v["passive_share"] == 0.5
    assert prev["passive_share"] == pytest.approx(2 / 3)  # g direct, h organic of e g h
    assert v["campaign_roi"] == pytest.approx(3.7)  # brand_collab (250 + 120) / 100
    assert prev["campaign_roi"] == pytest.approx(0.8)  # spring_sale 40 / 50
    # m1 cohort: registered by 08-02 (window ends by 09-30): a, b retained; c not
    assert v["m1_retention"] == pytest.approx(2 / 3)
    assert v["invitee_m1_retention"] == 1.0  # b
    assert prev["m1_retention"] == pytest.approx(1 / 3)  # h joined 07-10 (day 39); e, g not
    # pairs (a, July: 250) retained in August; (d, August: 300) not active in September;
    # September has no October in the data
    assert v["high_value_retention"] == 0.5
    assert v["m3_payer_retention"] is None  # no Q3 payer has a complete day 90–119 window
    assert prev["m3_payer_retention"] == 0.0  # e: first order 05-01, idle on days 90–119
    assert ly["paid_conversion_rate"] == 0.0 and ly["campaign_roi"] is None
    # targets: gmv 800 / 1000; cac_max 120 / 150; passive_share_min 0.5 / 0.4
    assert s["gmv"]["target"] == 1000 and s["gmv"]["attainment"] == pytest.approx(0.8)
    assert s["cac"]["attainment"] == pytest.approx(0.8)
    assert s["passive_share"]["attainment"] == pytest.approx(1.25)
    assert s["new_users"]["target"] is None


def test_period_without_data_is_null_not_zero(story: Path) -> None:
    s = _rows(summary(Dataset.open(story), parse_period("2023Q1")))
    assert all(r["value"] is None for r in s.values())


def test_channel_table_2025q3(story: Path) -> None:
    t = channel_table(Dataset.open(story), parse_period("2025Q3"))
    rows = {r["channel"]: r for r in t.to_dicts()}
    assert list(t.columns) == ["channel", "spend", "touches", "new_users", "paid_rate",
                               "first_orders", "revenue", "cac", "roas", "roi_net"]
    campus, kol = rows["campus_community"], rows["kol"]
    # campus: 300 spend, a registered (paid by 09-30), a's orders 250 + 50 (touch 06-25 is
    # within 90 days of both), no Q3 touch
    assert (campus["spend"], campus["touches"], campus["new_users"], campus["paid_rate"],
            campus["first_orders"], campus["revenue"]) == (300.0, 0, 1.0, 1.0, 1.0, 300.0)
    assert (campus["cac"], campus["roas"], campus["roi_net"]) == (300.0, 1.0, 0.0)
    # kol: 200 + 100 (campaign row, channel kol_douyin_beauty) spend; d: 300 revenue
    assert (kol["spend"], kol["touches"], kol["new_users"], kol["revenue"]) == (300.0, 1, 1.0, 300.0)
    assert rows["referral"]["new_users"] == 1.0 and rows["referral"]["paid_rate"] == 0.0
    assert rows["referral"]["cac"] == 0.0  # no referral spend rows: 0 spend ÷ 1 user
    assert rows["organic"]["new_users"] == 1.0  # c
    assert rows["organic"]["revenue"] == 120.0  # h's order, no touch
    assert rows["feed_ads"]["revenue"] == 80.0  # e's 07-03 order, feed touch 04-10 (84 days)
    assert rows["feed_ads"]["roas"] is None  # 80 ÷ 0 spend → null, never inf
    assert sum(r["new_users"] for r in rows.values()) == 4


def test_campaign_table(story: Path) -> None:
    t = campaign_table(Dataset.open(story))
    rows = {r["campaign_id"]: r for r in t.to_dicts()}
    bc = rows["brand_collab"]
    # participants a (07-01) and h (07-10); converting orders up to 07-31 + 7 days:
    # a 250 (07-02), h 120 (07-12); a's 08-10 order is too late
    assert (bc["participants"], bc["converted_payers"], bc["revenue"], bc["cost"]) == (
        2, 2, 370.0, 100.0)
    assert bc["roi"] == pytest.approx(3.7) and bc["cost_per_participant"] == 50.0
    assert bc["conversion_rate"] == 1.0 and bc["cost_per_payer"] == 50.0
    # last_non_direct over all orders: d's 300 order credited to its kol touch of brand_collab
    assert bc["attributed_revenue"] == 300.0
    assert rows["spring_sale"]["roi"] == pytest.approx(0.8)
    q3 = campaign_table(Dataset.open(story), parse_period("2025Q3"))
    assert q3["campaign_id"].to_list() == ["brand_collab"]


def test_cli_summary_channels_campaigns(story: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["summary", "--data", str(story), "--period", "2025Q3",
                             "--compare", "--format", "json"])
    assert r.exit_code == 0, r.output
    import json

    rows = json.loads(r.output)
    assert list(rows[0]) == ["metric", "value", "previous", "change_qoq", "last_year",
                             "change_yoy", "target", "attainment"]
    r = runner.invoke(main, ["campaigns", "--data", str(story)])
    assert r.exit_code == 0 and "1:3.70" in r.output
    r = runner.invoke(main, ["campaigns", "--data", str(story), "--format", "csv"])
    assert "3.7" in r.output and "1:3.70" not in r.output
    r = runner.invoke(main, ["campaign", "brand_collab", "--data", str(story)])
    assert r.exit_code == 0 and "converted_payers" in r.output
    r = runner.invoke(main, ["campaign", "nope", "--data", str(story)])
    assert r.exit_code == 1 and "nope" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["summary", "--data", str(story), "--period", "2025Q5"])
    assert r.exit_code == 1 and "--period" in r.output
    r = runner.invoke(main, ["channels", "--data", str(story), "--period", "2025Q3",
                             "--compare", "--format", "csv"])
    assert r.exit_code == 0 and "new_users_previous" in r.output.splitlines()[0]


def test_metrics_doc_is_generated_from_the_definitions() -> None:
    from campaign_roi.metrics import KPIS, metrics_markdown

    text = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert text == metrics_markdown(), "regenerate: python -m campaign_roi.metrics > docs/metrics.md"
    assert all(f"`{k}`" in text for k in KPIS)


def test_campaign_detail_daily_series(story: Path) -> None:
    from campaign_roi.campaigns import campaign_detail

    detail = campaign_detail(Dataset.open(story), "brand_collab")
    # joins: a 07-01, h 07-10; converting orders: a 250 on 07-02, h 120 on 07-12
    # (a's 08-10 order is after end_date + 7 days)
    assert detail["daily"].rows() == [
        (date(2025, 7, 1), 1, 0, 0.0), (date(2025, 7, 2), 0, 1, 250.0),
        (date(2025, 7, 10), 1, 0, 0.0), (date(2025, 7, 12), 0, 1, 120.0)]
    assert detail["funnel"]["users"].to_list() == [2, 2]


def test_daily_by_channel_agrees_with_the_users_view(story: Path) -> None:
    """The report's daily trend reads conversions + acquisition; the users view (one row per
    user with register_date and acquisition_channel) gives the same figures."""
    from campaign_roi.report_data import daily_frame

    ds = Dataset.open(story)
    period = parse_period("2025Q3")
    got = daily_frame(ds, period)
    want = ds.sql("""
        WITH n AS (SELECT register_date AS date, acquisition_channel AS channel,
                          count(*) AS new_users
                   FROM users WHERE register_date BETWEEN $start AND $end GROUP BY ALL),
             r AS (SELECT o.event_date AS date,
                          coalesce(u.acquisition_channel, 'unregistered') AS channel,
                          sum(o.amount) AS revenue
                   FROM orders o LEFT JOIN users u USING (user_id)
                   WHERE o.event_date BETWEEN $start AND $end GROUP BY ALL)
        SELECT date, channel, coalesce(new_users, 0) AS new_users,
               coalesce(revenue, 0.0) AS revenue
        FROM n FULL OUTER JOIN r USING (date, channel) ORDER BY date, channel
    """, {"start": period.start, "end": period.end})
    assert got.rows() == want.rows()
    # a (campus 07-01), b (referral 07-05), c (organic 07-20), d (kol 08-15)
    assert sorted(got.filter(pl.col("new_users") > 0)["channel"].to_list()) == [
        "campus_community", "kol", "organic", "referral"]
    # e (feed touch, registered 04-10) and h (no touch, 06-01) registered before the period
    # and ordered in it: their orders count under their own acquisition channel
    assert (date(2025, 7, 3), "feed_ads", 0, 80.0) in got.rows()
    assert (date(2025, 7, 12), "organic", 0, 120.0) in got.rows()

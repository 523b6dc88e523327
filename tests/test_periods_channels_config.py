"""Periods (SPEC §5), channel-group mapping (§3) and the config file."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_roi.channel_groups import group_of, is_unmatched, map_channels
from campaign_roi.config import Config, load_config, parse_config
from campaign_roi.errors import DataError, UserError
from campaign_roi.periods import Period, date_range, day, month, parse_period, quarter, week

SRC = Path("campaign_roi.toml")


# -- periods -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "start", "end", "kind", "label"), [
    ("2025Q3", date(2025, 7, 1), date(2025, 9, 30), "quarter", "2025Q3"),
    ("2025-q4", date(2025, 10, 1), date(2025, 12, 31), "quarter", "2025Q4"),
    ("2025-08", date(2025, 8, 1), date(2025, 8, 31), "month", "2025-08"),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month", "2024-02"),  # leap year
    ("2025-W32", date(2025, 8, 4), date(2025, 8, 10), "week", "2025-W32"),  # ISO: Monday
    ("2025-w1", date(2024, 12, 30), date(2025, 1, 5), "week", "2025-W01"),
    ("2026-W53", date(2026, 12, 28), date(2027, 1, 3), "week", "2026-W53"),
    ("2025-08-15", date(2025, 8, 15), date(2025, 8, 15), "day", "2025-08-15"),
    (" 2025Q1 ", date(2025, 1, 1), date(2025, 3, 31), "quarter", "2025Q1"),
])
def test_parse_every_form(text: str, start: date, end: date, kind: str, label: str) -> None:
    p = parse_period(text)
    assert (p.start, p.end, p.kind, p.label) == (start, end, kind, label)


def test_from_to_range() -> None:
    p = parse_period(None, "2025-07-01", "2025-07-10")
    assert (p.start, p.end, p.kind, p.days) == (date(2025, 7, 1), date(2025, 7, 10), "range", 10)
    # previous: the 10 days before; last year: the same dates a year earlier
    assert (p.previous().start, p.previous().end) == (date(2025, 6, 21), date(2025, 6, 30))
    assert (p.last_year().start, p.last_year().end) == (date(2024, 7, 1), date(2024, 7, 10))


@pytest.mark.parametrize(("text", "message"), [
    ("2025Q5", "is not a period"),
    ("2025-13", "month must be in 1..12"),
    ("2025-00", "month must be in 1..12"),
    ("2025-W53", "2025 has no ISO week 53"),
    ("2025-W00", "has no ISO week 0"),
    ("2025-02-29", "day is out of range"),
    ("last quarter", "is not a period"),
    ("2025/08", "is not a period"),
])
def test_bad_periods(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_period(text)


def test_bad_ranges() -> None:
    with pytest.raises(UserError, match="before --from"):
        parse_period(None, "2025-07-10", "2025-07-01")
    with pytest.raises(UserError, match="not both"):
        parse_period("2025Q3", "2025-07-01", "2025-07-10")
    with pytest.raises(UserError, match="a period is needed"):
        parse_period(None, "2025-07-01", None)
    with pytest.raises(UserError, match="--from '07/01/2025' is not a date"):
        parse_period(None, "07/01/2025", "2025-07-10")


@pytest.mark.parametrize(("p", "prev", "ly"), [
    (quarter(2025, 1), "2024Q4", "2024Q1"),
    (quarter(2025, 3), "2025Q2", "2024Q3"),
    (month(2025, 1), "2024-12", "2024-01"),
    (week(2025, 1), "2024-W52", "2024-W01"),
    (week(2027, 1), "2026-W53", "2026-W01"),
    (week(2026, 53), "2026-W52", "2025-W52"),  # 2025 has 52 weeks: W53 → W52
    (day(date(2024, 2, 29)), "2024-02-28", "2023-02-28"),  # 29 Feb → 28 Feb
    (day(date(2025, 3, 1)), "2025-02-28", "2024-03-01"),
])
def test_previous_and_last_year(p: Period, prev: str, ly: str) -> None:
    assert p.previous().label == prev
    assert p.last_year().label == ly


def test_range_ending_on_29_february_last_year() -> None:
    p = date_range(date(2024, 2, 20), date(2024, 2, 29))
    assert (p.last_year().start, p.last_year().end) == (date(2023, 2, 20), date(2023, 2, 28))


periods = st.one_of(
    st.builds(quarter, st.integers(1990, 2100), st.integers(1, 4)),
    st.builds(month, st.integers(1990, 2100), st.integers(1, 12)),
    st.dates(date(1990, 1, 8), date(2100, 12, 31)).map(
        lambda d: week(*d.isocalendar()[:2])),
    st.dates(date(1990, 1, 2), date(2100, 12, 31)).map(day),
)


@settings(max_examples=300, deadline=None)
@given(periods)
def test_previous_ends_the_day_before(p: Period) -> None:
    prev = p.previous()
    assert prev.end + timedelta(days=1) == p.start
    assert prev.kind == p.kind
    assert parse_period(p.label) == p  # labels round-trip


@settings(max_examples=300, deadline=None)
@given(periods)
def test_last_year_is_the_same_kind_a_year_earlier(p: Period) -> None:
    ly = p.last_year()
    assert ly.kind == p.kind
    assert int(ly.label[:4]) == int(p.label[:4]) - 1  # ISO year for weeks
    assert 350 <= (p.start - ly.start).days <= 372


# -- channel groups ----------------------------------------------------------------------
CFG = parse_config({"channels": {
    "kol": ["kol_*", "*_influencer"],
    "feed_ads": ["feed_*", "kol_feed_*"],  # kol_feed_x: kol's rule comes first and wins
    "referral": ["invite*"],
    "other": ["junk_*"],
}}, SRC)


@pytest.mark.parametrize(("raw", "group"), [
    ("KOL", "kol"),  # a group name maps to itself, case-insensitively
    (" Feed_Ads ", "feed_ads"),
    ("direct", "direct"),
    ("campus_community", "campus_community"),
    ("kol_douyin", "kol"),
    ("Douyin_Influencer", "kol"),
    ("kol_feed_x", "kol"),  # first rule wins
    ("FEED_toutiao", "feed_ads"),
    ("invite_friend", "referral"),
    ("junk_1", "other"),
    ("mystery", "other"),
    ("", "other"),
])
def test_group_of(raw: str, group: str) -> None:
    assert group_of(raw, CFG) == group


def test_group_names_win_over_rules() -> None:
    cfg = parse_config({"channels": {"kol": ["*"]}}, SRC)
    assert group_of("referral", cfg) == "referral"
    assert group_of("anything", cfg) == "kol"


def test_unmatched_excludes_labels_ruled_to_other() -> None:
    assert is_unmatched("mystery", CFG)
    assert not is_unmatched("junk_1", CFG)  # a rule sends it to other on purpose
    assert not is_unmatched("other", CFG)
    assert not is_unmatched("kol_x", CFG)


def test_custom_groups_are_known() -> None:
    cfg = parse_config({"channels": {"search_ads": ["sem_*"]},
                        "groups": {"paid": ["kol", "search_ads"]}}, SRC)
    assert "search_ads" in cfg.groups and group_of("Search_Ads", cfg) == "search_ads"
    assert map_channels(["sem_baidu", "x"], cfg) == {"sem_baidu": "search_ads", "x": "other"}


globs = st.text(alphabet="abk_*?l", min_size=1, max_size=6)
group_names = st.sampled_from(["kol", "feed_ads", "referral", "direct", "other", "extra_grp"])


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=12), rules=st.lists(st.tuples(group_names, globs), max_size=6))
def test_mapping_is_total(raw: str, rules: list[tuple[str, str]]) -> None:
    channels: dict[str, list[str]] = {}
    for g, glob in rules:
        channels.setdefault(g, []).append(glob)
    cfg = parse_config({"channels": channels}, SRC)
    g = group_of(raw, cfg)
    assert g in cfg.groups  # exactly one known group, never None
    assert group_of(raw, cfg) == g  # deterministic
    assert is_unmatched(raw, cfg) <= (g == "other")


# -- config ------------------------------------------------------------------------------
def test_defaults() -> None:
    c = load_config(None)
    assert c == Config()
    assert (c.timezone, c.paid, c.passive) == ("UTC", ("campus_community", "kol", "feed_ads"),
                                               ("referral", "organic", "direct"))


def test_full_config(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("""
timezone = "Asia/Shanghai"
currency = "CNY"
[channels]
kol = ["kol_*"]
[groups]
paid = ["kol"]
passive = ["referral", "organic"]
[lookback_days]
register = 14
[attribution]
half_life_days = 3.5
[thresholds]
high_value_order_total = 500
[lifecycle]
dormant_days = 30
[targets.2025Q4]
new_users = 1000
cac_max = 25.5
[engine]
threads = 2
memory_limit = "1GB"
""", encoding="utf-8")
    c = load_config(f)
    assert c.channel_rules == (("kol", "kol_*"),)
    assert c.paid == ("kol",) and c.passive == ("referral", "organic")
    assert c.lookback_days == {"register": 14.0, "first_order": 90.0, "order": 90.0}
    assert (c.half_life_days, c.high_value_order_total) == (3.5, 500.0)
    assert c.lifecycle == {"dormant_days": 30}
    assert c.targets == {"2025Q4": {"new_users": 1000.0, "cac_max": 25.5}}
    assert (c.threads, c.memory_limit, c.source) == (2, "1GB", f)


@pytest.mark.parametrize(("raw", "key"), [
    ({"timezon": "UTC"}, "`timezon` is not a known setting"),
    ({"timezone": 8}, "`timezone`"),
    ({"currency": 1}, "`currency`"),
    ({"channels": ["kol_*"]}, "`channels` must be a table"),
    ({"channels": {"kol": [1]}}, "`channels.kol` must be a list of strings"),
    ({"channels": {"organic": ["seo_*"]}}, "`channels.organic`"),
    ({"groups": "kol"}, "`groups` must be a table"),
    ({"groups": {"paid": ["kols"]}}, "`groups.paid` names 'kols'"),
    ({"groups": {"payd": ["kol"]}}, "`groups.payd` is not a known setting"),
    ({"lookback_days": {"signup": 3}}, "`lookback_days.signup` is not a known setting"),
    ({"lookback_days": {"register": -1}}, "`lookback_days.register` must be a number >= 0"),
    ({"lookback_days": {"register": True}}, "`lookback_days.register`"),
    ({"attribution": {"half_life_days": 0}}, "`attribution.half_life_days`"),
    ({"attribution": {"half_life": 3}}, "`attribution.half_life` is not a known setting"),
    ({"thresholds": {"high_value_order_total": "200"}}, "`thresholds.high_value_order_total`"),
    ({"targets": {"2025Q4": 3}}, "`targets.2025Q4` must be a table"),
    ({"targets": {"2025Q4": {"gmv": "lots"}}}, "`targets.2025Q4.gmv`"),
    ({"engine": {"threads": 0}}, "`engine.threads`"),
    ({"engine": {"threads": True}}, "`engine.threads`"),
    ({"engine": {"memory_limit": 2}}, "`engine.memory_limit`"),
    ({"lifecycle": 3}, "`lifecycle` must be a table"),
])
def test_config_errors_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(DataError, match="campaign_roi.toml: key " + _re(key)):
        parse_config(raw, SRC)


def _re(text: str) -> str:
    import re

    return re.escape(text)

"""Deterministic synthetic "seed story" dataset (SPEC §9).

The dataset tells the Q3 story of the seed team (2024-07-01 .. 2025-09-30, Asia/Shanghai,
CNY).  It is built *by construction*, so the §9 figures hold at ``scale=1`` without any
fitting loop:

1. users: new users per (quarter, acquisition group) are fixed counts, spread over days by
   group-specific curves (campus surge at back-to-school, KOL during ``brand_collab`` ...);
   a base of users registered before the data window is added;
2. activity: every user has 30-day windows after registering that are "alive" or not (the
   day-30..59 window is alive for exactly the M1 share of each monthly cohort); an alive
   window holds at least one active day, and the daily activity of the alive users is
   scaled so that the distinct active users per day follow a designed DAU curve;
3. campaigns, orders and amounts per quarter: participants, converted payers, payers
   (a given share of the quarter's active users), new payers, per-group paid rates,
   month totals permuted so that high-value users keep the designed next-month activity,
   and GMV scaled to its target;
4. touches: for each new user the last non-direct touch within 30 days before registering
   belongs to their acquisition group (organic users have none in that window, direct
   users only direct ones), with earlier touches of other channels and direct touches
   after it, so that attribution models disagree; plus touches after registration and
   touches of prospects who never register;
5. spend: campaign costs follow the campaign ROI targets, channel spend the CAC targets.

Everything is vectorised numpy/Polars; the only Python loops are over days, months,
quarters, campaigns and groups.  The same seed gives byte-identical files.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from campaign_roi.errors import UserError

__all__ = ["CONFIG_TOML", "END", "START", "GenerateSummary", "config_toml", "generate_dataset"]

IntArr = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]
FloatArr = npt.NDArray[np.float64]

START = date(2024, 7, 1)
END = date(2025, 9, 30)
NDAYS = (END - START).days + 1  # 457
DAY_US = 86_400_000_000
MONTHS: list[tuple[int, int]] = [(2024, m) for m in range(7, 13)] + [(2025, m) for m in range(1, 10)]
NWIN = 17  # 30-day windows overlapping the data range per user

GROUPS = ["campus_community", "kol", "feed_ads", "other", "referral", "organic", "direct"]
G_CAMPUS, G_KOL, G_FEED, G_OTHER, G_REFERRAL, G_ORGANIC, G_DIRECT = range(7)

# ----------------------------------------------------------------------------- story

# New users (first register) per quarter and acquisition group at scale 1.  The group is
# the last_non_direct attribution of the register (30-day lookback) by construction.
NEW_USERS: dict[str, list[int]] = {
    #          campus   kol    feed  other  referral organic direct
    "2024Q3": [70_000, 40_000, 55_000, 3_900, 35_000, 38_000, 12_000],  # 253,900
    "2024Q4": [60_000, 45_000, 60_000, 4_000, 40_000, 40_000, 13_000],  # 262,000
    "2025Q1": [55_000, 48_000, 65_000, 4_000, 45_000, 40_000, 13_000],  # 270,000
    "2025Q2": [82_000, 45_000, 53_000, 3_690, 50_000, 36_000, 12_910],  # 282,600, 35 % passive
    "2025Q3": [113_000, 31_000, 22_000, 3_000, 87_000, 52_000, 17_000],  # 325,000, 48 % passive
}
PRE_EXISTING_USERS = 560_000  # registered before 2024-07-01 (no register event in the data)
PROSPECTS = 1_200_000  # ids with touches only


@dataclass(frozen=True)
class QuarterStory:
    name: str
    first: date
    last: date
    payer_rate: float  # payers / active users
    new_payers: int | None  # absolute at scale 1, or None: new_payer_share of payers
    new_payer_share: float
    gmv: float
    cac: float
    campaign_roi: float
    reg_paid: tuple[float, ...]  # share of the quarter's registrants per group paying in it


QUARTERS: list[QuarterStory] = [
    QuarterStory("2024Q3", date(2024, 7, 1), date(2024, 9, 30), 0.055, None, 1.0, 11_300_000,
                 72, 2.45, (0.08, 0.075, 0.07, 0.05, 0.08, 0.06, 0.07)),
    QuarterStory("2024Q4", date(2024, 10, 1), date(2024, 12, 31), 0.058, None, 0.70, 13_200_000,
                 78, 2.9, (0.08, 0.075, 0.07, 0.05, 0.08, 0.06, 0.07)),
    QuarterStory("2025Q1", date(2025, 1, 1), date(2025, 3, 31), 0.057, None, 0.66, 13_000_000,
                 82, 2.5, (0.075, 0.07, 0.065, 0.05, 0.075, 0.06, 0.065)),
    QuarterStory("2025Q2", date(2025, 4, 1), date(2025, 6, 30), 0.062, None, 0.64, 15_100_000,
                 85, 2.71, (0.075, 0.07, 0.065, 0.05, 0.075, 0.06, 0.065)),
    QuarterStory("2025Q3", date(2025, 7, 1), date(2025, 9, 30), 0.078, 41_000, 0.0, 18_600_000,
                 62, 3.2, (0.102, 0.07, 0.065, 0.05, 0.06, 0.05, 0.055)),
]

# DAU design (scale 1): piecewise-linear base, weekday factors, and one designated peak day
# per quarter whose value is the quarter's peak (others capped 3 % below it).
DAU_KNOTS: list[tuple[date, float]] = [
    (date(2024, 7, 1), 76_000), (date(2024, 8, 20), 80_000), (date(2024, 9, 1), 90_000),
    (date(2024, 9, 25), 84_000), (date(2024, 12, 31), 90_000), (date(2025, 2, 15), 94_000),
    (date(2025, 4, 1), 98_000), (date(2025, 6, 15), 104_000), (date(2025, 6, 30), 101_000),
    (date(2025, 8, 12), 106_000), (date(2025, 8, 31), 121_000), (date(2025, 9, 15), 112_000),
    (date(2025, 9, 30), 107_000),
]
DAU_WEEKDAY = [0.97, 0.96, 0.97, 0.98, 1.0, 1.06, 1.06]  # Mon..Sun
DAU_PEAKS: dict[date, float] = {
    date(2024, 9, 1): 96_000, date(2024, 11, 11): 99_000, date(2025, 2, 9): 100_000,
    date(2025, 6, 18): 114_300, date(2025, 8, 31): 128_000,
}

# M1 retention (alive day-30..59 window) per register month: (all, invitees)
M1_BY_YEAR = {2024: (0.49, 0.66), 2025: (0.52, 0.68)}
HV_NEXT_ACTIVE = 0.45  # high-value (user, month) pairs active next month, 2025-07/08
HV_NEXT_ACTIVE_OTHER = 0.50
HV_THRESHOLD_CENTS = 20_000


@dataclass(frozen=True)
class CampaignStory:
    campaign_id: str
    name: str
    start: date
    end: date
    participants: int  # scale 1
    converted: int  # scale 1
    roi_weight: float  # relative ROI inside its quarter
    pool: str  # "new" | "old" | "any"
    join: str  # "first" | "random"
    spend_channel: str
    touch_labels: tuple[str, ...]


CAMPAIGNS: list[CampaignStory] = [
    CampaignStory("bts_2024", "2024开学季新人礼", date(2024, 8, 20), date(2024, 9, 15), 95_000, 5_000,
                  1.0, "new", "first", "campus_community", ("wechat_campus_group_3", "campus_ambassador_pku")),
    CampaignStory("double11_2024", "双十一狂欢节", date(2024, 11, 1), date(2024, 11, 11), 120_000, 8_000,
                  1.0, "any", "random", "feed_toutiao_18_25", ("feed_toutiao_18_25", "feed_douyin_18_25")),
    CampaignStory("spring_2025", "新春红包季", date(2025, 1, 20), date(2025, 2, 10), 90_000, 5_000,
                  1.0, "any", "random", "feed_douyin_18_25", ("feed_douyin_18_25",)),
    CampaignStory("mayday_2025", "五一出游季", date(2025, 4, 28), date(2025, 5, 6), 60_000, 3_500,
                  0.9, "any", "random", "kol_xiaohongshu_campus", ("kol_xiaohongshu_campus",)),
    CampaignStory("mid618_2025", "618年中大促", date(2025, 6, 1), date(2025, 6, 20), 150_000, 11_000,
                  1.05, "any", "random", "feed_ads", ("feed_toutiao_18_25", "feed_gdt_students")),
    CampaignStory("back_to_school", "开学季新人礼", date(2025, 8, 10), date(2025, 9, 15), 140_000, 9_000,
                  0.9, "new", "first", "campus_community", ("wechat_campus_group_12", "campus_ambassador_whu")),
    CampaignStory("winback", "老用户召回计划", date(2025, 7, 10), date(2025, 8, 10), 127_000, 6_000,
                  0.85, "old", "random", "feed_retarget_winback", ("feed_retarget_winback",)),
    CampaignStory("brand_collab", "品牌联合推广", date(2025, 7, 20), date(2025, 9, 10), 185_000, 21_000,
                  1.15, "any", "random", "kol",
                  ("kol_douyin_beauty", "kol_bilibili_digital", "kol_xiaohongshu_campus")),
]

# Raw channel labels per group (the [channels] globs map them; "other" ones match nothing).
LABELS: dict[int, list[tuple[str, float]]] = {
    G_CAMPUS: [(f"wechat_campus_group_{i}", 1.0 / (i ** 0.6)) for i in range(1, 25)]
    + [("WeChat_Campus_Group_12", 0.3), ("campus_ambassador_pku", 0.4), ("campus_ambassador_whu", 0.35)],
    G_KOL: [("kol_douyin_beauty", 1.0), ("kol_bilibili_digital", 0.8), ("kol_xiaohongshu_campus", 0.6),
            ("kol_weibo_fashion", 0.3), ("KOL_Douyin_Beauty", 0.1)],
    G_FEED: [("feed_toutiao_18_25", 1.0), ("feed_douyin_18_25", 0.9), ("feed_gdt_students", 0.5),
             ("feed_kuaishou_general", 0.3), ("feed_retarget_winback", 0.05)],
    G_OTHER: [("xhs_note_unknown", 1.0), ("offline_poster", 0.6), ("zhihu_answer", 0.5), ("sms_blast", 0.3)],
    G_REFERRAL: [("invite_link", 1.0), ("invite_qrcode", 0.35)],
    G_DIRECT: [("direct", 1.0), ("app_store", 0.7), ("brand_search", 0.3), ("Direct", 0.05)],
}

CONFIG_TOML = """\
timezone = "Asia/Shanghai"
currency = "CNY"

[channels]            # group = [case-insensitive globs over raw channel labels]
campus_community = ["wechat_campus_*", "campus_ambassador_*"]
kol = ["kol_*"]
feed_ads = ["feed_*"]
referral = ["invite_*"]
direct = ["direct", "app_store", "brand_search"]

[groups]
paid = ["campus_community", "kol", "feed_ads"]
passive = ["referral", "organic", "direct"]

[lookback_days]
register = 30
first_order = 90
order = 90

[thresholds]
high_value_order_total = 200

[targets."2025Q3"]
gmv = {gmv_2025q3}

[targets."2025Q4"]
gmv = {gmv_2025q4}
cac_max = 55
campaign_roi_min = 3.5
m3_payer_retention_min = 0.58
"""



def config_toml(scale: float) -> str:
    """The dataset's config. Money targets scale with the data (counts and money scale
    linearly, rates do not): at scale 1 the GMV targets are the team's 17,714,000 and
    22,000,000."""
    return CONFIG_TOML.format(gmv_2025q3=round(17_714_000 * scale, 2),
                              gmv_2025q4=round(22_000_000 * scale, 2))


# Hour-of-day weights (local time) for events.
HOUR_WEIGHTS = np.array([0.6, 0.3, 0.2, 0.15, 0.15, 0.2, 0.5, 1.2, 1.8, 2.0, 2.0, 2.2,
                         2.6, 2.2, 2.0, 2.0, 2.1, 2.3, 2.8, 3.4, 3.8, 3.9, 3.2, 1.8])
HOUR_CDF = np.cumsum(HOUR_WEIGHTS) / HOUR_WEIGHTS.sum()

TYPE_NAMES = ["touch", "register", "active", "campaign_join", "order", "refund"]
T_TOUCH, T_REGISTER, T_ACTIVE, T_JOIN, T_ORDER, T_REFUND = range(6)


# ----------------------------------------------------------------------------- helpers


@dataclass
class GenerateSummary:
    """What :func:`generate_dataset` wrote."""

    out_dir: Path
    rows: dict[str, int]  # event rows per event_type, plus "spend" and "campaigns"
    users: int  # ids with a register/active/campaign_join/order event
    seconds: float
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes
    notes: list[str] = field(default_factory=list)  # construction shortfalls (empty = exact)


def _rng(seed: int, stage: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stage])))


def _day(d: date) -> int:
    return (d - START).days


def _apportion(total: int, weights: FloatArr) -> IntArr:
    """Integer counts summing exactly to ``total``, proportional to weights (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = int(total - base.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(w)), -(exact - base)))
        base[order[:rest]] += 1
    return np.asarray(base, dtype=np.int64)


def _sample_tod(rng: np.random.Generator, n: int) -> IntArr:
    """Microseconds since local midnight, evening-heavy."""
    hours = np.searchsorted(HOUR_CDF, rng.random(n), side="right")
    hours = np.minimum(hours, 23)
    return hours.astype(np.int64) * 3_600_000_000 + rng.integers(0, 3_600_000_000, n)


def _tod_after(rng: np.random.Generator, lower: IntArr) -> IntArr:
    """Time of day with a lower bound (µs since midnight, -1 = none): lower < t < one day."""
    tod = _sample_tod(rng, len(lower))
    has = lower >= 0
    if has.any():
        lo = lower[has] + 1
        span = np.maximum(DAY_US - lo, 1)
        tod[has] = lo + np.floor(rng.random(int(has.sum())) * span).astype(np.int64)
        tod[has] = np.minimum(tod[has], DAY_US - 1)
    return tod


def _pick(rng: np.random.Generator, pool: IntArr, n: int,
          weights: FloatArr | None = None) -> IntArr:
    """n distinct elements of a sorted pool, at random (weighted without replacement)."""
    n = min(int(n), len(pool))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    u = rng.random(len(pool))
    keys = u if weights is None else -np.log(np.maximum(u, 1e-300)) / weights
    idx = np.argsort(keys, kind="stable")[:n]
    return np.sort(pool[idx])


def _random_row_per_user(rng: np.random.Generator, users: IntArr, mask: BoolArr
                         ) -> tuple[IntArr, IntArr, IntArr]:
    """For rows sorted by user: (distinct users with a masked row, one random masked row
    index each, number of masked rows each)."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    uu, start, cnt = np.unique(users[rows], return_index=True, return_counts=True)
    pick = start + np.floor(rng.random(len(uu)) * cnt).astype(np.int64)
    return uu.astype(np.int64), rows[pick], cnt.astype(np.int64)


def _labels_table() -> tuple[list[str], IntArr, dict[str, int]]:
    names: list[str] = []
    groups: list[int] = []
    for g, items in LABELS.items():
        for name, _w in items:
            names.append(name)
            groups.append(g)
    return names, np.array(groups, dtype=np.int64), {n: i for i, n in enumerate(names)}


LABEL_NAMES, LABEL_GROUP, LABEL_INDEX = _labels_table()


def _draw_labels(rng: np.random.Generator, group: IntArr) -> IntArr:
    """A raw label index for each group code (Zipf-ish weights inside the group)."""
    out = np.full(len(group), -1, dtype=np.int64)
    for g, items in LABELS.items():
        sel = np.flatnonzero(group == g)
        if len(sel) == 0:
            continue
        w = np.array([x[1] for x in items])
        cdf = np.cumsum(w) / w.sum()
        k = np.minimum(np.searchsorted(cdf, rng.random(len(sel)), side="right"), len(items) - 1)
        out[sel] = np.array([LABEL_INDEX[x[0]] for x in items])[k]
    return out


def _mix_groups(rng: np.random.Generator, n: int, weights: list[float]) -> IntArr:
    w = np.array(weights, dtype=np.float64)
    cdf = np.cumsum(w) / w.sum()
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(w) - 1).astype(np.int64)


def _month_index_of_days() -> IntArr:
    out = np.zeros(NDAYS, dtype=np.int64)
    for i, (y, m) in enumerate(MONTHS):
        a = _day(date(y, m, 1))
        b = _day(date(y + (m == 12), m % 12 + 1, 1)) if (y, m) != MONTHS[-1] else NDAYS
        out[a:b] = i
    return out


MONTH_OF_DAY = _month_index_of_days()
WEEKDAY_OF_DAY = np.array([(START + timedelta(days=i)).weekday() for i in range(NDAYS)])


def _bump(days: IntArr, center: date, width: float) -> FloatArr:
    return np.asarray(np.exp(-0.5 * ((days - _day(center)) / width) ** 2), dtype=np.float64)


# ----------------------------------------------------------------------------- stage 1: users


@dataclass
class Users:
    n_pre: int
    n_new: int
    reg_day: IntArr  # per user; pre-existing: virtual negative day
    reg_time: IntArr  # µs since START, new users only meaningful (pre: -1)
    group: IntArr  # acquisition group (new users), -1 for pre-existing
    referrer: IntArr  # user index or -1
    q: FloatArr  # daily activity propensity

    @property
    def n(self) -> int:
        return self.n_pre + self.n_new

    @property
    def has_reg(self) -> BoolArr:
        return np.asarray(np.arange(self.n) >= self.n_pre)

    def reg_tod_on(self, users: IntArr, days: IntArr) -> IntArr:
        """Register time of day for rows on the register day, else -1."""
        on = (days == self.reg_day[users]) & (users >= self.n_pre)
        return np.where(on, self.reg_time[users] - self.reg_day[users] * DAY_US, -1)


def _reg_weights(g: int, days: IntArr) -> FloatArr:
    wd = np.array([0.95, 0.95, 0.97, 0.98, 1.02, 1.07, 1.06])[WEEKDAY_OF_DAY[days]]
    w = wd.copy()
    w *= 1.0 + 0.25 * _bump(days, date(2025, 6, 17), 2.5) + 0.15 * _bump(days, date(2024, 11, 10), 2.0)
    if g == G_CAMPUS:
        w *= 0.75 + 2.6 * _bump(days, date(2024, 8, 31), 9) + 3.2 * _bump(days, date(2025, 8, 31), 9) \
            + 0.8 * _bump(days, date(2025, 3, 1), 6)
    elif g == G_KOL:
        w *= 1.0 + 0.6 * ((days >= _day(date(2025, 7, 20))) & (days <= _day(date(2025, 9, 10))))
    elif g == G_REFERRAL:
        w *= 1.0 + 0.004 * (days - days.min()) + 0.5 * _bump(days, date(2025, 8, 28), 10)
    return np.asarray(w, dtype=np.float64)


def _build_users(scale: float, rng: np.random.Generator) -> Users:
    reg_days: list[IntArr] = []
    groups: list[IntArr] = []
    for qs in QUARTERS:
        days = np.arange(_day(qs.first), _day(qs.last) + 1)
        for g in range(7):
            n = round(NEW_USERS[qs.name][g] * scale)
            cnt = _apportion(n, _reg_weights(g, days))
            reg_days.append(np.repeat(days, cnt))
            groups.append(np.full(int(cnt.sum()), g, dtype=np.int64))
    rd = np.concatenate(reg_days)
    gr = np.concatenate(groups)
    n_new = len(rd)
    rt = rd * DAY_US + _sample_tod(rng, n_new)
    order = np.lexsort((np.arange(n_new), rt))
    rd, gr, rt = rd[order], gr[order], rt[order]

    n_pre = round(PRE_EXISTING_USERS * scale)
    pre_rd = -1 - rng.integers(0, 720, n_pre)

    # referrers: an earlier registered (in-data) user, biased to recent registrants
    referrer = np.full(n_pre + n_new, -1, dtype=np.int64)
    inv = np.flatnonzero(gr == G_REFERRAL)
    n_earlier = np.searchsorted(rt, rt[inv], side="left")
    u = rng.random(len(inv))
    j = np.minimum(np.floor(n_earlier * (1.0 - u * u)).astype(np.int64), n_earlier - 1)
    ok = n_earlier > 0
    referrer[n_pre + inv[ok]] = n_pre + j[ok]

    q = np.concatenate([rng.beta(1.4, 3.4, n_pre), rng.beta(1.4, 3.4, n_new)])
    return Users(
        n_pre=n_pre, n_new=n_new,
        reg_day=np.concatenate([pre_rd, rd]).astype(np.int64),
        reg_time=np.concatenate([np.full(n_pre, -1, dtype=np.int64), rt]),
        group=np.concatenate([np.full(n_pre, -1, dtype=np.int64), gr]),
        referrer=referrer, q=q,
    )


# ----------------------------------------------------------------------------- stage 2: alive windows


def _build_alive(users: Users, rng: np.random.Generator) -> tuple[BoolArr, npt.NDArray[np.int8], IntArr]:
    n, p = users.n, users.n_pre
    alive = np.zeros((n, NWIN), dtype=bool)
    anchor = rng.integers(0, 30, (n, NWIN)).astype(np.int8)
    k_first = np.maximum(0, -users.reg_day) // 30

    # pre-existing users: Markov chain from a random initial state
    alive[:p, 0] = rng.random(p) < 0.50
    for j in range(1, NWIN):
        prev = alive[:p, j - 1]
        alive[:p, j] = np.where(prev, rng.random(p) < 0.84, rng.random(p) < 0.045)

    # new users: window 0 alive (register day forced), window 1 stratified (exact M1 share)
    new = np.arange(p, n)
    alive[new, 0] = True
    anchor[new, 0] = 0
    invitee = users.referrer[new] >= 0
    month = MONTH_OF_DAY[users.reg_day[new]]
    stratum = month * 2 + invitee.astype(np.int64)
    order = np.lexsort((rng.random(len(new)), stratum))
    s_sorted = stratum[order]
    n_str = np.bincount(stratum, minlength=2 * len(MONTHS))
    starts = np.concatenate([[0], np.cumsum(n_str)[:-1]])
    pos = np.arange(len(new)) - starts[s_sorted]
    m_all = np.zeros(2 * len(MONTHS))
    for mi, (y, _m) in enumerate(MONTHS):
        tot, inv = M1_BY_YEAR[y]
        n_i, n_n = n_str[2 * mi + 1], n_str[2 * mi]
        m_all[2 * mi + 1] = inv
        m_all[2 * mi] = min(1.0, max(0.0, (tot * (n_i + n_n) - inv * n_i) / n_n)) if n_n else 0.0
    target = np.round(m_all * n_str).astype(np.int64)
    flag = np.zeros(len(new), dtype=bool)
    flag[order] = pos < target[s_sorted]
    alive[new, 1] = flag
    inv_boost = np.where(invitee, 0.05, 0.0)
    for j in range(2, NWIN):
        prev = alive[new, j - 1]
        alive[new, j] = np.where(prev, rng.random(len(new)) < 0.80 + inv_boost,
                                 rng.random(len(new)) < 0.06)
    return alive, anchor, k_first.astype(np.int64)


# ----------------------------------------------------------------------------- stage 3: activity


def dau_targets(scale: float) -> FloatArr:
    """Designed distinct active users per day (before sampling noise)."""
    days = np.arange(NDAYS)
    kd = np.array([_day(d) for d, _ in DAU_KNOTS])
    kv = np.array([v for _, v in DAU_KNOTS])
    base = np.interp(days, kd, kv) * np.array(DAU_WEEKDAY)[WEEKDAY_OF_DAY]
    for qs in QUARTERS:
        a, b = _day(qs.first), _day(qs.last)
        for pd_, pv in DAU_PEAKS.items():
            if a <= _day(pd_) <= b:
                seg = base[a:b + 1]
                base[a:b + 1] = np.minimum(seg, 0.97 * pv)
                base[_day(pd_)] = pv
    return np.asarray(base * scale, dtype=np.float64)


@dataclass
class Activity:
    users: npt.NDArray[np.int32]  # day-ordered, users sorted within a day
    day_start: IntArr  # offsets into users per day (len NDAYS+1)
    month_users: list[IntArr]  # distinct active users per month
    s_factor: FloatArr

    def days(self) -> npt.NDArray[np.int16]:
        return np.repeat(np.arange(NDAYS, dtype=np.int16), np.diff(self.day_start))


def _simulate_activity(users: Users, alive: BoolArr, anchor: npt.NDArray[np.int8],
                       k_first: IntArr, scale: float, rng: np.random.Generator,
                       progress: Callable[[str], None]) -> Activity:
    target = dau_targets(scale)
    p = users.n_pre
    new_rd = users.reg_day[p:]
    alive_flat = alive.reshape(-1)
    anchor_flat = anchor.reshape(-1)
    per_day: list[npt.NDArray[np.int32]] = []
    s_fac = np.zeros(NDAYS)
    for d in range(NDAYS):
        n = p + int(np.searchsorted(new_rd, d, side="right"))
        age = d - users.reg_day[:n]
        j = age // 30 - k_first[:n]
        flat = np.arange(n, dtype=np.int64) * NWIN + j
        al = alive_flat[flat]
        forced = (age == 0) | (al & (anchor_flat[flat] == (age % 30)))
        cand = np.flatnonzero(al & ~forced)
        boost = np.where(age[cand] < 7, 2.0, np.where(age[cand] < 30, 1.3, 1.0))
        pr = users.q[cand] * boost
        need = target[d] - forced.sum()
        s = 0.0
        if need > 0 and pr.sum() > 0:
            s = need / pr.sum()
            for _ in range(5):
                e = np.minimum(1.0, pr * s).sum()
                if e <= 0:
                    break
                s *= need / e
        s_fac[d] = s
        hit = rng.random(len(cand)) < pr * s
        act = np.concatenate([np.flatnonzero(forced), cand[hit]]).astype(np.int32)
        act.sort()
        per_day.append(act)
        if d == NDAYS - 1 or MONTH_OF_DAY[d + 1] != MONTH_OF_DAY[d]:
            y, m = MONTHS[MONTH_OF_DAY[d]]
            progress(f"activity {y}-{m:02d}: DAU last day {len(act):,}")
    counts = np.array([len(a) for a in per_day], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    flat_users = np.concatenate(per_day)
    month_users = []
    for mi in range(len(MONTHS)):
        ds = np.flatnonzero(mi == MONTH_OF_DAY)
        month_users.append(np.unique(flat_users[starts[ds[0]]:starts[ds[-1] + 1]]).astype(np.int64))
    return Activity(flat_users, starts, month_users, s_fac)


# ----------------------------------------------------------------------------- stage 4: campaigns, orders


@dataclass
class Orders:
    user: IntArr
    time: IntArr
    amount_cents: IntArr
    campaign: IntArr  # campaign index or -1


@dataclass
class Joins:
    user: IntArr
    time: IntArr
    campaign: IntArr


def _quarter_orders(qi: int, qs: QuarterStory, users: Users, act: Activity, scale: float,
                    has_paid: BoolArr, rng: np.random.Generator, notes: list[str]
                    ) -> tuple[Orders, Joins]:
    d0, d1 = _day(qs.first), _day(qs.last)
    s, e = int(act.day_start[d0]), int(act.day_start[d1 + 1])
    U0 = act.users[s:e].astype(np.int64)
    D0 = np.repeat(np.arange(d0, d1 + 1, dtype=np.int64), np.diff(act.day_start[d0:d1 + 2]))
    o = np.lexsort((D0, U0))
    U, D = U0[o], D0[o]
    del U0, D0, o
    active_q = np.unique(U)
    n_users = users.n

    part_c = np.full(n_users, -1, dtype=np.int64)  # campaign index participated in (this quarter)
    jday = np.full(n_users, -1, dtype=np.int64)
    cend = np.full(n_users, -1, dtype=np.int64)
    conv = np.zeros(n_users, dtype=bool)
    payer = np.zeros(n_users, dtype=bool)
    ord_u: list[IntArr] = []
    ord_d: list[IntArr] = []
    ord_c: list[IntArr] = []
    join_u: list[IntArr] = []
    join_d: list[IntArr] = []
    join_c: list[IntArr] = []

    camps = [(ci, c) for ci, c in enumerate(CAMPAIGNS) if d0 <= _day(c.start) <= d1]
    # most constrained pools first
    camps.sort(key=lambda x: {"new": 0, "old": 1, "any": 2}[x[1].pool])
    for ci, c in camps:
        cs, ce = _day(c.start), _day(c.end)
        in_win = (cs <= D) & (ce >= D) & (part_c[U] < 0)
        if c.pool == "new":
            in_win &= (users.n_pre <= U) & (users.reg_day[U] >= cs - 40)
        elif c.pool == "old":
            in_win &= users.reg_day[U] <= cs - 90
        cand, rand_row, _cnt = _random_row_per_user(rng, U, in_win)
        weights = None
        if c.pool == "old":  # prefer users not seen in the 3 weeks before the start
            recent = np.unique(act.users[act.day_start[max(0, cs - 21)]:act.day_start[cs]])
            weights = np.where(np.isin(cand, recent), 1.0, 3.0)
        chosen = _pick(rng, cand, round(c.participants * scale), weights)
        if len(chosen) < round(c.participants * scale):
            notes.append(f"{c.campaign_id}: {len(chosen)} participants < target")
        pos = np.searchsorted(cand, chosen)
        if c.join == "first":
            rows = np.flatnonzero(in_win)
            uu, first = np.unique(U[rows], return_index=True)
            jrow = rows[first][np.searchsorted(uu, chosen)]
        else:
            jrow = rand_row[pos]
        part_c[chosen] = ci
        jday[chosen] = D[jrow]
        cend[chosen] = ce
        join_u.append(chosen)
        join_d.append(D[jrow])
        join_c.append(np.full(len(chosen), ci))
        # a second join for some participants, on a later active day in the window
        later = (part_c[U] == ci) & (jday[U] < D) & (ce >= D)
        lu, lrow, _ = _random_row_per_user(rng, U, later)
        again = rng.random(len(lu)) < 0.12
        join_u.append(lu[again])
        join_d.append(D[lrow[again]])
        join_c.append(np.full(int(again.sum()), ci))
        # converted payers: an order on a later active day up to end+6
        convertible = (part_c[U] == ci) & (jday[U] < D) & (ce + 6 >= D)
        cu, crow, _ = _random_row_per_user(rng, U, convertible)
        w = np.where(has_paid[cu], 10.0, 1.0)
        got = _pick(rng, cu, round(c.converted * scale), w)
        if len(got) < round(c.converted * scale):
            notes.append(f"{c.campaign_id}: {len(got)} converted payers < target")
        conv[got] = True
        payer[got] = True
        g_rows = crow[np.searchsorted(cu, got)]
        ord_u.append(got)
        ord_d.append(D[g_rows])
        ord_c.append(np.full(len(got), ci))
        # a second campaign order for some
        extra = (conv[U]) & (part_c[U] == ci) & (jday[U] < D) & (ce + 6 >= D)
        eu, erow, _ = _random_row_per_user(rng, U, extra)
        two = rng.random(len(eu)) < 0.25
        ord_u.append(eu[two])
        ord_d.append(D[erow[two]])
        ord_c.append(np.full(int(two.sum()), ci))

    # rows on which a general order may fall: not inside a non-converted participant's window
    blocked = (part_c[U] >= 0) & ~conv[U] & (jday[U] <= D) & (cend[U] + 8 >= D)
    allowed = ~blocked
    al_rows = np.flatnonzero(allowed)
    al_u, al_start, al_cnt = np.unique(U[al_rows], return_index=True, return_counts=True)
    al_u = al_u.astype(np.int64)

    def pool(mask_users: BoolArr) -> IntArr:
        return al_u[mask_users[al_u] & ~payer[al_u]]

    is_reg_q = (users.reg_day >= d0) & (users.reg_day <= d1) & users.has_reg
    n_target = round(qs.payer_rate * len(active_q))
    new_target = round(qs.new_payers * scale) if qs.new_payers is not None else round(qs.new_payer_share * n_target)
    # registrants of the quarter, per acquisition group
    for g in range(7):
        in_g = is_reg_q & (users.group == g)
        t = round(qs.reg_paid[g] * int(in_g.sum())) - int((payer & in_g).sum())
        got = _pick(rng, pool(in_g), t)
        if len(got) < t:
            notes.append(f"{qs.name} {GROUPS[g]}: {len(got)} registrant payers < {t}")
        payer[got] = True
    n_new = int((payer & ~has_paid).sum())
    if os.environ.get("CAMPAIGN_ROI_GEN_DEBUG"):
        notes.append(f"{qs.name}: payers target {n_target}, new target {new_target}; after campaigns+registrants "
                     f"{int(payer.sum())} payers, {n_new} new ({int((conv & ~has_paid).sum())} new converted)")
    if n_new > new_target:
        notes.append(f"{qs.name}: new payers {n_new} already above target {new_target}")
    got = _pick(rng, pool(~is_reg_q & ~has_paid), new_target - n_new)
    if len(got) < new_target - n_new:
        notes.append(f"{qs.name}: older new payers {len(got)} < {new_target - n_new}")
    payer[got] = True
    t = n_target - int(payer.sum())
    got = _pick(rng, pool(has_paid), t)
    if len(got) < t:
        notes.append(f"{qs.name}: repeat payers {len(got)} < {t}")
    payer[got] = True
    if t < 0:
        notes.append(f"{qs.name}: payers above target by {-t}")

    # general orders: k per payer on random allowed active days
    gp = np.flatnonzero(payer)
    gp = gp[np.isin(gp, al_u)]
    lam = np.where(conv[gp], 0.25, np.where(has_paid[gp], 0.9, 0.45))
    k = rng.poisson(lam) + np.where(conv[gp], 0, 1)
    who = np.repeat(gp, k)
    pos = np.searchsorted(al_u, who)
    r = al_rows[al_start[pos] + np.floor(rng.random(len(who)) * al_cnt[pos]).astype(np.int64)]
    ord_u.append(who)
    ord_d.append(D[r])
    ord_c.append(np.full(len(who), -1))
    has_paid[payer] = True

    ou = np.concatenate(ord_u)
    od = np.concatenate(ord_d)
    oc = np.concatenate(ord_c)
    amounts = _amounts(qi, qs, ou, od, act, scale, rng)
    otime = od * DAY_US + _tod_after(rng, users.reg_tod_on(ou, od))
    ju, jd, jc = np.concatenate(join_u), np.concatenate(join_d), np.concatenate(join_c)
    jtime = jd * DAY_US + _tod_after(rng, users.reg_tod_on(ju, jd))
    return Orders(ou, otime, amounts, oc), Joins(ju, jtime, jc)


def _amounts(qi: int, qs: QuarterStory, ou: IntArr, od: IntArr, act: Activity, scale: float,
             rng: np.random.Generator) -> IntArr:
    """Order amounts in cents: lognormal (user, month) totals scaled to the quarter's GMV,
    permuted within each month so high-value pairs have the designed next-month activity,
    then split over the pair's orders."""
    om = MONTH_OF_DAY[od]
    key = ou * 32 + om
    pk, inv, k = np.unique(key, return_inverse=True, return_counts=True)
    pu, pm = pk // 32, pk % 32
    tot = np.exp(rng.normal(math.log(118.0), 0.85, len(pk))) * k ** 0.75
    tot = np.maximum(tot, 8.0 * k)
    tot *= qs.gmv * scale / tot.sum()
    cents = np.maximum(np.round(tot * 100).astype(np.int64), 150 * k)
    for mi in np.unique(pm):
        idx = np.flatnonzero(pm == mi)
        if mi + 1 >= len(MONTHS):
            continue
        y, m = MONTHS[mi]
        share = HV_NEXT_ACTIVE if (y, m) in ((2025, 7), (2025, 8)) else HV_NEXT_ACTIVE_OTHER
        nxt = np.isin(pu[idx], act.month_users[mi + 1])
        vals = np.sort(cents[idx])[::-1]
        h = int((vals >= HV_THRESHOLD_CENTS).sum())
        want_on = round(share * h)
        on_pool, off_pool = idx[nxt], idx[~nxt]
        n_on = min(want_on, len(on_pool))
        n_off = min(h - n_on, len(off_pool))
        n_on = min(h - n_off, len(on_pool))
        hv = np.concatenate([_pick(rng, on_pool, n_on), _pick(rng, off_pool, n_off)])
        rest = np.setdiff1d(idx, hv)
        hv = hv[rng.permutation(len(hv))]
        rest = rest[rng.permutation(len(rest))]
        cents[hv] = vals[:len(hv)]
        cents[rest] = vals[len(hv):]
    # split pair totals over the pair's orders: each at least 1 yuan
    w = rng.gamma(2.0, 1.0, len(ou))
    wsum = np.bincount(inv, weights=w, minlength=len(pk))
    spread = cents - 100 * k
    part = 100 + np.floor(w / wsum[inv] * spread[inv]).astype(np.int64)
    diff = cents - np.bincount(inv, weights=part, minlength=len(pk)).astype(np.int64)
    first = np.unique(inv, return_index=True)[1]
    part[first] += diff
    return np.asarray(part, dtype=np.int64)


# ----------------------------------------------------------------------------- stage 5: touches


@dataclass
class Touches:
    user: IntArr
    time: IntArr
    label: IntArr
    campaign: IntArr


def _build_touches(users: Users, orders: Orders, joins: Joins, act: Activity, n_prospects: int,
                   rng: np.random.Generator) -> Touches:
    win = 30 * DAY_US
    end_us = NDAYS * DAY_US
    p = users.n_pre
    new = np.arange(p, users.n)
    R = users.reg_time[new]
    g = users.group[new]
    tu: list[IntArr] = []
    tt: list[IntArr] = []
    tl: list[IntArr] = []
    tc: list[IntArr] = []

    def add(u: IntArr, t: IntArr, lab: IntArr, camp: IntArr | None = None) -> None:
        keep = (t >= 0) & (t < end_us)
        tu.append(u[keep])
        tt.append(t[keep])
        tl.append(lab[keep])
        tc.append((np.full(len(u), -1) if camp is None else camp)[keep])

    brand = next(i for i, c in enumerate(CAMPAIGNS) if c.campaign_id == "brand_collab")
    b0, b1 = _day(CAMPAIGNS[brand].start) * DAY_US, (_day(CAMPAIGNS[brand].end) + 1) * DAY_US

    # attributed groups: the decisive (last non-direct) touch inside the window
    sel = np.flatnonzero(g <= G_REFERRAL)
    us, r = new[sel], R[sel]
    room = np.minimum(win - 60_000_000, r)  # never before the data start
    off = np.minimum(rng.exponential(2.5 * DAY_US, len(sel)) + 60_000_000, room)
    dec = r - np.maximum(off, 0).astype(np.int64)
    lab = _draw_labels(rng, g[sel])
    camp = np.where((g[sel] == G_KOL) & (dec >= b0) & (dec < b1) & (rng.random(len(sel)) < 0.7), brand, -1)
    add(us, dec, lab, camp)
    # same-group repeat between decisive touch and register (collapsed by `exposure`)
    rep = rng.random(len(sel)) < 0.18
    add(us[rep], dec[rep] + (rng.random(int(rep.sum())) * (r[rep] - dec[rep])).astype(np.int64),
        _draw_labels(rng, g[sel][rep]))
    # direct touches after it
    nd = _mix_groups(rng, len(sel), [0.55, 0.30, 0.15])
    du = np.repeat(np.arange(len(sel)), nd)
    add(us[du], dec[du] + (rng.random(len(du)) * (r[du] - dec[du])).astype(np.int64),
        _draw_labels(rng, np.full(len(du), G_DIRECT)))
    # earlier touches of any channel (some outside the 30-day window)
    ne = _mix_groups(rng, len(sel), [0.25, 0.35, 0.25, 0.15])
    eu = np.repeat(np.arange(len(sel)), ne)
    et = dec[eu] - (rng.exponential(8 * DAY_US, len(eu)) + 60_000_000).astype(np.int64)
    eg = _mix_groups(rng, len(eu), [0.22, 0.2, 0.25, 0.04, 0.06, 0.0, 0.23])
    add(us[eu], et, _draw_labels(rng, eg))

    # direct-only users: direct touches in the window
    sel = np.flatnonzero(g == G_DIRECT)
    us, r = new[sel], R[sel]
    nd = _mix_groups(rng, len(sel), [0.0, 0.5, 0.35, 0.15])
    du = np.repeat(np.arange(len(sel)), nd)
    room = np.minimum(win - 60_000_000, r[du])
    add(us[du], r[du] - (rng.random(len(du)) * room).astype(np.int64),
        _draw_labels(rng, np.full(len(du), G_DIRECT)))
    # old touches (outside the window) for direct and organic users
    sel = np.flatnonzero((g == G_DIRECT) | (g == G_ORGANIC))
    us, r = new[sel], R[sel]
    no = _mix_groups(rng, len(sel), [0.6, 0.28, 0.12])
    ou_ = np.repeat(np.arange(len(sel)), no)
    ot = r[ou_] - win - (rng.exponential(15 * DAY_US, len(ou_)) + 3_600_000_000).astype(np.int64)
    og = _mix_groups(rng, len(ou_), [0.3, 0.25, 0.3, 0.05, 0.1])
    add(us[ou_], ot, _draw_labels(rng, og))

    # after registering: touches before orders and campaign joins, and browsing touches
    reg_floor = np.where(users.has_reg, users.reg_time + 1_000_000, -1)
    m = rng.random(len(orders.user)) < 0.45
    u = orders.user[m]
    t = np.maximum(orders.time[m] - (rng.random(int(m.sum())) * 3 * DAY_US).astype(np.int64), reg_floor[u])
    og = _mix_groups(rng, len(u), [0.25, 0.25, 0.25, 0.03, 0.04, 0.0, 0.18])
    add(u, np.minimum(t, orders.time[m]), _draw_labels(rng, og))
    first = np.unique(joins.user * 16 + joins.campaign, return_index=True)[1]
    m = np.zeros(len(joins.user), dtype=bool)
    m[first] = rng.random(len(first)) < 0.6
    u, c = joins.user[m], joins.campaign[m]
    t = np.maximum(joins.time[m] - (rng.random(int(m.sum())) * 2 * DAY_US).astype(np.int64), reg_floor[u])
    choice = np.floor(rng.random(len(u)) * np.array([len(CAMPAIGNS[x].touch_labels) for x in c])).astype(np.int64)
    pairs = zip(c.tolist(), choice.tolist(), strict=True)
    lab = np.array([LABEL_INDEX[CAMPAIGNS[x].touch_labels[y]] for x, y in pairs],
                   dtype=np.int64) if len(u) else np.zeros(0, dtype=np.int64)
    add(u, np.minimum(t, joins.time[m]), lab, c)
    # browsing touches on 2 % of active user-days
    n_act = len(act.users)
    pick = np.flatnonzero(rng.random(n_act) < 0.02)
    u = act.users[pick].astype(np.int64)
    d = np.searchsorted(act.day_start, pick, side="right") - 1
    t = d * DAY_US + _tod_after(rng, users.reg_tod_on(u, d))
    og = _mix_groups(rng, len(u), [0.25, 0.3, 0.25, 0.04, 0.02, 0.0, 0.14])
    add(u, t, _draw_labels(rng, og))

    # prospects: never register
    nt = _mix_groups(rng, n_prospects, [0.0, 0.5, 0.32, 0.18])
    pu = np.repeat(np.arange(users.n, users.n + n_prospects), nt)
    pt = (rng.random(len(pu)) * end_us).astype(np.int64)
    pg = _mix_groups(rng, len(pu), [0.28, 0.22, 0.3, 0.05, 0.05, 0.0, 0.1])
    add(pu, pt, _draw_labels(rng, pg))
    return Touches(np.concatenate(tu), np.concatenate(tt), np.concatenate(tl), np.concatenate(tc))


# ----------------------------------------------------------------------------- stage 6: spend


def _campaign_revenue(orders: Orders, joins: Joins) -> FloatArr:
    """Revenue per campaign (cents): participants' orders from first join to end+7 days."""
    rev = np.zeros(len(CAMPAIGNS))
    for ci, c in enumerate(CAMPAIGNS):
        m = joins.campaign == ci
        if not m.any():
            continue
        ju, jt = joins.user[m], joins.time[m]
        o = np.lexsort((jt, ju))
        uu, first = np.unique(ju[o], return_index=True)
        ft = jt[o][first]
        pos = np.searchsorted(uu, orders.user)
        pos = np.minimum(pos, len(uu) - 1)
        isp = uu[pos] == orders.user
        lim = (_day(c.end) + 8) * DAY_US
        ok = isp & (orders.time >= ft[pos]) & (orders.time < lim)
        rev[ci] = orders.amount_cents[ok].sum()
    return rev


def _build_spend(users: Users, scale: float, camp_cost_cents: IntArr,
                 rng: np.random.Generator) -> pl.DataFrame:
    dates: list[IntArr] = []
    chans: list[list[str]] = []
    cids: list[list[str | None]] = []
    cents: list[IntArr] = []
    p = users.n_pre
    rel_cac = {G_CAMPUS: 1.0, G_KOL: 2.7, G_FEED: 2.3, G_OTHER: 0.35}
    spend_labels = {
        G_CAMPUS: [(n, w) for n, w in LABELS[G_CAMPUS] if n.islower()],
        G_KOL: [(n, w) for n, w in LABELS[G_KOL] if n.islower()],
        G_FEED: [(n, w) for n, w in LABELS[G_FEED] if n != "feed_retarget_winback"],
        G_OTHER: [("offline_poster", 1.0), ("sms_blast", 0.5)],
    }
    for ci, c in enumerate(CAMPAIGNS):
        days = np.arange(_day(c.start), _day(c.end) + 1)
        w = np.linspace(1.6, 0.6, len(days))
        cc = _apportion(int(camp_cost_cents[ci]), w)
        dates.append(days)
        chans.append([c.spend_channel] * len(days))
        cids.append([c.campaign_id] * len(days))
        cents.append(cc)
    for qs in QUARTERS:
        d0, d1 = _day(qs.first), _day(qs.last)
        days = np.arange(d0, d1 + 1)
        n_new = sum(round(x * scale) for x in NEW_USERS[qs.name])
        camp = sum(int(camp_cost_cents[ci]) for ci, c in enumerate(CAMPAIGNS) if d0 <= _day(c.start) <= d1)
        budget = round(qs.cac * n_new * 100) - camp
        gw = np.array([NEW_USERS[qs.name][g] * rel_cac[g] for g in (G_CAMPUS, G_KOL, G_FEED, G_OTHER)])
        gb = _apportion(budget, gw)
        for gi, g in enumerate((G_CAMPUS, G_KOL, G_FEED, G_OTHER)):
            rd = users.reg_day[p:][users.group[p:] == g]
            rd = rd[(rd >= d0) & (rd <= d1)]
            per_day = np.bincount(rd - d0, minlength=len(days)).astype(np.float64)
            w = per_day + 0.3 * max(float(per_day.mean()), 1e-9) + 1e-9
            w = w * (0.9 + 0.2 * rng.random(len(days)))
            gbudget = int(gb[gi])
            if g == G_KOL:  # agency retainers booked monthly under the group name
                firsts = days[np.array([(START + timedelta(days=int(x))).day == 1 for x in days])]
                fee = _apportion(int(gbudget * 0.08), np.ones(len(firsts)))
                dates.append(firsts)
                chans.append(["kol"] * len(firsts))
                cids.append([None] * len(firsts))
                cents.append(fee)
                gbudget -= int(fee.sum())
            daily = _apportion(gbudget, w)
            labs = spend_labels[g]
            lw = np.array([x[1] for x in labs])
            for li, (name, _w) in enumerate(labs):
                share = _apportion_matrix(daily, lw, li)
                dates.append(days)
                chans.append([name] * len(days))
                cids.append([None] * len(days))
                cents.append(share)
    all_dates = np.concatenate(dates)
    all_cents = np.concatenate(cents)
    df = pl.DataFrame({
        "date": pl.Series([START + timedelta(days=int(x)) for x in all_dates], dtype=pl.Date),
        "channel": [x for xs in chans for x in xs],
        "campaign_id": pl.Series([x for xs in cids for x in xs], dtype=pl.String),
        "cost": all_cents / 100.0,
    })
    return df.filter(pl.col("cost") > 0).sort(["date", "channel", "campaign_id"], nulls_last=False)


def _apportion_matrix(daily: IntArr, lw: FloatArr, li: int) -> IntArr:
    """Label li's share of each day's cents (shares of all labels sum exactly to the day)."""
    frac = lw / lw.sum()
    exact = daily[:, None] * frac[None, :]
    base = np.floor(exact).astype(np.int64)
    rest = daily - base.sum(axis=1)
    order = np.argsort(-(exact - base), axis=1, kind="stable")
    rank = np.argsort(order, axis=1, kind="stable")
    base += rank < rest[:, None]
    return np.asarray(base[:, li], dtype=np.int64)


# ----------------------------------------------------------------------------- writing


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        dict_cols = [c for c in ("event_type", "channel", "campaign_id") if c in table.column_names]
        pq.write_table(table, tmp, compression="zstd", compression_level=3,
                       row_group_size=1 << 20, write_statistics=True,
                       use_dictionary=dict_cols, store_schema=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_text(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _id_strings(prefix: str, nums: IntArr, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers, as an Arrow string array."""
    s = pl.Series(nums, dtype=pl.Int64)
    return (prefix + s.cast(pl.String).str.zfill(width)).to_arrow().cast(pa.string())


def _take(arr: pa.Array, idx: IntArr) -> pa.Array:
    """arr[idx] with null where idx < 0."""
    neg = idx < 0
    return arr.take(pa.array(np.where(neg, 0, idx), type=pa.int64(), mask=neg))


EVENTS_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("event_time", pa.timestamp("us")), ("event_type", pa.string()),
    ("channel", pa.string()), ("campaign_id", pa.string()), ("amount", pa.float64()),
    ("order_id", pa.string()), ("referrer_id", pa.string()), ("event_id", pa.string()),
])
_TYPES = pa.array(TYPE_NAMES, type=pa.string())
_LABELS = pa.array(LABEL_NAMES, type=pa.string())
_CAMPAIGN_IDS = pa.array([c.campaign_id for c in CAMPAIGNS], type=pa.string())


def _write_month(out: Path, mi: int, parts: dict[str, Any], uid: pa.Array, oid: pa.Array,
                 nums: pa.Array) -> int:
    y, m = MONTHS[mi]
    order = np.lexsort((parts["seq"], parts["user"], parts["type"], parts["time"]))
    cols = {k: v[order] for k, v in parts.items()}
    n = len(order)
    base_us = int((START - date(1970, 1, 1)).days) * DAY_US
    amount = cols["amount"]
    table = pa.table([
        _take(uid, cols["user"]),
        pa.array(cols["time"] + base_us, type=pa.int64()).cast(pa.timestamp("us")),
        _take(_TYPES, cols["type"]),
        _take(_LABELS, cols["label"]),
        _take(_CAMPAIGN_IDS, cols["campaign"]),
        pa.array(amount, type=pa.float64(), mask=np.isnan(amount)),
        _take(oid, cols["order"]),
        _take(uid, cols["referrer"]),
        pa.compute.binary_join_element_wise(f"e{y}{m:02d}-", nums.slice(1, n), ""),
    ], schema=EVENTS_SCHEMA)
    _write_parquet(table, out / "events" / f"month={y}-{m:02d}" / "part-0.parquet")
    return n


# ----------------------------------------------------------------------------- main entry


def generate_dataset(out_dir: str | Path, scale: float = 1.0, seed: int = 7,
                     progress: Callable[[str], None] | None = None) -> GenerateSummary:
    """Write the seed-story dataset (SPEC §9) into ``out_dir``; returns what was written.

    ``scale`` multiplies every count (users, DAU, participants, money) and keeps rates;
    the same ``seed`` gives byte-identical files.
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0 < scale <= 20):
        raise UserError(f"--scale must be a number in (0, 20], got {scale!r}")
    t0 = time.perf_counter()
    say: Callable[[str], None] = progress or (lambda _msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []

    users = _build_users(scale, _rng(seed, 1))
    say(f"users: {users.n_new:,} new, {users.n_pre:,} registered before the data")
    alive, anchor, k_first = _build_alive(users, _rng(seed, 2))
    act = _simulate_activity(users, alive, anchor, k_first, scale, _rng(seed, 3), say)
    del alive, anchor

    has_paid = np.zeros(users.n, dtype=bool)
    o_parts: list[Orders] = []
    j_parts: list[Joins] = []
    for qi, qs in enumerate(QUARTERS):
        o, j = _quarter_orders(qi, qs, users, act, scale, has_paid, _rng(seed, 10 + qi), notes)
        o_parts.append(o)
        j_parts.append(j)
        say(f"orders {qs.name}: {len(o.user):,} orders, {len(j.user):,} campaign joins")
    orders = Orders(*(np.concatenate([getattr(x, f) for x in o_parts])
                      for f in ("user", "time", "amount_cents", "campaign")))
    joins = Joins(*(np.concatenate([getattr(x, f) for x in j_parts]) for f in ("user", "time", "campaign")))
    oo = np.lexsort((orders.user, orders.time))
    orders = Orders(orders.user[oo], orders.time[oo], orders.amount_cents[oo], orders.campaign[oo])
    order_no = np.arange(1, len(oo) + 1, dtype=np.int64)

    # refunds: ~4 % of orders, full or partial, within the data range
    rr = _rng(seed, 20)
    rsel = np.flatnonzero(rr.random(len(oo)) < 0.04)
    rtime = orders.time[rsel] + (2 * 3_600_000_000 + rr.random(len(rsel)) * 14 * DAY_US).astype(np.int64)
    full = rr.random(len(rsel)) < 0.75
    ramt = np.where(full, orders.amount_cents[rsel],
                    np.maximum(1, np.round(orders.amount_cents[rsel] * rr.uniform(0.2, 0.8, len(rsel)))))
    keep = rtime < NDAYS * DAY_US
    rsel, rtime, ramt = rsel[keep], rtime[keep], ramt[keep].astype(np.int64)
    say(f"refunds: {len(rsel):,}")

    n_prospects = round(PROSPECTS * scale)
    touches = _build_touches(users, orders, joins, act, n_prospects, _rng(seed, 30))
    say(f"touches: {len(touches.user):,}")

    # sign-up flow: a participant whose join falls on their registration day joined on the
    # campaign's landing page 1-20 minutes before signing up. The join moves earlier within
    # the same local day, so participants, converted payers (orders follow the register) and
    # touches (placed from the register on) are unchanged; funnels starting at a campaign join
    # now show the sign-ups it brought.
    ju = joins.user
    signup = users.has_reg[ju] & (joins.time // DAY_US == users.reg_day[ju]) & (
        joins.time > users.reg_time[ju])
    lead_us = ((_rng(seed, 40).random(int(signup.sum())) * 19 + 1) * 60_000_000).astype(np.int64)
    joins.time[signup] = np.maximum(users.reg_time[ju[signup]] - lead_us,
                                    users.reg_day[ju[signup]] * DAY_US)

    # campaign cost from revenue and the quarter's ROI target
    rev = _campaign_revenue(orders, joins)
    cost = np.zeros(len(CAMPAIGNS))
    for qs in QUARTERS:
        d0, d1 = _day(qs.first), _day(qs.last)
        ids = [ci for ci, c in enumerate(CAMPAIGNS) if d0 <= _day(c.start) <= d1]
        if not ids:
            continue
        raw = np.array([rev[ci] / CAMPAIGNS[ci].roi_weight for ci in ids])
        kappa = rev[ids].sum() / qs.campaign_roi / max(raw.sum(), 1e-9)
        cost[ids] = raw * kappa
    cost_cents = np.round(cost).astype(np.int64)
    spend = _build_spend(users, scale, cost_cents, _rng(seed, 40))
    camp_df = pl.DataFrame({
        "campaign_id": [c.campaign_id for c in CAMPAIGNS],
        "name": [c.name for c in CAMPAIGNS],
        "start_date": pl.Series([c.start for c in CAMPAIGNS], dtype=pl.Date),
        "end_date": pl.Series([c.end for c in CAMPAIGNS], dtype=pl.Date),
        "budget": np.round(cost_cents * 1.1 / 100.0, -2),
    })
    _write_parquet(spend.to_arrow().cast(pa.schema([
        ("date", pa.date32()), ("channel", pa.string()), ("campaign_id", pa.string()), ("cost", pa.float64())])),
        out / "spend.parquet")
    _write_parquet(camp_df.to_arrow().cast(pa.schema([
        ("campaign_id", pa.string()), ("name", pa.string()), ("start_date", pa.date32()),
        ("end_date", pa.date32()), ("budget", pa.float64())])), out / "campaigns.parquet")
    _write_text(config_toml(scale), out / "campaign_roi.toml")
    say("spend, campaigns, config written")

    # ids: a fixed random permutation, so ids do not reveal the register order
    n_ids = users.n + n_prospects
    id_of = _rng(seed, 50).permutation(n_ids).astype(np.int64) + 1
    uid = _id_strings("u", id_of, 7)
    del id_of
    oid = _id_strings("o", order_no, 9)
    max_rows = 0

    # events, month by month
    wr = _rng(seed, 60)
    reg_users = np.arange(users.n_pre, users.n)
    rows = dict.fromkeys(TYPE_NAMES, 0)
    for mi, (y, m) in enumerate(MONTHS):
        days = np.flatnonzero(mi == MONTH_OF_DAY)
        a_us, b_us = int(days[0]) * DAY_US, (int(days[-1]) + 1) * DAY_US
        s, e = int(act.day_start[days[0]]), int(act.day_start[days[-1] + 1])
        au = act.users[s:e].astype(np.int64)
        ad = np.repeat(days, np.diff(act.day_start[days[0]:days[-1] + 2]))
        at = ad * DAY_US + _tod_after(wr, users.reg_tod_on(au, ad))
        rm = (users.reg_time[reg_users] >= a_us) & (users.reg_time[reg_users] < b_us)
        ru = reg_users[rm]
        tm = (touches.time >= a_us) & (touches.time < b_us)
        om = (orders.time >= a_us) & (orders.time < b_us)
        jm = (joins.time >= a_us) & (joins.time < b_us)
        fm = (rtime >= a_us) & (rtime < b_us)
        n_t, n_r, n_a, n_j, n_o, n_f = (int(tm.sum()), len(ru), len(au), int(jm.sum()), int(om.sum()),
                                        int(fm.sum()))
        nan = np.nan
        parts: dict[str, Any] = {
            "user": np.concatenate([touches.user[tm], ru, au, joins.user[jm], orders.user[om], orders.user[rsel[fm]]]),
            "time": np.concatenate([touches.time[tm], users.reg_time[ru], at, joins.time[jm], orders.time[om],
                                    rtime[fm]]),
            "type": np.concatenate([np.full(n_t, T_TOUCH), np.full(n_r, T_REGISTER), np.full(n_a, T_ACTIVE),
                                    np.full(n_j, T_JOIN), np.full(n_o, T_ORDER), np.full(n_f, T_REFUND)]),
            "label": np.concatenate([touches.label[tm], np.full(n_r + n_a + n_j + n_o + n_f, -1)]),
            "campaign": np.concatenate([touches.campaign[tm], np.full(n_r + n_a, -1), joins.campaign[jm],
                                        orders.campaign[om], np.full(n_f, -1)]),
            "amount": np.concatenate([np.full(n_t + n_r + n_a + n_j, nan), orders.amount_cents[om] / 100.0,
                                      ramt[fm] / 100.0]),
            "order": np.concatenate([np.full(n_t + n_r + n_a + n_j, -1), np.flatnonzero(om), rsel[fm]]),
            "referrer": np.concatenate([np.full(n_t, -1), users.referrer[ru], np.full(n_a + n_j + n_o + n_f, -1)]),
        }
        parts["seq"] = np.arange(len(parts["user"]))
        if len(parts["seq"]) >= max_rows:
            max_rows = len(parts["seq"]) + 1
            nums = _id_strings("", np.arange(max_rows, dtype=np.int64), 8)
        _write_month(out, mi, parts, uid, oid, nums)
        for name, c in zip(TYPE_NAMES, (n_t, n_r, n_a, n_j, n_o, n_f), strict=True):
            rows[name] += c
        say(f"events {y}-{m:02d}: {len(parts['user']):,} rows")

    rows["spend"] = spend.height
    rows["campaigns"] = camp_df.height
    files = {str(f.relative_to(out)): f.stat().st_size for f in sorted(out.rglob("*")) if f.is_file()}
    for n_ in notes:
        say(f"note: {n_}")
    return GenerateSummary(out_dir=out, rows=rows, users=users.n, seconds=time.perf_counter() - t0,
                           files=files, notes=notes)

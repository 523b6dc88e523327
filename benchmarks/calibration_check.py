"""Check the seed-story dataset against the SPEC §9 table, with independent DuckDB SQL.

Every figure is computed straight from the SPEC definitions (§3 channel rules, §4
last_non_direct register attribution with a 30-day lookback, §5 KPIs, §5.1 paid_rate,
§5.2 campaign table) over the written files; nothing is taken from the generator or the
campaign_roi library.  Prints ``metric, target, actual, deviation, OK/FAIL`` and exits 1
on any FAIL.

    python benchmarks/calibration_check.py --scale 0.1              # generate into a temp dir
    python benchmarks/calibration_check.py --scale 1 --data /tmp/seed1   # check existing data

Counts and money are compared with target × scale within ±3 % relative (CAC and ROI too,
relative), rates within ±0.5 percentage points.  At small scales (≤ 0.02) counts carry
rounding noise of a few users; check the rates there (``--rates-only``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

PERIODS = {
    "2024Q3": (date(2024, 7, 1), date(2024, 9, 30)),
    "2025Q2": (date(2025, 4, 1), date(2025, 6, 30)),
    "2025Q3": (date(2025, 7, 1), date(2025, 9, 30)),
}
ACTIVITY = "('register', 'active', 'campaign_join', 'order')"
DEFAULT_GROUPS = ["campus_community", "kol", "feed_ads", "referral", "direct", "other"]


@dataclass(frozen=True)
class Target:
    metric: str
    value: float
    kind: str  # "count" (× scale, ±3 %), "ratio" (±3 %), "rate" (±0.5 pp)


TARGETS: list[Target] = [
    Target("new_users 2025Q3", 325_000, "count"),
    Target("new_users 2025Q2", 282_600, "count"),
    Target("new_users 2024Q3", 253_900, "count"),
    Target("dau_peak 2025Q3", 128_000, "count"),
    Target("dau_peak 2025Q2", 114_300, "count"),
    Target("paid_conversion_rate 2025Q3", 0.078, "rate"),
    Target("paid_conversion_rate 2025Q2", 0.062, "rate"),
    Target("new_payers 2025Q3", 41_000, "count"),
    Target("gmv 2025Q3", 18_600_000, "count"),
    Target("cac 2025Q3", 62, "ratio"),
    Target("cac 2025Q2", 85, "ratio"),
    Target("passive_share 2025Q3", 0.48, "rate"),
    Target("passive_share 2025Q2", 0.35, "rate"),
    Target("campaign_roi 2025Q3", 3.2, "ratio"),
    Target("campaign_roi 2025Q2", 2.71, "ratio"),
    Target("m1_retention 2025Q3", 0.52, "rate"),
    Target("high_value_retention 2025Q3", 0.45, "rate"),
    Target("invitee_m1_retention 2025Q3", 0.68, "rate"),
    Target("campus_community new_users 2025Q3", 113_000, "count"),
    Target("campus_community paid_rate 2025Q3", 0.102, "rate"),
    Target("referral new_users 2025Q3", 87_000, "count"),
    Target("campaigns participants 2025Q3", 452_000, "count"),
    Target("campaigns converted_payers 2025Q3", 36_000, "count"),
    Target("brand_collab participants", 185_000, "count"),
    Target("brand_collab converted_payers", 21_000, "count"),
]


def _setup(con: duckdb.DuckDBPyConnection, data: Path) -> None:
    cfg = tomllib.loads((data / "campaign_roi.toml").read_text(encoding="utf-8"))
    rules = [(g, pat, i) for i, (g, pats) in enumerate(cfg.get("channels", {}).items()) for pat in pats]
    groups = sorted(set(DEFAULT_GROUPS) | set(cfg.get("channels", {})))
    passive = cfg.get("groups", {}).get("passive", ["referral", "organic", "direct"])
    con.sql("create table rules(grp varchar, pat varchar, ord integer)")
    con.executemany("insert into rules values (?, ?, ?)", rules)
    con.sql("create table grps(grp varchar)")
    con.executemany("insert into grps values (?)", [(g,) for g in groups])
    con.sql("create table passive(grp varchar)")
    con.executemany("insert into passive values (?)", [(g,) for g in passive])
    ev = str(data / "events" / "**" / "*.parquet")
    # everything but the (many) `active` rows, plus a slim table of all activity events
    con.sql("""create table ev as select * from read_parquet($p, hive_partitioning = false)
               where event_type <> 'active'""", params={"p": ev})
    con.sql(f"""create table acts as select user_id, event_time, cast(event_time as date) as d
                from read_parquet($p, hive_partitioning = false) where event_type in {ACTIVITY}""",
            params={"p": ev})
    con.sql("""create table orders as select user_id, event_time, cast(event_time as date) as d, amount
               from ev where event_type = 'order'""")
    # §3: a raw value equal to a group name maps to itself, else the first matching rule, else other
    con.sql("""
        create table label_map as
        with labels as (select distinct channel from ev where event_type = 'touch' and channel is not null),
        m as (select l.channel, arg_min(r.grp, r.ord) as grp
              from labels l join rules r on lower(l.channel) glob lower(r.pat) group by l.channel)
        select l.channel, coalesce(g.grp, m.grp, 'other') as grp
        from labels l left join m using (channel) left join grps g on lower(l.channel) = g.grp""")
    con.sql("""create table touches as
               select e.user_id, e.event_time as t, e.event_id, e.channel, m.grp
               from ev e join label_map m using (channel) where e.event_type = 'touch'""")
    # each user's first register (with its referrer)
    con.sql("""create table reg as
               select user_id, min(event_time) as T, arg_min(referrer_id, event_time) as referrer_id
               from ev where event_type = 'register' group by user_id""")
    # §4 last_non_direct over eligible touches (T - 30 days < t <= T); none -> organic.
    # (the `exposure` transform only collapses repeats, it never changes the last non-direct touch)
    con.sql("""
        create table attr as
        select r.user_id, r.T,
               coalesce(arg_max(t.grp, struct_pack(a := t.t, b := t.event_id, c := t.channel))
                          filter (where t.grp <> 'direct'),
                        arg_max(t.grp, struct_pack(a := t.t, b := t.event_id, c := t.channel)),
                        'organic') as grp
        from reg r left join touches t
          on t.user_id = r.user_id and t.t > r.T - interval 30 day and t.t <= r.T
        group by r.user_id, r.T""")


def _one(con: duckdb.DuckDBPyConnection, q: str, **params: object) -> float:
    rows = con.sql(q, params=params).fetchall()
    return float(rows[0][0]) if rows and rows[0][0] is not None else float("nan")


def compute_metrics(data: Path) -> dict[str, float]:
    """Every metric of TARGETS, computed from the files in ``data``."""
    with tempfile.TemporaryDirectory(prefix="calib-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "check.duckdb"))
        try:
            return _compute(con, data)
        finally:
            con.close()


def _compute(con: duckdb.DuckDBPyConnection, data: Path) -> dict[str, float]:
    _setup(con, data)
    out: dict[str, float] = {}
    last_day = con.sql("""select greatest((select max(d) from acts),
                                          (select max(cast(event_time as date)) from ev))""").fetchall()[0][0]
    for name, (a, b) in PERIODS.items():
        p = {"a": a, "b": b}
        nu = _one(con, "select count(*) from reg where cast(T as date) between $a and $b", **p)
        out[f"new_users {name}"] = nu
        if name == "2024Q3":
            continue
        out[f"dau_peak {name}"] = _one(con, """select max(n) from (select d, count(distinct user_id) n
                                        from acts where d between $a and $b group by d)""", **p)
        active = _one(con, "select count(distinct user_id) from acts where d between $a and $b", **p)
        payers = _one(con, "select count(distinct user_id) from orders where d between $a and $b", **p)
        out[f"paid_conversion_rate {name}"] = payers / active
        spend = _one(con, "select sum(cost)::double from read_parquet($f) where date between $a and $b",
                     f=str(data / "spend.parquet"), **p)
        out[f"cac {name}"] = spend / nu
        out[f"passive_share {name}"] = _one(con, """select count(*) filter (where grp in (select grp from passive))
            from attr where cast(T as date) between $a and $b""", **p) / nu
        out[f"campaign_roi {name}"] = _campaigns(con, data, a, b)["roi"]
    a, b = PERIODS["2025Q3"]
    p = {"a": a, "b": b}
    out["new_payers 2025Q3"] = _one(con, """select count(*) from (select user_id, min(d) fd from orders
                                     group by user_id) where fd between $a and $b""", **p)
    out["gmv 2025Q3"] = _one(con, "select sum(amount)::double from orders where d between $a and $b", **p)
    m1_q = """
        with c as (select user_id, cast(T as date) as rd, referrer_id from reg
                   where cast(T as date) between $a and $b and cast(T as date) + 59 <= $last {extra})
        select avg(case when exists (select 1 from acts x where x.user_id = c.user_id
                                     and x.d between c.rd + 30 and c.rd + 59) then 1.0 else 0.0 end)
        from c"""
    out["m1_retention 2025Q3"] = _one(con, m1_q.format(extra=""), last=last_day, **p)
    out["invitee_m1_retention 2025Q3"] = _one(con, m1_q.format(extra="and referrer_id is not null"),
                                              last=last_day, **p)
    out["high_value_retention 2025Q3"] = _one(con, """
        with m as (select user_id, date_trunc('month', d) as mon, sum(amount) tot from orders
                   where d between $a and $b group by all),
        hv as (select * from m where tot >= 200
               and cast(mon + interval 2 month - interval 1 day as date) <= $last)
        select avg(case when exists (select 1 from acts x where x.user_id = hv.user_id
                     and date_trunc('month', x.d) = hv.mon + interval 1 month) then 1.0 else 0.0 end) from hv""",
        last=last_day, **p)
    for grp in ("campus_community", "referral"):
        out[f"{grp} new_users 2025Q3"] = _one(
            con, "select count(*) from attr where grp = $g and cast(T as date) between $a and $b", g=grp, **p)
    out["campus_community paid_rate 2025Q3"] = _one(con, """
        select avg(case when exists (select 1 from orders o where o.user_id = attr.user_id and o.d <= $b)
                   then 1.0 else 0.0 end)
        from attr where grp = 'campus_community' and cast(T as date) between $a and $b""", **p)
    camp = _campaigns(con, data, a, b)
    out["campaigns participants 2025Q3"] = camp["participants"]
    out["campaigns converted_payers 2025Q3"] = camp["converted"]
    brand = _campaigns(con, data, a, b, only="brand_collab")
    out["brand_collab participants"] = brand["participants"]
    out["brand_collab converted_payers"] = brand["converted"]
    return out


def _campaigns(con: duckdb.DuckDBPyConnection, data: Path, a: date, b: date,
               only: str | None = None) -> dict[str, float]:
    """§5.2 over campaigns starting in [a, b]: participants, converted payers (summed over
    campaigns), revenue / cost."""
    row = con.sql("""
        with c as (select * from read_parquet($cf) where start_date between $a and $b
                   and ($only is null or campaign_id = $only)),
        j as (select c.campaign_id, e.user_id, min(e.event_time) as fj, any_value(c.end_date) as end_date
              from ev e join c on e.campaign_id = c.campaign_id
              where e.event_type = 'campaign_join'
                and cast(e.event_time as date) between c.start_date and c.end_date
              group by all),
        o as (select j.campaign_id, j.user_id, sum(o.amount) as rev
              from j join orders o on o.user_id = j.user_id
               and o.event_time >= j.fj and o.d <= j.end_date + 7
              group by all),
        s as (select campaign_id, sum(cost) as cost from read_parquet($sf)
              where campaign_id in (select campaign_id from c) group by all)
        select (select count(*) from j), (select count(*) from o),
               (select sum(rev) from o)::double, (select sum(cost) from s)::double""",
        params={"cf": str(data / "campaigns.parquet"), "sf": str(data / "spend.parquet"),
                "a": a, "b": b, "only": only}).fetchall()[0]
    parts, conv, rev, cost = (float(x) if x is not None else float("nan") for x in row)
    return {"participants": parts, "converted": conv, "roi": rev / cost if cost else float("nan")}


def check(metrics: dict[str, float], scale: float, rates_only: bool = False
          ) -> list[tuple[str, float, float, str, bool]]:
    """(metric, target, actual, deviation text, ok) per target."""
    rows = []
    for t in TARGETS:
        actual = metrics[t.metric]
        if t.kind == "rate":
            target = t.value
            dev = (actual - target) * 100
            ok = abs(dev) <= 0.5
            text = f"{dev:+.2f} pp"
        else:
            target = t.value * scale if t.kind == "count" else t.value
            rel = actual / target - 1 if target else float("nan")
            ok = abs(rel) <= 0.03 or (rates_only and t.kind == "count")
            text = f"{rel * 100:+.2f} %"
        rows.append((t.metric, target, actual, text, bool(ok)))
    return rows


def _fmt(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) < 1:
        return f"{x:.4f}"
    return f"{x:,.2f}"


def library_metrics(data: Path) -> dict[str, float]:
    """The same figures as campaign-roi itself reports them (summary --compare, channels,
    campaigns), keyed like compute_metrics, so the two implementations can be compared."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import polars as pl

    from campaign_roi.campaigns import campaign_table
    from campaign_roi.channels import channel_table
    from campaign_roi.dataset import Dataset
    from campaign_roi.kpis import summary
    from campaign_roi.periods import parse_period

    ds = Dataset.open(data)
    q3 = parse_period("2025Q3")
    s = {r["metric"]: r for r in summary(ds, q3, compare=True).to_dicts()}
    out: dict[str, float] = {}

    def val(metric: str, col: str) -> float:
        v = s[metric][col]
        return float("nan") if v is None else float(v)

    for col, name in (("value", "2025Q3"), ("previous", "2025Q2"), ("last_year", "2024Q3")):
        out[f"new_users {name}"] = val("new_users", col)
        if name == "2024Q3":
            continue
        for metric in ("dau_peak", "paid_conversion_rate", "cac", "passive_share", "campaign_roi"):
            out[f"{metric} {name}"] = val(metric, col)
    for metric in ("new_payers", "gmv", "m1_retention", "invitee_m1_retention",
                   "high_value_retention"):
        out[f"{metric} 2025Q3"] = val(metric, "value")
    ch = {r["channel"]: r for r in channel_table(ds, q3).to_dicts()}
    out["campus_community new_users 2025Q3"] = float(ch["campus_community"]["new_users"])
    out["referral new_users 2025Q3"] = float(ch["referral"]["new_users"])
    out["campus_community paid_rate 2025Q3"] = float(ch["campus_community"]["paid_rate"])
    camp = campaign_table(ds, q3)
    out["campaigns participants 2025Q3"] = float(camp["participants"].sum())
    out["campaigns converted_payers 2025Q3"] = float(camp["converted_payers"].sum())
    brand = camp.filter(pl.col("campaign_id") == "brand_collab")
    out["brand_collab participants"] = float(brand["participants"][0])
    out["brand_collab converted_payers"] = float(brand["converted_payers"][0])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="scale the data was (or is) generated at")
    ap.add_argument("--data", type=Path, help="existing dataset directory (default: generate a temporary one)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rates-only", action="store_true", help="report counts but do not fail on them")
    ap.add_argument("--library", action="store_true",
                    help="check campaign-roi's own summary/channels/campaigns output instead of this "
                         "script's independent SQL")
    args = ap.parse_args(argv)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    data = args.data
    if data is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from campaign_roi.generate import generate_dataset

        tmp = tempfile.TemporaryDirectory(prefix="seed-")
        data = Path(tmp.name)
        res = generate_dataset(data, scale=args.scale, seed=args.seed)
        print(f"generated scale {args.scale} seed {args.seed} in {res.seconds:.1f} s: {res.rows}")
    t0 = time.perf_counter()
    metrics = library_metrics(data) if args.library else compute_metrics(data)
    rows = check(metrics, args.scale, args.rates_only)
    print(f"checked {data} in {time.perf_counter() - t0:.1f} s (scale {args.scale})")
    w = max(len(r[0]) for r in rows)
    print(f"{'metric':<{w}}  {'target':>12}  {'actual':>12}  {'deviation':>10}  result")
    for metric, target, actual, dev, ok in rows:
        print(f"{metric:<{w}}  {_fmt(target):>12}  {_fmt(actual):>12}  {dev:>10}  {'OK' if ok else 'FAIL'}")
    fails = sum(not r[4] for r in rows)
    print(f"{len(rows) - fails}/{len(rows)} OK")
    if tmp is not None:
        tmp.cleanup()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

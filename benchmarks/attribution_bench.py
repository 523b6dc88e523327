"""Attribution benchmark (SPEC §10, issue 3): ``attribute`` against the window-pass floor.

Generates N synthetic events (default 20 M) as Parquet into ``benchmarks/data/`` (git-ignored,
cached by N and seed), then, in the same run, times

(a) the floor: DuckDB ``row_number() OVER (PARTITION BY user_id ORDER BY event_time)`` over all
    rows of the same files, result aggregated (in a subprocess, like (b));
(b) ``campaign-roi attribute --model <six rule models>`` as a subprocess,

and prints wall seconds, the ratio (b)/(a) and each subprocess's peak RSS.

    PYTHONPATH=. /work/venv/bin/python benchmarks/attribution_bench.py --events 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RULE_MODELS = "first_touch,last_touch,last_non_direct,linear,position_based,time_decay"
RAW_CHANNELS = np.array([
    "wechat_campus_group_a", "wechat_campus_group_b", "kol_douyin", "kol_xhs",
    "feed_toutiao", "feed_tencent", "invite_link", "app_store",
])
CHANNEL_WEIGHTS = np.array([0.18, 0.12, 0.12, 0.08, 0.15, 0.10, 0.10, 0.15])
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
# event mix (shares of all rows); users = registers
MIX = {"touch": 0.40, "active": 0.42, "register": 0.05, "campaign_join": 0.03,
       "order": 0.09, "refund": 0.01}
START = np.datetime64("2025-04-01T00:00:00", "us")
SPAN_US = int(np.timedelta64(183, "D") / np.timedelta64(1, "us"))
CHUNK = 5_000_000


def _strings(prefix: str, ids: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.string()), "")


def generate(n: int, seed: int, out: Path, event_ids: bool = True) -> None:
    """Write ``out/events/part-*.parquet`` (+ config) with ``n`` rows, in chunks."""
    rng = np.random.default_rng(seed)
    n_users = max(1, int(n * MIX["register"]))
    types = np.array(list(MIX))
    probs = np.array(list(MIX.values()))
    (out / "events").mkdir(parents=True, exist_ok=True)
    # each user's registration instant; other events scatter around it
    reg_at = rng.integers(0, SPAN_US, n_users)
    done = 0
    part = 0
    while done < n:
        m = min(CHUNK, n - done)
        if part == 0:  # every user registers once (first chunk carries the registers)
            kinds = rng.choice(types, m, p=probs)
            users = rng.integers(0, n_users, m)
            reg_rows = np.flatnonzero(kinds == "register")
            k = min(len(reg_rows), n_users)
            users[reg_rows[:k]] = np.arange(k)
        else:
            p2 = probs.copy()
            p2[list(MIX).index("register")] = 0.0
            p2 /= p2.sum()
            kinds = rng.choice(types, m, p=p2)
            users = rng.integers(0, n_users, m)
        base = reg_at[users]
        # touches mostly before the registration (up to 45 days), others after it
        offset = np.where(
            kinds == "touch",
            -rng.exponential(10 * 86_400e6, m),
            rng.exponential(30 * 86_400e6, m),
        ).astype(np.int64)
        offset[kinds == "register"] = 0
        t_us = np.clip(base + offset, 0, SPAN_US - 1)
        event_time = (START + t_us.astype("timedelta64[us]"))
        is_touch = kinds == "touch"
        chan = pa.array(rng.choice(RAW_CHANNELS, m, p=CHANNEL_WEIGHTS), mask=~is_touch)
        is_money = (kinds == "order") | (kinds == "refund")
        amount = np.where(is_money, np.round(rng.gamma(2.0, 40.0, m) + 1.0, 2), np.nan)
        order_no = done + np.arange(m)
        order_id = _strings("o", order_no)
        order_id = pc.if_else(pa.array(kinds == "order"), order_id, pa.nulls(m, pa.string()))
        # refunds name a (random, possibly nonexistent) earlier order
        ref_id = _strings("o", rng.integers(0, max(done + 1, m), m))
        order_id = pc.if_else(pa.array(kinds == "refund"), ref_id, order_id)
        camp = rng.choice(np.array(["back_to_school", "winback", "brand_collab"]), m)
        has_camp = (kinds == "campaign_join") | ((is_touch | (kinds == "order"))
                                                 & (rng.random(m) < 0.2))
        table = pa.table({
            "user_id": _strings("u", users),
            "event_time": pa.array(event_time, pa.timestamp("us")),
            "event_type": pa.array(kinds),
            "channel": chan,
            "campaign_id": pa.array(camp, pa.string(), mask=~has_camp),
            "amount": pa.array(amount, pa.float64(), mask=~is_money),
            "order_id": order_id,
            **({"event_id": _strings("e", order_no)} if event_ids else {}),
        })
        pq.write_table(table, out / "events" / f"part-{part:03d}.parquet",
                       row_group_size=1_000_000)
        done += m
        part += 1
    (out / "campaign_roi.toml").write_text(CONFIG, encoding="utf-8")
    (out / ".complete").write_text(str(n))


FLOOR = """
import sys, time, duckdb
con = duckdb.connect()
con.sql("SET enable_progress_bar = false")
t = time.perf_counter()
con.sql("SET TimeZone = 'Asia/Shanghai'")
r = con.sql(
    "SELECT count(*), sum(rn) FROM (SELECT row_number() OVER (PARTITION BY user_id "
    "ORDER BY event_time) rn FROM read_parquet($p))", params={"p": sys.argv[1]}
).fetchall()
print(r, time.perf_counter() - t)
"""


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` under /usr/bin/time -v: (wall seconds, peak RSS MiB, stdout)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    rss_kib = next(int(line.split()[-1]) for line in proc.stderr.splitlines()
                   if "Maximum resident set size" in line)
    return wall, rss_kib / 1024, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--models", default=RULE_MODELS)
    ap.add_argument("--conversion", default="register")
    ap.add_argument("--no-event-ids", action="store_true",
                    help="omit the optional event_id column (no de-duplication pass)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    out = DATA / f"events_{args.events}_s{args.seed}{'_noid' if args.no_event_ids else ''}"
    if not (out / ".complete").is_file():
        t = time.perf_counter()
        generate(args.events, args.seed, out, event_ids=not args.no_event_ids)
        print(f"generated {args.events:,} events in {time.perf_counter() - t:.1f} s -> {out}")
    glob = str(out / "events" / "*.parquet")
    py = sys.executable
    floor_s, floor_rss, floor_out = timed([py, "-c", FLOOR, glob])
    attr_s, attr_rss, _attr_out = timed([
        py, "-m", "campaign_roi", "attribute", "--data", str(out), "--conversion", args.conversion,
        "--model", args.models, "--format", "csv",
    ])
    print(f"events          {args.events:,}")
    print(f"floor           {floor_s:8.2f} s   peak RSS {floor_rss:7.0f} MiB   {floor_out.strip()}")
    print(f"attribute       {attr_s:8.2f} s   peak RSS {attr_rss:7.0f} MiB")
    print(f"ratio           {attr_s / floor_s:8.2f}x  (bar: <= 1x, <= 2048 MiB)")
    if args.json:
        print(json.dumps({"events": args.events, "floor_s": floor_s, "attribute_s": attr_s,
                          "ratio": attr_s / floor_s, "floor_rss_mib": floor_rss,
                          "attribute_rss_mib": attr_rss}))


if __name__ == "__main__":
    main()

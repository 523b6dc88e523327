"""A k-times larger dataset from an existing one, for the "larger data spills, never fails"
check of SPEC §10: every user (and their events, orders, invitations) is copied k times
under new ids (``<id>~<copy>``), so the time range, channels and campaigns stay the same and
everything per user keeps its shape; spend rows are repeated k times (CAC unchanged).

    python benchmarks/replicate.py benchmarks/data/seed-1 benchmarks/data/seed-1x10 --times 10

Streams through DuckDB (COPY … PARTITION_BY month), so it never holds the data in memory.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import duckdb


def replicate(src: Path, out: Path, times: int) -> None:
    out.mkdir(parents=True, exist_ok=False)
    con = duckdb.connect()
    con.sql("SET memory_limit = '2GB'")
    con.sql("SET preserve_insertion_order = false")
    glob = str(src / "events" / "**" / "*.parquet")
    cols = [r[0] for r in con.sql(
        "DESCRIBE SELECT * FROM read_parquet($g, hive_partitioning = true)",
        params={"g": glob}).fetchall()]

    def copied(c: str) -> str:
        if c in ("user_id", "event_id", "order_id", "referrer_id"):
            return f"CASE WHEN {c} IS NULL THEN NULL ELSE {c} || '~' || k END AS {c}"
        return c

    select = ", ".join(copied(c) for c in cols)
    con.sql(
        f"COPY (SELECT {select} FROM read_parquet($g, hive_partitioning = true), "
        "range($n) AS r(k)) TO $out (FORMAT parquet, PARTITION_BY (month))",
        params={"g": glob, "n": times, "out": str(out / "events")},
    )
    if (src / "spend.parquet").is_file():
        con.sql("COPY (SELECT s.* FROM read_parquet($p) AS s, range($n)) TO $out (FORMAT parquet)",
                params={"p": str(src / "spend.parquet"), "n": times,
                        "out": str(out / "spend.parquet")})
    for name in ("campaigns.parquet", "campaign_roi.toml"):
        if (src / name).is_file():
            shutil.copy(src / name, out / name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--times", type=int, default=10)
    args = ap.parse_args()
    t = time.perf_counter()
    replicate(args.src, args.out, args.times)
    print(f"wrote {args.out} in {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()

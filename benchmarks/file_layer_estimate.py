"""What a persistent per-file layer of user-level intermediates would give `summary --compare`
(issue 8's last unmet bar): a measured estimate for the product decision, not a feature.

`summary --compare` reads the files' user_id and event_time pages three times (the rare
events, the activity days, the acquisition's touches) where the floor reads them once. A
cache holding, per events file, that file's rare events, its touches and its activity words
would let a command read only the files it has not seen before. This script builds such a
layer in a temporary directory from the product's own `events` view (one extract per local
month; it checks that the seed data has one file per local month), then, in one run:

- times the floor (benchmarks/run.py's, as a subprocess) before and after;
- times `summary --compare` in-process as the product computes it today;
- times the same function with the layer standing in for the three reads: the `key_events`
  and `acquisition_touches` views re-pointed at the extracts, the activity words merged from
  the per-month words (one grouping: a 64-day word spans months), and checks that the
  result is the same frame, value for value;
- prints the layer's size and the time it took to write (paid once per new file).

    python benchmarks/file_layer_estimate.py [--data benchmarks/data/seed-1] [--repeat 3]

Ratios against the floor's best run, as in run.py; the command adds its start-up (imports,
opening the files) to the in-process figures, the same for both.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import FLOOR  # noqa: E402  (the floor query, one definition)

from campaign_roi import kpis  # noqa: E402
from campaign_roi.dataset import ACQUISITION_TOUCH_COLUMNS, Dataset  # noqa: E402
from campaign_roi.periods import parse_period  # noqa: E402

RARE = ("event_type, user_id, event_time, event_date, event_id, order_id, campaign_id, "
        "referrer_id, amount")  # the columns of queries/intermediate/key_events.sql


def floor(data: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR, str(data)], check=True, capture_output=True)
    return time.perf_counter() - start


def months_of(ds: Dataset) -> list[date]:
    """The first day of each local month with events, checking one file per month."""
    rows = ds.con.sql("SELECT DISTINCT CAST(date_trunc('month', event_date) AS DATE) FROM events "
                      "ORDER BY 1").fetchall()
    months = [r[0] for r in rows]
    files = ds.data_files()
    events = [f for f in files if "/events/" in str(f) or "\\events\\" in str(f)]
    if len(events) != len(months):
        sys.exit(f"{len(events)} events files for {len(months)} local months: this estimate "
                 "assumes one file per local month (the seed data's layout)")
    return months


def build_layer(ds: Dataset, months: list[date], first_day: date, out: Path) -> float:
    """Per month: its rare events, its touches and its activity words (day 0 = first_day)."""
    start = time.perf_counter()
    for m in months:
        # the month's rows, written on local_time so that the other files are not read
        # (event_date is its date; m is a date this script computed, not a user value)
        within = (f"local_time >= TIMESTAMP '{m} 00:00:00' "
                  f"AND local_time < TIMESTAMP '{_next_month(m)} 00:00:00'")
        ds.con.sql(f"COPY (SELECT {RARE} FROM events WHERE event_type IN ('campaign_join', "
                   f"'order', 'refund', 'register') AND {within}) "
                   f"TO '{out}/rare_{m}.parquet' (COMPRESSION zstd)")
        ds.con.sql(f"COPY (SELECT {ACQUISITION_TOUCH_COLUMNS} FROM events "
                   f"WHERE event_type = 'touch' AND {within}) "
                   f"TO '{out}/touch_{m}.parquet' (COMPRESSION zstd)")
        ds.con.sql(f"COPY (SELECT user_id, (event_date - DATE '{first_day}') // 64 AS word, "
                   f"bit_or(CAST(1 AS UBIGINT) << CAST((event_date - DATE '{first_day}') % 64 "
                   f"AS UBIGINT)) AS bits FROM events WHERE event_type IN ('register', "
                   f"'active', 'campaign_join', 'order') AND {within} GROUP BY ALL) "
                   f"TO '{out}/words_{m}.parquet' (COMPRESSION zstd)")
    return time.perf_counter() - start


def files(out: Path, kind: str, months: list[date]) -> str:
    return "[" + ", ".join(f"'{out}/{kind}_{m}.parquet'" for m in months) + "]"


def summary_from_layer(data: Path, out: Path, months: list[date], period: str):
    """The product's summary with the layer standing in for its three reads of the files."""
    ds = Dataset.open(data)
    first, last = ds.date_range
    p = parse_period(period)
    periods = [p, p.previous(), p.last_year()]
    days = kpis.kpi_activity_days(periods, first, last)
    start = time.perf_counter()
    ds.con.sql(f"CREATE OR REPLACE VIEW key_events AS SELECT {RARE} "
               f"FROM read_parquet({files(out, 'rare', months)})")
    ds.con.sql(f"CREATE OR REPLACE VIEW acquisition_touches AS SELECT {ACQUISITION_TOUCH_COLUMNS} "
               f"FROM read_parquet({files(out, 'touch', months)})")
    needed = [m for m in months
              if any(lo < _next_month(m) and hi >= m for lo, hi in days)]
    ds.con.sql("CREATE TEMP TABLE activity_words AS SELECT user_id, word, bit_or(bits) AS bits "
               f"FROM read_parquet({files(out, 'words', needed)}) GROUP BY ALL")
    ds.con.sql("SET VARIABLE activity_words_first_day = $d", params={"d": first})
    ds.temp_keys["activity_words"] = (first, "days", tuple(days))
    frame = kpis.summary(ds, p, compare=True)
    return time.perf_counter() - start, frame


def _next_month(m: date) -> date:
    return date(m.year + m.month // 12, m.month % 12 + 1, 1)


def summary_today(data: Path, period: str):
    ds = Dataset.open(data)
    start = time.perf_counter()
    frame = kpis.summary(ds, parse_period(period), compare=True)
    return time.perf_counter() - start, frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "seed-1")
    ap.add_argument("--period", default="2025Q3")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="file-layer-"))
    try:
        ds = Dataset.open(args.data)
        months = months_of(ds)
        first = ds.date_range[0]
        written = build_layer(ds, months, first, out)
        del ds
        sizes = {k: sum(f.stat().st_size for f in out.glob(f"{k}_*.parquet"))
                 for k in ("rare", "touch", "words")}
        floors = [floor(args.data)]
        today: list[float] = []
        layer: list[float] = []
        for _ in range(args.repeat):
            t_today, f_today = summary_today(args.data, args.period)
            t_layer, f_layer = summary_from_layer(args.data, out, months, args.period)
            if not f_today.equals(f_layer):
                sys.exit("the summary from the layer differs from today's: estimate void")
            today.append(t_today)
            layer.append(t_layer)
        floors.append(floor(args.data))
        best = min(floors)
        data_mb = sum(f.stat().st_size for f in args.data.rglob("*.parquet")) / 1e6
        print(f"floor runs: {', '.join(f'{x:.2f}' for x in floors)} s (best {best:.2f})")
        print(f"summary --compare today, in-process: {', '.join(f'{x:.2f}' for x in today)} s"
              f" -> {min(today) / best:.2f}x the floor")
        print(f"with the per-file layer, in-process: {', '.join(f'{x:.2f}' for x in layer)} s"
              f" -> {min(layer) / best:.2f}x the floor (the same frame: checked)")
        print(f"layer: {sum(sizes.values()) / 1e6:.0f} MB ("
              + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items())
              + f") for {data_mb:.0f} MB of data files; written in {written:.1f} s"
              f" ({written / best:.2f}x the floor, once per new file)")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

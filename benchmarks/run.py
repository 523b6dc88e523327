"""Benchmarks of every command against the DuckDB floor (SPEC §10, issue 8).

For each scale (default 0.1 and 1) it generates the seed-story dataset once (cached under
benchmarks/data/seed-<scale>/, git-ignored), then in ONE run times

- the floor: DuckDB ``row_number() OVER (PARTITION BY user_id ORDER BY event_time)`` over all
  rows of the same events files, result aggregated; timed before and after the commands,
  the ratios use its best run and the output lists every run (how much the machine moved);
- each command as a subprocess (``python -m campaign_roi …``), wall seconds and peak RSS
  (``/usr/bin/time -v``),

and prints a table: command, seconds, ratio to the floor, peak RSS, and the growth of each
command from the smallest to the largest scale relative to the growth in events.

    python benchmarks/run.py                      # scales 0.1 and 1
    python benchmarks/run.py --scales 0.1 --repeat 1
    python benchmarks/run.py --scales 1 --warm --only summary,report   # some rows only
    python benchmarks/run.py --markdown docs/performance-table.md
    python benchmarks/run.py --scales 1 --warm --no-layer     # without the file layer

Ratios, not absolute seconds, are the figures to read: the machine is shared and noisy.
With ``--warm`` the cache (campaign_roi.cache: the file facts such as repeated event_ids,
the first validation error, the date range; campaign_roi.file_layer: each events file's rare
events, touches and activity words) is kept between commands, as it is for an analyst
running several commands on the same files; an extra row then shows the first command on new
files, which computes those facts and writes the file layer. Without it every command pays
the full price.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
PY = sys.executable

FLOOR = """
import duckdb, sys
con = duckdb.connect()
glob = sys.argv[1] + "/events/**/*.parquet"
print(con.sql(
    "SELECT count(*), sum(rn) FROM (SELECT row_number() OVER (PARTITION BY user_id "
    "ORDER BY event_time) AS rn FROM read_parquet($g, hive_partitioning = true))",
    params={"g": glob}).fetchall())
"""

COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    ("validate", ["validate"]),
    ("summary --compare", ["summary", "--period", "2025Q3", "--compare"]),
    ("channels", ["channels", "--period", "2025Q3"]),
    ("attribute all (register)", ["attribute", "--model", "all", "--conversion", "register",
                                  "--period", "2025Q3"]),
    ("attribute all (first_order)", ["attribute", "--model", "all", "--conversion",
                                     "first_order", "--period", "2025Q3"]),
    ("attribute all (order)", ["attribute", "--model", "all", "--conversion", "order",
                               "--period", "2025Q3"]),
    ("paths", ["paths", "--conversion", "register", "--period", "2025Q3"]),
    ("funnel", ["funnel", "--steps", "register,first_order", "--period", "2025Q3"]),
    ("retention", ["retention", "--grain", "month", "--periods", "3"]),
    ("segments", ["segments"]),
    ("report", ["report", "--period", "2025Q3", "--out", "{tmp}/report.html"]),
]


#: the floor's run times per scale, at the start and at the end of its commands
FLOOR_RUNS: dict[float, list[float]] = {}


@dataclass
class Result:
    name: str
    seconds: float
    rss_mib: float


def dataset(scale: float) -> Path:
    out = DATA / f"seed-{scale:g}"
    if not (out / "campaign_roi.toml").is_file():
        print(f"generating scale {scale:g} into {out} …", file=sys.stderr)
        subprocess.run([PY, "-m", "campaign_roi", "generate", "--out", str(out), "--scale",
                        str(scale), "--quiet"], check=True, cwd=ROOT)
    return out


def timed(argv: list[str], env: dict[str, str]) -> Result:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, *argv], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tf.read())
    return Result(" ".join(argv), seconds, int(m[1]) / 1024 if m else float("nan"))


def events(data: Path) -> int:
    import duckdb

    glob = str(data / "events" / "**" / "*.parquet")
    return int(duckdb.sql("SELECT count(*) FROM read_parquet($g)", params={"g": glob})
               .fetchall()[0][0])


def run_scale(scale: float, repeat: int, warm: bool,
              only: tuple[str, ...] = (), layer: bool = True) -> dict[str, Result]:
    data = dataset(scale)
    tmp = tempfile.mkdtemp(prefix="bench-")
    cache = tempfile.mkdtemp(prefix="bench-cache-")
    env = {**os.environ, "CAMPAIGN_ROI_DATA": str(data), "CAMPAIGN_ROI_CACHE_DIR": cache,
           "CAMPAIGN_ROI_FILE_LAYER": "on" if layer else "off"}
    results: dict[str, Result] = {}
    floor_runs: list[Result] = []

    def best(name: str, argv: list[str], earlier: list[Result] | None = None) -> None:
        runs = list(earlier or [])
        for _ in range(repeat):
            if not warm:
                shutil.rmtree(cache, ignore_errors=True)
            runs.append(timed(argv, env))
        results[name] = min(runs, key=lambda r: r.seconds)
        if earlier is not None:
            earlier[:] = runs
        r = results[name]
        print(f"  {name:32s} {r.seconds:8.2f} s {r.rss_mib:8.0f} MiB", file=sys.stderr)

    print(f"scale {scale:g}: {data}", file=sys.stderr)
    floor = [PY, "-c", FLOOR, str(data)]
    best("floor", floor, floor_runs)
    commands = [(n, a) for n, a in COMMANDS if not only or any(o in n for o in only)]
    if warm:  # the first command on new files also computes the cached file facts
        shutil.rmtree(cache, ignore_errors=True)
        results["summary --compare, first run on new files"] = timed(
            [PY, "-m", "campaign_roi", "summary", "--period", "2025Q3", "--compare"], env)
    for name, args in commands:
        best(name, [PY, "-m", "campaign_roi", *[a.format(tmp=tmp) for a in args]])
    # the floor again after the commands: the ratios use its best run of the whole scale, and
    # the spread of its runs shows how much the machine's speed moved meanwhile
    best("floor", floor, floor_runs)
    FLOOR_RUNS[scale] = [r.seconds for r in floor_runs]
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return results


def table(all_results: dict[float, dict[str, Result]], sizes: dict[float, int]) -> str:
    scales = sorted(all_results)
    lines = ["| command | " + " | ".join(
        f"s @{s:g} | ×floor @{s:g} | MiB @{s:g}" for s in scales) + " | growth |",
        "|---" * (1 + 3 * len(scales) + 1) + "|"]
    lo, hi = scales[0], scales[-1]
    event_growth = sizes[hi] / sizes[lo] if sizes[lo] else float("nan")
    for name in all_results[lo]:
        cells = []
        for s in scales:
            r, floor = all_results[s][name], all_results[s]["floor"]
            cells.append(f"{r.seconds:.2f} | {r.seconds / floor.seconds:.2f} | {r.rss_mib:.0f}")
        growth = all_results[hi][name].seconds / all_results[lo][name].seconds
        g = f"{growth:.1f}× for {event_growth:.1f}× events" if len(scales) > 1 else ""
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {g} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="0.1,1")
    ap.add_argument("--repeat", type=int, default=1, help="runs per command; the best counts")
    ap.add_argument("--warm", action="store_true", help="keep the derived-facts cache")
    ap.add_argument("--no-layer", action="store_true",
                    help="commands without the file layer (CAMPAIGN_ROI_FILE_LAYER=off)")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--only", default="", metavar="NAME,…",
                    help="only the commands whose row name contains one of these (and the floor)")
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    only = tuple(o for o in args.only.split(",") if o)
    all_results = {s: run_scale(s, args.repeat, args.warm, only, not args.no_layer)
                   for s in scales}
    sizes = {s: events(dataset(s)) for s in scales}
    runs = "; ".join(f"{', '.join(f'{x:.2f}' for x in FLOOR_RUNS[s])} s @{s:g}" for s in scales)
    text = ("events: " + ", ".join(f"{sizes[s]:,} @{s:g}" for s in scales) + "\n\n"
            + f"floor runs, before and after the commands: {runs}\n\n"
            + table(all_results, sizes))
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

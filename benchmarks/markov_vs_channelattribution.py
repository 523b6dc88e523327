"""Benchmark: exact ``markov_attribution`` vs ChannelAttribution's simulated ``markov_model``.

Run from the repository root:

    PYTHONPATH=. /work/venv/bin/python benchmarks/markov_vs_channelattribution.py

Builds a seeded 1-million-journey path table (5 channels, lengths 1–10 uniform, no
consecutive repeats, conversion odds depending on the channels), then in one run:

1. times ``markov_attribution`` (order 1) and ChannelAttribution's ``markov_model`` with
   its defaults (nsim_start=1e5, max_step=None, ncore=1), prints both times and the ratio
   (SPEC §10 bar: ours ≥ 10× faster);
2. compares removal effects with ChannelAttribution run with a large ``max_step`` and
   more simulations (``--nsim-check``, default 1e6); its result is a simulation, so
   the difference is reported, not asserted;
3. repeats the comparison for order 2.

ChannelAttribution is a benchmark-only dependency: ``pip install channelattribution``.
Options: ``--journeys N`` (default 1,000,000), ``--seed S``, ``--repeat R`` (interleaved runs of
each, best reported, default 5), ``--max-step M`` (default 1000), ``--nsim-check N``
(default 1e6).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from campaign_roi.markov import markov_attribution

CHANNELS = ("campus_community", "direct", "feed_ads", "kol", "referral")


def make_path_table(journeys: int, seed: int) -> pl.DataFrame:
    """A seeded path table of ``journeys`` journeys over 5 channels, lengths 1–10."""
    rng = np.random.default_rng(seed)
    k = len(CHANNELS)
    lengths = rng.integers(1, 11, size=journeys)
    width = 10
    # First channel uniform; each next one uniform over the 4 others (no repeats).
    first = rng.integers(0, k, size=journeys)
    steps = rng.integers(1, k, size=(journeys, width - 1))
    seq = np.concatenate([first[:, None], steps], axis=1).cumsum(axis=1) % k
    mask = np.arange(width)[None, :] < lengths[:, None]
    # Conversion odds: base 3 %, +4 % if kol was seen, +6 % if the last touch is
    # campus_community, +1 % per touch (capped), referral-only paths 12 %.
    seen = np.stack([((seq == c) & mask).any(axis=1) for c in range(k)], axis=1)
    last = seq[np.arange(journeys), lengths - 1]
    p = 0.03 + 0.04 * seen[:, 3] + 0.06 * (last == 0) + 0.01 * np.minimum(lengths, 8)
    p = np.where((lengths == 1) & (first == 4), 0.12, p)
    converted = rng.random(journeys) < p
    value = np.where(converted, np.round(rng.gamma(2.0, 60.0, size=journeys), 2), 0.0)
    names = np.array(CHANNELS, dtype=object)
    tokens = pl.DataFrame(
        {
            "journey": np.repeat(np.arange(journeys), lengths),
            "channel": names[seq[mask]].tolist(),
        }
    )
    paths = tokens.group_by("journey").agg(pl.col("channel").str.join(" > ").alias("path"))
    outcome = pl.DataFrame({"journey": np.arange(journeys), "converted": converted, "value": value})
    return (
        paths.join(outcome, on="journey")
        .group_by("path")
        .agg(
            pl.col("converted").sum().cast(pl.Float64).alias("conversions"),
            pl.col("value").sum().alias("value"),
            (~pl.col("converted")).sum().cast(pl.Float64).alias("nulls"),
        )
        .sort("path")
    )


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_channelattribution(
    table: pl.DataFrame,
    order: int,
    max_step: int | None,
    repeat: int = 1,
    nsim_start: float = 1e5,
) -> tuple[float, dict[str, float]]:
    """Time CA's markov_model; return (seconds, removal effect per channel)."""
    import ChannelAttribution as ca  # type: ignore[import-untyped]

    data = table.with_columns(
        pl.col("conversions").cast(pl.Int64).alias("total_conversions"),
        pl.col("value").alias("total_conversion_value"),
        pl.col("nulls").cast(pl.Int64).alias("total_null"),
    ).to_pandas()
    sink = io.StringIO()

    def call() -> Any:
        with contextlib.redirect_stdout(sink):
            return ca.markov_model(
                data,
                "path",
                "total_conversions",
                var_value="total_conversion_value",
                var_null="total_null",
                order=order,
                max_step=max_step,
                nsim_start=nsim_start,
                out_more=True,
                flg_pro=False,
            )

    seconds, res = timed(call, repeat)
    re = res["removal_effects"]
    effects = dict(zip(re["channel_name"].tolist(), re["removal_effects_conversion"].tolist(), strict=True))
    return seconds, effects


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--journeys", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20250815)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-step", type=int, default=1000)
    ap.add_argument("--nsim-check", type=float, default=1e6)
    args = ap.parse_args()

    t0 = time.perf_counter()
    table = make_path_table(args.journeys, args.seed)
    build = time.perf_counter() - t0
    journeys = int(table.select(pl.col("conversions").sum() + pl.col("nulls").sum()).item())
    print(
        f"path table: {journeys:,} journeys, {table.height:,} distinct paths, "
        f"{int(table['conversions'].sum()):,} conversions (built in {build:.2f} s)"
    )

    try:
        import ChannelAttribution  # noqa: F401
    except Exception as exc:  # report exactly why, then still time our side
        print(f"ChannelAttribution unavailable: {type(exc).__name__}: {exc}")
        ca_ok = False
    else:
        ca_ok = True

    for order in (1, 2):
        print(f"\n== order {order} ==")

        def ours_call(o: int = order) -> Any:
            return markov_attribution(table, order=o)

        # Interleave the two so that both see the same load on a shared machine;
        # report the best run of each (and every pair's ratio).
        ours_times: list[float] = []
        ca_times: list[float] = []
        ours: Any = None
        for _ in range(args.repeat):
            seconds, ours = timed(ours_call)
            ours_times.append(seconds)
            if ca_ok:
                ca_times.append(run_channelattribution(table, order, None)[0])
        ours_s = min(ours_times)
        re_ours = dict(ours.removal_effects.iter_rows())
        print(
            f"ours (exact)            : {ours_s:8.3f} s  "
            f"(runs: {', '.join(f'{t:.3f}' for t in ours_times)})  "
            f"P(conversion) = {ours.conversion_probability:.6f}"
        )
        if not ca_ok:
            continue
        ca_s = min(ca_times)
        print(
            f"ChannelAttribution dflt : {ca_s:8.3f} s  "
            f"(runs: {', '.join(f'{t:.3f}' for t in ca_times)}; nsim_start=1e5, max_step=None, ncore=1)"
        )
        pairs = ", ".join(f"{c / o:.1f}x" for c, o in zip(ca_times, ours_times, strict=True))
        print(f"speed-up (best/best)    : {ca_s / ours_s:8.1f}x  (bar: >= 10x; per pair: {pairs})")
        big_s, re_ca = run_channelattribution(table, order, args.max_step, nsim_start=args.nsim_check)
        diffs = {c: abs(re_ours[c] - re_ca.get(c, float("nan"))) for c in re_ours}
        print(
            f"ChannelAttribution max_step={args.max_step}, nsim_start={args.nsim_check:.0e}: {big_s:8.3f} s"
        )
        print("channel            RE ours     RE CA     |diff|")
        for c in sorted(re_ours):
            print(f"{c:<18} {re_ours[c]:.6f}  {re_ca.get(c, float('nan')):.6f}  {diffs[c]:.6f}")
        print(f"max |RE ours - RE CA| = {max(diffs.values()):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

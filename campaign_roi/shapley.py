""" "Simplified Shapley" attribution over a path table (SPEC §4 ``shapley``, §4.1).

For a path p = t_1 > … > t_n (the exact path string, no collapsing):

- P(p) = conversions / (conversions + nulls) of the row whose path is exactly p
  (0 if the table has no such row, or the row has no journeys);
- n = 1: t_1 gets weight 1;
- n ≥ 2: touch i gets m_i = max(P(p) − P(p without touch i), 0); the weights are
  m_i / Σ m; if every m_i is 0, the last touch gets 1.

A channel's credit is Σ over rows of (weights of its touches) × the row's conversions
(and × value). Rows with an empty path (conversions without a touch) go wholly to
``organic``. Every path's weights sum to 1, so credited conversions and value sum to
the table's totals.

Vectorised: the touches are exploded once, each "path without touch i" is cut out of
the path string by character offsets, and looked up with one join; the per-channel sums
use ``numpy.bincount`` in a fixed order, so the output is the same to the last digit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from campaign_roi.markov import add_organic
from campaign_roi.path_table import SEPARATOR, normalise_path_table

_SEP_LEN = len(SEPARATOR)


def shapley_touch_weights(paths: pl.DataFrame) -> pl.DataFrame:
    """Touch weights of every non-empty path of the table.

    ``paths``: a §4.1 path table (any form :func:`normalise_path_table` accepts).
    Returns ``pl.DataFrame[path: String, position: Int64 (1-based), channel: String,
    weight: Float64]`` sorted by path, position; each path's weights sum to 1.
    """
    return _touch_weights(normalise_path_table(paths))


def _touch_weights(table: pl.DataFrame) -> pl.DataFrame:
    table = table.filter(pl.col("path") != "")
    journeys = pl.col("conversions") + pl.col("nulls")
    prob = table.select(
        "path",
        pl.when(journeys > 0).then(pl.col("conversions") / journeys).otherwise(0.0).alias("p"),
    )
    touches = (
        prob.with_columns(pl.col("path").str.split(SEPARATOR).alias("channel"))
        .with_columns(pl.col("channel").list.len().alias("n"))
        .explode("channel")
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("path").alias("position"),
            pl.col("channel").str.len_chars().cast(pl.Int64).alias("clen"),
        )
        .with_columns(
            # Character offset of this touch in the path string.
            (pl.col("clen") + _SEP_LEN).cum_sum().over("path").alias("end_sep"),
        )
        .with_columns((pl.col("end_sep") - pl.col("clen") - _SEP_LEN).alias("start"))
    )
    # The path string without touch i: drop "t_1 > " for i = 1, else " > t_i".
    without = (
        pl.when(pl.col("position") == 1)
        .then(pl.col("path").str.slice(pl.col("clen") + _SEP_LEN))
        .otherwise(
            pl.col("path").str.slice(0, pl.col("start") - _SEP_LEN)
            + pl.col("path").str.slice(pl.col("start") + pl.col("clen"))
        )
    )
    touches = touches.with_columns(pl.when(pl.col("n") > 1).then(without).otherwise(None).alias("without"))
    lookup = prob.rename({"path": "without", "p": "p_without"})
    touches = (
        touches.join(lookup, on="without", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("n") == 1)
            .then(1.0)
            .otherwise((pl.col("p") - pl.col("p_without").fill_null(0.0)).clip(lower_bound=0.0))
            .alias("m")
        )
        .with_columns(pl.col("m").sum().over("path").alias("m_sum"))
        .with_columns(
            pl.when(pl.col("m_sum") > 0)
            .then(pl.col("m") / pl.col("m_sum"))
            .when(pl.col("position") == pl.col("n"))
            .then(1.0)
            .otherwise(0.0)
            .alias("weight")
        )
    )
    return touches.select("path", "position", "channel", "weight").sort("path", "position")


def shapley_attribution(paths: pl.DataFrame) -> pl.DataFrame:
    """Simplified-Shapley credits per channel.

    ``paths``: a §4.1 path table (any form :func:`normalise_path_table` accepts).
    Returns ``pl.DataFrame[channel: String, conversions: Float64, value: Float64]``
    sorted by channel: every channel of the table (0 if it earns nothing), plus
    ``organic`` for rows with an empty path.
    """
    table = normalise_path_table(paths)  # sorted by path, one row per path
    weights = _touch_weights(table)
    totals = table.filter(pl.col("path") != "").select("path", "conversions", "value")
    rows = weights.join(totals, on="path", how="left", maintain_order="left")
    channels = rows.get_column("channel").unique().sort()
    code = rows.get_column("channel").cast(pl.Enum(channels.to_list())).to_physical().to_numpy()
    w = rows.get_column("weight").to_numpy()
    n = channels.len()
    conv = np.bincount(code, weights=w * rows.get_column("conversions").to_numpy(), minlength=n)
    value = np.bincount(code, weights=w * rows.get_column("value").to_numpy(), minlength=n)
    credits = pl.DataFrame(
        {"channel": channels, "conversions": conv.astype(np.float64), "value": value},
        schema={"channel": pl.String, "conversions": pl.Float64, "value": pl.Float64},
    )
    empty = table.filter(pl.col("path") == "")
    return add_organic(
        credits,
        float(empty.get_column("conversions").sum()),
        float(empty.get_column("value").sum()),
    )

"""Markov-chain attribution over a path table (SPEC §4 ``markov``, §4.1), computed exactly.

Model
-----
Every journey in the path table is a walk ``(start) → s_1 → … → s_m → (conversion)``
(``conversions`` journeys of that path) or ``… → (null)`` (``nulls`` journeys). For
order 1 the states ``s_i`` are the channels of the path after collapsing consecutive
repeats; for order k they are the sliding windows of k consecutive channels
(``a > b > c > d`` with k = 2: ``a > b``, ``b > c``, ``c > d``), and a path shorter
than k is a single state made of the whole path — the state space ChannelAttribution
uses. Transition probabilities are the observed transition counts divided by the
state's total outgoing count (maximum likelihood).

With Q the transient-to-transient block of the transition matrix and r the column
of probabilities into ``(conversion)``, the probabilities x of ending in
``(conversion)`` solve ``(I − Q) x = r``; P(conversion) = x[(start)]. The system is
nonsingular because every observed state lies on an observed journey that reaches
an absorbing state. Removing channel c turns every state that contains c into
``(null)``: those unknowns are fixed at 0 and the same system is solved over the
remaining states. Removal effect RE(c) = 1 − P(conversion without c) / P(conversion),
which equals P(a converting walk visits c). Total conversions and value are split in
proportion to RE. No simulation, no step limit; sparse LU (SuperLU) on a state order
fixed by sorting, so the result is the same to the last digit on every run.

Degenerate cases (see docs/data-driven-attribution.md):
- no conversions (P(conversion) = 0): every removal effect and credit is 0;
- ΣRE = 0 while there is something to credit (only value on never-converting paths):
  conserving fallback, last-touch (each path's value to its last channel);
- rows with an empty path (conversions without any touch) go wholly to ``organic``;
- channels that occur only in rows with no journeys (conversions = nulls = 0) are
  listed with 0 credit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from campaign_roi.errors import UserError
from campaign_roi.path_table import SEPARATOR, normalise_path_table

ORGANIC = "organic"
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MarkovResult:
    """Result of :func:`markov_attribution`.

    - ``credits``: ``channel`` (String), ``conversions``, ``value`` (Float64), sorted by channel;
    - ``removal_effects``: ``channel``, ``removal_effect`` (Float64 in [0, 1]), sorted by channel
      (chain channels only; ``organic`` from empty paths is not part of the chain);
    - ``transitions``: ``from_state``, ``to_state`` (String), ``probability`` (Float64),
      sorted by from_state, to_state; order-k states are channel names joined by ``" > "``;
    - ``conversion_probability``: P((start) reaches (conversion)).
    """

    credits: pl.DataFrame
    removal_effects: pl.DataFrame
    transitions: pl.DataFrame
    conversion_probability: float


@dataclass(frozen=True)
class _Chain:
    channels: list[str]  # sorted; channel code = index + 1
    state_names: list[str]  # transient states 1..n (index 0 is (start))
    contains: npt.NDArray[np.bool_]  # (n_states + 1, n_channels): state contains channel
    matrix: sp.csr_matrix  # (n+1, n+3) row-stochastic; col n+1 = (conversion), n+2 = (null)


def _explode_collapsed(table: pl.DataFrame, channels: list[str]) -> tuple[IntArray, IntArray]:
    """Row index and channel code (1-based) of every touch, consecutive repeats collapsed."""
    enum = pl.Enum(channels)
    touches = (
        table.select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), pl.col("path").str.split(SEPARATOR)
        )
        .explode("path")
        .select("row", pl.col("path").cast(enum).to_physical().cast(pl.Int64).alias("code"))
    )
    rows = touches.get_column("row").to_numpy()
    codes = touches.get_column("code").to_numpy() + 1
    keep = np.ones(rows.shape[0], dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (codes[1:] != codes[:-1])
    return rows[keep], codes[keep]


def _positions(rows: IntArray) -> tuple[IntArray, IntArray]:
    """0-based position of every touch within its path, and that path's length."""
    n = rows.shape[0]
    starts = (
        np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if n else np.zeros(0, dtype=np.int64)
    )
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths), np.repeat(lengths, lengths)


def _windows(
    rows: IntArray, codes: IntArray, order: int, base: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Order-k states of every path: (state code, row, index of first touch) per window.

    The code of a window of channels (c_1 … c_j), j ≤ k, is the base-``base`` number with
    digits c_1 … c_j padded by zeros to k digits, so integer order = lexicographic order
    of the channel tuples (a shorter tuple first). Codes are re-compacted when they
    would overflow int64 (very high orders), which keeps that order.
    """
    n = rows.shape[0]
    pos, row_len = _positions(rows)
    valid = (pos + order <= row_len) | ((pos == 0) & (row_len < order))
    idx = np.flatnonzero(valid)
    code = np.zeros(idx.shape[0], dtype=np.int64)
    for j in range(order):
        if code.shape[0] and int(code.max()) >= (2**62) // base:
            code = np.unique(code, return_inverse=True)[1].astype(np.int64)
        inside = pos[idx] + j < row_len[idx]
        digit = np.where(inside, codes[np.minimum(idx + j, n - 1)], 0)
        code = code * base + digit
    return code, rows[idx], idx


def _build_chain(table: pl.DataFrame, order: int) -> _Chain | None:
    """Transition matrix of the absorbing chain, or None when no journey has a touch."""
    weights = (table.get_column("conversions") + table.get_column("nulls")).to_numpy()
    table = table.filter(pl.Series(weights > 0))
    if table.height == 0:
        return None
    channels = _channels_of(table)
    conv = table.get_column("conversions").to_numpy()
    nulls = table.get_column("nulls").to_numpy()
    total = conv + nulls
    rows, codes = _explode_collapsed(table, channels)
    state_code, state_row, first_touch = _windows(rows, codes, order, len(channels) + 1)
    uniq, first_of_state, state_idx = np.unique(state_code, return_index=True, return_inverse=True)
    n_states = uniq.shape[0]
    sid = state_idx.astype(np.int64) + 1  # 0 is (start)
    conv_col, null_col = n_states + 1, n_states + 2

    is_first = np.r_[True, state_row[1:] != state_row[:-1]]
    is_last = np.r_[state_row[1:] != state_row[:-1], True]
    src = np.concatenate(
        [
            np.zeros(int(is_first.sum()), dtype=np.int64),
            sid[:-1][~is_last[:-1]],
            sid[is_last],
            sid[is_last],
        ]
    )
    dst = np.concatenate(
        [
            sid[is_first],
            sid[1:][~is_last[:-1]],
            np.full(int(is_last.sum()), conv_col, dtype=np.int64),
            np.full(int(is_last.sum()), null_col, dtype=np.int64),
        ]
    )
    last_rows = state_row[is_last]
    w = np.concatenate(
        [
            total[state_row[is_first]],
            total[state_row[:-1][~is_last[:-1]]],
            conv[last_rows],
            nulls[last_rows],
        ]
    )
    positive = w > 0
    counts = sp.coo_matrix(
        (w[positive], (src[positive], dst[positive])), shape=(n_states + 1, n_states + 3)
    ).tocsr()
    counts.sum_duplicates()
    out = np.asarray(counts.sum(axis=1)).ravel()
    matrix = sp.csr_matrix(sp.diags(1.0 / out) @ counts)

    # Which channels each state contains, and its display name.
    pos, row_len = _positions(rows)
    row_end = np.arange(rows.shape[0]) - pos + row_len  # one past the last touch of the row
    contains = np.zeros((n_states + 1, len(channels)), dtype=bool)
    names: list[str] = []
    for s in range(n_states):
        i = int(first_touch[first_of_state[s]])
        members = codes[i : min(i + order, int(row_end[i]))]
        contains[s + 1, members - 1] = True
        names.append(SEPARATOR.join(channels[c - 1] for c in members))
    return _Chain(channels=channels, state_names=names, contains=contains, matrix=matrix)


def _channels_of(table: pl.DataFrame) -> list[str]:
    """Sorted distinct channel names of a normalised path table."""
    return (
        table.select(pl.col("path").str.split(SEPARATOR).explode().alias("c"))
        .filter(pl.col("c").is_not_null() & (pl.col("c") != ""))
        .unique()
        .sort("c")
        .get_column("c")
        .to_list()
    )


def _conversion_probability(chain: _Chain, keep: npt.NDArray[np.bool_]) -> float:
    """P((start) → (conversion)) with the transient states outside ``keep`` turned into (null)."""
    n = chain.matrix.shape[0]
    kept = np.flatnonzero(keep)
    q = chain.matrix[kept][:, kept]
    r = chain.matrix[kept][:, [n]].toarray().ravel()
    a = sp.csc_matrix(sp.identity(kept.shape[0], format="csc") - q)
    x = spla.spsolve(a, r) if kept.shape[0] > 1 else r / a.toarray().ravel()
    return float(np.atleast_1d(x)[0])


def removal_effects(chain: _Chain) -> tuple[float, FloatArray]:
    """P(conversion) and the removal effect of every channel of the chain (clipped to [0, 1])."""
    n = chain.matrix.shape[0]
    p_conv = _conversion_probability(chain, np.ones(n, dtype=bool))
    effects = np.zeros(len(chain.channels), dtype=np.float64)
    if p_conv <= 0.0:
        return 0.0, effects
    for c in range(len(chain.channels)):
        keep = ~chain.contains[:, c]
        keep[0] = True
        p_without = _conversion_probability(chain, keep)
        effects[c] = min(max(1.0 - p_without / p_conv, 0.0), 1.0)
    return p_conv, effects


def markov_attribution(paths: pl.DataFrame, order: int = 1) -> MarkovResult:
    """Markov removal-effect attribution of a §4.1 path table (exact linear algebra).

    ``paths``: ``path``, ``conversions`` (and optional ``value``, ``nulls``), any form
    :func:`campaign_roi.path_table.normalise_path_table` accepts. ``order`` ≥ 1.
    Credited conversions and value sum to the table's totals whenever there is
    anything to credit; no NaN, no negative credit.
    """
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise UserError(f"--order must be a whole number ≥ 1 (got {order!r})")
    table = normalise_path_table(paths)
    empty = table.filter(pl.col("path") == "")
    table = table.filter(pl.col("path") != "")
    all_channels = _channels_of(table)

    chain = _build_chain(table, order)
    if chain is None:
        p_conv, effects, chain_channels = 0.0, np.zeros(0), list[str]()
        transitions = pl.DataFrame(
            schema={"from_state": pl.String, "to_state": pl.String, "probability": pl.Float64}
        )
    else:
        p_conv, effects = removal_effects(chain)
        chain_channels = chain.channels
        transitions = _transitions_frame(chain)

    re_map = dict(zip(chain_channels, effects.tolist(), strict=True))
    re_all = np.array([re_map.get(c, 0.0) for c in all_channels], dtype=np.float64)
    total_conv = float(table.get_column("conversions").sum())
    total_value = float(table.get_column("value").sum())
    credit_conv, credit_value = _split(table, all_channels, re_all, total_conv, total_value)

    credits = pl.DataFrame(
        {"channel": all_channels, "conversions": credit_conv, "value": credit_value},
        schema={"channel": pl.String, "conversions": pl.Float64, "value": pl.Float64},
    )
    credits = add_organic(credits, empty)
    removal = pl.DataFrame(
        {"channel": all_channels, "removal_effect": re_all},
        schema={"channel": pl.String, "removal_effect": pl.Float64},
    )
    return MarkovResult(
        credits=credits,
        removal_effects=removal,
        transitions=transitions,
        conversion_probability=p_conv,
    )


def _split(
    table: pl.DataFrame,
    channels: list[str],
    effects: FloatArray,
    total_conv: float,
    total_value: float,
) -> tuple[FloatArray, FloatArray]:
    """Split totals over channels in proportion to ``effects``; last-touch fallback if ΣRE = 0."""
    n = len(channels)
    s = float(effects.sum())
    if s > 0.0:
        share = effects / s
        return share * total_conv, share * total_value
    if n == 0 or (total_conv == 0.0 and total_value == 0.0):
        return np.zeros(n), np.zeros(n)
    # Unreachable for exact data (P(conversion) > 0 ⇒ some RE > 0); value on paths that
    # never convert lands here. Credit each path's conversions and value to its last touch.
    last = table.select(
        pl.col("path")
        .str.split(SEPARATOR)
        .list.last()
        .cast(pl.Enum(channels))
        .to_physical()
        .cast(pl.Int64),
        "conversions",
        "value",
    )
    idx = last.get_column("path").to_numpy()
    conv = np.bincount(idx, weights=last.get_column("conversions").to_numpy(), minlength=n)
    value = np.bincount(idx, weights=last.get_column("value").to_numpy(), minlength=n)
    return conv.astype(np.float64), value.astype(np.float64)


def add_organic(credits: pl.DataFrame, empty_paths: pl.DataFrame) -> pl.DataFrame:
    """Add conversions/value of empty paths (no touch) to channel ``organic``; sort by channel."""
    conv = float(empty_paths.get_column("conversions").sum()) if empty_paths.height else 0.0
    value = float(empty_paths.get_column("value").sum()) if empty_paths.height else 0.0
    if conv or value:
        if ORGANIC in credits.get_column("channel").to_list():
            credits = credits.with_columns(
                pl.when(pl.col("channel") == ORGANIC)
                .then(pl.col("conversions") + conv)
                .otherwise("conversions"),
                pl.when(pl.col("channel") == ORGANIC)
                .then(pl.col("value") + value)
                .otherwise("value"),
            )
        else:
            credits = pl.concat(
                [
                    credits,
                    pl.DataFrame({"channel": [ORGANIC], "conversions": [conv], "value": [value]}),
                ]
            )
    return credits.sort("channel")


def _transitions_frame(chain: _Chain) -> pl.DataFrame:
    coo = chain.matrix.tocoo()
    names = np.array([START, *chain.state_names, CONVERSION, NULL], dtype=object)
    return pl.DataFrame(
        {
            "from_state": names[coo.row].tolist(),
            "to_state": names[coo.col].tolist(),
            "probability": coo.data,
        },
        schema={"from_state": pl.String, "to_state": pl.String, "probability": pl.Float64},
    ).sort("from_state", "to_state")

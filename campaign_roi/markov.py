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
from campaign_roi.path_table import (
    SEPARATOR,
    Touches,
    canonical_touches,
    normalise_path_table,
    split_paths,
)

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
    channels: list[str]  # channel code c (1-based) is channels[c - 1]
    state_names: list[str]  # transient states 1..n (index 0 is (start))
    contains: npt.NDArray[np.bool_]  # (n + 1, n_channels): state contains channel
    matrix: sp.csr_matrix  # (n + 1, n + 3) row-stochastic; col n+1 (conversion), n+2 (null)


@dataclass(frozen=True)
class _Table:
    """A canonical path table as arrays, with its touches."""

    touches: Touches
    conversions: FloatArray
    value: FloatArray
    nulls: FloatArray


def _fast_table(paths: pl.DataFrame) -> _Table | None:
    """The table as arrays if it is already canonical (else None: normalise it first)."""
    schema = paths.schema
    if "path" not in schema or "conversions" not in schema or schema["path"] != pl.String:
        return None
    arrays: list[FloatArray] = []
    for col in ("conversions", "value", "nulls"):
        if col not in schema:
            arrays.append(np.zeros(paths.height, dtype=np.float64))
            continue
        if not schema[col].is_numeric():
            return None
        a = paths.get_column(col).cast(pl.Float64).to_numpy()
        if a.shape[0] and not (np.isfinite(a).all() and a.min() >= 0.0):
            return None  # nulls, NaN, inf or negatives: normalise explains
        arrays.append(a)
    touches = canonical_touches(paths.get_column("path"))
    if touches is None:
        return None
    return _Table(touches=touches, conversions=arrays[0], value=arrays[1], nulls=arrays[2])


def _load(paths: pl.DataFrame) -> _Table:
    table = _fast_table(paths)
    if table is not None:
        return table
    norm = normalise_path_table(paths)
    return _Table(
        touches=split_paths(norm.get_column("path")),
        conversions=norm.get_column("conversions").to_numpy(),
        value=norm.get_column("value").to_numpy(),
        nulls=norm.get_column("nulls").to_numpy(),
    )


def _positions(rows: IntArray) -> tuple[IntArray, IntArray]:
    """0-based position of every touch within its path, and that path's length."""
    n = rows.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths), np.repeat(lengths, lengths)


def _windows(
    rows: IntArray, codes: IntArray, order: int, base: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Order-k states of every path: (state code, row, first touch, touch count) per window.

    The code of a window of channels (c_1 … c_j), j ≤ k, is the base-``base`` number with
    digits c_1 … c_j padded by zeros to k digits, so integer order = lexicographic order
    of the channel tuples (a shorter tuple first). Codes are re-compacted when they
    would overflow int64 (very high orders), which keeps that order.
    """
    n = rows.shape[0]
    if order == 1:
        ones = np.ones(n, dtype=np.int64)
        return codes, rows, np.arange(n, dtype=np.int64), ones
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
    width = np.minimum(row_len[idx] - pos[idx], order)
    return code, rows[idx], idx, width


def _dense_ids(keys: IntArray, first: int = 0) -> tuple[IntArray, IntArray]:
    """Sorted distinct keys and each key's index among them, counting from ``first``.

    Sort-free (a presence table) when the keys are small.
    """
    if keys.shape[0] == 0:
        return keys, keys
    top = int(keys.max())
    if top < 1 << 24:
        present = np.bincount(keys, minlength=top + 1) > 0
        lookup = np.cumsum(present, dtype=np.int64)
        if first != 1:
            lookup += first - 1
        return np.flatnonzero(present), lookup[keys]
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct.astype(np.int64, copy=False), inverse.astype(np.int64) + first


def _build_chain(table: _Table, order: int) -> _Chain | None:
    """Transition matrix of the absorbing chain, or None when no journey has a touch."""
    t = table.touches
    total = table.conversions + table.nulls
    rows, codes = t.row, t.code
    if not (total > 0).all():
        keep = total[rows] > 0
        rows, codes = rows[keep], codes[keep]
    if rows.shape[0] == 0:
        return None
    # Collapse consecutive repeats of a channel within a path.
    opens = np.ones(rows.shape[0], dtype=bool)  # first touch of its path
    opens[1:] = rows[1:] != rows[:-1]
    distinct = opens.copy()
    distinct[1:] |= codes[1:] != codes[:-1]
    if not distinct.all():
        rows, codes, opens = rows[distinct], codes[distinct], opens[distinct]

    state_code, state_row, first_touch, width = _windows(rows, codes, order, len(t.channels) + 1)
    uniq, sid = _dense_ids(state_code, first=1)  # state ids 1..n; 0 is (start)
    n_states = uniq.shape[0]
    n_cols = n_states + 3
    conv_col, null_col = n_states + 1, n_states + 2

    # Edges per window i: (start)→s_i if it opens its path; s_i→s_{i+1} inside a path;
    # s_i→(conversion) and s_i→(null) if it closes its path. Key = from · n_cols + to.
    if order > 1:
        opens = np.ones(state_row.shape[0], dtype=bool)
        opens[1:] = state_row[1:] != state_row[:-1]
    closes = np.ones(state_row.shape[0], dtype=bool)
    closes[:-1] = opens[1:]
    nxt = np.empty_like(sid)
    nxt[:-1] = sid[1:]
    nxt[closes] = conv_col
    weight = total[state_row]
    end_rows = state_row[closes]
    weight[closes] = table.conversions[end_rows]
    key_sets = [sid * n_cols + nxt, sid[closes] * n_cols + null_col, sid[opens]]
    weight_sets = [weight, table.nulls[end_rows], total[state_row[opens]]]
    size = (n_states + 1) * n_cols
    if size <= 1 << 22:
        sums = np.zeros(size, dtype=np.float64)
        for k, w in zip(key_sets, weight_sets, strict=True):
            sums += np.bincount(k, weights=w, minlength=size)
        keys = np.flatnonzero(sums > 0)
        values = sums[keys]
    else:
        all_keys, key_idx = _dense_ids(np.concatenate(key_sets))
        sums = np.bincount(key_idx, weights=np.concatenate(weight_sets), minlength=all_keys.shape[0])
        nz = sums > 0
        keys, values = all_keys[nz], sums[nz]
    counts = sp.csr_matrix((values, (keys // n_cols, keys % n_cols)), shape=(n_states + 1, n_cols))
    counts.sort_indices()
    out = np.asarray(counts.sum(axis=1)).ravel()
    # Divide each count by its row total (not × 1/total: that overflows for subnormals).
    matrix = sp.csr_matrix(
        (counts.data / np.repeat(out, np.diff(counts.indptr)), counts.indices, counts.indptr),
        shape=counts.shape,
    )

    # Which channels each state contains, and its display name (one representative each).
    contains = np.zeros((n_states + 1, len(t.channels)), dtype=bool)
    names: list[str] = []
    if order == 1:
        contains[np.arange(1, n_states + 1), uniq - 1] = True
        names = [t.channels[c - 1] for c in uniq.tolist()]
    else:
        rep = np.empty(n_states + 1, dtype=np.int64)
        rep[sid] = np.arange(sid.shape[0], dtype=np.int64)  # any occurrence will do
        for s, r in enumerate(rep[1:].tolist(), start=1):
            i = int(first_touch[r])
            members = codes[i : i + int(width[r])]
            contains[s, members - 1] = True
            names.append(SEPARATOR.join(t.channels[c - 1] for c in members.tolist()))
    return _Chain(channels=t.channels, state_names=names, contains=contains, matrix=matrix)


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

    ``paths``: ``path``, ``conversions`` (and optional ``value``, ``nulls``) in any form
    :func:`campaign_roi.path_table.normalise_path_table` accepts; a table already in
    canonical form (as that function returns it) skips the normalisation. ``order`` ≥ 1.
    Credited conversions and value sum to the table's totals whenever there is
    anything to credit; no NaN, no negative credit.
    """
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise UserError(f"--order must be a whole number ≥ 1 (got {order!r})")
    table = _load(paths)
    t = table.touches
    chain = _build_chain(table, order)
    if chain is None:
        p_conv, effects = 0.0, np.zeros(len(t.channels))
        transitions = pl.DataFrame(
            schema={"from_state": pl.String, "to_state": pl.String, "probability": pl.Float64}
        )
    else:
        p_conv, effects = removal_effects(chain)
        transitions = _transitions_frame(chain)

    has_touch = np.zeros(t.n_rows, dtype=bool)
    has_touch[t.row] = True
    total_conv = float(table.conversions[has_touch].sum())
    total_value = float(table.value[has_touch].sum())
    credit_conv, credit_value = _split(table, effects, total_conv, total_value)
    credits = pl.DataFrame(
        {"channel": t.channels, "conversions": credit_conv, "value": credit_value},
        schema={"channel": pl.String, "conversions": pl.Float64, "value": pl.Float64},
    )
    organic_conv = float(table.conversions[~has_touch].sum())
    organic_value = float(table.value[~has_touch].sum())
    credits = add_organic(credits, organic_conv, organic_value)
    removal = pl.DataFrame(
        {"channel": t.channels, "removal_effect": effects},
        schema={"channel": pl.String, "removal_effect": pl.Float64},
    )
    return MarkovResult(
        credits=credits,
        removal_effects=removal,
        transitions=transitions,
        conversion_probability=p_conv,
    )


def _split(
    table: _Table, effects: FloatArray, total_conv: float, total_value: float
) -> tuple[FloatArray, FloatArray]:
    """Split totals over channels in proportion to ``effects``; last-touch fallback if ΣRE = 0."""
    n = len(table.touches.channels)
    s = float(effects.sum())
    if s > 0.0:
        share = effects / s
        return share * total_conv, share * total_value
    if n == 0 or (total_conv == 0.0 and total_value == 0.0):
        return np.zeros(n), np.zeros(n)
    # Unreachable for exact data (P(conversion) > 0 ⇒ some RE > 0); value on paths that
    # never convert lands here. Credit each path's conversions and value to its last touch.
    row, code = table.touches.row, table.touches.code
    is_last = np.ones(row.shape[0], dtype=bool)
    is_last[:-1] = row[1:] != row[:-1]
    last_row, last_code = row[is_last], code[is_last] - 1
    conv = np.bincount(last_code, weights=table.conversions[last_row], minlength=n)
    value = np.bincount(last_code, weights=table.value[last_row], minlength=n)
    return conv.astype(np.float64), value.astype(np.float64)


def add_organic(credits: pl.DataFrame, conversions: float, value: float) -> pl.DataFrame:
    """Add conversions/value without any touch to channel ``organic``; sort by channel."""
    if conversions or value:
        if ORGANIC in credits.get_column("channel").to_list():
            is_organic = pl.col("channel") == ORGANIC
            credits = credits.with_columns(
                pl.when(is_organic).then(pl.col("conversions") + conversions).otherwise("conversions"),
                pl.when(is_organic).then(pl.col("value") + value).otherwise("value"),
            )
        else:
            extra = pl.DataFrame(
                {"channel": [ORGANIC], "conversions": [conversions], "value": [value]},
                schema=credits.schema,
            )
            credits = pl.concat([credits, extra])
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

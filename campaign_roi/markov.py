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
proportion to RE. No simulation, no step limit; an LU factorisation (dense LAPACK up
to 256 states, sparse SuperLU above) on a state order fixed by sorting, so the result
is the same to the last digit on every run.

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
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

from campaign_roi.errors import UserError
from campaign_roi.path_table import (
    SEPARATOR,
    Touches,
    canonical_touches,
    normalise_path_table,
    split_paths,
)

if TYPE_CHECKING:
    import scipy.sparse as sp

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
class _Transitions:
    """The (n + 1) × (n + 3) row-stochastic matrix (row 0 (start), rows 1..n the transient
    states; columns n + 1 (conversion), n + 2 (null)) as its nonzero entries in row-major
    order, the order of a CSR matrix with sorted indices. Held as arrays so that scipy is
    imported only for the chains solved sparsely (it costs 0.25 s of every command's start)."""

    rows: IntArray
    cols: IntArray
    probs: FloatArray
    shape: tuple[int, int]

    def dense(self) -> FloatArray:
        out = np.zeros(self.shape, dtype=np.float64)
        out[self.rows, self.cols] = self.probs
        return out


@dataclass(frozen=True)
class _Chain:
    channels: list[str]  # channel code c (1-based) is channels[c - 1]
    state_names: list[str]  # transient states 1..n (index 0 is (start))
    contains: npt.NDArray[np.bool_]  # (n + 1, n_channels): state contains channel
    matrix: _Transitions


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


#: Largest number of (order + 1)-grams of channel codes counted with one dense ``bincount``.
_DENSE_GRAMS = 1 << 20


def _build_chain(table: _Table, order: int) -> _Chain | None:
    """Transition matrix of the absorbing chain, or None when no journey has a touch.

    With c channels, a window of ``order`` touches is the base-(c + 1) number of its
    channel codes (zero-padded when a path is shorter than the order; integer order =
    lexicographic order of the windows). When the (order + 1)-grams fit in
    :data:`_DENSE_GRAMS`, every step window → next window is counted as the gram
    (window, next channel) with weighted ``bincount``s (:func:`_piece_counts`,
    :func:`_gram_counts`); otherwise :func:`_build_chain_general` compacts the window
    codes first.
    """
    t = table.touches
    total = table.conversions + table.nulls
    if not ((total > 0) & (t.lengths > 0)).any():
        return None
    base = len(t.channels) + 1
    if base ** (order + 1) > _DENSE_GRAMS:
        codes, rows = t.code, t.row
        keep = total[rows] > 0  # rows without journeys do not enter the chain
        return _build_chain_general(table, order, rows[keep], codes[keep])
    counts = _piece_counts(table, order, base)
    grams, starts, conv, nulls = counts if counts is not None else _gram_counts(table, order, base)
    n_windows = base**order

    # States: the windows with outgoing journeys (every window of a path with journeys).
    present = np.flatnonzero((grams.reshape(n_windows, base).sum(axis=1) + conv + nulls) > 0)
    n_states = present.shape[0]
    sid = np.zeros(n_windows, dtype=np.int64)
    sid[present] = np.arange(1, n_states + 1, dtype=np.int64)
    step = np.flatnonzero(grams > 0)
    src = step // base
    dst = (src % (n_windows // base)) * base + step % base  # drop the oldest touch, add the next
    nz_start, nz_conv, nz_null = np.flatnonzero(starts), np.flatnonzero(conv), np.flatnonzero(nulls)
    from_ids = np.concatenate([np.zeros(nz_start.shape[0], dtype=np.int64), sid[src], sid[nz_conv], sid[nz_null]])
    to_ids = np.concatenate(
        [
            sid[nz_start],
            sid[dst],
            np.full(nz_conv.shape[0], n_states + 1, dtype=np.int64),
            np.full(nz_null.shape[0], n_states + 2, dtype=np.int64),
        ]
    )
    values = np.concatenate([starts[nz_start], grams[step], conv[nz_conv], nulls[nz_null]])
    matrix = _stochastic(values, from_ids, to_ids, n_states)

    # Channels of each state, and its name.
    digits = np.empty((n_states, order), dtype=np.int64)
    rest = present
    for j in range(order - 1, -1, -1):
        digits[:, j] = rest % base
        rest = rest // base
    contains = np.zeros((n_states + 1, len(t.channels)), dtype=bool)
    s_idx, d_idx = np.nonzero(digits)
    contains[s_idx + 1, digits[s_idx, d_idx] - 1] = True
    names = [SEPARATOR.join(t.channels[d - 1] for d in row if d) for row in digits.tolist()]
    return _Chain(channels=t.channels, state_names=names, contains=contains, matrix=matrix)


Counts = tuple[FloatArray, FloatArray, FloatArray, FloatArray]


def _piece_counts(table: _Table, order: int, base: int) -> Counts | None:
    """(grams, starts, conversions, nulls) from the pieces of the touches (:class:`Touches`).

    ``grams[w · base + c]``: the journeys stepping from window w (a base-``base`` number
    of ``order`` channel codes) on to channel c; ``starts[w]``, ``conversions[w]`` and
    ``nulls[w]``: the journeys starting in w, and ending in w converted or not. Grams
    inside a piece are counted once per distinct piece with all the journeys through
    it; grams across two pieces once per distinct pair of consecutive pieces. Rows
    without journeys weigh 0. None (count touch by touch) when a gram may span more
    than two pieces, or for order > 1 when a path repeats a channel (to be collapsed).
    """
    t = table.touches
    k = order
    if k > t.piece_touches:
        return None
    total = table.conversions + table.nulls
    pieces, offsets, codes = t.pieces, t.piece_offsets, t.piece_codes
    n_kinds = offsets.shape[0] - 1
    size = np.diff(offsets)  # touches of each distinct piece

    weight = np.repeat(total, t.piece_counts)  # the journeys of each piece's path
    through = _sums(pieces, weight, n_kinds)
    rows = np.flatnonzero(t.piece_counts)
    last = np.cumsum(t.piece_counts)[rows] - 1  # each path's last piece
    first = last - (t.piece_counts[rows] - 1)
    weight[last] = 0.0  # no step from a path's last piece to the next path
    if n_kinds * n_kinds <= pieces.shape[0] // 4:  # few distinct consecutive pairs: sum them first
        pair_weight = _sums(pieces[:-1] * n_kinds + pieces[1:], weight[:-1], n_kinds * n_kinds)
        pairs = np.flatnonzero(pair_weight)
        before, after, across = pairs // n_kinds, pairs % n_kinds, pair_weight[pairs]
    else:
        before, after, across = pieces[:-1], pieces[1:], weight[:-1]
    if k > 1:  # a repeat inside a used piece, or across a used pair: collapse first
        inner = (codes[:-1] == codes[1:]) & (np.repeat(through, size)[:-1] > 0)
        inner[offsets[1:-1] - 1] = False
        if inner.any() or (
            (codes[offsets[before + 1] - 1] == codes[offsets[after]]) & (across > 0)
        ).any():
            return None

    # Grams inside the distinct pieces.
    n_inner = max(codes.shape[0] - k, 0)
    key = codes[:n_inner]
    for j in range(1, k + 1):
        key = key * base + codes[j : n_inner + j]
    position = np.arange(codes.shape[0], dtype=np.int64) - np.repeat(offsets[:-1], size)
    inside = position[:n_inner] + k < np.repeat(size, size)[:n_inner]
    inner_weight = np.where(inside, np.repeat(through, size)[:n_inner], 0.0)
    grams = _sums(key, inner_weight, base ** (k + 1))
    # Grams across two pieces: the last s touches of one, the first k + 1 − s of the next.
    top = codes.shape[0] - 1
    for s in range(1, k + 1):
        key = np.zeros(before.shape[0], dtype=np.int64)
        for j in range(s, 0, -1):
            key = key * base + codes[np.maximum(offsets[before + 1] - j, 0)]
        for j in range(k + 1 - s):
            key = key * base + codes[np.minimum(offsets[after] + j, top)]
        fits = (size[before] >= s) & (size[after] >= k + 1 - s)
        grams += _sums(key, np.where(fits, across, 0.0), base ** (k + 1))
    if k == 1:
        np.fill_diagonal(grams.reshape(base, base), 0.0)  # a → a: consecutive repeat

    # Windows opening and closing each path (zero-padded if the path is shorter). Its
    # first piece holds its first window; its last piece its last unless that piece is
    # shorter than the order: then the window takes the rest from the piece before.
    tails = [np.zeros(n_kinds, dtype=np.int64)]  # tails[s]: the last s touches of each piece
    for s in range(1, k + 1):
        tails.append(tails[-1] + codes[np.maximum(offsets[1:] - s, 0)] * base ** (s - 1))
    heads = np.zeros(n_kinds, dtype=np.int64)  # the first k touches, zero-padded
    for j in range(k):
        heads = heads * base + np.where(j < size, codes[np.minimum(offsets[:-1] + j, top)], 0)
    end_piece = pieces[last]
    opening = heads[pieces[first]]
    closing = tails[k][end_piece]
    if k > 1:
        short = np.flatnonzero(size[end_piece] < k)
        if short.shape[0]:
            m = size[end_piece[short]]
            alone = last[short] == first[short]
            before_end = pieces[np.maximum(last[short] - 1, 0)]
            rest = np.stack(tails)[k - m, before_end] * base**m + np.stack(tails)[m, end_piece[short]]
            closing[short] = np.where(alone, heads[end_piece[short]], rest)
    n_windows = base**k
    return (grams, *_path_ends(table, rows, opening, closing, n_windows))


def _gram_counts(table: _Table, order: int, base: int) -> Counts:
    """:func:`_piece_counts` touch by touch, after collapsing consecutive repeats."""
    total = table.conversions + table.nulls
    codes, lengths = _collapse(table.touches.code, table.touches.lengths)
    rows = np.flatnonzero(lengths)
    last = np.cumsum(lengths)[rows] - 1
    first = last - (lengths[rows] - 1)
    # Gram i: touches i … i + order (window from touch i, then the next touch), counted
    # with the journeys of touch i's path if touch i + order is still on that path.
    n_grams = max(codes.shape[0] - order, 0)
    weight = np.repeat(total, lengths)
    for j in range(order):
        weight[np.maximum(last - j, first)] = 0.0
    key = codes[:n_grams]
    for j in range(1, order + 1):
        key = key * base + codes[j : n_grams + j]
    n_windows = base**order
    grams = _sums(key, weight[:n_grams], n_windows * base)
    opening = _window_codes(codes, first, last, order, base)
    closing = _window_codes(codes, np.maximum(last - (order - 1), first), last, order, base)
    return (grams, *_path_ends(table, rows, opening, closing, n_windows))


def _path_ends(
    table: _Table, rows: IntArray, opening: IntArray, closing: IntArray, n_windows: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Journeys starting in each window, and ending in it converted or not.

    ``rows``: the non-empty paths; ``opening``, ``closing``: their first and last window.
    """
    conv, nulls = table.conversions, table.nulls
    if rows.shape[0] != conv.shape[0]:
        conv, nulls = conv[rows], nulls[rows]
    return (
        _sums(opening, conv + nulls, n_windows),
        _sums(closing, conv, n_windows),
        _sums(closing, nulls, n_windows),
    )


def _window_codes(codes: IntArray, at: IntArray, last: IntArray, order: int, base: int) -> IntArray:
    """Code of the window of ``order`` touches from touch ``at`` (zero-padded past ``last``)."""
    code = np.zeros(at.shape[0], dtype=np.int64)
    for j in range(order):
        idx = at + j
        code = code * base + np.where(idx <= last, codes[np.minimum(idx, last)], 0)
    return code


def _collapse(codes: IntArray, lengths: IntArray) -> tuple[IntArray, IntArray]:
    """Drop consecutive repeats of a channel within each path."""
    ends = np.cumsum(lengths)
    repeat = np.zeros(codes.shape[0], dtype=bool)
    repeat[1:] = codes[1:] == codes[:-1]
    repeat[(ends - lengths)[lengths > 0]] = False  # a path's first touch repeats nothing
    if not repeat.any():
        return codes, lengths
    keep = ~repeat
    kept = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(keep, dtype=np.int64)])
    return codes[keep], np.diff(kept[ends], prepend=0)


def _sums(keys: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """Sum of ``weights`` per key 0 … size − 1 (a weighted ``bincount``, Float64 even if empty)."""
    return np.bincount(keys, weights=weights, minlength=size).astype(np.float64, copy=False)


def _stochastic(values: FloatArray, from_ids: IntArray, to_ids: IntArray,
                n_states: int) -> _Transitions:
    """Row-stochastic (n + 1) × (n + 3) matrix from distinct positive (from, to) counts: each
    count divided by its row's total, the total summed in column order (``np.add.reduceat``
    over the row, as scipy's CSR row sums do). Repeated pairs, which the callers do not
    produce, would be summed first."""
    n_cols = n_states + 3
    keys = from_ids.astype(np.int64) * n_cols + to_ids
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order].astype(np.float64, copy=False)
    if keys.shape[0]:
        distinct = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        if distinct.shape[0] < keys.shape[0]:
            values, keys = np.add.reduceat(values, distinct), keys[distinct]
    rows, cols = keys // n_cols, keys % n_cols
    probs = values.copy()
    if rows.shape[0]:
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        totals = np.add.reduceat(values, starts)
        # Divide each count by its row total (not × 1/total: that overflows for subnormals).
        probs = values / np.repeat(totals, np.diff(np.r_[starts, rows.shape[0]]))
    return _Transitions(rows=rows, cols=cols, probs=probs, shape=(n_states + 1, n_cols))


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


def _build_chain_general(table: _Table, order: int, rows: IntArray, codes: IntArray) -> _Chain:
    """:func:`_build_chain` for any state space: window codes are compacted, edges keyed by state ids.

    ``rows``, ``codes``: the touches of the rows with journeys (at least one).
    """
    t = table.touches
    total = table.conversions + table.nulls
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
            sums += _sums(k, w, size)
        keys = np.flatnonzero(sums > 0)
        values = sums[keys]
    else:
        all_keys, key_idx = _dense_ids(np.concatenate(key_sets))
        sums = _sums(key_idx, np.concatenate(weight_sets), all_keys.shape[0])
        nz = sums > 0
        keys, values = all_keys[nz], sums[nz]
    matrix = _stochastic(values, keys // n_cols, keys % n_cols, n_states)

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


#: Chains with at most this many states are solved with a dense LU (LAPACK), larger ones
#: with a sparse LU (SuperLU).
_DENSE_STATES = 256


def _conversion_probability(
    n: int, keep: npt.NDArray[np.bool_], dense: FloatArray | None = None,
    sparse: sp.csr_matrix | None = None,
) -> float:
    """P((start) → (conversion)) with the transient states outside ``keep`` turned into (null),
    for a chain of ``n`` rows given as a dense array or as a scipy CSR matrix (``sparse``)."""
    kept = np.flatnonzero(keep)
    if dense is not None:
        system = np.eye(kept.shape[0]) - dense[np.ix_(kept, kept)]
        return float(np.linalg.solve(system, dense[kept, n])[0])
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    assert sparse is not None
    q = sparse[kept][:, kept]
    r = sparse[kept][:, [n]].toarray().ravel()
    a = sp.csc_matrix(sp.identity(kept.shape[0], format="csc") - q)
    x = spla.spsolve(a, r) if kept.shape[0] > 1 else r / a.toarray().ravel()
    return float(np.atleast_1d(x)[0])


def _csr(m: _Transitions) -> sp.csr_matrix:
    """``m`` as a scipy CSR matrix (the sparse solve only)."""
    import scipy.sparse as sp

    indptr = np.r_[0, np.cumsum(np.bincount(m.rows, minlength=m.shape[0]))]
    return sp.csr_matrix((m.probs, m.cols, indptr), shape=m.shape)


def removal_effects(chain: _Chain) -> tuple[float, FloatArray]:
    """P(conversion) and the removal effect of every channel of the chain (clipped to [0, 1])."""
    n = chain.matrix.shape[0]
    dense = chain.matrix.dense() if n <= _DENSE_STATES else None
    sparse = _csr(chain.matrix) if dense is None else None
    p_conv = _conversion_probability(n, np.ones(n, dtype=bool), dense, sparse)
    effects = np.zeros(len(chain.channels), dtype=np.float64)
    if p_conv <= 0.0:
        return 0.0, effects
    for c in range(len(chain.channels)):
        keep = ~chain.contains[:, c]
        keep[0] = True
        p_without = _conversion_probability(n, keep, dense, sparse)
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

    has_touch = t.lengths > 0
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
    lengths = table.touches.lengths
    last_row = np.flatnonzero(lengths)
    last_code = table.touches.code[np.cumsum(lengths)[last_row] - 1] - 1
    conv = _sums(last_code, table.conversions[last_row], n)
    value = _sums(last_code, table.value[last_row], n)
    return conv, value


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
    m = chain.matrix
    names = np.array([START, *chain.state_names, CONVERSION, NULL], dtype=object)
    return pl.DataFrame(
        {
            "from_state": names[m.rows].tolist(),
            "to_state": names[m.cols].tolist(),
            "probability": m.probs,
        },
        schema={"from_state": pl.String, "to_state": pl.String, "probability": pl.Float64},
    ).sort("from_state", "to_state")

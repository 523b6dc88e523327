"""Path tables (SPEC §4.1): reading them from files and normalising them.

A path table has one row per distinct path string with the columns

- ``path`` (Utf8): channel names joined by ``" > "``, earliest touch first;
- ``conversions`` (Float64): journeys on this path that converted;
- ``value`` (Float64): the conversion value of those journeys;
- ``nulls`` (Float64): journeys on this path that did not convert.

It is the input of the data-driven models (:mod:`campaign_roi.markov`,
:mod:`campaign_roi.shapley`). Tables come from two places: the dataset (built by
the ``paths`` query) and files written by other tools (``attribute --paths FILE``).
Both go through :func:`normalise_path_table`, so the models always see the same form:
canonical path strings, no duplicate paths, rows sorted by path, no nulls, counts ≥ 0.

An empty path (``""``) means conversions with no eligible touch; the models credit
them wholly to ``organic`` (SPEC §4).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from campaign_roi.errors import DataError

#: Canonical separator between channels in a path string.
SEPARATOR = " > "

#: Column names of a path table, in output order.
COLUMNS = ("path", "conversions", "value", "nulls")

#: Accepted column names (lower-cased) for each canonical column.
_ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("path",),
    "conversions": ("conversions", "total_conversions"),
    "value": ("value", "total_conversion_value"),
    "nulls": ("nulls", "total_null", "total_nulls"),
}

_COUNT_COLUMNS = ("conversions", "value", "nulls")

_PARQUET_MAGIC = b"PAR1"


def empty_path_table() -> pl.DataFrame:
    """A path table with no rows (the canonical schema)."""
    return pl.DataFrame(
        schema={
            "path": pl.String,
            "conversions": pl.Float64,
            "value": pl.Float64,
            "nulls": pl.Float64,
        }
    )


def read_path_table(path: str | Path) -> pl.DataFrame:
    """Read a path table from a CSV or Parquet file and normalise it.

    CSV: delimiter ``,``, ``;`` or tab (detected from the header line); columns
    ``path,conversions[,value][,nulls]`` or ChannelAttribution's
    ``path,total_conversions[,total_conversion_value][,total_null]`` (any case).
    Parquet: the same column names. Missing ``value``/``nulls`` are 0.

    Returns the normalised table (see :func:`normalise_path_table`).
    Raises :class:`DataError` naming the file, the column and the fix.
    """
    file = Path(path)
    name = str(file)
    if not file.is_file():
        raise DataError(
            f"{name}: path table file not found; fix: give an existing CSV or Parquet file to --paths"
        )
    try:
        with file.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise DataError(
            f"{name}: cannot read the path table ({exc.strerror}); fix: check the file's permissions"
        ) from exc
    if file.suffix.lower() in (".parquet", ".pq") or head == _PARQUET_MAGIC:
        raw = _read_parquet(file, name)
    else:
        raw = _read_csv(file, name)
    return normalise_path_table(raw, source=name, allow_empty=False)


def _read_parquet(file: Path, name: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(file)
    except Exception as exc:  # polars raises several exception types for corrupt files
        raise DataError(
            f"{name}: not a readable Parquet file ({type(exc).__name__}); "
            "fix: re-export the path table as Parquet or CSV"
        ) from exc


def _read_csv(file: Path, name: str) -> pl.DataFrame:
    try:
        with file.open("r", encoding="utf-8-sig", newline="") as fh:
            header = fh.readline()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{name}: not a UTF-8 text file; fix: save the path table as UTF-8 CSV or as Parquet"
        ) from exc
    except OSError as exc:
        raise DataError(
            f"{name}: cannot read the path table ({exc.strerror}); fix: check the file's permissions"
        ) from exc
    if not header.strip():
        raise DataError(
            f"{name}: the path table is empty (no header line); "
            "fix: write a header 'path,conversions,value,nulls' and one row per path"
        )
    separator = _detect_delimiter(header)
    try:
        df = pl.read_csv(
            file,
            separator=separator,
            infer_schema=False,  # every column as text; counts are checked in normalise
            encoding="utf8",
            empty_string_is_null=False,
            truncate_ragged_lines=False,
        )
    except Exception as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise DataError(
                f"{name}: not a UTF-8 text file; fix: save the path table as UTF-8 CSV or as Parquet"
            ) from exc
        raise DataError(
            f"{name}: cannot parse the CSV path table "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
            f"fix: use one delimiter ({separator!r}) and quote fields that contain it"
        ) from exc
    # A UTF-8 byte-order mark would stick to the first column name.
    return df.rename({c: c.lstrip("\ufeff") for c in df.columns})


def _detect_delimiter(header: str) -> str:
    """Pick the delimiter whose split of the header names a path column; default ','."""
    best = ","
    best_hits = -1
    for sep in (",", ";", "\t"):
        names = {c.strip().strip('"').lower() for c in header.rstrip("\r\n").split(sep)}
        hits = sum(1 for aliases in _ALIASES.values() if names & set(aliases))
        if hits > best_hits:
            best, best_hits = sep, hits
    return best


def _resolve_columns(df: pl.DataFrame, source: str) -> dict[str, str | None]:
    """Map each canonical column to the frame's column (None if absent)."""
    by_lower: dict[str, str] = {}
    for col in df.columns:
        by_lower.setdefault(col.strip().lower(), col)
    found: dict[str, str | None] = {}
    for canon, aliases in _ALIASES.items():
        found[canon] = next((by_lower[name] for name in aliases if name in by_lower), None)
    for required in ("path", "conversions"):
        if found[required] is None:
            wanted = " or ".join(repr(a) for a in _ALIASES[required])
            raise DataError(
                f"{source}: path table has no {wanted} column "
                f"(columns: {', '.join(df.columns) or 'none'}); "
                "fix: name the columns path,conversions,value,nulls "
                "(or ChannelAttribution's path,total_conversions,total_conversion_value,total_null)"
            )
    return found


def _numeric(df: pl.DataFrame, col: str, canon: str, source: str, required: bool) -> pl.Expr:
    """Validate one count column; return it as a Float64 expression (nulls → 0 if optional)."""
    dtype = df.schema[col]
    if dtype == pl.String:
        text = pl.col(col).str.strip_chars()
        parsed = text.cast(pl.Float64, strict=False)
        bad_mask = text.is_not_null() & (text != "") & parsed.is_null()
        missing_mask = text.is_null() | (text == "")
    elif dtype.is_numeric() or dtype == pl.Null:
        parsed = pl.col(col).cast(pl.Float64)
        bad_mask = pl.lit(False)
        missing_mask = pl.col(col).is_null()
    else:
        raise DataError(
            f"{source}: column '{col}' has type {dtype}, not a number; fix: store {canon} as numbers"
        )
    checks = df.select(
        bad=bad_mask.sum(),
        bad_example=pl.col(col).filter(bad_mask).first().cast(pl.String),
        bad_row=pl.int_range(pl.len()).filter(bad_mask).first(),
        missing=missing_mask.sum(),
        nonfinite=(parsed.is_nan() | parsed.is_infinite()).fill_null(False).sum(),
        negative=(parsed < 0).fill_null(False).sum(),
        negative_example=parsed.filter(parsed < 0).first(),
        negative_row=pl.int_range(pl.len()).filter(parsed < 0).first(),
    ).row(0, named=True)
    if checks["bad"]:
        raise DataError(
            f"{source}: column '{col}' has {checks['bad']} non-numeric value(s), e.g. "
            f"{checks['bad_example']!r} in data row {checks['bad_row'] + 1}; "
            f"fix: write {canon} as plain numbers (decimal point '.')"
        )
    if required and checks["missing"]:
        raise DataError(
            f"{source}: column '{col}' has {checks['missing']} empty value(s); "
            f"fix: write 0 where a path has no {canon}"
        )
    if checks["nonfinite"]:
        raise DataError(
            f"{source}: column '{col}' has {checks['nonfinite']} NaN or infinite value(s); "
            f"fix: write finite numbers"
        )
    if checks["negative"]:
        raise DataError(
            f"{source}: column '{col}' has {checks['negative']} negative value(s), e.g. "
            f"{checks['negative_example']} in data row {checks['negative_row'] + 1}; "
            f"fix: counts and values must be ≥ 0"
        )
    return parsed.fill_null(0.0).alias(canon)


def normalise_path_table(
    df: pl.DataFrame, source: str = "path table", allow_empty: bool = True
) -> pl.DataFrame:
    """Bring a path table (from a file or from the dataset) to the canonical form.

    - columns ``path`` plus ``conversions``/``value``/``nulls`` (or ChannelAttribution's
      ``total_conversions``/``total_conversion_value``/``total_null``), any case;
      ``value`` and ``nulls`` default to 0; other columns are dropped;
    - path separator ``>`` with any spaces; if no ``>`` occurs in any path, ``;``;
      channel names are stripped, empty entries dropped, re-joined with ``" > "``;
      a path with no channel left is ``""`` (conversions without a touch → organic);
    - rows with the same normalised path are summed; rows are sorted by path.

    ``source`` names the input in error messages (the file name for files). A table with
    no rows is returned empty (a period with no data) unless ``allow_empty`` is False.
    Returns ``pl.DataFrame[path: String, conversions: Float64, value: Float64, nulls: Float64]``.
    Raises :class:`DataError` for a missing path/conversions column, non-numeric, NaN
    or negative counts, null paths, or an empty table.
    """
    cols = _resolve_columns(df, source)
    if df.height == 0 and not allow_empty:
        raise DataError(
            f"{source}: the path table has no rows; fix: give at least one path with its conversions"
        )
    path_col = cols["path"]
    assert path_col is not None
    if df.schema[path_col] != pl.String:
        if df.schema[path_col] == pl.Null:
            raise DataError(f"{source}: column '{path_col}' is empty; fix: write the channels of each path")
        df = df.with_columns(pl.col(path_col).cast(pl.String))
    null_paths = df.select(pl.col(path_col).is_null().sum()).item()
    if null_paths:
        raise DataError(
            f"{source}: column '{path_col}' has {null_paths} empty (null) path(s); "
            "fix: write the channels of each path, e.g. 'kol > feed_ads'"
        )
    exprs: list[pl.Expr] = [pl.col(path_col).alias("path")]
    for canon in _COUNT_COLUMNS:
        col = cols[canon]
        if col is None:
            exprs.append(pl.lit(0.0, dtype=pl.Float64).alias(canon))
        else:
            exprs.append(_numeric(df, col, canon, source, required=canon == "conversions"))
    table = df.select(exprs)

    has_gt = table.select(pl.col("path").str.contains(">", literal=True).any()).item()
    sep = ">" if has_gt else ";"
    channels = (
        table.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), pl.col("path").str.split(sep))
        .explode("path")
        .with_columns(pl.col("path").str.strip_chars())
        .filter(pl.col("path").is_not_null() & (pl.col("path") != ""))
        .group_by("row", maintain_order=True)
        .agg(pl.col("path").str.join(SEPARATOR))
    )
    table = (
        table.drop("path")
        .with_row_index("row")
        .join(channels, on="row", how="left")
        .select(pl.col("path").fill_null(""), *_COUNT_COLUMNS)
    )
    return table.group_by("path").agg(pl.col(c).sum() for c in _COUNT_COLUMNS).sort("path")


def write_path_table(df: pl.DataFrame, path: str | Path) -> None:
    """Write a path table atomically as CSV (``.csv``) or Parquet (anything else)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if target.suffix.lower() == ".csv":
            df.write_csv(tmp)
        else:
            df.write_parquet(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Touches:
    """The touches of a path table, path after path, stored as pieces.

    Each path is cut into pieces of ``piece_touches`` consecutive touches (its last
    piece may be shorter) and every distinct piece is listed once: piece p is the
    channel codes ``piece_codes[piece_offsets[p]:piece_offsets[p + 1]]`` (1-based
    indexes into ``channels``, the sorted distinct names). ``pieces``: the piece id of
    every cut, in path order; ``piece_counts``: the pieces of each row; ``lengths``: the
    touches of each row (0 for an empty path). ``code`` and ``row`` list the touches
    one by one.
    """

    channels: list[str]
    lengths: IntArray
    pieces: IntArray
    piece_counts: IntArray
    piece_offsets: IntArray
    piece_codes: IntArray
    piece_touches: int

    @classmethod
    def of_codes(cls, channels: list[str], code: IntArray, lengths: IntArray) -> Touches:
        """Touches given one by one (one piece per touch)."""
        n = len(channels)
        return cls(
            channels=channels,
            lengths=lengths,
            pieces=code - 1,
            piece_counts=lengths,
            piece_offsets=np.arange(n + 1, dtype=np.int64),
            piece_codes=np.arange(1, n + 1, dtype=np.int64),
            piece_touches=1,
        )

    @property
    def n_rows(self) -> int:
        return int(self.lengths.shape[0])

    @cached_property
    def code(self) -> IntArray:
        """Channel code (1-based) of every touch, in path order."""
        sizes = np.diff(self.piece_offsets)[self.pieces]
        begin = self.piece_offsets[self.pieces]
        shift = np.repeat(begin - (np.cumsum(sizes) - sizes), sizes)
        return self.piece_codes[shift + np.arange(shift.shape[0], dtype=np.int64)]

    @cached_property
    def row(self) -> IntArray:
        """Row index of every touch (non-decreasing)."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), self.lengths)


def split_paths(paths: pl.Series) -> Touches:
    """Split canonical path strings (``a > b > c``) into touches.

    Byte-level and exact (see :func:`_split_bytes`); falls back to a plain Polars split
    if a path is not in canonical form. ``paths`` should be canonical (as
    :func:`normalise_path_table` writes them); use :func:`canonical_touches` to check.
    """
    touches = _split_bytes(paths, check_canonical=False)
    return touches if touches is not None else _split_polars(paths)


def canonical_touches(paths: pl.Series) -> Touches | None:
    """Like :func:`split_paths`, but None when ``paths`` is not in canonical form.

    Not canonical: a ``>`` without one space on each side, an empty channel name, a
    name with leading or trailing whitespace, or (when no path has a ``>``) a ``;``
    inside a name. Such a table must go through :func:`normalise_path_table` first.
    """
    if paths.dtype != pl.String or paths.null_count():
        return None
    return _split_bytes(paths, check_canonical=True)


def _split_polars(paths: pl.Series) -> Touches:
    lists = paths.str.split(SEPARATOR)
    tokens = pl.DataFrame({"row": pl.int_range(len(paths), eager=True, dtype=pl.Int64), "c": lists})
    tokens = tokens.explode("c").filter(pl.col("c").is_not_null() & (pl.col("c") != ""))
    channels = tokens.get_column("c").unique().sort().to_list()
    code = tokens.get_column("c").cast(pl.Enum(channels)).to_physical().cast(pl.Int64).to_numpy()
    row = tokens.get_column("row").to_numpy()
    lengths = np.bincount(row, minlength=len(paths)).astype(np.int64)
    return Touches.of_codes(channels, code + 1, lengths)


#: Touches per piece tried first (then 1); see :func:`_split_bytes`.
PIECE_TOUCHES = 3
#: Pieces looked at to guess the distinct pieces before all of them are looked up.
_SAMPLE = 8192


def _split_bytes(paths: pl.Series, check_canonical: bool, piece_touches: int | None = None) -> Touches | None:
    """Split on the Arrow buffer of ``paths`` without copying it; None if not canonical.

    Every byte of a non-empty path belongs to exactly one touch if each touch runs from
    its start to the next touch's start: ``name > `` for all but the last touch of a
    path, ``name`` for the last. A touch starts where a non-empty path starts and after
    every ``"> "``; one comparison pass over the buffer finds them all. Each path is cut
    into pieces of up to k consecutive touches (k = ``piece_touches``, by default
    :data:`PIECE_TOUCHES`, or 1 when the pieces of k touches turn out to be too varied),
    the pieces are viewed as one Arrow string array over the original buffer, and each
    is looked up exactly (``index_in``) among the distinct pieces. A lookup costs about
    the same for a piece as for a touch, so pieces of k touches need about k times
    fewer; with few channels there are few distinct pieces. Only the distinct pieces are
    then split into channel names, and every distinct name is checked (a ``>`` left in a
    name means a separator without its spaces, or one that straddles two paths; an
    empty name, an empty touch).
    """
    arr = paths.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    n = len(arr)
    if arr.null_count:
        return None
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    lo, hi = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
    if hi == lo:
        return Touches.of_codes([], np.zeros(0, dtype=np.int64), np.zeros(n, dtype=np.int64))
    data = np.frombuffer(buffers[2], dtype=np.uint8)[lo:hi]
    size = data.shape[0]
    local = offsets - lo
    # starts[i]: a touch starts at byte i (i = size: one would start past the end).
    starts = np.empty(size + 1, dtype=bool)
    starts[:2] = False
    np.equal(data[:-1], ord(">"), out=starts[2:])
    starts[2:] &= data[1:] == ord(" ")
    if starts[size] or starts[local[1:-1]].any():
        return None if check_canonical else _split_polars(paths)  # "a > " then "b": empty touch
    nonempty = local[1:] > local[:-1]
    path_starts = local[:-1][nonempty]
    has_separator = bool(starts.any())
    starts[path_starts] = True
    token_starts = np.flatnonzero(starts)
    # Which touches open their path: mark path starts with 2 (the bool array as bytes).
    kind = starts.view(np.uint8)
    kind[path_starts] = 2
    first = np.flatnonzero(kind[token_starts] == 2)
    lengths = np.zeros(n, dtype=np.int64)
    lengths[nonempty] = np.diff(first, append=token_starts.shape[0])

    found: tuple[pa.Array, IntArray] | None = None
    for k in (piece_touches,) if piece_touches else (PIECE_TOUCHES, 1):
        counts = np.zeros(n, dtype=np.int64)
        counts[nonempty] = -(-lengths[nonempty] // k)
        if k == 1:
            cuts = token_starts
        else:
            m = counts[nonempty]
            opening = first - k * (np.cumsum(m) - m)  # first touch, minus k × the pieces before
            cuts = token_starts[np.repeat(opening, m) + k * np.arange(int(m.sum()), dtype=np.int64)]
        piece_offsets = np.empty(cuts.shape[0] + 1, dtype=np.int64)
        piece_offsets[:-1] = cuts
        piece_offsets[-1] = size
        if lo:
            piece_offsets += lo
        strings = pa.LargeStringArray.from_buffers(cuts.shape[0], pa.py_buffer(piece_offsets), buffers[2])
        found = _lookup(strings, give_up=k > 1 and piece_touches is None)
        if found is not None:
            break
    assert found is not None  # k = 1 never gives up
    entries, pieces = found
    decoded = _decode_pieces(entries, check_canonical and not has_separator)
    if decoded is None:
        return None if check_canonical else _split_polars(paths)
    channels, offsets_of_pieces, codes = decoded
    return Touches(
        channels=channels,
        lengths=lengths,
        pieces=pieces,
        piece_counts=counts,
        piece_offsets=offsets_of_pieces,
        piece_codes=codes,
        piece_touches=k,
    )


def _lookup(strings: pa.Array, give_up: bool) -> tuple[pa.Array, IntArray] | None:
    """Distinct ``strings`` and the index of each string among them (exact).

    The distinct values of an evenly spaced sample are looked up first; the strings it
    missed are then listed and looked up among themselves. With ``give_up``, None when
    the sample missed more than one string in eight (too many distinct strings).
    """
    m = len(strings)
    num = min(m, _SAMPLE)
    sample = np.arange(num, dtype=np.int64) * (m - 1) // max(num - 1, 1)  # evenly spaced, distinct
    entries = pc.unique(strings.take(_int64_array(sample)))
    index = pc.index_in(strings, value_set=entries)
    missed = index.null_count
    if missed and give_up and missed * 8 > m:
        return None
    ids = _int_values(index).astype(np.int64)
    if missed:
        is_missed = pc.is_null(index)
        rest = strings.filter(is_missed)
        extra = pc.unique(rest)
        positions = _values(pc.indices_nonzero(is_missed), np.uint64)
        ids[positions] = _int_values(pc.index_in(rest, value_set=extra)) + len(entries)
        entries = pa.concat_arrays([entries, extra])
    return entries, ids


def _int64_array(values: npt.NDArray[np.int64]) -> pa.Array:
    """``values`` as an Arrow int64 array, sharing their memory. Not ``pa.array``: it asks
    whether its argument is a pandas object, which imports pandas when installed (0.26 s of
    every Markov run); nor is an Arrow array read with ``to_numpy`` here, for the same
    reason: their buffers are read instead."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def _int_values(index: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int32]:
    """The int32 values of an ``index_in`` result (entries under nulls are arbitrary)."""
    return _values(index.combine_chunks() if isinstance(index, pa.ChunkedArray) else index, np.int32)


def _values(array: pa.Array, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """The values of a fixed-width Arrow ``array`` of ``dtype`` as NumPy, read from its data
    buffer (entries under nulls are arbitrary): not ``to_numpy`` (see :func:`_int64_array`)."""
    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset : array.offset + len(array)]


def _decode_pieces(entries: pa.Array, no_semicolon: bool) -> tuple[list[str], IntArray, IntArray] | None:
    """Channels, and offsets and codes of the pieces ``entries``; None if a name is not canonical.

    A piece is ``a > b > `` (more touches follow) or ``a > b`` (its path ends).
    ``no_semicolon``: a ``;`` in a name is not canonical either.
    """
    more = pc.ends_with(entries, SEPARATOR)
    content = pc.if_else(more, pc.utf8_slice_codeunits(entries, 0, -len(SEPARATOR)), entries)
    lists = pc.split_pattern(content, SEPARATOR)
    names = pc.list_flatten(lists)
    distinct = pc.unique(names)
    # sorted as Python sorts str (UTF-8 bytes sort as code points), kept an Arrow array
    distinct = distinct.take(pc.array_sort_indices(distinct))
    channels = distinct.to_pylist()
    for name in channels:
        if not name or ">" in name or name != name.strip() or (no_semicolon and ";" in name):
            return None
    codes = _int_values(pc.index_in(names, value_set=distinct)).astype(np.int64)
    sizes = _values(pc.list_value_length(lists).cast(pa.int64()), np.int64)  # no nulls
    offsets = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return channels, offsets, codes + 1

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
from pathlib import Path

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


@dataclass(frozen=True)
class Touches:
    """The touches of a path table, one entry per channel occurrence, in path order.

    ``row``: row index in the table (non-decreasing); ``code``: 1-based index into
    ``channels`` (sorted distinct names); rows with an empty path have no entry.
    """

    channels: list[str]
    row: npt.NDArray[np.int64]
    code: npt.NDArray[np.int64]
    n_rows: int


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
    return Touches(
        channels=channels,
        row=tokens.get_column("row").to_numpy(),
        code=code + 1,
        n_rows=len(paths),
    )


def _split_bytes(paths: pl.Series, check_canonical: bool) -> Touches | None:
    """Split on the Arrow buffer of ``paths`` without copying it; None if not canonical.

    Every byte of a non-empty path belongs to exactly one touch if each touch runs from
    its start to the next touch's start: ``name > `` for all but the last touch of a
    path, ``name`` for the last. Those byte ranges are viewed as one Arrow string array
    over the original buffer and dictionary-encoded (exact); dropping the ``" > "``
    suffix from the few dictionary entries gives the channel names.
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
        empty = np.zeros(0, dtype=np.int64)
        return Touches(channels=[], row=empty, code=empty, n_rows=n)
    raw = np.frombuffer(buffers[2], dtype=np.uint8)
    data = raw[lo:hi]
    gt = np.flatnonzero(data == ord(">"))
    if gt.shape[0] and (
        gt[0] == 0
        or gt[-1] + 1 >= data.shape[0]
        or np.any(data[gt - 1] != ord(" "))
        or np.any(data[gt + 1] != ord(" "))
    ):
        return None if check_canonical else _split_polars(paths)
    local = offsets - lo
    nonempty = local[1:] > local[:-1]
    ntok = np.diff(np.searchsorted(gt, local)) + nonempty
    row = np.repeat(np.arange(n, dtype=np.int64), ntok)
    # Row starts and separator ends are two sorted runs: a stable sort merges them.
    starts = np.sort(np.concatenate([local[:-1][nonempty], gt + 2]), kind="stable")
    token_offsets = np.concatenate([starts, local[-1:]])
    if lo:
        token_offsets += lo
    tokens = pa.LargeStringArray.from_buffers(starts.shape[0], pa.py_buffer(token_offsets), buffers[2])
    encoded = pc.dictionary_encode(tokens)
    entries: list[str] = encoded.dictionary.to_pylist()
    names = [e[: -len(SEPARATOR)] if e.endswith(SEPARATOR) else e for e in entries]
    for name in names:
        if not name or ">" in name or name != name.strip():
            return None if check_canonical else _split_polars(paths)
        if check_canonical and gt.shape[0] == 0 and ";" in name:
            return None
    channels = sorted(set(names))
    rank = {name: i + 1 for i, name in enumerate(channels)}
    lookup = np.array([rank[name] for name in names], dtype=np.int64)
    idx = encoded.indices
    index = np.frombuffer(idx.buffers()[1], dtype=np.int32)[idx.offset : idx.offset + len(idx)]
    return Touches(channels=channels, row=row, code=lookup[index], n_rows=n)

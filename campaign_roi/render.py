"""One output renderer for every command: ``--format table|csv|json|parquet`` and ``--out``.

JSON is an array of objects (numbers as numbers, dates ISO, null as null); CSV has a header;
``table`` is for people (aligned, thousands separators, rates as fractions with 4 decimals).
Files are written atomically: a temp file in the same directory, then ``os.replace``.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from campaign_roi.errors import UserError

FORMATS = ("table", "csv", "json", "parquet")
Formatter = Callable[[Any], str]


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        # mkstemp creates the file 0600; give it the mode a plain open() would (umask)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def format_ratio(x: Any) -> str:
    """ROI as the team writes it: ``1:3.20``."""
    return "" if x is None else f"1:{x:.2f}"


def _cell(v: Any, decimals: int = 2) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:,.{decimals}f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)


def _width(text: str) -> int:
    """Terminal columns: East Asian wide characters (品牌…) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fractions(s: pl.Series) -> bool:
    finite = s.filter(s.is_finite())
    top = finite.abs().max()
    return top is not None and 0 < float(top) <= 1  # type: ignore[arg-type]


def render_table(df: pl.DataFrame, formatters: Mapping[str, Formatter] | None = None) -> str:
    formatters = formatters or {}
    headers = list(df.columns)
    # a float column of fractions (|x| <= 1: rates, shares) gets 4 decimals, money 2
    decimals = {c: 4 if df.schema[c].is_float() and _fractions(df[c]) else 2 for c in headers}
    rows = [
        [formatters[c](v) if c in formatters else _cell(v, decimals[c])
         for c, v in zip(headers, r, strict=True)]
        for r in df.iter_rows()
    ]
    # numbers, and text columns holding only formatted numbers (1,200 / 1:3.20), align right
    numeric = [
        df.schema[c].is_numeric()
        or (df.schema[c] == pl.String and df.height > 0
            and bool(df[c].fill_null("").str.contains(r"^[-+0-9.,:%]*$").all()))
        for c in headers
    ]
    # a cell may hold several lines (EXPLAIN plans): widths are per line, and East Asian
    # wide characters take two columns
    split = [[cell.split("\n") for cell in r] for r in rows]
    widths = [max([_width(h)] + [_width(line) for r in split for line in r[i]])
              for i, h in enumerate(headers)]

    def pad(cell: str, width: int, right: bool) -> str:
        fill = " " * (width - _width(cell))
        return fill + cell if right else cell + fill

    def line(cells: list[str]) -> str:
        return "  ".join(
            pad(c, w, num) for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for r in split:
        for k in range(max(len(c) for c in r)):
            out.append(line([c[k] if k < len(c) else "" for c in r]))
    if not rows:
        out.append("(no rows)")
    return "\n".join(out) + "\n"


def normalize(df: pl.DataFrame) -> pl.DataFrame:
    """Types every format can show as numbers: DECIMAL (DuckDB's integer ``sum()`` is
    DECIMAL(38,0)) becomes Int64 when whole, else Float64."""
    exprs = []
    for c, t in df.schema.items():
        if isinstance(t, pl.Decimal):
            whole = t.scale == 0 and _fits_int64(df[c])
            exprs.append(pl.col(c).cast(pl.Int64 if whole else pl.Float64))
    return df.with_columns(exprs) if exprs else df


def _fits_int64(s: pl.Series) -> bool:
    lo, hi = s.min(), s.max()
    limit = 2**63 - 1
    return lo is None or bool(-limit <= lo and hi <= limit)  # type: ignore[operator]


def _text_safe(df: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """Make a frame writable as CSV/JSON: NaN/inf → null, times as ISO text, durations as
    seconds, binary as hex, and (CSV only) nested values as JSON text."""
    exprs: list[pl.Expr] = []
    for c, t in df.schema.items():
        col = pl.col(c)
        if t in (pl.Float32, pl.Float64):
            exprs.append(pl.when(col.is_finite()).then(col).otherwise(None).alias(c))
        elif isinstance(t, pl.Datetime):
            zone = "%:z" if t.time_zone else ""
            exprs.append(col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f" + zone))
        elif isinstance(t, pl.Duration):
            exprs.append(col.dt.total_seconds(fractional=True))
        elif t == pl.Time:
            exprs.append(col.dt.to_string("%H:%M:%S%.f"))
        elif t == pl.Binary:
            exprs.append(col.bin.encode("hex"))
        elif t == pl.Object or t == pl.Null:
            exprs.append(col.cast(pl.String, strict=False) if t == pl.Null else
                         col.map_elements(str, return_dtype=pl.String))
        elif fmt == "csv" and isinstance(t, pl.List | pl.Array | pl.Struct):
            # {"v":<json>} → <json>
            exprs.append(pl.struct(col.alias("v")).struct.json_encode()
                         .str.slice(5).str.head(-1).alias(c))
    return df.with_columns(exprs) if exprs else df


def to_text(df: pl.DataFrame, fmt: str, formatters: Mapping[str, Formatter] | None = None) -> str:
    df = normalize(df)
    if fmt == "table":
        return render_table(df, formatters)
    if fmt == "csv":
        return _text_safe(df, fmt).write_csv()
    if fmt == "json":
        return _text_safe(df, fmt).write_json() + "\n"
    raise UserError(f"--format {fmt!r} is not text; use one of {', '.join(FORMATS)}")


def emit(
    df: pl.DataFrame,
    fmt: str = "table",
    out: str | os.PathLike[str] | None = None,
    *,
    formatters: Mapping[str, Formatter] | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Render ``df`` in ``fmt`` to ``out`` (atomically) or, without ``out``, through ``echo``."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise UserError("--format parquet needs --out FILE.parquet (it is binary)")
        buf = io.BytesIO()
        normalize(df).write_parquet(buf)
        write_atomic(out, buf.getvalue())
        return
    text = to_text(df, fmt, formatters)
    if out is not None:
        write_atomic(out, text)
    elif echo is not None:
        echo(text.rstrip("\n"))

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
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def render_table(df: pl.DataFrame, formatters: Mapping[str, Formatter] | None = None) -> str:
    formatters = formatters or {}
    headers = list(df.columns)
    # a float column of fractions (|x| <= 1: rates, shares) gets 4 decimals, money 2
    decimals = {
        c: 4 if df.schema[c].is_float() and (df[c].abs().max() or 0) <= 1 else 2  # type: ignore[operator]
        for c in headers
    }
    rows = [
        [formatters[c](v) if c in formatters else _cell(v, decimals[c])
         for c, v in zip(headers, r, strict=True)]
        for r in df.iter_rows()
    ]
    numeric = [df.schema[c].is_numeric() for c in headers]
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def pad(cell: str, width: int, right: bool) -> str:
        fill = " " * (width - _width(cell))
        return fill + cell if right else cell + fill

    def line(cells: list[str]) -> str:
        return "  ".join(
            pad(c, w, num) for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out) + "\n"


def _json_safe(df: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in df.schema.items() if t in (pl.Float32, pl.Float64)]
    if not floats:
        return df
    return df.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in floats
    )


def to_text(df: pl.DataFrame, fmt: str, formatters: Mapping[str, Formatter] | None = None) -> str:
    if fmt == "table":
        return render_table(df, formatters)
    if fmt == "csv":
        return df.write_csv()
    if fmt == "json":
        return _json_safe(df).write_json() + "\n"
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
        df.write_parquet(buf)
        write_atomic(out, buf.getvalue())
        return
    text = to_text(df, fmt, formatters)
    if out is not None:
        write_atomic(out, text)
    elif echo is not None:
        echo(text.rstrip("\n"))

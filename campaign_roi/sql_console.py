"""Ad-hoc SQL for analysts (``campaign-roi sql`` / ``query run``), read-only by default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import duckdb
import polars as pl

from campaign_roi.dataset import Dataset
from campaign_roi.errors import DataError, UserError
from campaign_roi.sql_files import load_query

_READ_ONLY = {"SELECT", "EXPLAIN"}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def run_sql(
    ds: Dataset,
    query: str,
    params: Mapping[str, Any] | None = None,
    *,
    allow_write: bool = False,
) -> pl.DataFrame:
    """Run one or more statements; returns the last statement's result.

    Without ``allow_write`` only SELECT-like statements (SELECT, WITH, DESCRIBE, SHOW,
    SUMMARIZE, EXPLAIN) run: COPY … TO, CREATE, INSERT, ATTACH, INSTALL/LOAD, EXPORT, SET and
    the like are refused before anything executes.
    """
    try:
        statements = ds.con.extract_statements(query)
    except duckdb.Error as exc:
        raise UserError(f"SQL does not parse: {_first_line(exc)}") from exc
    if not statements:
        raise UserError("no SQL statement given")
    if not allow_write:
        for st in statements:
            kind = str(st.type).rsplit(".", 1)[-1]
            if kind not in _READ_ONLY:
                raise UserError(
                    f"{kind} statements are refused: the SQL console is read-only; "
                    "pass --allow-write to run it"
                )
        # no extension can be installed or loaded behind our back
        ds.con.sql("SET autoload_known_extensions = false")
    result = pl.DataFrame()
    try:
        for st in statements:
            text = st.query
            names = set(re.findall(r"\$([A-Za-z_]\w*)", text))
            bound = {k: v for k, v in (params or {}).items() if k in names}
            missing = sorted(names - set(bound))
            if missing:
                raise UserError(f"query parameter ${missing[0]} has no value; pass -p {missing[0]}=…")
            rel = ds.con.sql(text, params=bound or None)
            if rel is not None:
                result = rel.pl()
    except duckdb.Error as exc:
        raise DataError(f"query failed: {_first_line(exc)}") from exc
    return result


def parse_params(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``k=v`` pairs; values that look like integers or decimals become numbers."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"-p {pair!r}: write parameters as name=value")
        k, v = pair.split("=", 1)
        k = k.strip()
        if not re.fullmatch(r"[A-Za-z_]\w*", k):
            raise UserError(f"-p {pair!r}: {k!r} is not a parameter name")
        out[k] = _typed(v)
    return out


def _typed(v: str) -> Any:
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    if re.fullmatch(r"-?\d+\.\d*", v):
        return float(v)
    return v


def run_named(
    ds: Dataset, name: str, params: Mapping[str, Any] | None = None, *, allow_write: bool = False
) -> pl.DataFrame:
    return run_sql(ds, load_query(name), params, allow_write=allow_write)

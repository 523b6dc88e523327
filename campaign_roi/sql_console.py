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

_READ_ONLY = {"SELECT"}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _kind(con: duckdb.DuckDBPyConnection, statement: Any) -> str:
    """The statement's type; for EXPLAIN [ANALYZE] the type of the explained statement
    (EXPLAIN ANALYZE runs it)."""
    kind = str(statement.type).rsplit(".", 1)[-1]
    if kind != "EXPLAIN":
        return kind
    m = _EXPLAIN.match(_strip_literals(statement.query))
    if m:
        # the match is on the literal-stripped text: same length, so slice the original
        inner = con.extract_statements(statement.query[m.end():])
        if len(inner) == 1:
            return _kind(con, inner[0])
    return "EXPLAIN"  # not understood: refused


_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?:\([^)]*\)\s*)?(?:ANALY[SZ]E\s+)?", re.IGNORECASE)
_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def _strip_literals(sql: str) -> str:
    """``sql`` with string literals, quoted names and comments blanked (same length)."""
    return _LITERALS.sub(lambda m: " " * len(m.group(0)), sql)


def query_params(sql: str) -> set[str]:
    """The ``$name`` parameters a query uses (not counting text inside literals/comments)."""
    return set(_PARAM.findall(_strip_literals(sql)))


def run_sql(
    ds: Dataset,
    query: str,
    params: Mapping[str, Any] | None = None,
    *,
    allow_write: bool = False,
) -> pl.DataFrame:
    """Run one or more statements; returns the last statement's result.

    Without ``allow_write`` only SELECT-like statements (SELECT, WITH, FROM, VALUES, DESCRIBE,
    SHOW, SUMMARIZE, EXPLAIN of those) run: COPY … TO, CREATE, INSERT, UPDATE, DELETE,
    ATTACH, INSTALL/LOAD, EXPORT, SET, PRAGMA, CALL and the like are refused before anything
    executes. ``$name`` parameters are bound from ``params``; a missing or unused parameter
    is a :class:`UserError`.
    """
    try:
        statements = ds.con.extract_statements(query)
    except duckdb.Error as exc:
        raise UserError(f"SQL does not parse: {_first_line(exc)}") from exc
    if not statements:
        raise UserError("no SQL statement given")
    if not allow_write:
        for st in statements:
            kind = _kind(ds.con, st)
            if kind not in _READ_ONLY:
                raise UserError(
                    f"{kind} statements are refused: the SQL console is read-only; "
                    "pass --allow-write to run it"
                )
        # no extension can be installed or loaded behind our back
        ds.con.sql("SET autoload_known_extensions = false")
    given = dict(params or {})
    used: set[str] = set()
    for st in statements:
        used |= query_params(st.query)
    unused = sorted(set(given) - used)
    if unused:
        uses = ", ".join(f"${n}" for n in sorted(used)) or "no parameters"
        raise UserError(f"-p {unused[0]}: the query has no ${unused[0]} (it uses {uses})")
    missing = sorted(used - set(given))
    if missing:
        raise UserError(f"query parameter ${missing[0]} has no value; pass -p {missing[0]}=…")
    result = pl.DataFrame()
    for st in statements:
        names = query_params(st.query)
        bound = {k: v for k, v in given.items() if k in names}
        try:
            rel = ds.con.sql(st.query, params=bound or None)
        except duckdb.Error as exc:
            raise DataError(f"query failed: {_first_line(exc)}") from exc
        if rel is None:
            continue
        try:
            result = rel.pl()
        except duckdb.Error as exc:
            raise DataError(f"query failed: {_first_line(exc)}") from exc
        except Exception as exc:  # a type Polars cannot hold, e.g. INTERVAL
            raise DataError(
                f"the result cannot be shown ({_first_line(exc)}); cast the column in SQL, "
                "e.g. CAST(x AS VARCHAR) or epoch(x) for an INTERVAL"
            ) from exc
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

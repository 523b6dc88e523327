"""Load named SQL files from the project's ``queries/`` library.

``load_query("marts/funnel")`` returns the text of ``queries/marts/funnel.sql``. An installed
wheel carries the files as package data (``campaign_roi/queries/``); a source checkout keeps
them in ``queries/`` next to the package. The SQL uses DuckDB ``$name`` parameters only.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

from campaign_roi.errors import UserError

_NAME = re.compile(r"^[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*$")


@cache
def load_query(name: str) -> str:
    """Return the SQL text of ``queries/<name>.sql`` (``name`` like ``marts/funnel``)."""
    if not _NAME.match(name):
        raise UserError(f"query name {name!r} is not valid: use names like 'marts/funnel'")
    relative = f"{name}.sql"
    packaged = resources.files("campaign_roi").joinpath("queries", *relative.split("/"))
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source = Path(__file__).resolve().parent.parent / "queries" / relative
    if source.is_file():
        return source.read_text(encoding="utf-8")
    raise UserError(f"query {name!r} not found: expected queries/{relative}")

"""The SQL library in ``queries/`` (staging → intermediate → marts), shipped in the wheel.

An installed package finds the files as package data (``campaign_roi/queries``); a source
checkout (editable install) finds the repository's ``queries/`` next to the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from campaign_roi.errors import UserError


@cache
def queries_dir() -> Path:
    packaged = Path(__file__).with_name("queries")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "queries"


def list_queries() -> list[tuple[str, str]]:
    """(name, first comment line) for every ``.sql`` file, names like ``marts/channels``."""
    root = queries_dir()
    out = []
    for f in sorted(root.rglob("*.sql")):
        name = f.relative_to(root).with_suffix("").as_posix()
        first = f.read_text(encoding="utf-8").lstrip().splitlines()[:1]
        desc = first[0].removeprefix("--").strip() if first and first[0].startswith("--") else ""
        out.append((name, desc))
    return out


@cache
def load_query(name: str) -> str:
    root = queries_dir()
    path = (root / f"{name}.sql").resolve()
    if root.resolve() not in path.parents or not path.is_file():
        names = ", ".join(n for n, _ in list_queries())
        raise UserError(f"no query named {name!r}; known queries: {names}")
    return path.read_text(encoding="utf-8")

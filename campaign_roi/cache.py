"""Facts about a dataset's files that cost a full scan, cached per file content stamp.

The key is a hash of every data file's path, size and modification time, so any change to
the files computes the facts again. Stored as JSON in ``$CAMPAIGN_ROI_CACHE_DIR`` (default
``~/.cache/campaign_roi``); when that is not writable nothing is cached and the facts are
computed on every run. Only derived counts, dates, flags and the distinct channel labels are
stored here, never user-level data; besides them, texts derived from installed software alone
(the report's JavaScript bundle) by :func:`cached_text`. User-level rows (each events file's
rare events, touches and activity words) are kept apart, in the ``file_layer`` folder of the
same directory, by :mod:`campaign_roi.file_layer`, which says when and how to remove them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ENV_CACHE_DIR = "CAMPAIGN_ROI_CACHE_DIR"
VERSION = 1


def cache_dir() -> Path:
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "campaign_roi"


def stamp(files: Iterable[Path]) -> str:
    h = hashlib.sha256(f"v{VERSION}".encode())
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _facts_file(files: Iterable[Path]) -> tuple[Path, dict[str, Any]]:
    """The cache file of this content stamp of ``files`` and the facts it holds (none when
    it is missing or unreadable)."""
    path = cache_dir() / f"{stamp(files)}.json"
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path, {}
    return path, facts if isinstance(facts, dict) else {}


def cached_fact(files: Iterable[Path], name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per content stamp of ``files``; later calls read the cache."""
    if os.environ.get(ENV_CACHE_DIR) == "off":
        return compute()
    path, facts = _facts_file(files)
    if name in facts:
        return facts[name]
    value = compute()
    facts[name] = value
    try:
        from campaign_roi.render import write_atomic

        write_atomic(path, json.dumps(facts, sort_keys=True))
    except OSError:
        pass  # an unwritable cache only costs time
    return value


def known_fact(files: Iterable[Path], name: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``name`` is cached for this content stamp of ``files``, else
    ``(False, None)``; never computes it."""
    if os.environ.get(ENV_CACHE_DIR) == "off":
        return False, None
    facts = _facts_file(files)[1]
    return (True, facts[name]) if name in facts else (False, None)


def cached_text(name: str, compute: Callable[[], str]) -> str:
    """``compute()`` once per ``name``, kept as the file ``name`` in the cache directory. For
    texts that depend on installed software only, never on data: ``name`` must carry the
    versions they come from (``vega-bundle-<vl-convert version>-<Vega-Lite version>.js``)."""
    if os.environ.get(ENV_CACHE_DIR) == "off":
        return compute()
    path = cache_dir() / name
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        from campaign_roi.render import write_atomic

        write_atomic(path, value)
    except OSError:
        pass  # an unwritable cache only costs time
    return value

"""The file layer: each events file's rare events, touches and activity words, kept in the cache.

Most commands read the events files' ``user_id`` and ``event_time`` columns (90 % of the
files' bytes) several times: once for the rare events (registers, orders, refunds, campaign
joins: 5 % of the rows), once for the touches (14 %), once for the activity days. The files
are compressed page by page, so reading 5 % of the rows still decompresses every page. The
layer keeps, per events file, three small Parquet files made by the product's own queries
over that file's rows of the ``events`` view:

- ``rare``: the file's rows of ``queries/intermediate/key_events.sql`` (the ``key_events``
  view then reads them);
- ``touches``: the file's rows of the ``touches`` view, every column (the ``touches`` view
  then reads them, and with it the acquisition and every attribution run);
- ``words``: the file's activity days packed per (user, 64-day word)
  (``queries/intermediate/activity_words.sql`` over the file, day 0 = the data's first day);
  the KPIs' activity words merge the files' words (``queries/intermediate/
  activity_words_layer.sql``): a word spans files.

They hold 46 % of the files' bytes at scale 1 (208 MB for 451 MB) and are written once per
new or changed file (16-18 s at scale 1, about 2x the floor), so a command reads only the files
it has not seen. Each is named by hashes of the file's path, size and modification time and
of everything its rows depend on (:func:`_name`): any change writes it again, never reads a
stale one.

The layer is used only where it gives the same rows as the files (docs/decisions.md):
Parquet events (not CSV), no repeated event_id (the deduplication keeps the first of a
repeated id across files), data up to SHARED_TABLES_MAX_ROWS rows (larger data keeps its
sliced reads; the layer would hold gigabytes), a writable cache directory, and not disabled
with ``CAMPAIGN_ROI_FILE_LAYER=off``. It holds user-level rows (user ids, times, amounts) in
``$CAMPAIGN_ROI_CACHE_DIR/file_layer`` (default ``~/.cache/campaign_roi``); layer files no
command has used for :data:`UNUSED_DAYS` days are deleted. Delete that directory to remove
them at once, or turn the layer off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from campaign_roi.dataset import Dataset

ENV_FILE_LAYER = "CAMPAIGN_ROI_FILE_LAYER"
#: the layer files' format (the texts of the queries that make them are part of every name)
LAYER_VERSION = 1
KINDS = ("rare", "touches", "words")
#: layer files no command has used for this long are deleted (those of events files that
#: are gone, or of a configuration no longer used): a copy of user-level rows does not
#: outlive its use by more than this
UNUSED_DAYS = 30
_OFF = {"0", "off", "false", "no"}


@dataclass(frozen=True)
class FileLayer:
    """The layer files of every events file, per kind, and the words' day 0."""

    first_day: date
    files: dict[str, tuple[Path, ...]]

    def reader(self, kind: str) -> str:
        """``read_parquet([...])`` over the layer files of ``kind``."""
        return f"read_parquet({_path_list(self.files[kind])})"


def _path_list(paths: Iterable[Path]) -> str:
    """A SQL list literal of ``paths`` (layer files this module named)."""
    from campaign_roi.dataset import sql_literal

    return "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"


def layer_dir() -> Path:
    from campaign_roi.cache import cache_dir

    return cache_dir() / "file_layer"


def enabled(ds: Dataset) -> bool:
    """Whether ``ds`` may read the layer (the module's conditions), before any writing."""
    if os.environ.get(ENV_FILE_LAYER, "").strip().lower() in _OFF:
        return False
    tf = ds.files["events"]
    if tf is None or tf.form not in ("parquet_dir", "parquet"):
        return False
    return (ds.shares_tables() and ds.duplicate_event_ids() == 0
            and ds.date_range[0] is not None)


def prepare(ds: Dataset, write: bool = True) -> FileLayer | None:
    """The layer of ``ds``'s events files, writing the files it lacks (unless not ``write``:
    then None when any is lacking); None when the layer is not used (:func:`enabled`) or
    cannot be written (then the views read the files)."""
    if not enabled(ds):
        return None
    first_day = ds.date_range[0]
    assert first_day is not None  # enabled() checked it
    tf = ds.files["events"]
    assert tf is not None
    pattern = str(tf.path / "**" / "*.parquet") if tf.form == "parquet_dir" else str(tf.path)
    # the files as DuckDB names them (its `filename` column), in its order
    names = [str(r[0]) for r in ds.con.sql("SELECT file FROM glob($p) ORDER BY file",
                                           params={"p": pattern}).fetchall()]
    if len(names) != len(ds.data_files()):
        return None
    folder = layer_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    from campaign_roi.sql_files import load_query

    # what every layer file's rows depend on besides its events file's content
    template = "\0".join([ds._events_sql("<file>"), load_query("intermediate/key_events"),
                          load_query("intermediate/activity_words")])
    channels = json.dumps(sorted(ds.channel_mapping.items()))
    layer: dict[str, dict[str, Path]] = {
        name: {kind: folder / _name(Path(name), kind, template, channels, first_day)
               for kind in KINDS}
        for name in names}
    if not write and not all(p.is_file() for paths in layer.values() for p in paths.values()):
        return None
    try:
        for name, paths in layer.items():
            missing = {k: p for k, p in paths.items() if not p.is_file()}
            if missing:
                _write(ds, tf.reader, name, first_day, missing)
        broken = _unreadable(ds, [p for paths in layer.values() for p in paths.values()])
        if broken:  # damaged since written (a full disk, a copy cut short): written again
            for p in broken:
                p.unlink(missing_ok=True)
            for name, paths in layer.items():
                missing = {k: p for k, p in paths.items() if p in broken}
                if missing:
                    _write(ds, tf.reader, name, first_day, missing)
            if _unreadable(ds, broken):
                return None
    except (duckdb.Error, OSError):
        return None  # a full disk, a read-only folder: the views read the files
    used = [p for paths in layer.values() for p in paths.values()]
    _prune(folder, used)
    return FileLayer(first_day, {kind: tuple(paths[kind] for paths in layer.values())
                                 for kind in KINDS})


def _prune(folder: Path, used: list[Path]) -> None:
    """Mark the ``used`` layer files as used now (their modification time) and delete the
    layer files unused for :data:`UNUSED_DAYS` days. Best effort: a file another process
    removes meanwhile, or a folder that cannot be changed, is left as it is."""
    import time

    now = time.time()
    for p in used:
        with contextlib.suppress(OSError):
            os.utime(p, (now, now))
    cutoff = now - UNUSED_DAYS * 86_400
    for p in folder.iterdir():  # layer files, and the temp files of a killed writer
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < cutoff:
                p.unlink()


def _unreadable(ds: Dataset, paths: list[Path]) -> list[Path]:
    """The layer files whose Parquet footer cannot be read (all footers read at once first:
    a few milliseconds; file by file only when that fails)."""
    def footers(ps: list[Path]) -> str:
        return f"SELECT count(*) FROM parquet_file_metadata({_path_list(ps)})"

    try:
        ds.con.sql(footers(paths)).fetchall()
        return []
    except duckdb.Error:
        pass
    broken = []
    for p in paths:
        try:
            ds.con.sql(footers([p])).fetchall()
        except duckdb.Error:
            broken.append(p)
    return broken


def _name(file: Path, kind: str, template: str, channels: str, first_day: date) -> str:
    """``<what>-<version>.<kind>.parquet``. ``what``: a hash of the events file's absolute
    path and of everything the kind's rows depend on besides its content (the ``events``
    view's query for the file: time zone, fixed offset, event type normalisation, the columns
    of all files; the texts of the queries that make the layer; the channel groups for the
    touches; day 0 for the words); ``version``: a hash of the file's size and modification
    time. Once a new version is written, the earlier versions of the same ``what`` are stale
    and deleted (:func:`_write`); a layer of another configuration is left alone (another
    command may be reading it)."""
    what = hashlib.sha256(f"file layer v{LAYER_VERSION}\0{kind}\0{file.resolve()}\0"
                          f"{template}".encode())
    if kind == "touches":
        what.update(f"\0{channels}".encode())
    if kind == "words":
        what.update(f"\0{first_day.isoformat()}".encode())
    st = file.stat()
    version = hashlib.sha256(f"{st.st_size}\0{st.st_mtime_ns}".encode())
    return f"{what.hexdigest()[:32]}-{version.hexdigest()[:32]}.{kind}.parquet"


def _write(ds: Dataset, reader: str, name: str, first_day: date,
           missing: dict[str, Path]) -> None:
    """Write the ``missing`` layer files of events file ``name``: the product's queries run
    over a temporary ``events`` view of that file's rows (it shadows the view while it
    exists), each written to a temporary name and renamed."""
    from campaign_roi.dataset import sql_literal
    from campaign_roi.sql_files import load_query

    ds.stage(f"file layer: {Path(name).parent.name}/{Path(name).name}")
    last = ds.date_range[1]
    assert last is not None
    source = (f"(SELECT *, file_index AS __file_index, file_row_number AS __file_row "
              f"FROM {reader} WHERE filename = {sql_literal(name)})")
    queries: dict[str, tuple[str, dict[str, object] | None]] = {
        "rare": (load_query("intermediate/key_events"), None),
        "touches": ("SELECT * FROM events WHERE event_type = 'touch'", None),
        "words": (load_query("intermediate/activity_words"),
                  {"first_day": first_day, "from_day": 0, "to_day": (last - first_day).days + 1,
                   "user_slices": 1, "user_slice": 0}),
    }
    ds.con.sql("CREATE OR REPLACE TEMP VIEW events AS\n" + ds._events_sql(source))
    try:
        for kind, path in missing.items():
            query, params = queries[kind]
            temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            try:
                ds.con.sql(f"COPY ({query}\n) TO {sql_literal(str(temp))} "
                           "(FORMAT parquet, COMPRESSION zstd)", params=params)
                os.replace(temp, path)
            finally:
                temp.unlink(missing_ok=True)
            # the earlier versions of this layer file (_name): stale, never read again
            for old in path.parent.glob(f"{path.name.split('-')[0]}-*.{kind}.parquet"):
                if old != path:
                    old.unlink(missing_ok=True)
    finally:
        ds.con.sql("DROP VIEW IF EXISTS temp.main.events")

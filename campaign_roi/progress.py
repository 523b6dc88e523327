"""A one-line progress display for long commands (SPEC §10, issue 8).

On a terminal, a command shows one line on stderr, redrawn in place twice a second: the
command, the section (a report's) and the stage the library is in
(:meth:`campaign_roi.dataset.Dataset.stage`), the running DuckDB statement's own percentage
(``query_progress``) and the seconds since the start. The line is erased before the command
prints its result, so stdout, and a terminal's scrollback, hold the same bytes as without it.
The CLI creates it only when stderr is a terminal and ``--quiet`` is not given; the library
never writes to a stream by itself.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import duckdb

#: moves to the start of the line and clears it (VT100; every terminal emulator in use)
ERASE = "\r\033[K"


class ProgressLine:
    """The progress line of one command. :meth:`start` draws it and starts redrawing it every
    ``interval`` seconds; :meth:`stage` names what runs now; :meth:`close` stops and erases it
    (idempotent). ``clock`` and ``width`` are for tests."""

    def __init__(self, label: str, stream: TextIO, *, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, width: int | None = None) -> None:
        self.label = label
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.width = width
        self._started = clock()
        self._section = ""
        self._stage = ""
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Show the percentage of the statements ``con`` runs (DuckDB computes it once a
        statement has run ``progress_bar_time`` ms; 0 makes it answer from the start)."""
        con.sql("SET progress_bar_time = 0")
        self._con = con

    def section(self, name: str) -> None:
        """A part of the command (a report's section), shown before the stages within it."""
        self._section = name
        self._stage = ""
        self.draw()

    def stage(self, name: str) -> None:
        self._stage = name
        self.draw()

    def text(self, percent: float | None) -> str:
        parts = [self.label]
        parts += [p for p in (self._section, self._stage) if p]
        if percent is not None and percent >= 0:
            parts.append(f"query {percent:.0f} %")
        parts.append(f"{self.clock() - self._started:.0f} s")
        line = "  " + " · ".join(parts)
        width = self.width or shutil.get_terminal_size(fallback=(80, 24)).columns
        return line[: max(1, width - 1)]

    def _percent(self) -> float | None:
        con = self._con
        if con is None:
            return None
        try:
            value = float(con.query_progress())
        except Exception:  # a percentage is a nicety: never let it break the command
            return None
        return value if value >= 0 else None

    def draw(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.stream.write(ERASE + self.text(self._percent()))
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def start(self) -> ProgressLine:
        self.draw()
        self._thread = threading.Thread(target=self._run, name="campaign-roi-progress",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop redrawing and erase the line; the connection is not touched afterwards."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._con = None
            self.stream.write(ERASE)
            self.stream.flush()

    def __enter__(self) -> ProgressLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

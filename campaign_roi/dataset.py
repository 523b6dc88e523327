"""Open a dataset directory (SPEC §2) as a DuckDB connection with the analyst views.

Views (all in the dataset's time zone, which is also the session ``TimeZone``):

- ``raw_events``: the events files as read.
- ``events``: typed, deduplicated on ``event_id`` (first kept), with ``channel_group`` (§3),
  ``local_time`` and ``event_date`` (local); every contract column present (NULL if absent).
- ``touches``, ``orders`` (with ``refunded`` and ``net_amount``), ``spend`` (with
  ``channel_group``), ``campaigns``, ``users`` (one row per user).
- Views defined by later layers (``conversions``, ``paths``, ...) are added by their modules.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from campaign_roi.channel_groups import map_channels
from campaign_roi.config import Config, load_config
from campaign_roi.errors import DataError, UserError
from campaign_roi.metrics import define_exact_sum
from campaign_roi.schema import EVENT_COLUMNS
from campaign_roi.slices import ROWS_PER_SLICE

if TYPE_CHECKING:
    from campaign_roi.file_layer import FileLayer
    from campaign_roi.progress import ProgressLine

ENV_DATA = "CAMPAIGN_ROI_DATA"
DEFAULT_MEMORY_LIMIT = "1GB"
#: above this many event rows a command keeps no large table for the analyses that follow
#: (a report's acquisition, touches and activity words): memory before sharing, each analysis
#: computes what it needs as its own command would (SPEC §10: larger data must not fail)
SHARED_TABLES_MAX_ROWS = ROWS_PER_SLICE
#: days of registrants one acquisition statement covers (Dataset.period_acquisition) for data
#: of SHARED_TABLES_MAX_ROWS rows: at 10x scale 1 (533 M rows) that is 103 days, so a quarter
#: (2.6-3.3 M registrants) is one statement
ACQUISITION_PART_DAYS = 920

#: the touch columns the acquisition reads (view ``acquisition_touches``)
ACQUISITION_TOUCH_COLUMNS = ("user_id, event_time, local_time, event_id, channel, channel_group, "
                             "campaign_id")
#: whether two of a user's registers, or two of a user's orders, may share an event_time (in
#: the table ``key_events``): then event_id decides which comes first
#: (intermediate/conversions.sql). Distinct 64-bit hashes of (type, user, time), a third
#: cheaper than distinct values: a collision (about 1e-7 for the 1.8 M rows of scale 1) only
#: reads event_id when no tie needs it
CONVERSION_TIES_SQL = """
SELECT count(*) <> count(DISTINCT hash(event_type, user_id, event_time))
FROM key_events
WHERE event_type IN ('register', 'order')
"""
#: what the conversions of one type are computed from (intermediate/conversions.sql): the
#: rare event types, and the key_events columns they never read. An attribution run of one
#: type reads only those rows and columns (Dataset.type_conversions): a register run no
#: orders, amounts or order ids, an order run no registers or referrers
CONVERSION_KEY_EVENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "register": (("register",), ("order_id", "amount")),
    "first_order": (("order", "refund"), ("referrer_id",)),
    "order": (("order", "refund"), ("referrer_id",)),
}
_NAIVE_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")
#: CSV columns always read as text (see TableFile.csv_text)
_CSV_TEXT: dict[str, tuple[str, ...]] = {
    "events": ("user_id", "event_time", "event_type", "channel", "campaign_id", "order_id",
               "referrer_id", "event_id"),
    "spend": ("date", "channel", "campaign_id"),
    "campaigns": ("campaign_id", "name", "start_date", "end_date"),
}
CONFIG_NAME = "campaign_roi.toml"


def sql_literal(text: str) -> str:
    """A SQL string literal (for file paths and validated names, never for query values)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableFile:
    name: str  # events | spend | campaigns
    path: Path  # file, or directory for a Parquet tree
    form: str  # parquet_dir | parquet | csv
    #: CSV columns read as text whatever the sniffer guesses (ids keep leading zeros; times
    #: and dates are parsed as ISO 8601 only, never as an ambiguous 01/07/2025)
    csv_text: tuple[str, ...] = ()

    @property
    def reader(self) -> str:
        p = self.path
        if self.form == "parquet_dir":
            glob = sql_literal(str(p / "**" / "*.parquet"))
            hive = "true" if self.hive else "false"
            return f"read_parquet({glob}, hive_partitioning = {hive}, union_by_name = true)"
        if self.form == "parquet":
            return f"read_parquet({sql_literal(str(p))})"
        types = ""
        if self.csv_text:
            pairs = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in self.csv_text)
            types = f", types = {{{pairs}}}"
        return f"read_csv({sql_literal(str(p))}, header = true, sample_size = -1{types})"

    @property
    def hive(self) -> bool:
        """Hive partitions (``key=value`` folders) are read as columns when every file has them."""
        files = list(self.path.rglob("*.parquet"))
        return bool(files) and all(
            any("=" in part for part in f.relative_to(self.path).parts[:-1]) for f in files
        )

    @property
    def display(self) -> str:
        return str(self.path) + ("/" if self.form == "parquet_dir" else "")


def _find_table(root: Path, name: str, required: bool) -> TableFile | None:
    found: list[TableFile] = []
    d = root / name
    if d.is_dir():
        found.append(TableFile(name, d, "parquet_dir"))
    if (root / f"{name}.parquet").is_file():
        found.append(TableFile(name, root / f"{name}.parquet", "parquet"))
    for suffix in (".csv", ".csv.gz"):
        if (root / f"{name}{suffix}").is_file():
            found.append(TableFile(name, root / f"{name}{suffix}", "csv"))
    if len(found) > 1:
        names = ", ".join(f.display for f in found)
        raise DataError(f"{root}: {name} is given more than once ({names}); keep only one")
    if not found:
        if required:
            raise DataError(
                f"{root}: no {name} data; add {name}/ (Parquet), {name}.parquet or {name}.csv"
            )
        return None
    tf = found[0]
    if tf.form == "parquet_dir" and not any(tf.path.rglob("*.parquet")):
        raise DataError(f"{tf.display}: no .parquet files inside; add the {name} Parquet files")
    return tf


def resolve_data_dir(data: str | os.PathLike[str] | None) -> Path:
    if data is None:
        data = os.environ.get(ENV_DATA)
        if not data:
            raise UserError(f"no dataset given; pass --data DIR or set {ENV_DATA}")
    root = Path(data).expanduser()
    if not root.is_dir():
        raise UserError(f"--data {root}: not a directory; point it at the dataset directory")
    return root


def _connect(config: Config) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    # DuckDB's own bar writes to stdout (into a redirected result too): progress is ours, on
    # stderr (campaign_roi.progress)
    con.sql("SET enable_progress_bar_print = false")
    define_exact_sum(con)
    if config.threads:
        con.sql(f"SET threads = {int(config.threads)}")
    # bounded memory: DuckDB spills to disk beyond the limit instead of failing (§10)
    con.sql(f"SET memory_limit = {sql_literal(config.memory_limit or DEFAULT_MEMORY_LIMIT)}")
    spill = Path(tempfile.gettempdir()) / "campaign_roi_spill"
    con.sql(f"SET temp_directory = {sql_literal(str(spill))}")
    known = con.sql(
        "SELECT count(*) FROM pg_timezone_names() WHERE name = $tz", params={"tz": config.timezone}
    ).fetchall()[0]
    if not known or not known[0]:
        where = config.source or "config"
        raise DataError(
            f"{where}: timezone {config.timezone!r} is unknown; use an IANA name like 'Asia/Shanghai'"
        )
    con.sql(f"SET TimeZone = {sql_literal(config.timezone)}")
    return con


class Dataset:
    """A dataset directory opened as DuckDB views. Use :meth:`open`."""

    def __init__(
        self,
        root: Path,
        config: Config,
        con: duckdb.DuckDBPyConnection,
        files: Mapping[str, TableFile | None],
    ) -> None:
        self.root = root
        self.config = config
        self.con = con
        self.files = dict(files)
        self.raw_types: dict[str, dict[str, str]] = {}
        self._duplicates: int | None = None
        self._canonical_types: bool | None = None
        self._materialized: set[str] = set()
        #: whether the command's key_events were read with event_id (a tie needed it); None
        #: until they are read (:meth:`_materialize_key_event_views`)
        self.key_events_with_ids: bool | None = None
        #: what the shared temp tables of this command hold (table name → the key of the
        #: options that built it), so a later analysis with the same key reuses the table
        self.temp_keys: dict[str, Hashable] = {}
        #: credit totals of this command's attribution runs (campaign_roi.attribution
        #: .Attribution.totals): (the run's journeys key, half-life, Markov order, total key,
        #: paid_end) → (models, frame), so a later analysis asking the same run for some of
        #: those models reads their rows here
        self.credit_totals: dict[Hashable, tuple[tuple[str, ...], pl.DataFrame]] = {}
        #: told the name of each stage of a long computation (:meth:`stage`)
        self.progress: ProgressLine | None = None
        #: raw channel label → channel group (§3), as the views map them
        self.channel_mapping: dict[str, str] = {}
        #: the cached per-file intermediates the views read, when in use (campaign_roi.file_layer)
        self.file_layer: FileLayer | None = None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        data: str | os.PathLike[str] | None = None,
        config: str | os.PathLike[str] | None = None,
        *,
        check: bool = True,
        progress: ProgressLine | None = None,
        write_layer: bool = True,
    ) -> Dataset:
        """Open ``data`` (or ``$CAMPAIGN_ROI_DATA``). With ``check`` the dataset's errors
        (SPEC §11) raise :class:`DataError` before any analysis can print a wrong number.
        ``progress`` hears the stages of this dataset's computations and shows its statements'
        percentage. The views read the file layer (campaign_roi.file_layer) when it may be
        used; ``write_layer`` False reads it only when every file's layer is there already,
        never writing it (ad-hoc SQL: a quick question should not wait for it)."""
        root = resolve_data_dir(data)
        cfg_path = Path(config) if config else root / CONFIG_NAME
        cfg = load_config(cfg_path if config or cfg_path.is_file() else None)
        files = {
            "events": _find_table(root, "events", True),
            "spend": _find_table(root, "spend", False),
            "campaigns": _find_table(root, "campaigns", False),
        }
        ds = cls(root, cfg, _connect(cfg), files)
        if progress is not None:
            progress.attach(ds.con)
            ds.progress = progress
        ds._create_raw_views()
        if check:
            from campaign_roi.validate import raise_on_errors

            raise_on_errors(ds)
        try:
            # validation (unchecked) does not need the file layer, nor pays for its writing
            ds._create_views(layer=check, write_layer=write_layer)
        except duckdb.Error as exc:
            if check:
                raise DataError(f"{root}: cannot prepare the views ({_first_line(exc)})") from exc
            # unchecked (validate): the issues explain what is wrong
        return ds

    def _create_raw_views(self) -> None:
        for name, tf in self.files.items():
            if tf is None:
                continue
            try:
                # file position, for "first kept" among repeated event_ids (a streaming
                # row_number() keeps the CSV's line order)
                pos = (", file_index AS __file_index, file_row_number AS __file_row"
                       if tf.form != "csv"
                       else ", 0 AS __file_index, row_number() OVER () AS __file_row")
                self.con.sql(f"CREATE VIEW raw_{name} AS SELECT *{pos} FROM {tf.reader}")
                desc = self.con.sql(f"DESCRIBE raw_{name}").fetchall()
                text = tuple(str(r[0]) for r in desc if str(r[0]) in _CSV_TEXT.get(name, ())
                             and str(r[1]) != "VARCHAR")
                if tf.form == "csv" and text:
                    tf = replace(tf, csv_text=text)
                    self.files[name] = tf
                    self.con.sql(
                        f"CREATE OR REPLACE VIEW raw_{name} AS SELECT *{pos} FROM {tf.reader}")
                    desc = self.con.sql(f"DESCRIBE raw_{name}").fetchall()
            except duckdb.Error as exc:
                raise DataError(
                    f"{tf.display}: cannot be read as {tf.form.replace('_dir', '')} ("
                    f"{_first_line(exc)}); replace the file with a valid one"
                ) from exc
            self.raw_types[name] = {
                str(r[0]): str(r[1]) for r in desc if not str(r[0]).startswith("__")
            }

    def stage(self, name: str) -> None:
        """Name the stage that starts now, for the progress line (nothing without one)."""
        if self.progress is not None:
            self.progress.stage(name)

    def has_column(self, table: str, column: str) -> bool:
        return column in self.raw_types.get(table, {})

    def data_files(self, table: str = "events") -> list[Path]:
        tf = self.files[table]
        if tf is None:
            return []
        return sorted(tf.path.rglob("*.parquet")) if tf.form == "parquet_dir" else [tf.path]

    def duplicate_event_ids(self) -> int:
        """Rows that repeat an earlier event_id (dropped from ``events``). Costs one scan of
        the event_id column, cached per file stamp (campaign_roi.cache): a dataset without
        repeats then skips the deduplication window entirely."""
        if not self.has_column("events", "event_id"):
            return 0

        def count() -> int:
            # distinct 64-bit hashes first (far cheaper than distinct strings): as many
            # distinct hashes as ids proves the ids distinct; otherwise count exactly
            n, hashes = self.con.sql(
                "SELECT count(event_id), count(DISTINCT hash(event_id)) FROM raw_events"
            ).fetchall()[0]
            if n == hashes:
                return 0
            row = self.con.sql(
                "SELECT count(event_id) - count(DISTINCT event_id) FROM raw_events"
            ).fetchall()[0]
            return int(row[0] or 0)

        if self._duplicates is None:
            from campaign_roi.cache import cached_fact

            self._duplicates = int(cached_fact(self.data_files(), "duplicate_event_ids", count))
        return self._duplicates

    def canonical_event_types(self) -> bool:
        """Whether every raw event_type is already lower case without surrounding spaces
        (one grouping of the event_type column, cached per file stamp). Then ``events`` reads
        the column as stored, and a filter such as ``event_type = 'touch'`` reaches the
        Parquet reader instead of costing ``lower(trim())`` on every row (§10)."""
        if not self.has_column("events", "event_type"):
            return True

        def check() -> bool:
            row = self.con.sql(
                "SELECT count(*) FROM (SELECT DISTINCT event_type FROM raw_events) "
                "WHERE CAST(event_type AS VARCHAR) <> lower(trim(CAST(event_type AS VARCHAR)))"
            ).fetchall()[0]
            return int(row[0]) == 0

        if self._canonical_types is None:
            from campaign_roi.cache import cached_fact

            self._canonical_types = bool(
                cached_fact(self.data_files(), "canonical_event_types", check))
        return self._canonical_types

    def shares_tables(self) -> bool:
        """Whether analyses of one command keep large intermediate tables for the ones that
        follow (:data:`SHARED_TABLES_MAX_ROWS`)."""
        return self.event_rows() <= SHARED_TABLES_MAX_ROWS

    def event_rows(self) -> int:
        """Rows of the events files (Parquet footers: no scan), cached per file stamp."""
        def count() -> int:
            return int(self.con.sql("SELECT count(*) FROM raw_events").fetchall()[0][0])

        from campaign_roi.cache import cached_fact

        return int(cached_fact(self.data_files(), "event_rows", count))

    # -- views ---------------------------------------------------------------------------
    def _create_views(self, layer: bool = True, write_layer: bool = True) -> None:
        # the size of the data, for analyses that split large work (campaign_roi.slices)
        self.con.sql("SET VARIABLE event_rows = $n", params={"n": self.event_rows()})
        if self.shares_tables():
            # The session's database lives in memory and is never saved, yet after a large
            # write DuckDB checkpoints it, compressing the new temp tables: 1.2 s after the 3 M
            # touches of an attribution run, paid by the next statement. Tables of data this
            # size fit in the memory limit without it; larger data keeps the default, as
            # compressed tables spill less.
            self.con.sql("SET checkpoint_threshold = '1TB'")
        self._create_channel_map()
        self.con.sql("CREATE VIEW events AS\n" + self._events_sql())
        from campaign_roi import file_layer

        # each events file's rare events, touches and activity words, kept in the cache:
        # read instead of the files where the views below and the KPIs' words read them
        self.file_layer = file_layer.prepare(self, write=write_layer) if layer else None
        self.con.sql(
            "CREATE VIEW touches AS SELECT * FROM events WHERE event_type = 'touch'"
            if self.file_layer is None else
            f"CREATE VIEW touches AS SELECT * FROM {self.file_layer.reader('touches')}"
        )
        self.con.sql(
            """
            CREATE VIEW orders AS
            WITH orders_ AS (SELECT * FROM events WHERE event_type = 'order'),
            refunds AS (
                SELECT order_id, exact_sum(amount) AS refunded
                FROM events WHERE event_type = 'refund' AND order_id IS NOT NULL
                GROUP BY order_id
            )
            SELECT o.*, coalesce(r.refunded, 0.0) AS refunded,
                   o.amount - coalesce(r.refunded, 0.0) AS net_amount
            FROM orders_ o LEFT JOIN refunds r ON o.order_id = r.order_id
            """
        )
        self._create_spend_view()
        self._create_campaigns_view()
        from campaign_roi.sql_files import load_query

        self.con.sql("CREATE VIEW key_events AS " + (
            load_query("intermediate/key_events") if self.file_layer is None
            else f"SELECT * FROM {self.file_layer.reader('rare')}"))
        if self.file_layer is not None:
            self.con.sql("CREATE VIEW layer_words AS SELECT * FROM "
                         + self.file_layer.reader("words"))
        self.con.sql("CREATE VIEW conversions AS " + load_query("intermediate/conversions"))
        self.con.sql("CREATE VIEW refund_events AS SELECT event_date, order_id, amount "
                     "FROM key_events WHERE event_type = 'refund'")
        for view in ("campaign_joins", "campaign_orders"):
            self.con.sql(f"CREATE VIEW {view} AS " + load_query(f"intermediate/{view}"))
        lookback_us = round(self.config.lookback_days["register"] * 86_400_000_000)
        self.con.sql("SET VARIABLE register_lookback_us = $v", params={"v": lookback_us})
        self.con.sql(f"CREATE VIEW acquisition_touches AS SELECT {ACQUISITION_TOUCH_COLUMNS} "
                     "FROM touches")
        self.con.sql("CREATE VIEW acquisition AS " + load_query("intermediate/acquisition"))
        self.con.sql(
            """
            CREATE VIEW users AS
            WITH activity AS (
                SELECT * FROM events
                WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
            ),
            per_user AS (
                SELECT
                    user_id,
                    min(event_time) AS first_seen_time,
                    min(event_time) FILTER (WHERE event_type = 'register') AS register_time,
                    arg_min(referrer_id, event_time) FILTER (
                        WHERE event_type = 'register') AS referrer_id,
                    min(event_time) FILTER (WHERE event_type = 'order') AS first_order_time,
                    max(event_date) AS last_active_date
                FROM activity
                GROUP BY user_id
            )
            SELECT p.user_id, first_seen_time,
                   register_time, CAST(register_time AS DATE) AS register_date,
                   referrer_id,
                   first_order_time, CAST(first_order_time AS DATE) AS first_order_date,
                   last_active_date, a.acquisition_channel, a.acquisition_campaign_id
            FROM per_user p LEFT JOIN acquisition a USING (user_id)
            """
        )

    def _create_channel_map(self) -> None:
        raws: set[str] = set()
        if self.has_column("events", "channel"):
            # a scan of the events' channel column (0.4 s at 53 M rows): cached per file stamp
            from campaign_roi.cache import cached_fact

            raws.update(cached_fact(self.data_files(), "channels", lambda: self._distinct(
                "SELECT DISTINCT CAST(channel AS VARCHAR) FROM raw_events")))
        if self.has_column("spend", "channel"):
            raws.update(self._distinct("SELECT DISTINCT CAST(channel AS VARCHAR) FROM raw_spend"))
        mapping = map_channels(sorted(raws), self.config)
        self.channel_mapping = mapping
        frame = pl.DataFrame(
            {"channel": list(mapping), "channel_group": list(mapping.values())},
            schema={"channel": pl.String, "channel_group": pl.String},
        )
        self.con.register("_channel_map_frame", frame)
        self.con.sql("CREATE TABLE channel_map AS SELECT * FROM _channel_map_frame")
        self.con.unregister("_channel_map_frame")
        # the same mapping as a MAP value, looked up by the events view: unlike a join it
        # costs nothing when a query does not read channel_group (a join is run anyway)
        self.con.sql(
            "SET VARIABLE channel_groups = MAP(CAST($k AS VARCHAR[]), CAST($v AS VARCHAR[]))",
            params={"k": list(mapping), "v": list(mapping.values())},
        )

    def _distinct(self, query: str) -> list[str]:
        """The non-null values of a one-column ``query``, sorted."""
        return sorted(str(r[0]) for r in self.con.sql(query).fetchall() if r[0] is not None)

    def _events_sql(self, source: str = "raw_events") -> str:
        """The ``events`` view's query over ``source`` (the raw rows with ``__file_index`` and
        ``__file_row``): ``raw_events``, or one file's rows for the file layer."""
        types = self.raw_types["events"]
        known = {c.name for c in EVENT_COLUMNS}
        cols: list[str] = [
            "CAST(r.user_id AS VARCHAR) AS user_id",
            f"{self._event_time_sql()} AS event_time",
            f"{self._local_time_sql('r.event_time')} AS local_time",
            f"CAST({self._local_time_sql('r.event_time')} AS DATE) AS event_date",
            ("CAST(r.event_type AS VARCHAR)" if self.canonical_event_types()
             else "lower(trim(CAST(r.event_type AS VARCHAR)))") + " AS event_type",
        ]
        for c in ("channel", "campaign_id", "order_id", "referrer_id", "event_id"):
            cols.append(
                f"CAST(r.{c} AS VARCHAR) AS {c}" if c in types else f"CAST(NULL AS VARCHAR) AS {c}"
            )
        cols.append(
            "getvariable('channel_groups')[CAST(r.channel AS VARCHAR)] AS channel_group"
            if "channel" in types else "CAST(NULL AS VARCHAR) AS channel_group"
        )
        cols.append(
            "CAST(r.amount AS DOUBLE) AS amount" if "amount" in types
            else "CAST(NULL AS DOUBLE) AS amount"
        )
        extras = [f'r."{c}"' for c in types if c not in known and c not in {"channel_group"}]
        select = ",\n  ".join(cols + extras)
        dedup = ""
        if "event_id" in types and self.duplicate_event_ids() > 0:
            order = self._local_time_sql("r.event_time") if self.naive_times \
                else "CAST(r.event_time AS TIMESTAMPTZ)"
            order += ", r.__file_index, r.__file_row"
            dedup = (
                "QUALIFY r.event_id IS NULL OR row_number() OVER ("
                f"PARTITION BY r.event_id ORDER BY {order}) = 1"
            )
        return f"SELECT\n  {select}\nFROM {source} r\n{dedup}"

    @property
    def naive_times(self) -> bool:
        """event_time is stored without a zone: it already is local time (§2)."""
        return self.raw_types["events"].get("event_time", "") in _NAIVE_TIME_TYPES

    def _event_time_sql(self) -> str:
        """The instant of ``r.event_time`` (TIMESTAMPTZ). A naive time is a wall time of the
        dataset's zone; when that zone's UTC offset is one and the same throughout the data's
        span (:meth:`fixed_offset_us`), the instant is the wall time minus the offset, computed
        on integers: the cast resolves the zone's rules on every row (ICU), about 60 ns a row,
        0.4 s of a scan of the 7 M touches at scale 1. The same instants (tests compare them)."""
        offset = self.fixed_offset_us() if self.naive_times else None
        if offset is None:
            return "CAST(r.event_time AS TIMESTAMPTZ)"
        # an integer this class computed, not a user value
        return f"make_timestamptz(epoch_us(CAST(r.event_time AS TIMESTAMP)) - {int(offset)})"

    def fixed_offset_us(self) -> int | None:
        """The dataset zone's UTC offset in microseconds when it is the same at every hour from
        a day before the first naive event_time to a day after the last (a zone without
        daylight saving then, such as Asia/Shanghai; offsets change for months at a time, so
        an hourly check sees every change); None when it changes, without events, or when
        the times cannot be read (validation reports why; the per-row cast is then kept).
        Cached per file stamp (one min/max read of event_time, then ~11 k hours for 15
        months)."""
        def compute() -> int | None:
            try:
                lo, hi = self.con.sql(
                    "SELECT min(CAST(event_time AS TIMESTAMP)), "
                    "max(CAST(event_time AS TIMESTAMP)) FROM raw_events").fetchall()[0]
            except duckdb.Error:
                return None
            if lo is None or hi is None:
                return None
            offsets = self.con.sql(
                """
                SELECT DISTINCT epoch_us(t) - epoch_us(CAST(t AS TIMESTAMPTZ))
                FROM (
                    SELECT unnest(generate_series(
                        date_trunc('hour', $lo::TIMESTAMP) - INTERVAL 1 DAY,
                        $hi::TIMESTAMP + INTERVAL 1 DAY, INTERVAL 1 HOUR)) AS t
                )
                """,
                params={"lo": lo, "hi": hi},
            ).fetchall()
            return int(offsets[0][0]) if len(offsets) == 1 else None

        from campaign_roi.cache import cached_fact

        value = cached_fact(self.data_files(), f"fixed_offset_us:{self.config.timezone}",
                            compute)
        return None if value is None else int(value)

    def _local_time_sql(self, column: str) -> str:
        """Local (dataset-zone) wall time of ``column``. Naive times are local already, so
        no per-row time-zone conversion is paid for them (it is ~10× a plain cast)."""
        if self.naive_times:
            return f"CAST({column} AS TIMESTAMP)"
        return f"CAST(CAST({column} AS TIMESTAMPTZ) AS TIMESTAMP)"

    def _create_spend_view(self) -> None:
        if self.files["spend"] is None:
            self.con.sql(
                "CREATE VIEW spend AS SELECT CAST(NULL AS DATE) AS date, "
                "CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS channel_group, "
                "CAST(NULL AS VARCHAR) AS campaign_id, CAST(NULL AS DOUBLE) AS cost WHERE false"
            )
            return
        campaign = "CAST(s.campaign_id AS VARCHAR)" if self.has_column("spend", "campaign_id") \
            else "CAST(NULL AS VARCHAR)"
        self.con.sql(
            f"""
            CREATE VIEW spend AS
            SELECT CAST(s.date AS DATE) AS date, CAST(s.channel AS VARCHAR) AS channel,
                   coalesce(m.channel_group, 'other') AS channel_group,
                   {campaign} AS campaign_id, CAST(s.cost AS DOUBLE) AS cost
            FROM raw_spend s LEFT JOIN channel_map m ON m.channel = CAST(s.channel AS VARCHAR)
            """
        )

    def _create_campaigns_view(self) -> None:
        if self.files["campaigns"] is None:
            self.con.sql(
                "CREATE VIEW campaigns AS SELECT CAST(NULL AS VARCHAR) AS campaign_id, "
                "CAST(NULL AS VARCHAR) AS name, CAST(NULL AS DATE) AS start_date, "
                "CAST(NULL AS DATE) AS end_date, CAST(NULL AS DOUBLE) AS budget WHERE false"
            )
            return
        budget = "CAST(c.budget AS DOUBLE)" if self.has_column("campaigns", "budget") \
            else "CAST(NULL AS DOUBLE)"
        self.con.sql(
            f"""
            CREATE VIEW campaigns AS
            SELECT CAST(c.campaign_id AS VARCHAR) AS campaign_id, CAST(c.name AS VARCHAR) AS name,
                   CAST(c.start_date AS DATE) AS start_date, CAST(c.end_date AS DATE) AS end_date,
                   {budget} AS budget
            FROM raw_campaigns c
            """
        )

    # not ``acquisition``: a command reads the acquisition of its periods' registrants
    # (:meth:`period_acquisition`), which the acquisition window computes for far less
    _MATERIALIZABLE = ("conversions", "orders", "touches", "users", "campaign_joins",
                       "refund_events")
    #: the views that read ``key_events``: those asked for in one call are materialised
    #: together from one ``key_events`` table, which is then dropped
    #: (:meth:`_materialize_key_event_views`)
    _READ_KEY_EVENTS = ("conversions", "campaign_joins", "refund_events")

    def materialize(self, *views: str) -> None:
        """Compute views once for this command: a temp table of the same name shadows the view
        (DuckDB resolves temp objects first), so every later query, and every view built on it,
        reads the stored rows instead of re-running the view. Up to
        :data:`SHARED_TABLES_MAX_ROWS` the views of ``views`` that read ``key_events`` are
        materialised together, from one scan of the files (ask for all a command needs in
        one call; above, each scans the files itself, keeping memory for the analyses)."""
        for view in views:
            if view not in self._MATERIALIZABLE:
                raise ValueError(f"cannot materialize {view!r}")
        from_key_events = [v for v in views if v in self._READ_KEY_EVENTS
                           and v not in self._materialized]
        if from_key_events and self.shares_tables():
            self._materialize_key_event_views(from_key_events)
        for view in views:
            if view not in self._materialized:
                self.stage(view.replace("_", " "))
                self.con.sql(f"CREATE TEMP TABLE {view} AS SELECT * FROM main.{view}")
                self._materialized.add(view)

    def _materialize_key_event_views(self, views: list[str]) -> None:
        """One scan of the files into a ``key_events`` table (:meth:`_key_events_table`),
        ``views`` (of :data:`_READ_KEY_EVENTS`) materialised from it, and the table dropped: it
        held 2.8 M rows at scale 1, which the memory limit then spent on the analyses."""
        with self._key_events_table():
            for view in views:
                self.stage(view.replace("_", " "))
                self.con.sql(f"CREATE TEMP TABLE {view} AS SELECT * FROM main.{view}")
                self._materialized.add(view)

    @contextmanager
    def _key_events_table(self, types: tuple[str, ...] | None = None,
                          unread: tuple[str, ...] = ()) -> Iterator[None]:
        """Within the block a temp table ``key_events`` stands in for the view: one scan of the
        files, only the rows of ``types`` when given (the others are not in it), the columns
        of ``unread`` left null. Dropped after the block, whatever happens: it must not stand
        in for the view afterwards.

        The table is read without event_id unless it decides an order: event_id only breaks
        ties in the conversions, between a user's registers (or orders) at one event_time. Its
        column is the largest of the files once decompressed (1 GB at scale 1, 20 bytes a
        row): the table is read without it, the ties are looked for in the table, and only
        data with a tie is read again with it (the same conversions: without a tie no order
        depends on event_id). :attr:`key_events_with_ids` tells which was read. Whether the
        files have a tie is a file fact (campaign_roi.cache, per zone: a naive time's instant
        depends on it): looked for once in a table, then read from the cache (0.2 s at scale
        1). A table of some types reads the fact of all types when it is known (a tie
        elsewhere then reads event_id for nothing: the same rows), else its types' own."""
        self.stage("key events")
        where, params = "", None
        if types is not None:
            where, params = " WHERE list_contains($types, event_type)", {"types": list(types)}
        nulls = [f"CAST(NULL AS {'DOUBLE' if c == 'amount' else 'VARCHAR'}) AS {c}"
                 for c in unread]

        def create(with_ids: bool) -> None:
            # column names from this module's constants, never user values
            replaced = nulls if with_ids else ["CAST(NULL AS VARCHAR) AS event_id", *nulls]
            replace = f" REPLACE ({', '.join(replaced)})" if replaced else ""
            self.con.sql(f"CREATE TEMP TABLE key_events AS SELECT *{replace} "
                         f"FROM main.key_events{where}", params=params)

        from campaign_roi.cache import cached_fact, known_fact

        fact = f"conversion_ties:{self.config.timezone}"  # in all rare events
        known, ties = known_fact(self.data_files(), fact)
        if not known and types is not None:  # else in these types' (not all: another fact)
            fact += ":" + "+".join(sorted(types))
            known, ties = known_fact(self.data_files(), fact)

        def look() -> bool:
            return bool(self.con.sql(CONVERSION_TIES_SQL).fetchall()[0][0])

        try:
            if known and ties:
                create(with_ids=True)
            else:
                create(with_ids=False)
                if not known:
                    ties = cached_fact(self.data_files(), fact, look)
                if ties:
                    # dropped first: while the temp table exists, main.key_events names it
                    self.con.sql("DROP TABLE temp.main.key_events")
                    create(with_ids=True)
            self.key_events_with_ids = bool(ties)
            yield
        finally:
            self.con.sql("DROP TABLE IF EXISTS temp.main.key_events")

    def type_conversions(self, conversion: str, end: date) -> None:
        """The temp table ``type_conversions``: the conversions of type ``conversion`` up to
        local day ``end`` (an attribution run's). Read from the command's materialised
        conversions when it has them; else, up to :data:`SHARED_TABLES_MAX_ROWS`, from a
        ``key_events`` table of only the rows and columns that type is computed from
        (:data:`CONVERSION_KEY_EVENTS`; at scale 1 a register run's 3.2 s became 2.6 s); else
        from the files, as the view reads them."""
        query = ("CREATE OR REPLACE TEMP TABLE type_conversions AS SELECT * FROM conversions "
                 "WHERE conversion_type = $conversion AND conversion_date <= $end")
        params = {"conversion": conversion, "end": end}
        if ("conversions" in self._materialized or not self.shares_tables()
                or conversion not in CONVERSION_KEY_EVENTS):
            self.con.sql(query, params=params)
            return
        types, unread = CONVERSION_KEY_EVENTS[conversion]
        with self._key_events_table(types, unread):
            self.con.sql(query, params=params)

    @contextmanager
    def acquisition_window(self, start: date, end: date) -> Iterator[None]:
        """Within the block, ``acquisition`` covers only users registering in start..end."""
        self.con.sql("SET VARIABLE acquisition_from = $d", params={"d": start})
        self.con.sql("SET VARIABLE acquisition_to = $d", params={"d": end})
        try:
            yield
        finally:
            self.con.sql("RESET VARIABLE acquisition_from")
            self.con.sql("RESET VARIABLE acquisition_to")

    @contextmanager
    def period_acquisition(self, ranges: Iterable[tuple[date, date]]) -> Iterator[None]:
        """Within the block, ``period_acquisition`` (user_id, acquisition_channel,
        acquisition_campaign_id) holds the acquisition of every user whose first register falls
        in one of the local-date ``ranges``: a temp table, computed once per range after
        merging the ranges that overlap or touch (each part joins only its registrants to the
        touches they can use).

        Up to :data:`SHARED_TABLES_MAX_ROWS` the table is kept for the command: a later
        analysis asking for covered ranges reuses it. Above, it is computed in parts of at most
        :meth:`acquisition_part_days` days of registrants each and dropped after the block.
        (Computed inside the queries that read it, the acquisition's per-user aggregation
        shared the memory limit with theirs, over the ranges' hull: the 10x report's KPI
        query ran out of memory.)"""
        wanted = merge_ranges(ranges)
        if self.shares_tables():
            self._period_acquisition_table(wanted)
            yield
            return
        self._period_acquisition_table(self._acquisition_parts(wanted))
        try:
            yield
        finally:
            self.drop_period_acquisition()

    def acquisition_part_days(self) -> int:
        """Most days of registrants one acquisition statement covers above
        :data:`SHARED_TABLES_MAX_ROWS`: :data:`ACQUISITION_PART_DAYS` for data of that many
        rows, fewer in proportion for more (at least one)."""
        return max(1, ACQUISITION_PART_DAYS * SHARED_TABLES_MAX_ROWS // max(1, self.event_rows()))

    def _acquisition_parts(self, wanted: list[tuple[date, date]]) -> list[tuple[date, date]]:
        """``wanted`` (merged ranges) within the data's days, cut into consecutive parts of at
        most :meth:`acquisition_part_days` days (registrants exist on days with events only)."""
        first, last = self.date_range
        if first is None or last is None:
            return []
        size = self.acquisition_part_days()
        parts: list[tuple[date, date]] = []
        for lo, hi in wanted:
            lo, hi = max(lo, first), min(hi, last)
            while lo <= hi:
                end = min(hi, lo + timedelta(days=size - 1))
                parts.append((lo, end))
                lo = end + timedelta(days=1)
        return parts

    def keep_period_acquisition(self, ranges: Iterable[tuple[date, date]]) -> None:
        """Compute the ``period_acquisition`` table for ``ranges`` now, for the analyses of
        the command that follow (:meth:`period_acquisition`); nothing for data above
        :data:`SHARED_TABLES_MAX_ROWS`."""
        if self.shares_tables():
            self._period_acquisition_table(merge_ranges(ranges))

    def _period_acquisition_table(self, wanted: list[tuple[date, date]]) -> None:
        have = self.temp_keys.get("period_acquisition")
        if isinstance(have, tuple) and all(any(a <= lo and hi <= b for a, b in have)
                                           for lo, hi in wanted):
            return
        if isinstance(have, tuple):  # rebuilt for the union (rare: a report asks once)
            wanted = merge_ranges([*have, *wanted])
        self.drop_period_acquisition()
        self.stage("acquisition")
        for i, (lo, hi) in enumerate(wanted):
            into = ("CREATE TEMP TABLE period_acquisition AS " if i == 0
                    else "INSERT INTO period_acquisition ")
            with self.acquisition_window(lo, hi):
                self.con.sql(into + "SELECT * FROM acquisition")
        if not wanted:
            self.con.sql("CREATE TEMP TABLE period_acquisition AS SELECT * FROM acquisition "
                         "WHERE false")
        self.temp_keys["period_acquisition"] = tuple(wanted)

    def drop_period_acquisition(self) -> None:
        """Free the table of :meth:`period_acquisition`, if this command has one."""
        self.con.sql("DROP TABLE IF EXISTS temp.main.period_acquisition")
        self.temp_keys.pop("period_acquisition", None)

    # -- querying ------------------------------------------------------------------------
    def sql(self, query: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run a query and return a Polars frame; DuckDB errors become DataError."""
        try:
            return self.con.sql(query, params=dict(params) if params else None).pl()
        except duckdb.Error as exc:
            raise DataError(f"{self.root}: query failed: {_first_line(exc)}") from exc

    def run_file(self, name: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        from campaign_roi.sql_files import load_query

        self.stage(name.rsplit("/", 1)[-1].replace("_", " "))
        return self.sql(load_query(name), params)

    @cached_property
    def date_range(self) -> tuple[date | None, date | None]:
        """First and last local day with events. Without repeated event_ids the events are
        the raw rows, whose min/max time the Parquet statistics give almost for free (local
        dates are monotonic in time); otherwise the deduplicated view is scanned."""
        typed = self.raw_types["events"].get("event_time", "")
        if typed.startswith(("TIMESTAMP", "DATE")) and self.duplicate_event_ids() == 0:
            lo, hi = (f"CAST({self._local_time_sql(c)} AS DATE)" for c in ("lo", "hi"))
            query = (f"SELECT {lo}, {hi} FROM (SELECT min(event_time) AS lo, "
                     "max(event_time) AS hi FROM raw_events)")
        else:
            query = "SELECT min(event_date), max(event_date) FROM events"

        def compute() -> list[str | None]:
            row = self.con.sql(query).fetchall()[0]
            return [d.isoformat() if d else None for d in row]

        from campaign_roi.cache import cached_fact

        first, last = cached_fact(self.data_files(), f"date_range:{self.config.timezone}", compute)
        return (date.fromisoformat(first) if first else None,
                date.fromisoformat(last) if last else None)

    @property
    def last_day(self) -> date | None:
        return self.date_range[1]


def merge_ranges(ranges: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """Inclusive date ranges merged where they overlap or touch, in order: the same days,
    each in exactly one range (empty ranges, start > end, are left out)."""
    out: list[tuple[date, date]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and (lo - out[-1][1]).days <= 1:  # (no day after 9999-12-31 to compute)
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

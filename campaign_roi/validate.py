"""Dataset checks (SPEC §11) and the data profile printed by ``campaign-roi validate``.

Every check names the file, the column, how many rows, up to five example rows and the fix.
Errors stop every analysis (``Dataset.open`` calls :func:`raise_on_errors`); warnings do not.
All row-level checks of a table run as ONE aggregate query (one scan).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from campaign_roi.errors import DataError
from campaign_roi.schema import EVENT_TYPES, TABLES

if TYPE_CHECKING:
    from campaign_roi.dataset import Dataset

_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
              "UINTEGER", "UBIGINT", "UHUGEINT"}
# scalar types only: a list such as DOUBLE[] or TIMESTAMP[] is not a number or a time
_NUM_RE = re.compile(r"DECIMAL\(\d+,\s*\d+\)|DOUBLE|FLOAT|REAL")
_TIME_RE = re.compile(r"TIMESTAMP(_S|_MS|_NS)?( WITH TIME ZONE)?|DATE")


def _is_int(t: str) -> bool:
    return t in _INT_TYPES


def _is_num(t: str) -> bool:
    return _is_int(t) or _NUM_RE.fullmatch(t) is not None


def _is_time(t: str) -> bool:
    return _TIME_RE.fullmatch(t) is not None


@dataclass
class Issue:
    level: str  # error | warning
    file: str
    column: str
    count: int
    problem: str
    fix: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    #: show every example (the top-10 list of unmatched channels), not just max_examples
    show_all: bool = False

    def message(self, max_examples: int = 2) -> str:
        head = f"{self.file}: column `{self.column}`: "
        head += f"{self.count:,} {self.problem}" if self.count else self.problem
        tail = f"  fix: {self.fix}"
        if self.examples:
            n = len(self.examples) if self.show_all else max_examples
            shown = "; ".join(_row_text(r) for r in self.examples[:n])
            tail += f" (e.g. {shown})"
        return f"{head}\n{tail}"


def _row_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in row.items())


@dataclass(frozen=True)
class _Check:
    level: str
    column: str
    condition: str  # SQL over the raw view, aliased r
    problem: str
    fix: str
    show: tuple[str, ...]  # columns for example rows


def _schema_issues(ds: Dataset, table: str) -> list[Issue]:
    tf = ds.files[table]
    assert tf is not None
    types = ds.raw_types[table]
    issues: list[Issue] = []
    for col in TABLES[table]:
        if col.required and col.name not in types:
            if table == "events" and col.name == "channel":
                continue  # required only when there are touch rows: a row check below
            issues.append(Issue(
                "error", tf.display, col.name, 0,
                f"is missing (columns found: {', '.join(types)})",
                f"add a `{col.name}` column ({col.rule})",
            ))
            continue
        t = types.get(col.name)
        if t is None:
            continue
        ok = {
            "id": t == "VARCHAR" or _is_int(t),
            "string": t == "VARCHAR" or (col.name.endswith("_id") and _is_int(t)),
            "timestamp": _is_time(t) or t == "VARCHAR",
            "date": _is_time(t) or t == "VARCHAR",
            "number": _is_num(t) or t == "VARCHAR",
        }[col.kind]
        if not ok:
            issues.append(Issue(
                "error", tf.display, col.name, 0, f"has type {t}, expected {col.kind}",
                f"store `{col.name}` as {col.kind} ({col.rule})",
            ))
    return issues


def _event_checks(types: dict[str, str]) -> list[_Check]:
    show = tuple(c for c in ("user_id", "event_time", "event_type", "channel", "amount",
                             "event_id") if c in types)
    et = "lower(trim(CAST(r.event_type AS VARCHAR)))"
    checks = [
        _Check("error", "user_id", "r.user_id IS NULL", "rows have no user_id",
               "every event needs a user_id; drop or repair those rows", show),
        _Check("error", "event_time", "r.event_time IS NULL", "rows have no event_time",
               "every event needs an event_time; drop or repair those rows", show),
        _Check("error", "event_type", "r.event_type IS NULL", "rows have no event_type",
               "set event_type to one of " + ", ".join(EVENT_TYPES), show),
        _Check("warning", "event_type",
               f"r.event_type IS NOT NULL AND {et} NOT IN ("
               + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")",
               "rows have an unknown event_type (kept, ignored by analyses)",
               "use one of " + ", ".join(EVENT_TYPES) + " if these should count", show),
    ]
    if types.get("event_time") == "VARCHAR":
        checks.append(_Check(
            "error", "event_time",
            "r.event_time IS NOT NULL AND TRY_CAST(r.event_time AS TIMESTAMPTZ) IS NULL",
            "rows have an event_time that is not a timestamp",
            "write times as ISO 8601, e.g. 2025-08-15 14:03:00 or 2025-08-15T06:03:00Z", show))
    if "channel" in types:
        checks.append(_Check(
            "error", "channel", f"{et} = 'touch' AND (r.channel IS NULL OR "
            "trim(CAST(r.channel AS VARCHAR)) = '')",
            "touch rows have no channel", "give every touch its raw source label", show))
    else:
        checks.append(_Check(
            "error", "channel", f"{et} = 'touch'", "touch rows but the column is missing",
            "add a `channel` column with each touch's raw source label", show))
    if "campaign_id" in types:
        checks.append(_Check(
            "error", "campaign_id", f"{et} = 'campaign_join' AND r.campaign_id IS NULL",
            "campaign_join rows have no campaign_id",
            "name the joined campaign in campaign_id", show))
    if "amount" in types:
        amount = "TRY_CAST(r.amount AS DOUBLE)"
        checks.append(_Check(
            "error", "amount",
            f"{et} IN ('order', 'refund') AND r.amount IS NOT NULL AND {amount} IS NULL",
            "order/refund rows have a non-numeric amount",
            "write amounts as plain numbers such as 129.90", show))
        checks.append(_Check(
            "error", "amount", f"{et} IN ('order', 'refund') AND r.amount IS NULL",
            "order/refund rows have no amount", "give every order and refund its amount", show))
        checks.append(_Check(
            "error", "amount", f"{et} IN ('order', 'refund') AND {amount} <= 0",
            "order/refund rows have an amount <= 0",
            "amounts must be > 0 (a refund is a positive amount that is subtracted)", show))
    else:
        checks.append(_Check(
            "error", "amount", f"{et} IN ('order', 'refund')",
            "order/refund rows but the column is missing",
            "add an `amount` column (> 0 on order and refund rows)", show))
    return checks


def _spend_checks(types: dict[str, str]) -> list[_Check]:
    show = tuple(c for c in ("date", "channel", "campaign_id", "cost") if c in types)
    return [
        _Check("error", "date", "r.date IS NULL OR TRY_CAST(r.date AS DATE) IS NULL",
               "rows have a missing or unparseable date", "write dates as YYYY-MM-DD", show),
        _Check("error", "channel", "r.channel IS NULL", "rows have no channel",
               "name the channel (raw label or group) each cost belongs to", show),
        _Check("error", "cost", "r.cost IS NULL OR TRY_CAST(r.cost AS DOUBLE) IS NULL",
               "rows have a missing or non-numeric cost", "write costs as plain numbers >= 0",
               show),
        _Check("error", "cost", "TRY_CAST(r.cost AS DOUBLE) < 0", "rows have a negative cost",
               "costs must be >= 0; record refunds from vendors as lower costs", show),
    ]


def _campaign_checks(types: dict[str, str]) -> list[_Check]:
    show = tuple(c for c in ("campaign_id", "name", "start_date", "end_date") if c in types)
    return [
        _Check("error", "campaign_id", "r.campaign_id IS NULL", "rows have no campaign_id",
               "give every campaign an id", show),
        _Check("error", "start_date",
               "TRY_CAST(r.start_date AS DATE) IS NULL OR TRY_CAST(r.end_date AS DATE) IS NULL",
               "rows have a missing or unparseable start_date/end_date",
               "write dates as YYYY-MM-DD", show),
        _Check("error", "end_date",
               "TRY_CAST(r.end_date AS DATE) < TRY_CAST(r.start_date AS DATE)",
               "rows end before they start", "swap start_date and end_date", show),
    ]


def _run_checks(ds: Dataset, table: str, checks: list[_Check]) -> tuple[list[Issue], int]:
    tf = ds.files[table]
    assert tf is not None
    aggs = ", ".join(f"count(*) FILTER (WHERE {c.condition})" for c in checks)
    try:
        row = ds.con.sql(f"SELECT count(*), {aggs} FROM raw_{table} r").fetchall()[0]
    except duckdb.Error as exc:
        msg = str(exc).strip().splitlines()[0]
        raise DataError(f"{tf.display}: cannot be read ({msg}); replace the file") from exc
    assert row is not None
    total = int(row[0])
    issues: list[Issue] = []
    for check, n in zip(checks, row[1:], strict=True):
        if not n:
            continue
        cols = ", ".join(f"r.{c}" for c in check.show)
        ex = ds.con.sql(f"SELECT {cols} FROM raw_{table} r WHERE {check.condition} LIMIT 5")
        examples = [dict(zip(check.show, r, strict=True)) for r in ex.fetchall()]
        issues.append(Issue(check.level, tf.display, check.column, int(n), check.problem,
                            check.fix, examples))
    return issues, total


def check_dataset(ds: Dataset, *, warnings: bool = True) -> list[Issue]:
    """All issues of the dataset, errors first (in file order), then warnings.

    ``warnings=False`` skips the checks that can only warn (repeated event_ids, unmatched
    channel labels): :meth:`Dataset.open` needs only the errors.
    """
    issues: list[Issue] = []
    for table, row_checks in (("events", _event_checks), ("spend", _spend_checks),
                              ("campaigns", _campaign_checks)):
        tf = ds.files[table]
        if tf is None:
            continue
        ds.stage(f"checking {table}")
        schema = _schema_issues(ds, table)
        issues += schema
        if any(i.level == "error" for i in schema):
            continue
        found, total = _run_checks(ds, table, row_checks(ds.raw_types[table]))
        issues += found
        if table == "events" and total == 0:
            issues.append(Issue("error", tf.display, "*", 0, "the events data has no rows",
                                "point --data at a dataset with events"))
        if warnings and table == "events" and "event_id" in ds.raw_types["events"]:
            issues += _duplicate_ids(ds)
        if warnings and table in ("events", "spend") and "channel" in ds.raw_types[table]:
            issues += _unmatched_channels(ds, table)
    issues.sort(key=lambda i: i.level != "error")
    return issues


def _unmatched_channels(ds: Dataset, table: str, top: int = 10) -> list[Issue]:
    """Raw channel labels that no rule maps (they fall to ``other``), most frequent first."""
    from campaign_roi.channel_groups import is_unmatched

    tf = ds.files[table]
    assert tf is not None
    where = ("WHERE lower(trim(CAST(event_type AS VARCHAR))) = 'touch'" if table == "events"
             else "")
    what = "touches" if table == "events" else "rows"
    counts = ds.con.sql(
        f"SELECT CAST(channel AS VARCHAR) AS channel, count(*) AS n FROM raw_{table} {where} "
        "GROUP BY 1 HAVING channel IS NOT NULL ORDER BY n DESC, channel"
    ).fetchall()
    unmatched = [(str(c), int(n)) for c, n in counts if is_unmatched(str(c), ds.config)]
    if not unmatched:
        return []
    total = sum(n for _, n in unmatched)
    labels = f"{len(unmatched)} raw channel label{'s' if len(unmatched) != 1 else ''}"
    return [Issue(
        "warning", tf.display, "channel", total,
        f"{what} have {labels} that no rule maps; they count as `other`",
        "add globs under [channels] in campaign_roi.toml, e.g. kol = [\"kol_*\"] "
        "(docs/configuration.md)",
        [{"channel": c, what: n} for c, n in unmatched[:top]],
        show_all=True,
    )]


def _duplicate_ids(ds: Dataset) -> list[Issue]:
    tf = ds.files["events"]
    assert tf is not None
    n = ds.duplicate_event_ids()
    if not n:
        return []
    ex = ds.con.sql(
        "SELECT event_id, count(*) AS copies FROM raw_events WHERE event_id IS NOT NULL "
        "GROUP BY event_id HAVING count(*) > 1 ORDER BY event_id LIMIT 5"
    ).fetchall()
    return [Issue("warning", tf.display, "event_id", n,
                  "rows repeat an earlier event_id and are dropped (first kept)",
                  "nothing to do unless the ids were meant to be unique",
                  [{"event_id": r[0], "copies": r[1]} for r in ex])]


def raise_on_errors(ds: Dataset) -> None:
    """Raise the dataset's first error. The verdict is a property of the files, cached per
    file stamp (campaign_roi.cache), so only the first command on new files pays the scan."""
    from campaign_roi.cache import cached_fact

    def first_error() -> str | None:
        errors = [i for i in check_dataset(ds, warnings=False) if i.level == "error"]
        if not errors:
            return None
        more = f" (+{len(errors) - 1} more: run `campaign-roi validate`)" if len(errors) > 1 else ""
        return errors[0].message() + more

    files = [f for table in ("events", "spend", "campaigns") for f in ds.data_files(table)]
    message = cached_fact(files, "first_error", first_error)
    if message:
        raise DataError(str(message))


def profile(ds: Dataset) -> dict[str, pl.DataFrame]:
    """A short profile of a valid dataset: rows per event type, users, dates, channels."""
    from campaign_roi.channel_groups import is_unmatched
    from campaign_roi.slices import user_slices

    # the distinct-id counts, per slice of users (campaign_roi.slices: one slice unless the
    # data is large); the slices partition the users, so their counts add up
    ds.stage("profile")
    slices = user_slices(ds.con)
    type_parts, people_parts = [], []
    for i in range(slices):
        params = {"k": slices, "i": i}
        type_parts.append(ds.sql(
            "SELECT event_type, count(*) AS rows, count(DISTINCT user_id) AS ids, "
            "min(event_date) AS first_day, max(event_date) AS last_day "
            "FROM events WHERE hash(user_id) % CAST($k AS UBIGINT) = CAST($i AS UBIGINT) "
            "GROUP BY event_type", params))
        # users (SPEC §2: ids with an activity event, as the users view) and prospects
        # (ids with touches only)
        people_parts.append(ds.sql(
            """
            SELECT count(*) FILTER (WHERE active) AS users,
                   count(*) FILTER (WHERE NOT active AND touched) AS prospects
            FROM (
                SELECT user_id,
                       bool_or(event_type IN ('register', 'active', 'campaign_join', 'order'))
                           AS active,
                       bool_or(event_type = 'touch') AS touched
                FROM events
                WHERE user_id IS NOT NULL AND hash(user_id) % CAST($k AS UBIGINT) = CAST($i AS UBIGINT)
                GROUP BY user_id
            )
            """, params))
    types = (
        pl.concat(type_parts)
        .group_by("event_type")
        .agg(pl.col("rows").sum(), pl.col("ids").sum(), pl.col("first_day").min(),
             pl.col("last_day").max())
        .sort(["rows", "event_type"], descending=[True, False])
    )
    people = pl.concat(people_parts).sum()
    overview = ds.sql(
        """
        SELECT
          (SELECT count(*) FROM raw_events) AS raw_rows,
          (SELECT count(*) FROM events) AS rows,
          CAST($users AS BIGINT) AS users,
          CAST($prospects AS BIGINT) AS prospects,
          (SELECT min(event_date) FROM events) AS first_day,
          (SELECT max(event_date) FROM events) AS last_day,
          (SELECT count(*) FROM spend) AS spend_rows,
          (SELECT count(*) FROM campaigns) AS campaigns
        """, {"users": people["users"][0], "prospects": people["prospects"][0]}
    )
    channels = ds.sql(
        "SELECT channel_group, count(*) AS touches, count(DISTINCT channel) AS raw_labels "
        "FROM touches GROUP BY channel_group ORDER BY touches DESC, channel_group"
    )
    raw = ds.sql(
        "SELECT channel, count(*) AS touches FROM touches WHERE channel_group = 'other' "
        "GROUP BY channel ORDER BY touches DESC, channel LIMIT 50"
    )
    unmatched = raw.filter(
        pl.col("channel").map_elements(lambda c: is_unmatched(c, ds.config),
                                       return_dtype=pl.Boolean)
    ).head(10)
    return {"overview": overview, "event_types": types, "channel_groups": channels,
            "unmatched_channels": unmatched}

"""The quarterly KPI summary (SPEC §5): value, QoQ, YoY, target and attainment per KPI.

SQL (queries/marts/kpi_counts.sql) counts and sums every period asked for in ONE query;
:mod:`campaign_roi.metrics` turns them into KPIs. Targets come from config
``[targets."2025Q4"]``: ``kpi = x`` (attainment = value ÷ x), ``kpi_max = x`` (met when the
value is at most x; attainment = x ÷ value) and ``kpi_min = x`` (attainment = value ÷ x), so
attainment ≥ 1 always means the target is met.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from campaign_roi.metrics import KPIS, change
from campaign_roi.periods import Period
from campaign_roi.slices import ROWS_PER_SLICE

if TYPE_CHECKING:
    import duckdb

    from campaign_roi.dataset import Dataset

SUMMARY_COLUMNS = ("metric", "value", "previous", "change_qoq", "last_year", "change_yoy",
                   "target", "attainment")


#: most event rows one grouping of the activity reads (campaign_roi.slices). Larger data is
#: grouped in slices of 64-day words, each reading only its own files, so that DuckDB's hash
#: aggregation (whose state grows with the groups of its input) stays within the memory limit.
ACTIVITY_ROWS_PER_SLICE = ROWS_PER_SLICE


#: ``day_mask(a, b, word)``: the bits of 64-day word ``word`` (day indexes 64 * word ..
#: 64 * word + 63) that hold the days a..b, for testing "active on some day of [a, b]" against
#: the activity words (``bits & day_mask(a, b, word) <> 0``). The shifts are UBIGINT: with
#: INTEGER amounts DuckDB would compute them in HUGEINT.
DAY_MASK_MACRO = """
CREATE OR REPLACE TEMP MACRO day_mask(a, b, word) AS
    (~CAST(0 AS UBIGINT) >> CAST(63 - (least(b - 64 * word, 63) - greatest(a - 64 * word, 0))
                                 AS UBIGINT))
    << CAST(greatest(a - 64 * word, 0) AS UBIGINT)
"""


def define_day_mask(con: duckdb.DuckDBPyConnection) -> None:
    """Define the ``day_mask`` macro (:data:`DAY_MASK_MACRO`) on ``con``."""
    con.sql(DAY_MASK_MACRO)


#: most 64-day words one grouping of the activity covers: at scale 1, four groupings of two
#: words each (smaller hash tables) took 4.8-5.0 s where one over all eight took 5.4 s
ACTIVITY_WORDS_PER_SLICE = 2


def activity_slices(rows: int, n_words: int,
                    rows_per_slice: int = ACTIVITY_ROWS_PER_SLICE) -> list[tuple[int, int]]:
    """Word ranges ``[from, to)`` covering ``0 .. n_words - 1``, enough of them that each
    holds about ``rows_per_slice`` rows or fewer (rows spread evenly over the words) and at
    most :data:`ACTIVITY_WORDS_PER_SLICE` words."""
    if n_words <= 0:
        return [(0, 1)]
    count = min(n_words, max(1, -(-rows // rows_per_slice)))
    size = min(n_words // count, ACTIVITY_WORDS_PER_SLICE)  # rounded down: ≥ `count` slices
    return [(w, min(w + size, n_words)) for w in range(0, n_words, size)]


#: most user slices one word range is split into (each reads the range's files again)
ACTIVITY_MAX_USER_SLICES = 8


def activity_user_slices(rows: int, n_words: int, words: int, rows_per_slice: int) -> int:
    """How many slices of users (``hash(user_id) % k``) a range of ``words`` of the
    ``n_words`` is grouped in: enough that each grouping reads about half of
    ``rows_per_slice`` rows or fewer (rows spread evenly over the words), at most
    :data:`ACTIVITY_MAX_USER_SLICES`. One 64-day word of a 10x dataset holds 66 M activity
    rows of 6-8 M (user, word) groups, more groups than all of scale 1 (5.2 M), and its
    grouping ran out of a 1 GB memory limit now and then; halves of the slice size keep each
    grouping below scale 1's. At scale 1 a range of two words holds 13 M rows: one slice."""
    if n_words <= 0 or words <= 0:
        return 1
    estimate = -(-rows * words // n_words)
    per_grouping = max(1, rows_per_slice // 2)
    return max(1, min(ACTIVITY_MAX_USER_SLICES, -(-estimate // per_grouping)))


def kpi_activity_days(periods: list[Period], first: date, last: date) -> list[tuple[date, date]]:
    """The local days whose activity the KPIs of ``periods`` read (marts/kpi_counts.sql), as
    merged inclusive ranges within ``first .. last``: each period's days (active users, DAU),
    the day 30..59 windows of its registrants (P + 30 .. P + 59), the day 90..119 windows of
    its new payers (P + 90 .. P + 119) and the calendar month after each of its months
    (high-value retention)."""
    from campaign_roi.dataset import merge_ranges

    def month_after(d: date) -> date:
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)

    wanted: list[tuple[date, date]] = []
    for p in periods:
        wanted += [(p.start, p.end),
                   (p.start + timedelta(days=30), p.end + timedelta(days=59)),
                   (p.start + timedelta(days=90), p.end + timedelta(days=119)),
                   (month_after(p.start), month_after(month_after(p.end)) - timedelta(days=1))]
    return merge_ranges((max(lo, first), min(hi, last)) for lo, hi in wanted)


def prepare_activity_words(ds: Dataset, first_day: date,
                           days: list[tuple[date, date]] | None = None) -> None:
    """Materialise the distinct (user, local activity day) pairs, packed as bits
    (queries/intermediate/activity_words.sql, or from the file layer's words:
    activity_words_layer.sql, the same rows), once per command: the table stays for the
    analyses that follow (a report's retention reads it too) unless the data is
    too large to keep it (Dataset.shares_tables). Day index 0 is ``first_day``.

    With ``days`` (inclusive local-date ranges) only the activity on those days need be
    packed: each slice of words reads the files of the needed days it spans (from the first
    to the last), so a summary that reads a few of the data's months does not group all of
    them. Such a table holds only part of the activity: it is kept under the key
    ``("days", ...)`` and :func:`kpi_counts` drops it after its query, so that no other
    analysis reads it as the whole activity."""
    from campaign_roi.sql_files import load_query

    key: tuple[object, ...] = (first_day,) if days is None else (first_day, "days", tuple(days))
    have = ds.temp_keys.get("activity_words")
    if have == key or (have == (first_day,) and days is not None):
        return  # the same table, or all the activity when part is asked for
    drop_activity_words(ds)  # one built for another first day or other days
    ds.stage("activity words")
    last = ds.date_range[1]
    n_words = (last - first_day).days // 64 + 1 if last and last >= first_day else 1
    # the file layer's words, merged, when they count from the same day 0 (else the files)
    layer = ds.file_layer is not None and ds.file_layer.first_day == first_day
    query = load_query("intermediate/activity_words_layer" if layer
                       else "intermediate/activity_words")
    if layer:
        define_day_mask(ds.con)
    rows = ds.event_rows()
    groupings = [(lo_day, hi_day, users, user)
                 for lo, hi in activity_slices(rows, n_words, ACTIVITY_ROWS_PER_SLICE)
                 for lo_day, hi_day in _needed_span(first_day, 64 * lo, 64 * hi, days)
                 for users in [activity_user_slices(rows, n_words, hi - lo,
                                                    ACTIVITY_ROWS_PER_SLICE)]
                 for user in range(users)] or [(0, 0, 1, 0)]  # none needed: an empty table
    for i, (lo_day, hi_day, users, user) in enumerate(groupings):
        # the first slice creates the table (a parallel write; an INSERT appends slower)
        into = "CREATE TEMP TABLE activity_words AS " if i == 0 else "INSERT INTO activity_words "
        params: dict[str, object] = {"from_day": lo_day, "to_day": hi_day,
                                     "user_slices": users, "user_slice": user}
        if not layer:
            params["first_day"] = first_day
        ds.con.sql(into + query, params=params)
    ds.con.sql("SET VARIABLE activity_words_first_day = $d", params={"d": first_day})
    ds.temp_keys["activity_words"] = key


def _needed_span(first_day: date, lo: int, hi: int,
                 days: list[tuple[date, date]] | None) -> list[tuple[int, int]]:
    """The day indexes ``[from, to)`` a slice of words covering day indexes ``lo .. hi - 1``
    reads: all of them without ``days``; else from the first to the last of its days that lie
    in ``days`` (one span: the slice's (user, word) rows stay one grouping's), none when no
    needed day lies in it."""
    if days is None:
        return [(lo, hi)]
    inside = [(max(lo, (a - first_day).days), min(hi - 1, (b - first_day).days))
              for a, b in days]
    inside = [(a, b) for a, b in inside if a <= b]
    if not inside:
        return []
    return [(min(a for a, _ in inside), max(b for _, b in inside) + 1)]


def drop_activity_words(ds: Dataset) -> None:
    """Free the activity words table of this command, if it has one."""
    ds.con.sql("DROP TABLE IF EXISTS temp.main.activity_words")
    ds.temp_keys.pop("activity_words", None)


#: the views of the rare events a KPI query reads (Dataset.materialize: one scan for them)
KPI_KEY_EVENT_VIEWS = ("conversions", "campaign_joins", "refund_events")


def prepare(ds: Dataset) -> None:
    """Work every KPI query shares, done once per command: conversions (registers, orders),
    the refunds and campaign results (one scan of the files for the three, Dataset.materialize)."""
    ds.materialize(*KPI_KEY_EVENT_VIEWS)
    prepare_campaign_results(ds)


def prepare_campaign_results(ds: Dataset) -> None:
    from campaign_roi.sql_files import load_query

    # the participants are read twice (participation, campaign_orders), the orders by the
    # campaign orders and by a campaign table's attribution: one scan of the files for both
    ds.materialize("conversions", "campaign_joins")
    ds.stage("campaign results")
    ds.con.sql("CREATE TEMP TABLE IF NOT EXISTS campaign_results AS "
               + load_query("marts/campaign_results"))


def kpi_counts(ds: Dataset, periods: list[Period], keep_words: bool = False) -> pl.DataFrame:
    """Counts and sums behind the KPIs, one row per period (column ``period`` = label), in
    the order of the labels.

    The activity words hold the days the KPIs read (:func:`kpi_activity_days`) and are
    dropped after the query; with ``keep_words`` they hold all the data's days and stay for
    the analyses that follow (a report's retention and segments), as far as the data's size
    allows (Dataset.shares_tables). A table of all the days built before is read and kept.

    Each row is one period's alone, so data above SHARED_TABLES_MAX_ROWS runs the query once
    per period: the per-user state of one query (distinct actives and payers, activity window
    hits, the period's registrants' acquisition) is then that of one period, not of three
    (on the 10x dataset the three periods of ``summary --compare`` in one query ran out of
    a 1 GB memory limit)."""
    prepare(ds)
    frame = pl.DataFrame(
        {"period": [p.label for p in periods], "start_date": [p.start for p in periods],
         "end_date": [p.end for p in periods]},
        schema={"period": pl.String, "start_date": pl.Date, "end_date": pl.Date},
    ).unique("period", keep="first", maintain_order=True)
    first, last = ds.date_range
    # no events: any day serves as day index 0 of the (empty) activity table
    first_day = first or min(p.start for p in periods)
    days = None if keep_words or last is None else kpi_activity_days(periods, first_day, last)
    prepare_activity_words(ds, first_day, days)
    define_day_mask(ds.con)
    groups = ([frame] if ds.shares_tables()
              else [frame.slice(i, 1) for i in range(frame.height)])
    try:
        counts = pl.concat([_period_counts(ds, group, first_day, last) for group in groups])
    finally:
        # part of the activity (read by no other analysis), or large data: free the memory;
        # all of it (built here with keep_words, or earlier by another analysis) stays
        if ds.temp_keys.get("activity_words") != (first_day,) or not ds.shares_tables():
            drop_activity_words(ds)
    counts = counts.sort("period")
    if ds.files["spend"] is not None:  # spend data exists: no rows in P means 0, not unknown
        counts = counts.with_columns(pl.col("spend", "paid_spend").fill_null(0.0))
    return counts


def _period_counts(ds: Dataset, periods: pl.DataFrame, first_day: date,
                   last: date | None) -> pl.DataFrame:
    """queries/marts/kpi_counts.sql over ``periods`` (period, start_date, end_date)."""
    ds.con.register("_kpi_periods", periods)
    ds.con.sql("CREATE OR REPLACE TEMP TABLE kpi_periods AS SELECT * FROM _kpi_periods")
    ds.con.unregister("_kpi_periods")
    # the acquisition of the periods' registrants only
    with ds.period_acquisition(periods.select("start_date", "end_date").rows()):
        return ds.run_file("marts/kpi_counts", {
            "first_day": first_day, "last_day": last, "paid": list(ds.config.paid),
            "passive": list(ds.config.passive),
            "high_value_total": ds.config.high_value_order_total,
        })


def kpi_values(counts: pl.DataFrame) -> pl.DataFrame:
    """Long frame ``period, metric, value`` in the KPI order of metrics.KPIS."""
    wide = counts.select("period", *[expr.alias(name) for name, (expr, _) in KPIS.items()])
    return wide.unpivot(index="period", variable_name="metric", value_name="value")


def _targets(ds: Dataset, period: Period) -> pl.DataFrame:
    table = ds.config.targets.get(period.label, {})
    rows = []
    for metric in KPIS:
        for suffix, kind in (("", "value"), ("_max", "max"), ("_min", "min")):
            if metric + suffix in table:
                rows.append((metric, table[metric + suffix], kind))
                break
    return pl.DataFrame(rows, schema={"metric": pl.String, "target": pl.Float64,
                                      "target_kind": pl.String}, orient="row")


def summary(ds: Dataset, period: Period, compare: bool = False,
            keep_words: bool = False) -> pl.DataFrame:
    """One row per KPI with the SUMMARY_COLUMNS (previous/last_year only with ``compare``);
    ``keep_words``: keep all the activity words for later analyses (:func:`kpi_counts`)."""
    periods = [period] + ([period.previous(), period.last_year()] if compare else [])
    values = kpi_values(kpi_counts(ds, periods, keep_words))
    first, last = ds.date_range
    outside = [p.label for p in periods
               if first is None or last is None or p.end < first or p.start > last]
    # a period with no data at all has unknown KPIs (null), not zeros
    values = values.with_columns(
        pl.when(pl.col("period").is_in(outside)).then(None).otherwise(pl.col("value")).alias("value")
    )

    def of(p: Period, name: str) -> pl.DataFrame:
        return values.filter(pl.col("period") == p.label).select("metric",
                                                                  pl.col("value").alias(name))

    out = of(period, "value")
    if compare:
        out = out.join(of(period.previous(), "previous"), on="metric", how="left") \
            .join(of(period.last_year(), "last_year"), on="metric", how="left")
    else:
        out = out.with_columns(previous=pl.lit(None, pl.Float64),
                               last_year=pl.lit(None, pl.Float64))
    order = {m: i for i, m in enumerate(KPIS)}
    out = out.join(_targets(ds, period), on="metric", how="left").with_columns(
        change_qoq=change("value", "previous"),
        change_yoy=change("value", "last_year"),
        attainment=pl.when(pl.col("target_kind") == "max")
        .then(pl.when(pl.col("value") > 0).then(pl.col("target") / pl.col("value")))
        .otherwise(pl.when(pl.col("target") != 0).then(pl.col("value") / pl.col("target"))),
        _order=pl.col("metric").replace_strict(order, return_dtype=pl.Int32),
    )
    return out.sort("_order").select(*SUMMARY_COLUMNS)


def _show(kind: str, x: float | None) -> str:
    if x is None:
        return ""
    if kind == "rate":
        return f"{x:.4f}"
    if kind == "roi":
        return f"1:{x:.2f}"
    if kind == "count":
        return f"{x:,.0f}"
    return f"{x:,.2f}"


def summary_for_people(df: pl.DataFrame) -> pl.DataFrame:
    """The summary as display strings for the ``table`` format: counts with separators,
    money with 2 decimals, rates and changes as fractions with 4 decimals, ROI as ``1:x``.
    (A loop over the ~20 KPI rows, not over data.)"""
    from campaign_roi.metrics import KPI_KIND

    rows = []
    for r in df.iter_rows(named=True):
        kind = KPI_KIND.get(r["metric"], "count")
        rows.append({
            "metric": r["metric"],
            **{c: _show(kind, r[c]) for c in ("value", "previous")},
            "change_qoq": _show("rate", r["change_qoq"]),
            "last_year": _show(kind, r["last_year"]),
            "change_yoy": _show("rate", r["change_yoy"]),
            "target": _show(kind, r["target"]),
            "attainment": _show("rate", r["attainment"]),
        })
    return pl.DataFrame(rows, schema=dict.fromkeys(SUMMARY_COLUMNS, pl.String))

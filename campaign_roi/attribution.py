"""Multi-touch attribution (SPEC §4): journeys, path transforms, eight models, path tables.

The heavy lifting is SQL in ``queries/`` (conversions → journeys → credits / paths). Work shared
by several models is done once per call: the journeys of the requested conversions are
materialised into a temp table and every model reads it.

Credit tables have one row per (conversion, model, credited touch): ``conversion_id, user_id,
conversion_time, model, channel, campaign_id, credit, value_credit, net_value_credit``. For
``markov`` (a global split, not a per-journey one) rows are per channel and campaign with a
null ``conversion_id``. Conversions without an eligible touch are credited to ``organic``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import polars as pl

from campaign_roi.config import CONVERSION_TYPES, ORGANIC
from campaign_roi.dataset import ACQUISITION_TOUCH_COLUMNS
from campaign_roi.errors import UserError
from campaign_roi.metrics import define_exact_sum, exact_sum
from campaign_roi.sql_files import load_query

if TYPE_CHECKING:
    from campaign_roi.dataset import Dataset

RULE_MODELS: tuple[str, ...] = (
    "first_touch", "last_touch", "last_non_direct", "linear", "position_based", "time_decay",
)
DATA_DRIVEN_MODELS: tuple[str, ...] = ("markov", "shapley")
MODELS: tuple[str, ...] = RULE_MODELS + DATA_DRIVEN_MODELS
TRANSFORMS: tuple[str, ...] = ("unique", "exposure", "first", "frequency")
DEFAULT_MODEL = "last_non_direct"
DEFAULT_TRANSFORM = "exposure"
FAR_PAST = date(1, 1, 1)
FAR_FUTURE = date(9999, 12, 31)

CREDIT_SCHEMA: dict[str, Any] = {
    "conversion_id": pl.String, "user_id": pl.String,
    "conversion_time": pl.Datetime("us", "UTC"), "model": pl.String, "channel": pl.String,
    "campaign_id": pl.String, "credit": pl.Float64, "value_credit": pl.Float64,
    "net_value_credit": pl.Float64,
}


def parse_models(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``last_touch,linear`` or ``all`` → models in the canonical order."""
    items = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    if not items:
        raise UserError(f"--model is empty; use one or more of {', '.join(MODELS)} or all")
    if "all" in items:
        return MODELS
    unknown = [m for m in items if m not in MODELS]
    if unknown:
        raise UserError(f"--model {unknown[0]!r} is unknown; use {', '.join(MODELS)} or all")
    return tuple(m for m in MODELS if m in items)


@dataclass(frozen=True)
class AttributionOptions:
    conversion: str = "register"
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    start: date | None = None  # inclusive local dates; None = all data
    end: date | None = None
    lookback_days: float | None = None  # None = config default for the conversion type
    transform: str = DEFAULT_TRANSFORM
    half_life_days: float | None = None  # None = config
    order: int = 1  # Markov order
    max_touches: int = 0  # 0 = all
    net: bool = False  # value net of refunds (order types)

    def checked(self) -> AttributionOptions:
        if self.conversion not in CONVERSION_TYPES:
            raise UserError(
                f"--conversion {self.conversion!r} is unknown; use {', '.join(CONVERSION_TYPES)}"
            )
        if self.transform not in TRANSFORMS:
            raise UserError(f"--transform {self.transform!r} is unknown; use {', '.join(TRANSFORMS)}")
        if self.lookback_days is not None and self.lookback_days <= 0:
            raise UserError("--lookback-days must be > 0")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise UserError("--half-life-days must be > 0")
        if self.order < 1:
            raise UserError("--order must be >= 1")
        if self.max_touches < 0:
            raise UserError("--max-touches must be >= 0 (0 = all)")
        parse_models(list(self.models))
        return self


def prepare_window_touches(ds: Dataset, start: date, end: date, lookback_days: float) -> None:
    """The temp table ``window_touches``: the touches that a conversion from local day
    ``start`` to ``end`` can use with this lookback. Kept when the table of an earlier run of
    the command already covers those days (more touches change nothing: every reader
    filters by its own conversions' windows); a report builds it once for the widest
    lookback of its attribution runs."""
    # a touch within the lookback of a conversion on or after `start` lies on or after
    # start − ceil(lookback) − 1 local days (one spare day for zone offsets)
    days = math.ceil(lookback_days) + 1
    earliest = start - timedelta(days=days) if start > FAR_PAST + timedelta(days=days) \
        else FAR_PAST
    have = ds.temp_keys.get("window_touches")
    if isinstance(have, tuple) and have[0] <= earliest and have[1] >= end:
        return
    # the bounds are written on local_time (event_date is its date): unlike a cast to DATE,
    # the Parquet reader checks them against row-group statistics and skips other months
    ds.con.sql(
        "CREATE OR REPLACE TEMP TABLE window_touches AS SELECT user_id, event_time, "
        "local_time, event_date, event_id, channel, channel_group, campaign_id FROM touches "
        "WHERE local_time >= CAST($earliest AS TIMESTAMP) "
        "AND local_time < CAST($end + 1 AS TIMESTAMP)",
        params={"earliest": earliest, "end": end},
    )
    ds.temp_keys["window_touches"] = (earliest, end)
    # while the table exists, the acquisition reads its touches from it and only the others
    # (before or after its days) from the files: the same rows (a report computes the
    # acquisition of everyone registered by the period's end after this table)
    ds.con.sql("SET VARIABLE window_touches_from = $d", params={"d": earliest})
    ds.con.sql("SET VARIABLE window_touches_to = $d", params={"d": end})
    cols = ACQUISITION_TOUCH_COLUMNS
    ds.con.sql(
        f"CREATE OR REPLACE TEMP VIEW acquisition_touches AS SELECT {cols} FROM window_touches "
        f"UNION ALL SELECT {cols} FROM main.touches "
        "WHERE local_time < CAST(getvariable('window_touches_from') AS TIMESTAMP) "
        f"UNION ALL SELECT {cols} FROM main.touches "
        "WHERE local_time >= CAST(getvariable('window_touches_to') + 1 AS TIMESTAMP)"
    )


#: the temp tables of attribution runs (journeys and what they are built from)
ATTRIBUTION_TABLES = ("window_touches", "journeys", "null_journeys", "type_conversions",
                      "period_conversions")


def drop_attribution_tables(ds: Dataset) -> None:
    """Free the attribution runs' tables once no later analysis of the command reads them
    (a report after its channel table), so that later sections have the memory."""
    ds.con.sql("DROP VIEW IF EXISTS temp.main.acquisition_touches")  # reads window_touches
    for table in ATTRIBUTION_TABLES:
        ds.con.sql(f"DROP TABLE IF EXISTS temp.main.{table}")
        ds.temp_keys.pop(table, None)


def touches_between(ds: Dataset, start: date, end: date) -> str:
    """A table of the touches from local day ``start`` to ``end``: ``window_touches`` when
    it covers them (the report's shared touches), else the ``touches`` view."""
    have = ds.temp_keys.get("window_touches")
    if isinstance(have, tuple) and have[0] <= start and have[1] >= end:
        return "window_touches"
    return "touches"


#: Shapley's credit per kept touch (SPEC §4): the weight of its position in its conversion's
#: path (``_shapley_weights``, see Attribution._shapley_weights), as relation ``c`` with the
#: credit table's columns; value credits are weight × value
SHAPLEY_TOUCHES = """
WITH paths AS (
    SELECT conversion_id, string_agg(channel, ' > ' ORDER BY pos) AS path
    FROM journeys GROUP BY conversion_id
),
c AS (
    SELECT j.conversion_id, j.user_id, j.conversion_time, w.channel, j.campaign_id,
           w.weight AS credit, w.weight * j.value AS value_credit,
           w.weight * j.net_value AS net_value_credit
    FROM journeys AS j
    JOIN paths USING (conversion_id)
    JOIN _shapley_weights AS w ON w.path = paths.path AND w.pos = j.pos
)
"""

#: the period's conversions without an eligible touch, as relation ``c`` with the credit
#: table's columns: all their credit to organic (in every model)
ORGANIC_CONVERSIONS = f"""
WITH c AS (
    SELECT conversion_id, user_id, conversion_time, '{ORGANIC}' AS channel,
           CAST(NULL AS VARCHAR) AS campaign_id, 1.0 AS credit, value AS value_credit,
           net_value AS net_value_credit
    FROM period_conversions
    ANTI JOIN (SELECT DISTINCT conversion_id FROM journeys) USING (conversion_id)
)
"""


class Attribution:
    """One attribution run over a dataset: journeys materialised once, models read them."""

    def __init__(self, ds: Dataset, options: AttributionOptions) -> None:
        self.ds = ds
        self.opts = options.checked()
        cfg = ds.config
        self.lookback_days = (
            self.opts.lookback_days if self.opts.lookback_days is not None
            else cfg.lookback_days[self.opts.conversion]
        )
        self.half_life_days = (
            self.opts.half_life_days if self.opts.half_life_days is not None
            else cfg.half_life_days
        )
        self._prepared = False
        self._paths: pl.DataFrame | None = None

    # -- shared work -----------------------------------------------------------------------
    @property
    def lookback_us(self) -> int:
        return round(self.lookback_days * 86_400_000_000)

    def _period(self) -> tuple[date, date]:
        return (self.opts.start or FAR_PAST, self.opts.end or FAR_FUTURE)

    def _transform_into(self, table: str, eligible_sql: str, params: dict[str, Any]) -> None:
        """Materialise ``eligible_sql`` as ``eligible``, then its transformed paths as ``table``."""
        con = self.ds.con
        con.sql("CREATE OR REPLACE TEMP TABLE eligible AS " + eligible_sql, params=params)
        con.sql(
            f"CREATE OR REPLACE TEMP TABLE {table} AS " + load_query("intermediate/path_transform"),
            params={"transform": self.opts.transform, "max_touches": self.opts.max_touches},
        )
        con.sql("DROP TABLE eligible")

    def prepare(self) -> None:
        """Materialise the period's conversions and their ``journeys`` (once)."""
        if self._prepared:
            return
        start, end = self._period()
        con = self.ds.con
        key = (self.opts.conversion, start, end, self.lookback_us, self.opts.transform,
               self.opts.max_touches)
        if self.ds.temp_keys.get("journeys") == key:
            # an earlier run of this command (a report) built the same journeys
            self._prepared = True
            return
        self.ds.temp_keys.pop("null_journeys", None)
        self.ds.stage(f"journeys ({self.opts.conversion})")
        # one pass over the rare events of this type (or the command's conversions table)
        # and one over the touches for this run: the conversions of this type up to the
        # period end (null paths need each user's last one), and the touches that any
        # journey or null path of the period can use
        self.ds.type_conversions(self.opts.conversion, end)
        con.sql(
            "CREATE OR REPLACE TEMP TABLE period_conversions AS SELECT * FROM type_conversions "
            "WHERE conversion_date BETWEEN $start AND $end",
            params={"start": start, "end": end},
        )
        prepare_window_touches(self.ds, start, end, self.lookback_days)
        # eligible_touches reads period_conversions: the conversions are computed once per
        # run, not once per use
        self._transform_into("journeys", load_query("intermediate/eligible_touches"), {
            "lookback_us": self.lookback_us,
        })
        self.ds.temp_keys["journeys"] = key
        self._prepared = True

    def _null_journeys(self) -> None:
        if self.ds.temp_keys.get("null_journeys") == self.ds.temp_keys.get("journeys"):
            return  # built for the same journeys by an earlier run of this command
        start, end = self._period()
        first, last = self.ds.date_range
        if first is None or last is None:
            start, end = FAR_PAST, FAR_PAST
        else:
            start, end = max(start, first), min(end, last)
        end_instant = datetime.combine(end + timedelta(days=1), time(),
                                       tzinfo=ZoneInfo(self.ds.config.timezone))
        self._transform_into("null_journeys", load_query("intermediate/null_touches"), {
            "conversion": self.opts.conversion, "start": start, "end": end,
            "end_instant": end_instant, "lookback_us": self.lookback_us,
        })
        self.ds.temp_keys["null_journeys"] = self.ds.temp_keys.get("journeys")

    # -- outputs ---------------------------------------------------------------------------
    def paths(self) -> pl.DataFrame:
        """The §4.1 path table: ``path, conversions, value, nulls`` (computed once)."""
        if self._paths is None:
            self.prepare()
            self._null_journeys()
            self._paths = self.ds.sql(load_query("marts/paths"), {"net": self.opts.net})
        return self._paths

    def credits(self) -> pl.DataFrame:
        """Per-conversion credits for the requested models (see module doc)."""
        self.prepare()
        models = self.opts.models
        self.ds.stage("credits: " + ", ".join(models))
        frames: list[pl.DataFrame] = []
        rules = [m for m in models if m in RULE_MODELS]
        if rules:
            frames.append(self._rule_credits(
                "conversion_id, user_id, conversion_time, model, channel, campaign_id, "
                "credit, value_credit, net_value_credit", rules))
        per_conversion = ("SELECT c.conversion_id, c.user_id, c.conversion_time, {model}, "
                          "c.channel, c.campaign_id, c.credit, c.value_credit, "
                          "c.net_value_credit FROM c")
        if "shapley" in models:
            with self._shapley_weights():
                frames.append(self.ds.sql(
                    SHAPLEY_TOUCHES + per_conversion.format(model="'shapley' AS model")))
        if "markov" in models:
            frames.append(self._markov_credits())
        frames.append(self.ds.sql(
            ORGANIC_CONVERSIONS + per_conversion.format(model="m.model")
            + " CROSS JOIN (SELECT unnest($models) AS model) AS m", {"models": list(models)}))
        schema = {**CREDIT_SCHEMA, "conversion_time": pl.Datetime("us", self.ds.config.timezone)}
        out = pl.concat([f.cast(schema) for f in frames], how="vertical")  # type: ignore[arg-type]
        # a journey can hold one (channel, campaign) twice with different credits: the
        # credits end the key, so that the order never depends on the joins above
        return out.sort(["model", "conversion_id", "channel", "campaign_id", "credit",
                         "value_credit", "net_value_credit"], nulls_last=True)

    @contextmanager
    def _shapley_weights(self) -> Iterator[None]:
        """Within the block, ``_shapley_weights`` (path, pos, channel, weight): the touch weights
        of every path of the table (small: one row per distinct path and position), which
        :data:`SHAPLEY_TOUCHES` joins to the journeys."""
        from campaign_roi.shapley import shapley_touch_weights

        weights = shapley_touch_weights(_for_models(self.paths())).select(
            "path", pl.col("position").cast(pl.Int64).alias("pos"), "channel", "weight")
        self.ds.con.register("_shapley_weights", weights)
        try:
            yield
        finally:
            self.ds.con.unregister("_shapley_weights")

    def _markov_credits(self) -> pl.DataFrame:
        """Global Markov split per channel, then per campaign in proportion to the channel's
        linear credit by campaign (documented in docs/attribution.md)."""
        from campaign_roi.markov import markov_attribution

        result = markov_attribution(_for_models(self.paths()), order=self.opts.order)
        totals = self.ds.sql(
            "SELECT coalesce(exact_sum(value), 0.0) AS value, "
            "coalesce(exact_sum(net_value), 0.0) AS net_value "
            "FROM (SELECT any_value(value) AS value, any_value(net_value) AS net_value "
            "FROM journeys GROUP BY conversion_id)"
        ).row(0)
        campaign_share = self.ds.sql(
            "SELECT channel, campaign_id, exact_sum(1.0 / n) AS w FROM journeys GROUP BY ALL"
        ).with_columns(share=pl.col("w") / exact_sum("w").over("channel"))
        conv_total = float(result.credits["conversions"].sum())
        frac = (pl.col("conversions") / conv_total) if conv_total > 0 else pl.lit(0.0)
        share = pl.col("share").fill_null(1.0)
        return (
            result.credits.with_columns(frac=frac)
            .join(campaign_share, on="channel", how="left")
            .select(
                pl.lit(None, pl.String).alias("conversion_id"),
                pl.lit(None, pl.String).alias("user_id"),
                pl.lit(None, pl.Datetime("us", "UTC")).alias("conversion_time"),
                pl.lit("markov").alias("model"),
                "channel", "campaign_id",
                (pl.col("conversions") * share).alias("credit"),
                (pl.col("frac") * totals[0] * share).alias("value_credit"),
                (pl.col("frac") * totals[1] * share).alias("net_value_credit"),
            )
        )

    def _rule_credits(self, select: str, rules: list[str], join: str = "", tail: str = "",
                      params: dict[str, Any] | None = None) -> pl.DataFrame:
        """``SELECT {select} FROM rule_credits AS c {join} … {tail}`` for the ``rules``
        models (queries/marts/rule_credits.sql)."""
        return self.ds.sql(
            f"SELECT {select} FROM (" + load_query("marts/rule_credits")
            + f") AS c {join} WHERE list_contains($models, c.model) {tail}",
            {**(params or {}), "half_life_days": self.half_life_days, "models": rules},
        )

    def totals(self, key: str = "channel", paid_end: date | None = None) -> pl.DataFrame:
        """The credits summed per model and ``key`` (``channel`` or ``campaign_id``): ``model,
        key, credit, value_credit, net_value_credit, paid_credit``, one row per pair, unsorted.

        The sums are those of :meth:`credits` grouped the same way, but no per-conversion row
        leaves DuckDB: the rule models, ``shapley`` (its touch weights per path, a small
        table, joined to the journeys in SQL) and ``organic`` are summed there, so memory
        does not grow with the period's conversions. ``paid_credit`` (with ``paid_end``) is
        the credit of conversions whose user has a first order on or before ``paid_end``
        (the channel table's paid rate); it is null for ``markov`` (a global split, no
        per-user credit) and without ``paid_end``. The result is kept for the command
        (``Dataset.credit_totals``): a later run with the same options asking for some of the
        same models, by the same key and paid day, reads their rows back."""
        if key not in ("channel", "campaign_id"):
            raise ValueError(f"cannot total credits by {key!r}")
        self.prepare()
        models = self.opts.models
        # a report's channel table asks for the register credits that its attribution
        # section (all eight models) has summed already: each model's rows depend on that
        # model and the run only, so they are read back instead of summed again
        memo_key = (self.ds.temp_keys.get("journeys"), self.half_life_days, self.opts.order,
                    key, paid_end)
        have = self.ds.credit_totals.get(memo_key)
        if have is not None and set(models) <= set(have[0]):
            return have[1].filter(pl.col("model").is_in(list(models)))
        credits = self._totals(key, paid_end)
        self.ds.credit_totals[memo_key] = (models, credits)
        return credits

    def _totals(self, key: str, paid_end: date | None) -> pl.DataFrame:
        """The sums of :meth:`totals`, computed."""
        models = self.opts.models
        self.ds.stage("credits: " + ", ".join(models))
        paid_join, paid_sum = self._paid_sql(paid_end)
        params: dict[str, Any] = {} if paid_end is None else {"paid_end": paid_end}
        sums = (f"exact_sum(c.credit) AS credit, exact_sum(c.value_credit) AS value_credit, "
                f"exact_sum(c.net_value_credit) AS net_value_credit, {paid_sum} AS paid_credit")
        frames: list[pl.DataFrame] = []
        rules = [m for m in models if m in RULE_MODELS]
        if rules:
            frames.append(self._rule_credits(f"c.model, c.{key}, {sums}", rules, paid_join,
                                             "GROUP BY 1, 2", params))
        if "shapley" in models:
            with self._shapley_weights():
                frames.append(self.ds.sql(
                    SHAPLEY_TOUCHES + f"SELECT 'shapley' AS model, c.{key}, {sums} "
                    f"FROM c {paid_join} GROUP BY 1, 2", params))
        if "markov" in models:
            frames.append(self._markov_credits().with_columns(
                paid_credit=pl.lit(None, pl.Float64)))
        frames.append(self.ds.sql(
            ORGANIC_CONVERSIONS + f"SELECT m.model, c.{key}, {sums} FROM c {paid_join} "
            "CROSS JOIN (SELECT unnest($models) AS model) AS m GROUP BY 1, 2",
            {**params, "models": list(models)},
        ))
        schema = {"model": pl.String, key: pl.String, "credit": pl.Float64,
                  "value_credit": pl.Float64, "net_value_credit": pl.Float64,
                  "paid_credit": pl.Float64}
        credits = pl.concat([f.select(list(schema)).cast(schema)  # type: ignore[arg-type]
                             for f in frames])
        # a key can come from two sources (a touch channel named like organic): sum again;
        # the paid credit is known only when every part of the pair has it
        return credits.group_by("model", key).agg(
            exact_sum("credit").alias("credit"),
            exact_sum("value_credit").alias("value_credit"),
            exact_sum("net_value_credit").alias("net_value_credit"),
            pl.when(pl.col("paid_credit").is_not_null().all())
            .then(exact_sum("paid_credit")).alias("paid_credit"),
        )

    @staticmethod
    def _paid_sql(paid_end: date | None) -> tuple[str, str]:
        """The join and the sum of the paid credit (:meth:`totals`) over a credit table ``c``
        with a ``user_id``: the users with a first order by ``$paid_end``."""
        if paid_end is None:
            return "", "CAST(NULL AS DOUBLE)"
        return ("LEFT JOIN (SELECT user_id, 1.0 AS paid FROM conversions "
                "WHERE conversion_type = 'first_order' AND conversion_date <= $paid_end) AS p "
                "ON p.user_id = c.user_id",
                "exact_sum(c.credit * coalesce(p.paid, 0.0))")

    def summary(self, by: str = "channel", paid_end: date | None = None) -> pl.DataFrame:
        """``model, channel|campaign_id, conversions, value, share`` (share of conversions).
        With ``paid_end`` the totals are summed with the paid credit as well (not shown), so
        that a channel table later in the command reads them back (:meth:`totals`)."""
        if by not in ("channel", "campaign"):
            raise UserError(f"--by {by!r} is unknown; use channel or campaign")
        key = "channel" if by == "channel" else "campaign_id"
        value = "net_value_credit" if self.opts.net else "value_credit"
        # summed in DuckDB (no per-touch rows leave the database)
        return summarise_credits(self.totals(key, paid_end), key, value, self.opts.models)


def summarise_credits(
    credits: pl.DataFrame, key: str, value: str, models: tuple[str, ...]
) -> pl.DataFrame:
    """Channel (or campaign) totals per model; every key appears under every model."""
    grouped = credits.group_by("model", key).agg(
        conversions=exact_sum("credit"), value=exact_sum(value)
    )
    keys = credits.select(key).unique()
    grid = pl.DataFrame({"model": list(models)}).join(keys, how="cross")
    order = {m: i for i, m in enumerate(models)}
    out = grid.join(grouped, on=["model", key], how="left", nulls_equal=True).with_columns(
        pl.col("conversions").fill_null(0.0), pl.col("value").fill_null(0.0)
    )
    return (
        out.with_columns(
            share=pl.when(exact_sum("conversions").over("model") > 0)
            .then(pl.col("conversions") / exact_sum("conversions").over("model"))
            .otherwise(None),
            _order=pl.col("model").replace_strict(order, return_dtype=pl.Int32),
        )
        .sort(["_order", key], nulls_last=True)
        .drop("_order")
        .select("model", key, "conversions", "value", "share")
    )


def _for_models(table: pl.DataFrame) -> pl.DataFrame:
    """Path table in the float form the data-driven models take."""
    return table.select(
        pl.col("path").cast(pl.String),
        pl.col("conversions").cast(pl.Float64),
        pl.col("value").cast(pl.Float64),
        pl.col("nulls").cast(pl.Float64),
    )


def attribute(ds: Dataset, options: AttributionOptions, by: str = "channel") -> pl.DataFrame:
    return Attribution(ds, options).summary(by)


def path_table(ds: Dataset, options: AttributionOptions) -> pl.DataFrame:
    return Attribution(ds, options).paths()


def attribute_path_table(
    table: pl.DataFrame, options: AttributionOptions, by: str = "channel"
) -> pl.DataFrame:
    """Attribute an external §4.1 path table (``path, conversions, value, nulls``; channel
    names used as given). ``time_decay`` needs timestamps: refused when asked for by name,
    left out of ``all``."""
    import duckdb

    opts = options.checked()
    if by != "channel":
        raise UserError("--by campaign needs a dataset: a path table has no campaign_id")
    if opts.models == MODELS:
        opts = AttributionOptions(**{**opts.__dict__, "models": tuple(
            m for m in MODELS if m != "time_decay")})
    elif "time_decay" in opts.models:
        raise UserError(
            "--model time_decay needs touch timestamps, which a path table (--paths) does not "
            "have; choose other models"
        )
    con = duckdb.connect()
    define_exact_sum(con)
    con.register("input_paths", table.with_row_index("row_id"))
    con.sql(
        """
        CREATE TEMP TABLE eligible AS
        SELECT 'p' || row_id AS conversion_id, CAST(NULL AS VARCHAR) AS user_id,
               CAST(NULL AS TIMESTAMPTZ) AS conversion_time, value, value AS net_value,
               CAST(NULL AS TIMESTAMPTZ) AS touch_time, channel,
               CAST(NULL AS VARCHAR) AS campaign_id, seq, conversions, nulls
        FROM (
            SELECT row_id, value, conversions, nulls,
                   unnest(string_split(path, ' > ')) AS channel,
                   generate_subscripts(string_split(path, ' > '), 1) AS seq
            FROM input_paths
        )
        """
    )
    con.sql(
        "CREATE TEMP TABLE journeys AS " + load_query("intermediate/path_transform"),
        params={"transform": opts.transform, "max_touches": opts.max_touches},
    )
    transformed = con.sql(
        "SELECT path, exact_sum(conversions) AS conversions, exact_sum(value) AS value, "
        "exact_sum(nulls) AS nulls "
        "FROM (SELECT conversion_id, string_agg(channel, ' > ' ORDER BY pos) AS path, "
        "any_value(conversions) AS conversions, any_value(value) AS value, "
        "any_value(nulls) AS nulls FROM journeys GROUP BY conversion_id) GROUP BY path ORDER BY path"
    ).pl()
    frames: list[pl.DataFrame] = []
    rules = [m for m in opts.models if m in RULE_MODELS]
    if rules:
        frames.append(con.sql(
            "SELECT r.model, r.channel, r.credit * j.conversions AS credit, r.value_credit "
            "FROM (" + load_query("marts/rule_credits") + ") r "
            "JOIN (SELECT DISTINCT conversion_id, conversions FROM journeys) j USING (conversion_id) "
            "WHERE list_contains($models, r.model)",
            params={"half_life_days": 1.0, "models": rules},
        ).pl())
    if "shapley" in opts.models:
        from campaign_roi.shapley import shapley_attribution

        frames.append(shapley_attribution(_for_models(transformed)).select(
            pl.lit("shapley").alias("model"), "channel",
            pl.col("conversions").alias("credit"), pl.col("value").alias("value_credit")))
    if "markov" in opts.models:
        from campaign_roi.markov import markov_attribution

        frames.append(markov_attribution(_for_models(transformed), order=opts.order).credits.select(
            pl.lit("markov").alias("model"), "channel",
            pl.col("conversions").alias("credit"), pl.col("value").alias("value_credit")))
    schema = {"model": pl.String, "channel": pl.String, "credit": pl.Float64,
              "value_credit": pl.Float64}
    credits = pl.concat([f.select(list(schema)).cast(schema) for f in frames])  # type: ignore[arg-type]
    return summarise_credits(credits, "channel", "value_credit", opts.models)

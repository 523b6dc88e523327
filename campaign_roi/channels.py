"""The channel table (SPEC §5.1): spend, touches, attributed new users, first orders and
revenue per channel group for a period and model, with CAC, ROAS and net ROI."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from campaign_roi.attribution import (
    DEFAULT_MODEL,
    Attribution,
    AttributionOptions,
    touches_between,
)
from campaign_roi.config import ORGANIC
from campaign_roi.metrics import ratio
from campaign_roi.periods import Period

if TYPE_CHECKING:
    from campaign_roi.dataset import Dataset

CHANNEL_COLUMNS = ("channel", "spend", "touches", "new_users", "paid_rate", "first_orders",
                   "revenue", "cac", "roas", "roi_net")


def _totals(ds: Dataset, period: Period, model: str, conversion: str,
            paid_end: date | None = None) -> pl.DataFrame:
    """The ``model``'s credits of the period's ``conversion``s summed per channel."""
    return Attribution(ds, AttributionOptions(
        conversion=conversion, models=(model,), start=period.start, end=period.end,
    )).totals("channel", paid_end)


def channel_table(ds: Dataset, period: Period, model: str = DEFAULT_MODEL) -> pl.DataFrame:
    ds.materialize("conversions")  # read by all three attribution runs
    # paid users: the attributed new users with a first order by the end of the period; the
    # credits are summed in DuckDB, so no per-conversion row is held here
    new_users = _totals(ds, period, model, "register", paid_end=period.end).select(
        "channel", new_users="credit", paid_users="paid_credit",
        per_user=pl.col("paid_credit").is_not_null())
    first_orders = _totals(ds, period, model, "first_order").select(
        "channel", first_orders="credit")
    revenue = _totals(ds, period, model, "order").select("channel", revenue="value_credit")
    params = {"start": period.start, "end": period.end}
    spend = ds.sql(
        "SELECT channel_group AS channel, exact_sum(cost) AS spend FROM spend "
        "WHERE date BETWEEN $start AND $end GROUP BY 1", params)
    touches = ds.sql(
        "SELECT channel_group AS channel, count(*) AS touches "
        f"FROM {touches_between(ds, period.start, period.end)} "
        # on local_time (event_date is its date): the Parquet reader skips other months
        "WHERE local_time >= CAST($start AS TIMESTAMP) "
        "AND local_time < CAST($end + 1 AS TIMESTAMP) GROUP BY 1", params)
    groups = [*ds.config.groups, ORGANIC]
    keys = pl.concat([f.select("channel") for f in (new_users, first_orders, revenue, spend,
                                                     touches)]).unique()
    order = {g: i for i, g in enumerate(groups)}
    has_spend = ds.files["spend"] is not None
    table = (
        keys.join(spend, on="channel", how="left")
        .join(touches, on="channel", how="left")
        .join(new_users, on="channel", how="left")
        .join(first_orders, on="channel", how="left")
        .join(revenue, on="channel", how="left")
        .with_columns(
            pl.col("spend").fill_null(0.0) if has_spend else pl.col("spend"),
            pl.col("touches").fill_null(0),
            pl.col("new_users", "first_orders", "revenue").fill_null(0.0),
        )
        .with_columns(
            # Markov credits are a global split (no per-user credit): paid_rate unknown there
            paid_rate=pl.when(pl.col("per_user").fill_null(True))
            .then(ratio("paid_users", "new_users")),
            cac=ratio("spend", "new_users"),
            roas=ratio("revenue", "spend"),
            roi_net=ratio(pl.col("revenue") - pl.col("spend"), pl.col("spend")),
            _order=pl.col("channel").replace_strict(order, default=len(order),
                                                    return_dtype=pl.Int32),
        )
        .sort(["_order", "channel"])
    )
    return table.select(*CHANNEL_COLUMNS)


def channel_table_compare(ds: Dataset, period: Period, model: str = DEFAULT_MODEL) -> pl.DataFrame:
    """The channel table plus ``<column>_previous`` for the previous period (QoQ)."""
    now = channel_table(ds, period, model)
    before = channel_table(ds, period.previous(), model)
    before = before.rename({c: f"{c}_previous" for c in CHANNEL_COLUMNS if c != "channel"})
    return now.join(before, on="channel", how="left", maintain_order="left")

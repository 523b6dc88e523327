"""The campaign table (SPEC §5.2) and one campaign's detail (funnel and daily series)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from campaign_roi.attribution import DEFAULT_MODEL, Attribution, AttributionOptions
from campaign_roi.errors import UserError
from campaign_roi.kpis import prepare_campaign_results
from campaign_roi.metrics import ratio
from campaign_roi.periods import Period

if TYPE_CHECKING:
    from campaign_roi.dataset import Dataset

CAMPAIGN_COLUMNS = ("campaign_id", "name", "start_date", "end_date", "cost", "participants",
                    "converted_payers", "conversion_rate", "revenue", "roi",
                    "cost_per_participant", "cost_per_payer", "attributed_revenue")


def campaign_table(
    ds: Dataset, period: Period | None = None, model: str = DEFAULT_MODEL
) -> pl.DataFrame:
    """Campaigns starting in ``period`` (all without one). ``attributed_revenue``: order value
    credited under ``model`` to touches carrying the campaign_id, for orders in the period."""
    prepare_campaign_results(ds)
    results = ds.sql("SELECT * FROM campaign_results")
    if period is not None:
        results = results.filter(pl.col("start_date").is_between(period.start, period.end))
    attributed = Attribution(ds, AttributionOptions(
        conversion="order", models=(model,),
        start=period.start if period else None, end=period.end if period else None,
    )).totals("campaign_id").filter(pl.col("campaign_id").is_not_null()).select(
        "campaign_id", attributed_revenue="value_credit")
    return (
        results.join(attributed, on="campaign_id", how="left")
        .with_columns(
            pl.col("attributed_revenue").fill_null(0.0),
            conversion_rate=ratio("converted_payers", "participants"),
            roi=ratio("revenue", "cost"),
            cost_per_participant=ratio("cost", "participants"),
            cost_per_payer=ratio("cost", "converted_payers"),
        )
        .sort(["start_date", "campaign_id"])
        .select(*CAMPAIGN_COLUMNS)
    )


def campaign_row(ds: Dataset, campaign_id: str, model: str = DEFAULT_MODEL) -> pl.DataFrame:
    """One campaign's campaign-table row; UserError naming the known ids when it is absent."""
    table = campaign_table(ds, None, model)
    row = table.filter(pl.col("campaign_id") == campaign_id)
    if row.is_empty():
        known = ", ".join(table["campaign_id"].to_list()) or "none"
        raise UserError(f"campaign {campaign_id!r} is not in campaigns; known: {known}")
    return row


def campaign_detail(
    ds: Dataset, campaign_id: str, model: str = DEFAULT_MODEL
) -> dict[str, pl.DataFrame]:
    """``summary`` (its campaign-table row), ``funnel`` (participants → converted payers) and
    ``daily`` (date, joins, orders, revenue of participants' converting orders)."""
    row = campaign_row(ds, campaign_id, model)
    participants = int(row["participants"][0])
    payers = int(row["converted_payers"][0])
    funnel = pl.DataFrame({
        "step": ["participants", "converted_payers"],
        "users": [participants, payers],
    }).with_columns(
        conversion_from_start=ratio("users", pl.lit(participants)),
        dropped=pl.lit(participants) - pl.col("users"),
    )
    daily = ds.run_file("marts/campaign_daily", {"id": campaign_id})
    return {"summary": row, "funnel": funnel, "daily": daily}

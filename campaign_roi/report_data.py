"""Assemble a report's aggregated frames from a dataset (the report module renders them).

Each analysis runs once per report; charts and tables read the same frames.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from campaign_roi.attribution import (
    FAR_PAST,
    MODELS,
    Attribution,
    AttributionOptions,
    drop_attribution_tables,
    prepare_window_touches,
)
from campaign_roi.campaigns import campaign_row, campaign_table
from campaign_roi.channels import channel_table
from campaign_roi.errors import UserError
from campaign_roi.funnel import funnel
from campaign_roi.i18n import label
from campaign_roi.kpis import KPI_KEY_EVENT_VIEWS, drop_activity_words, summary
from campaign_roi.lifecycle import (
    LifecycleThresholds,
    segment_migration,
    segments,
    segments_from_migration,
)
from campaign_roi.periods import Period, date_range
from campaign_roi.report import ReportData
from campaign_roi.retention import retention

if TYPE_CHECKING:
    from campaign_roi.dataset import Dataset

PERIOD_FUNNEL = ("register", "active", "first_order")


def attribution_frame(ds: Dataset, period: Period) -> pl.DataFrame:
    """All eight models side by side for the period's registrations. The totals carry the
    channel table's paid credit (users with a first order by the period's end), so that the
    channel table that follows reads its register credits from them (Attribution.totals)."""
    return Attribution(ds, AttributionOptions(
        conversion="register", models=MODELS, start=period.start, end=period.end,
    )).summary(paid_end=period.end)


def daily_frame(ds: Dataset, period: Period) -> pl.DataFrame:
    with ds.period_acquisition([_registered_by(period)]):
        return ds.run_file("marts/daily_by_channel", {"start": period.start, "end": period.end})


def _registered_by(period: Period) -> tuple[date, date]:
    """The register dates whose users' acquisition the daily trend reads: the new users of the
    period, and every user who can order in it (registered by its end)."""
    return (FAR_PAST, period.end)


def segment_frames(ds: Dataset, period: Period) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Segments as of the period's end (or the data's last day) and the migration from the
    day before the period; no migration when that day precedes the data."""
    first, last = ds.date_range
    thresholds = LifecycleThresholds.from_config(ds.config.lifecycle)
    as_of = min(period.end, last) if last else period.end
    before = period.start - timedelta(days=1)
    if first is not None and before >= first and before < as_of:
        # one pass classifies both days; the later day's table is read off the matrix
        migration = segment_migration(ds.con, before, as_of, thresholds)
        return segments_from_migration(migration), migration
    return segments(ds.con, as_of, thresholds), None


Progress = Callable[[str], None]
Frames = dict[str, pl.DataFrame | None]
#: a report section: its name and what builds its frames (ReportData field → frame)
Section = tuple[str, Callable[[], Frames]]


def _run_sections(sections: list[Section], progress: Progress | None) -> Frames:
    """Run the sections in order, telling ``progress`` which one starts."""
    out: Frames = {}
    for i, (name, build) in enumerate(sections, start=1):
        if progress:
            progress(f"[{i}/{len(sections)}] {name}")
        out.update(build())
    return out


def _daily_section(ds: Dataset, period: Period) -> Frames:
    """The daily trend; then the KPI tables that no later section reads (the activity words,
    the acquisition) are freed: the attribution runs that follow need the memory."""
    frames: Frames = {"daily": daily_frame(ds, period)}
    drop_activity_words(ds)
    ds.drop_period_acquisition()
    return frames


def _after_attribution(ds: Dataset, build: Callable[[], Frames]) -> Callable[[], Frames]:
    """``build``, after freeing the attribution tables (no later section reads them, and the
    sections that follow need the memory)."""
    def run() -> Frames:
        drop_attribution_tables(ds)
        return build()
    return run


def _common_sections(ds: Dataset, period: Period, words: tuple[Section, ...] = (),
                     later_attribution: tuple[Section, ...] = ()) -> list[Section]:
    """The sections every report has, in the order that lets each keep what it shares only
    as long as needed: KPIs with QoQ/YoY, then the ``words`` sections (which read the KPIs'
    activity words), the daily trend over ``period`` (the KPIs' acquisition table; both tables
    are freed after it), attribution (all eight models) and channels; attribution runs before
    channels so that the channel table's register credits reuse its journeys
    (Dataset.temp_keys); ``later_attribution`` sections run next. The report's layout does
    not depend on this order."""
    return [
        # with ``words`` sections the KPIs pack all the activity and keep it for them
        ("summary", lambda: {"summary": summary(ds, period, compare=True,
                                                keep_words=bool(words))}),
        *words,
        ("daily trend", lambda: _daily_section(ds, period)),
        ("attribution", lambda: {"attribution": attribution_frame(ds, period)}),
        ("channels", lambda: {"channels": channel_table(ds, period)}),
        *later_attribution,
    ]


def _prepare_shared(ds: Dataset, period: Period) -> None:
    """Work several sections read, done once per report: the conversions, and, unless the
    data is too large to keep them (Dataset.shares_tables), the acquisition channel of every
    user registered by the period's end (summary, daily trend) and the touches that the
    attribution runs of the period can use, for the widest lookback (channels, attribution)."""
    ds.materialize(*KPI_KEY_EVENT_VIEWS)  # the conversions, and what the KPIs read with them
    if ds.shares_tables():
        # the window touches first: the acquisition then reads those touches from memory
        prepare_window_touches(ds, period.start, period.end,
                               max(ds.config.lookback_days.values()))
        # the daily trend's registrants: a superset of the KPI periods' (all end by P's end)
        ds.keep_period_acquisition([_registered_by(period)])


def _report(ds: Dataset, title: str, period: Period, generated_at: datetime | None,
            frames: Frames) -> ReportData:
    first, last = ds.date_range
    return ReportData(
        title=title, period_label=period.label,
        data_range=(first, last) if first and last else None, generated_at=generated_at,
        summary=frames.get("summary"), channels=frames.get("channels"),
        attribution=frames.get("attribution"), funnel=frames.get("funnel"),
        retention=frames.get("retention"), segments=frames.get("segments"),
        migration=frames.get("migration"), campaigns=frames.get("campaigns"),
        daily=frames.get("daily"),
    )


def period_report(ds: Dataset, period: Period, lang: str = "en",
                  generated_at: datetime | None = None,
                  progress: Progress | None = None) -> ReportData:
    """Every section of a period report; ``progress`` hears the name of each section."""
    _prepare_shared(ds, period)
    segments_section: Section = ("segments", lambda: dict(zip(
        ("segments", "migration"), segment_frames(ds, period), strict=True)))
    # the segments read the KPIs' activity words (and the conversions) while they exist;
    # large data keeps no words (Dataset.shares_tables): its segments read the events, last,
    # when every other section's tables are freed
    early = ds.shares_tables()
    frames = _run_sections([
        *_common_sections(
            ds, period,
            words=(("retention", lambda: {"retention": retention(
                ds.con, "register", "month", periods=3, end=period.end)}),
                   *([segments_section] if early else [])),
            # the campaign table reads attribution runs too: before their tables are freed
            later_attribution=(
                ("campaigns", lambda: {"campaigns": campaign_table(ds, period)}),)),
        ("funnel", _after_attribution(ds, lambda: {"funnel": funnel(
            ds.con, list(PERIOD_FUNNEL), period.start, period.end)})),
        *([] if early else [segments_section]),
    ], progress)
    return _report(ds, f"{label('report.period_title', lang)} {period.label}", period,
                   generated_at, frames)


def campaign_report(ds: Dataset, campaign_id: str, lang: str = "en",
                    generated_at: datetime | None = None,
                    progress: Progress | None = None) -> ReportData:
    """A campaign's review: KPIs over its dates (vs the same length before), channels,
    attribution and daily trend over its dates, the join → order funnel, its §5.2 row."""
    ds.materialize(*KPI_KEY_EVENT_VIEWS)  # read by the campaign row and by every section
    row = campaign_row(ds, campaign_id)
    start, end = row["start_date"][0], row["end_date"][0]
    window = end - start + timedelta(days=8)  # orders up to end_date + 7 days
    period = date_range(start, end)
    _prepare_shared(ds, period)
    frames = _run_sections([
        *_common_sections(ds, period),
        ("funnel", _after_attribution(ds, lambda: {"funnel": funnel(
            ds.con, [f"campaign_join:{campaign_id}", "order"], start, end, window)})),
    ], progress)
    return _report(ds, f"{label('report.campaign_title', lang)} {row['name'][0]}", period,
                   generated_at, {**frames, "campaigns": row})


def chart_frame(ds: Dataset, chart: str, period: Period) -> pl.DataFrame:
    """The aggregated frame one chart needs (``charts.CHART_FRAME``), for ``chart NAME``."""
    from campaign_roi.charts import CHART_FRAME

    frame = CHART_FRAME[chart]
    if frame == "summary":
        return summary(ds, period, compare=True)
    if frame == "channels":
        return channel_table(ds, period)
    if frame == "attribution":
        return attribution_frame(ds, period)
    if frame == "funnel":
        return funnel(ds.con, list(PERIOD_FUNNEL), period.start, period.end)
    if frame == "retention":
        return retention(ds.con, "register", "month", periods=3, end=period.end)
    if frame in ("segments", "migration"):
        segs, migration = segment_frames(ds, period)
        if frame == "segments":
            return segs
        if migration is None:
            raise UserError("no migration: the day before the period precedes the data")
        return migration
    if frame == "campaigns":
        return campaign_table(ds, period)
    return daily_frame(ds, period)

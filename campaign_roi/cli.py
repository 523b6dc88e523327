"""The ``campaign-roi`` command line: thin click commands over the library.

Each command parses options, calls one library function and renders the result through the
shared renderer (:mod:`campaign_roi.render`). Library exceptions become ``Error: …`` with exit
code 1; ``--debug`` shows the traceback. Heavy libraries are imported inside the commands so
that ``campaign-roi --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from campaign_roi import __version__
from campaign_roi.errors import MEMORY_FIX, CampaignRoiError, is_out_of_memory

if TYPE_CHECKING:
    import polars as pl

    from campaign_roi.dataset import Dataset
    from campaign_roi.progress import ProgressLine

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "csv", "json", "parquet")
CONVERSIONS = ("register", "first_order", "order")


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["campaign_roi.debug"] = True
    return value


class Group(click.Group):
    """Turns library errors into ``Error: …`` (exit 1) and hides tracebacks unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CampaignRoiError as exc:
            if ctx.meta.get("campaign_roi.debug") or os.environ.get("CAMPAIGN_ROI_DEBUG"):
                raise
            text = str(exc) + (f"; {MEMORY_FIX}" if is_out_of_memory(exc) else "")
            raise click.ClickException(text) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BaseException as exc:
            # Exception, plus Rust panics of polars/pyarrow (a BaseException); not SystemExit
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            if ctx.meta.get("campaign_roi.debug") or os.environ.get("CAMPAIGN_ROI_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            if is_out_of_memory(exc):  # not a bug: the data needs more than the limit
                raise click.ClickException(f"{first}; {MEMORY_FIX}") from None
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {first})"
                "; rerun with --debug for the traceback and report it"
            ) from None


debug_option = click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
    help="Show the Python traceback on errors.",
)


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["campaign_roi.quiet"] = True
    return value


quiet_option = click.option(
    "--quiet", is_flag=True, expose_value=False, callback=_set_quiet,
    help="No progress output (none is shown when stderr is not a terminal).",
)


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _show_progress() -> bool:
    """Progress on a terminal (stderr) only, and not with --quiet."""
    ctx = click.get_current_context(silent=True)
    return not (ctx and ctx.meta.get("campaign_roi.quiet")) and _stderr_is_terminal()


def _start_progress() -> ProgressLine | None:
    """The command's progress line (campaign_roi.progress), closed with the command or by
    :func:`echo`, whichever comes first."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or not _show_progress():
        return None
    from campaign_roi.progress import ProgressLine

    _end_progress()
    label = ctx.command_path.split(" ", 1)[-1]
    line = ProgressLine(label, sys.stderr).start()
    ctx.meta["campaign_roi.progress"] = line
    ctx.call_on_close(line.close)
    return line


def _end_progress() -> None:
    ctx = click.get_current_context(silent=True)
    line = ctx.meta.pop("campaign_roi.progress", None) if ctx else None
    if line is not None:
        line.close()


def echo(message: str = "", err: bool = False) -> None:
    """``click.echo`` after erasing the progress line: results never share a line with it."""
    _end_progress()
    click.echo(message, err=err)


def data_options(f: F) -> F:
    f = click.option("--config", "config", type=click.Path(),
                     help="Config file (default: DIR/campaign_roi.toml).")(f)
    # a plain path: the library says what is wrong with it (exit 1, not a usage error)
    f = click.option("--data", "data", type=click.Path(), envvar="CAMPAIGN_ROI_DATA",
                     help="Dataset directory (or env CAMPAIGN_ROI_DATA).")(f)
    return quiet_option(debug_option(f))


def output_options(f: F) -> F:
    f = click.option("--out", "out", type=click.Path(dir_okay=False),
                     help="Write the result to FILE (atomically) instead of stdout.")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                     show_default=True, help="Output format.")(f)
    return f


def open_dataset(data: str | None, config: str | None, *, check: bool = True,
                 write_layer: bool = True) -> Dataset:
    """The dataset, with the command's progress line on a terminal."""
    from campaign_roi.dataset import Dataset

    return Dataset.open(data, config, check=check, progress=_start_progress(),
                        write_layer=write_layer)


def emit(
    df: pl.DataFrame, fmt: str, out: str | None,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
) -> None:
    from campaign_roi import render

    render.emit(df, fmt, out, formatters=formatters, echo=echo)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="campaign-roi")
@debug_option
def main() -> None:
    """campaign-roi: which channels and campaigns really pay.

    Attribution, CAC/ROI, funnels, retention and lifecycle segments over Parquet or CSV event
    logs. Every analysis takes --data DIR (or env CAMPAIGN_ROI_DATA) and --format.
    """


# -- foundation --------------------------------------------------------------------------
@main.command()
@data_options
@output_options
def validate(data: str | None, config: str | None, fmt: str, out: str | None) -> None:
    """Check a dataset (SPEC §2, §11); print issues and a profile. Exit 1 on errors."""
    import polars as pl

    from campaign_roi.validate import check_dataset, profile

    ds = open_dataset(data, config, check=False)
    issues = check_dataset(ds)
    errors = [i for i in issues if i.level == "error"]
    if fmt != "table":
        frame = pl.DataFrame(
            [{"level": i.level, "file": i.file, "column": i.column, "count": i.count,
              "problem": i.problem, "fix": i.fix,
              "examples": "; ".join(str(e) for e in i.examples)} for i in issues],
            schema={"level": pl.String, "file": pl.String, "column": pl.String,
                    "count": pl.Int64, "problem": pl.String, "fix": pl.String,
                    "examples": pl.String},
        )
        emit(frame, fmt, out)
    else:
        profiled = profile(ds) if not errors else {}  # before printing: under the progress line
        for issue in issues:
            echo(f"{issue.level.upper()}: {issue.message(max_examples=5)}",
                 err=issue.level == "error")
        if not errors:
            from campaign_roi.render import render_table

            parts = [f"OK: {ds.root} is a valid dataset ({len(issues)} warnings)."]
            for title, frame in profiled.items():
                parts.append(f"\n{title.replace('_', ' ')}:\n{render_table(frame)}")
            text = "\n".join(parts)
            if out:
                from campaign_roi.render import write_atomic

                write_atomic(out, text)
            else:
                echo(text.rstrip("\n"))
    if errors:
        raise click.ClickException(
            f"{len(errors)} error(s) in {ds.root}; fix them and run validate again"
        )


def _read_query_arg(query: str | None, file: str | None) -> str:
    if query and file:
        raise click.UsageError("give either QUERY or -f FILE, not both")
    if file:
        with click.open_file(file, encoding="utf-8") as fh:
            return str(fh.read())
    if query == "-":
        return sys.stdin.read()
    if not query:
        raise click.UsageError("give a QUERY, -f FILE or - (read from stdin)")
    return query


@main.command()
@click.argument("query", required=False)
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the SQL from FILE ('-' for stdin).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Bind $NAME in the query (repeatable).")
@click.option("--allow-write", is_flag=True, help="Allow COPY/CREATE/INSERT/ATTACH/INSTALL…")
@data_options
@output_options
def sql(query: str | None, file: str | None, params: tuple[str, ...], allow_write: bool,
        data: str | None, config: str | None, fmt: str, out: str | None) -> None:
    """Run ad-hoc SQL over the views events, touches, users, orders, spend, campaigns …"""
    from campaign_roi.sql_console import parse_params, run_sql

    text = _read_query_arg(query, file)
    bound = parse_params(params)
    # reads the file layer if an analysis wrote it; a quick question does not wait to write it
    ds = open_dataset(data, config, write_layer=False)
    emit(run_sql(ds, text, bound, allow_write=allow_write), fmt, out)


@main.group(cls=Group)
def query() -> None:
    """The named SQL library in queries/ (list, run)."""


@query.command("list")
@output_options
def query_list(fmt: str, out: str | None) -> None:
    """List the named queries."""
    import polars as pl

    from campaign_roi.sql_files import list_queries

    rows = list_queries()
    emit(pl.DataFrame({"name": [r[0] for r in rows], "description": [r[1] for r in rows]},
                      schema={"name": pl.String, "description": pl.String}), fmt, out)


@query.command("run")
@click.argument("name")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Bind $NAME in the query (repeatable).")
@click.option("--allow-write", is_flag=True, help="Allow statements that write.")
@data_options
@output_options
def query_run(name: str, params: tuple[str, ...], allow_write: bool, data: str | None,
              config: str | None, fmt: str, out: str | None) -> None:
    """Run a named query, binding -p NAME=VALUE parameters."""
    from campaign_roi.sql_console import parse_params, run_named

    bound = parse_params(params)
    ds = open_dataset(data, config, write_layer=False)  # as `sql`
    emit(run_named(ds, name, bound, allow_write=allow_write), fmt, out)


if __name__ == "__main__":  # pragma: no cover
    main()


# -- shared analysis options ---------------------------------------------------------------
def period_options(f: F) -> F:
    f = click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last day (with --from).")(f)
    f = click.option("--from", "date_from", metavar="YYYY-MM-DD",
                     help="First day (with --to).")(f)
    f = click.option("--period", "period", metavar="P",
                     help="2025Q3, 2025-08, 2025-W32 or 2025-08-15.")(f)
    return f


def optional_period(period: str | None, date_from: str | None, date_to: str | None) -> Any:
    from campaign_roi.periods import parse_period

    if not (period or date_from or date_to):
        return None
    return parse_period(period, date_from, date_to)


def attribution_options(f: F) -> F:
    f = click.option("--net", is_flag=True, help="Value net of refunds (order conversions).")(f)
    f = click.option("--max-touches", type=click.IntRange(min=0), default=0,
                     help="Keep the last N touches after the transform (0 = all).")(f)
    f = click.option("--order", "markov_order", type=click.IntRange(min=1), default=1,
                     show_default=True, help="Markov chain order.")(f)
    f = click.option("--half-life-days", type=click.FloatRange(min=0, min_open=True),
                     help="time_decay half-life in days (default: config, 7).")(f)
    f = click.option("--transform", type=click.Choice(["unique", "exposure", "first", "frequency"]),
                     default="exposure", show_default=True, help="Path transform.")(f)
    f = click.option("--lookback-days", type=click.FloatRange(min=0, min_open=True),
                     help="Touch lookback (default: config; 30 register, 90 orders).")(f)
    return f


@main.command()
@click.option("--conversion", type=click.Choice(CONVERSIONS), default="register",
              show_default=True, help="Conversion type.")
@click.option("--model", "model", default="last_non_direct", show_default=True,
              help="Model(s), comma-separated, or all.")
@click.option("--by", type=click.Choice(["channel", "campaign"]), default="channel",
              show_default=True, help="Credit channels or campaigns.")
@click.option("--paths", "paths_file", type=click.Path(dir_okay=False),
              help="Attribute an external path table (CSV/Parquet) instead of a dataset.")
@attribution_options
@period_options
@data_options
@output_options
def attribute(conversion: str, model: str, by: str, paths_file: str | None, net: bool,
              max_touches: int, markov_order: int, half_life_days: float | None,
              transform: str, lookback_days: float | None, period: str | None,
              date_from: str | None, date_to: str | None, data: str | None,
              config: str | None, fmt: str, out: str | None) -> None:
    """Credit conversions to channels (or campaigns) under one or more models (SPEC §4)."""
    from campaign_roi.attribution import (
        AttributionOptions,
        attribute_path_table,
        parse_models,
    )
    from campaign_roi.attribution import attribute as run

    p = optional_period(period, date_from, date_to)
    opts = AttributionOptions(
        conversion=conversion, models=parse_models(model),
        start=p.start if p else None, end=p.end if p else None,
        lookback_days=lookback_days, transform=transform, half_life_days=half_life_days,
        order=markov_order, max_touches=max_touches, net=net,
    )
    if paths_file:
        from campaign_roi.path_table import read_path_table

        emit(attribute_path_table(read_path_table(paths_file), opts, by), fmt, out)
        return
    emit(run(open_dataset(data, config), opts, by), fmt, out)


@main.command()
@click.option("--conversion", type=click.Choice(CONVERSIONS), default="register",
              show_default=True, help="Conversion type.")
@attribution_options
@period_options
@data_options
@output_options
def paths(conversion: str, net: bool, max_touches: int, markov_order: int,
          half_life_days: float | None, transform: str, lookback_days: float | None,
          period: str | None, date_from: str | None, date_to: str | None, data: str | None,
          config: str | None, fmt: str, out: str | None) -> None:
    """The path table (SPEC §4.1): path, conversions, value, nulls."""
    from campaign_roi.attribution import AttributionOptions, path_table

    p = optional_period(period, date_from, date_to)
    opts = AttributionOptions(
        conversion=conversion, start=p.start if p else None, end=p.end if p else None,
        lookback_days=lookback_days, transform=transform, max_touches=max_touches, net=net,
    )
    emit(path_table(open_dataset(data, config), opts), fmt, out)


def _model_choice() -> click.Choice:
    return click.Choice(["first_touch", "last_touch", "last_non_direct", "linear",
                         "position_based", "time_decay", "markov", "shapley"])


# -- KPIs ----------------------------------------------------------------------------------
@main.command()
@click.option("--compare", is_flag=True, help="Add the previous period (QoQ) and last year (YoY).")
@period_options
@data_options
@output_options
def summary(compare: bool, period: str | None, date_from: str | None, date_to: str | None,
            data: str | None, config: str | None, fmt: str, out: str | None) -> None:
    """Every KPI of a period (SPEC §5) with QoQ, YoY, target and attainment."""
    from campaign_roi.kpis import summary as run
    from campaign_roi.periods import parse_period

    p = parse_period(period, date_from, date_to)
    emit_summary(run(open_dataset(data, config), p, compare), fmt, out)


def emit_summary(df: pl.DataFrame, fmt: str, out: str | None) -> None:
    """Summaries for people show each KPI in its own unit; files keep the numbers."""
    from campaign_roi.kpis import summary_for_people

    emit(summary_for_people(df) if fmt == "table" else df, fmt, out)


@main.command()
@click.option("--model", type=_model_choice(), default="last_non_direct", show_default=True,
              help="Attribution model for new users, first orders and revenue.")
@click.option("--compare", is_flag=True, help="Add <column>_previous for the previous period.")
@period_options
@data_options
@output_options
def channels(model: str, compare: bool, period: str | None, date_from: str | None,
             date_to: str | None, data: str | None, config: str | None, fmt: str,
             out: str | None) -> None:
    """The channel table (SPEC §5.1): spend, new users, paid rate, revenue, CAC, ROAS, ROI."""
    from campaign_roi.channels import channel_table, channel_table_compare
    from campaign_roi.periods import parse_period

    p = parse_period(period, date_from, date_to)
    run = channel_table_compare if compare else channel_table
    emit(run(open_dataset(data, config), p, model), fmt, out)


@main.command()
@click.option("--model", type=_model_choice(), default="last_non_direct", show_default=True,
              help="Model for attributed_revenue.")
@period_options
@data_options
@output_options
def campaigns(model: str, period: str | None, date_from: str | None, date_to: str | None,
              data: str | None, config: str | None, fmt: str, out: str | None) -> None:
    """The campaign table (SPEC §5.2), ROI shown as 1:x; campaigns starting in --period."""
    from campaign_roi.campaigns import campaign_table
    from campaign_roi.render import format_ratio

    p = optional_period(period, date_from, date_to)
    emit(campaign_table(open_dataset(data, config), p, model), fmt, out,
         {"roi": format_ratio})


@main.command()
@click.argument("campaign_id")
@click.option("--part", type=click.Choice(["all", "summary", "funnel", "daily"]), default="all",
              show_default=True, help="Which part to print (csv/json/parquet need one part).")
@click.option("--model", type=_model_choice(), default="last_non_direct", show_default=True,
              help="Model for attributed_revenue.")
@data_options
@output_options
def campaign(campaign_id: str, part: str, model: str, data: str | None, config: str | None,
             fmt: str, out: str | None) -> None:
    """One campaign: its §5.2 row, participants → payers funnel and daily series."""
    from campaign_roi.campaigns import campaign_detail
    from campaign_roi.render import format_ratio

    detail = campaign_detail(open_dataset(data, config), campaign_id, model)
    if part == "all":
        if fmt != "table":
            raise click.UsageError("--format csv/json/parquet needs --part summary|funnel|daily")
        for name, frame in detail.items():
            echo(f"{name}:")
            emit(frame, fmt, None, {"roi": format_ratio})
            echo("")
        return
    emit(detail[part], fmt, out, {"roi": format_ratio})


# -- sample data ---------------------------------------------------------------------------
def _progress() -> Callable[[str], None] | None:
    """Progress lines on a terminal (stderr), nothing when piped or with --quiet."""
    if not _show_progress():
        return None
    return lambda msg: click.echo(f"  {msg}", err=True)


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write the dataset into.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="1 = the seed team's real size; counts scale linearly.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@quiet_option
@debug_option
def generate(out_dir: str, scale: float, seed: int) -> None:
    """Write the seed-story dataset (SPEC §9): 2024-07-01..2025-09-30, Asia/Shanghai, CNY."""
    from campaign_roi.generate import generate_dataset

    result = generate_dataset(out_dir, scale=scale, seed=seed, progress=_progress())
    echo(f"wrote {out_dir} ({result.users:,} users) in {result.seconds:.1f} s")


@main.command()
@click.option("--out", "out_dir", default="campaign_roi_demo", show_default=True,
              type=click.Path(file_okay=False), help="Directory for the dataset and report.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=0.02,
              show_default=True, help="Dataset size (1 = the seed team's real size).")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Report language.")
@quiet_option
@debug_option
def demo(out_dir: str, scale: float, seed: int, lang: str) -> None:
    """Generate the seed-story dataset, print its 2025Q3 summary, write DIR/report.html."""
    from pathlib import Path

    from campaign_roi.generate import generate_dataset
    from campaign_roi.kpis import summary as run_summary
    from campaign_roi.periods import parse_period

    data_dir = Path(out_dir) / "data"
    progress = _progress()
    generate_dataset(data_dir, scale=scale, seed=seed, progress=progress)
    ds = open_dataset(str(data_dir), None)
    period = parse_period("2025Q3")
    echo(f"campaign-roi demo: seed story at scale {scale:g}, data in {data_dir}\n")
    echo("2025Q3 summary (previous = 2025Q2, last_year = 2024Q3):")
    emit_summary(run_summary(ds, period, compare=True), "table", None)
    report_path = Path(out_dir) / "report.html"
    from campaign_roi.report import write_report
    from campaign_roi.report_data import period_report

    write_report(period_report(ds, period, lang), report_path, lang)
    echo(f"\nreport: {report_path}")
    echo(f"\nnext: campaign-roi channels --data {data_dir} --period 2025Q3")


# -- reports and charts --------------------------------------------------------------------
@main.command()
@click.option("--period", "period", metavar="P", help="Report on a period (2025Q3, 2025-08 …).")
@click.option("--campaign", "campaign_id", metavar="ID", help="Report on one campaign.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@data_options
def report(period: str | None, campaign_id: str | None, out: str, lang: str,
           data: str | None, config: str | None) -> None:
    """Write one self-contained offline HTML report (SPEC §8)."""
    from campaign_roi.periods import parse_period
    from campaign_roi.report import write_report
    from campaign_roi.report_data import campaign_report, period_report

    if bool(period) == bool(campaign_id):
        raise click.UsageError("give exactly one of --period P or --campaign ID")
    ds = open_dataset(data, config)
    progress = ds.progress.section if ds.progress else None  # the sections, on the line
    content = (period_report(ds, parse_period(period), lang, progress=progress) if period
               else campaign_report(ds, str(campaign_id), lang, progress=progress))
    path = write_report(content, out, lang)
    echo(f"wrote {path}")


@main.command()
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.html, .png, .svg or .json")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@period_options
@data_options
def chart(name: str, out: str, lang: str, period: str | None, date_from: str | None,
          date_to: str | None, data: str | None, config: str | None) -> None:
    """Write one chart (names: campaign-roi chart list)."""
    from campaign_roi.charts import CHARTS

    if name == "list":
        echo("\n".join(sorted(CHARTS)))
        return
    from campaign_roi.periods import parse_period
    from campaign_roi.report import save_chart
    from campaign_roi.report_data import chart_frame

    if name not in CHARTS:
        raise click.UsageError(f"unknown chart {name!r}; one of: {', '.join(sorted(CHARTS))}")
    p = parse_period(period, date_from, date_to)
    frame = chart_frame(open_dataset(data, config), name, p)
    path = save_chart(CHARTS[name](frame, lang), out, lang=lang)
    echo(f"wrote {path}")


# -- funnels, retention, lifecycle ---------------------------------------------------------
def _parse_window(text: str) -> Any:
    import re
    from datetime import timedelta

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*", text)
    if not m:
        raise click.BadParameter(f"{text!r}: write a duration like 14d, 36h, 90m or 30s")
    unit = {"d": "days", "": "days", "h": "hours", "m": "minutes", "s": "seconds"}[m[2]]
    return timedelta(**{unit: float(m[1])})


def _period_or_data(ds: Dataset, period: str | None, date_from: str | None,
                    date_to: str | None) -> Any:
    """The given period, or the whole data range."""
    from campaign_roi.periods import date_range

    p = optional_period(period, date_from, date_to)
    if p is not None:
        return p
    first, last = ds.date_range
    if first is None or last is None:
        from campaign_roi.errors import DataError

        raise DataError(f"{ds.root}: no events; nothing to analyse")
    return date_range(first, last)


@main.command()
@click.option("--steps", required=True, metavar="S1,S2,…",
              help="Event types, first_order or campaign_join:ID, in order.")
@click.option("--window", default="14d", show_default=True,
              help="Time from entry within which each step must happen (14d, 36h …).")
@click.option("--by", "by", metavar="channel|campaign|COLUMN",
              help="Break down by the entry's channel group, campaign or an events column.")
@click.option("--export-dropped", nargs=2, metavar="STEP DIR",
              help="Write the users who reached step STEP−1 but not STEP (2-based) to DIR.")
@period_options
@data_options
@output_options
def funnel(steps: str, window: str, by: str | None, export_dropped: tuple[str, str] | None,
           period: str | None, date_from: str | None, date_to: str | None, data: str | None,
           config: str | None, fmt: str, out: str | None) -> None:
    """Ordered funnel (SPEC §6): users, conversion, drop-off and median time per step."""
    from pathlib import Path

    from campaign_roi.funnel import funnel as run
    from campaign_roi.funnel import funnel_dropped_users
    from campaign_roi.render import emit as render_emit

    ds = open_dataset(data, config)
    p = _period_or_data(ds, period, date_from, date_to)
    span = _parse_window(window)
    emit(run(ds.con, steps, p.start, p.end, span, by), fmt, out)
    if export_dropped:
        step_text, directory = export_dropped
        if not step_text.isdigit():
            raise click.BadParameter(f"{step_text!r} is not a step number", param_hint="STEP")
        dropped = funnel_dropped_users(ds.con, steps, p.start, p.end, span, step=int(step_text))
        target = Path(directory) / f"dropped_before_step_{int(step_text)}.csv"
        render_emit(dropped, "csv", target)
        echo(f"wrote {target} ({dropped.height:,} users)", err=True)


@main.command()
@click.option("--cohort", "cohort_event", type=click.Choice(["register", "first_order"]),
              default="register", show_default=True, help="The cohort event.")
@click.option("--grain", type=click.Choice(["day", "week", "month"]), default="month",
              show_default=True, help="Window length: 1, 7 or 30 days.")
@click.option("--periods", "n_periods", type=click.IntRange(min=0), default=3, show_default=True,
              help="Periods after the cohort event (period_0 … period_N).")
@click.option("--cohort-by", type=click.Choice(["month", "week"]), default="month",
              show_default=True, help="Group cohorts by calendar month or ISO week.")
@click.option("--by", type=click.Choice(["channel"]), help="Break down by acquisition channel.")
@click.option("--shape", type=click.Choice(["wide", "long"]), default="wide", show_default=True)
@period_options
@data_options
@output_options
def retention(cohort_event: str, grain: str, n_periods: int, cohort_by: str, by: str | None,
              shape: str, period: str | None, date_from: str | None, date_to: str | None,
              data: str | None, config: str | None, fmt: str, out: str | None) -> None:
    """Cohort retention (SPEC §6); unfinished cells are null, never 0."""
    from campaign_roi.retention import retention as run
    from campaign_roi.retention import to_wide

    ds = open_dataset(data, config)
    p = optional_period(period, date_from, date_to)
    long = run(ds.con, cohort_event, grain, n_periods, cohort_by, by,
               p.start if p else None, p.end if p else None)
    emit(to_wide(long) if shape == "wide" else long, fmt, out)


@main.command()
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Day D (default: the data's last).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False),
              help="Write one CSV per segment (user_id and the deciding fields) to DIR.")
@click.option("--compare", "compare_to", metavar="YYYY-MM-DD",
              help="Print the migration matrix between this day and --as-of instead.")
@data_options
@output_options
def segments(as_of: str | None, export_dir: str | None, compare_to: str | None,
             data: str | None, config: str | None, fmt: str, out: str | None) -> None:
    """The 8 lifecycle segments (SPEC §6): counts, shares, CRM exports, migration."""
    from campaign_roi.lifecycle import (
        LifecycleThresholds,
        export_segments,
        segment_migration,
    )
    from campaign_roi.lifecycle import segments as run
    from campaign_roi.periods import parse_date

    ds = open_dataset(data, config)
    thresholds = LifecycleThresholds.from_config(ds.config.lifecycle)
    day = parse_date(as_of, "--as-of") if as_of else ds.last_day
    if compare_to:
        other = parse_date(compare_to, "--compare")
        if day is None:
            raise click.ClickException("no events; nothing to compare")
        emit(segment_migration(ds.con, min(other, day), max(other, day), thresholds), fmt, out)
        return
    emit(run(ds.con, day, thresholds), fmt, out)
    if export_dir:
        counts = export_segments(ds.con, export_dir, day, thresholds)
        echo(f"wrote {len(counts)} CSV files to {export_dir} "
             f"({sum(counts.values()):,} users)", err=True)

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
from campaign_roi.errors import CampaignRoiError

if TYPE_CHECKING:
    import polars as pl

    from campaign_roi.dataset import Dataset

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
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BaseException as exc:
            # Exception, plus Rust panics of polars/pyarrow (a BaseException); not SystemExit
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            if ctx.meta.get("campaign_roi.debug") or os.environ.get("CAMPAIGN_ROI_DEBUG"):
                raise
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                "; rerun with --debug for the traceback and report it"
            ) from None


debug_option = click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
    help="Show the Python traceback on errors.",
)


def data_options(f: F) -> F:
    f = click.option("--config", "config", type=click.Path(),
                     help="Config file (default: DIR/campaign_roi.toml).")(f)
    # a plain path: the library says what is wrong with it (exit 1, not a usage error)
    f = click.option("--data", "data", type=click.Path(), envvar="CAMPAIGN_ROI_DATA",
                     help="Dataset directory (or env CAMPAIGN_ROI_DATA).")(f)
    return debug_option(f)


def output_options(f: F) -> F:
    f = click.option("--out", "out", type=click.Path(dir_okay=False),
                     help="Write the result to FILE (atomically) instead of stdout.")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                     show_default=True, help="Output format.")(f)
    return f


def open_dataset(data: str | None, config: str | None) -> Dataset:
    from campaign_roi.dataset import Dataset

    return Dataset.open(data, config)


def emit(
    df: pl.DataFrame, fmt: str, out: str | None,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
) -> None:
    from campaign_roi import render

    render.emit(df, fmt, out, formatters=formatters, echo=click.echo)


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

    from campaign_roi.dataset import Dataset
    from campaign_roi.validate import check_dataset, profile

    ds = Dataset.open(data, config, check=False)
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
        for issue in issues:
            click.echo(f"{issue.level.upper()}: {issue.message(max_examples=5)}",
                       err=issue.level == "error")
        if not errors:
            from campaign_roi.render import render_table

            parts = [f"OK: {ds.root} is a valid dataset ({len(issues)} warnings)."]
            for title, frame in profile(ds).items():
                parts.append(f"\n{title.replace('_', ' ')}:\n{render_table(frame)}")
            text = "\n".join(parts)
            if out:
                from campaign_roi.render import write_atomic

                write_atomic(out, text)
            else:
                click.echo(text.rstrip("\n"))
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
    ds = open_dataset(data, config)
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
    ds = open_dataset(data, config)
    emit(run_named(ds, name, bound, allow_write=allow_write), fmt, out)


if __name__ == "__main__":  # pragma: no cover
    main()

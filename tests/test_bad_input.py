"""SPEC §11: every bad-input case gives exit 1, `Error:` on stderr naming the file and column
(and a fix), and never a traceback. One test per case, on the tiny dataset (tests/conftest.py)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from conftest import CONFIG, tiny_campaigns, tiny_events, tiny_spend

from campaign_roi.cli import main
from campaign_roi.dataset import Dataset

Maker = Callable[..., Path]


def cli(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or {"CAMPAIGN_ROI_DATA": None})


def assert_error(result: Result, *needles: str) -> None:
    """Exit 1, `Error:` on stderr, no traceback, and every needle in stderr."""
    assert result.exit_code == 1, result.output
    assert "Error:" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def validate(root: Path) -> Result:
    return cli("validate", "--data", str(root))


def count_touches(root: Path) -> Result:
    """An analysis path (Dataset.open with checks) besides validate."""
    return cli("sql", "SELECT count(*) AS n FROM touches", "--data", str(root))


def csv_dataset(root: Path, text: str, config: str = CONFIG) -> Path:
    root.mkdir(parents=True)
    (root / "events.csv").write_text(text, encoding="utf-8")
    (root / "campaign_roi.toml").write_text(config, encoding="utf-8")
    return root


CSV_HEAD = "user_id,event_time,event_type,channel,campaign_id,amount,order_id,event_id\n"


# -- missing columns ---------------------------------------------------------------------
@pytest.mark.parametrize("column", ["user_id", "event_time", "event_type"])
def test_missing_required_column(make_dataset: Maker, column: str) -> None:
    root = make_dataset(tiny_events().drop(column))
    r = validate(root)
    assert_error(r, "events/", f"`{column}`", "is missing", f"add a `{column}` column")
    # every analysis refuses too, with a one-line message naming the column
    assert_error(count_touches(root), "events/", f"`{column}`")


def test_missing_channel_column_with_touches(make_dataset: Maker) -> None:
    assert_error(validate(make_dataset(tiny_events().drop("channel"))),
                 "events/", "`channel`", "4 touch rows", "add a `channel` column")


def test_missing_amount_column_with_orders(make_dataset: Maker) -> None:
    assert_error(validate(make_dataset(tiny_events().drop("amount"))),
                 "`amount`", "2 order/refund rows", "add an `amount` column")


def test_missing_spend_column(make_dataset: Maker) -> None:
    assert_error(validate(make_dataset(spend=tiny_spend().drop("cost"))),
                 "spend.parquet", "`cost`", "is missing")


# -- wrong types -------------------------------------------------------------------------
def test_amount_as_boolean(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(pl.col("amount").is_not_null().alias("amount"))
    assert_error(validate(make_dataset(ev)), "events/", "`amount`", "BOOLEAN", "expected number")


def test_amount_as_list(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(pl.concat_list("amount").alias("amount"))
    assert_error(validate(make_dataset(ev)), "`amount`", "DOUBLE[]", "expected number")


def test_event_time_as_integer(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(pl.col("event_time").dt.epoch("s").alias("event_time"))
    assert_error(validate(make_dataset(ev)), "`event_time`", "BIGINT", "expected timestamp",
                 "store `event_time` as timestamp")


def test_event_time_as_list_of_timestamps(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(pl.concat_list("event_time").alias("event_time"))
    assert_error(validate(make_dataset(ev)), "`event_time`", "expected timestamp")


def test_user_id_as_float(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(pl.lit(1.5).alias("user_id"))
    assert_error(validate(make_dataset(ev)), "`user_id`", "DOUBLE", "expected id")


def test_integer_user_ids_are_strings(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(
        pl.col("user_id").replace({"u1": "1", "u2": "2", "p1": "3"}).cast(pl.Int64))
    ds = Dataset.open(make_dataset(ev))
    assert ds.sql("SELECT user_id FROM users ORDER BY 1")["user_id"].to_list() == ["1", "2"]


# -- nulls in required columns -----------------------------------------------------------
@pytest.mark.parametrize("column", ["user_id", "event_time", "event_type"])
def test_null_in_required_column(make_dataset: Maker, column: str) -> None:
    ev = tiny_events().with_columns(
        pl.when(pl.col("event_id") == "e2").then(None).otherwise(pl.col(column)).alias(column))
    r = validate(make_dataset(ev))
    assert_error(r, "events/", f"`{column}`", f"1 rows have no {column}", "fix:")
    assert "event_id='e2'" in r.stderr  # the example row


# -- amounts (CSV) -----------------------------------------------------------------------
@pytest.mark.parametrize(("amount", "problem"), [
    ("-5", "amount <= 0"),
    ("0", "amount <= 0"),
    ("12,50", "non-numeric amount"),
    ("", "have no amount"),
])
def test_bad_amount_in_csv(tmp_path: Path, amount: str, problem: str) -> None:
    text = CSV_HEAD + (
        "u1,2025-07-01 10:00:00,register,,,,,e1\n"
        f'u1,2025-07-02 10:00:00,order,,,"{amount}",o1,e2\n'
    )
    r = validate(csv_dataset(tmp_path / "ds", text))
    assert_error(r, "events.csv", "`amount`", problem, "fix:")


def test_amount_ignored_on_non_money_rows(tmp_path: Path) -> None:
    # a touch with a text amount is not an error: only order/refund amounts count
    text = CSV_HEAD + ("u1,2025-07-01 10:00:00,touch,kol_a,,n/a,,e1\n"
                       "u1,2025-07-02 10:00:00,order,,,12.5,o1,e2\n")
    r = validate(csv_dataset(tmp_path / "ds", text))
    assert r.exit_code == 0, r.output


# -- unknown event types: a warning ------------------------------------------------------
def test_unknown_event_type_warns_and_is_ignored(make_dataset: Maker) -> None:
    extra = tiny_events().head(1).with_columns(event_type=pl.lit("page_view"),
                                               event_id=pl.lit("e10"), channel=pl.lit(None))
    root = make_dataset(pl.concat([tiny_events(), extra]))
    r = validate(root)
    assert r.exit_code == 0, r.output
    assert "WARNING" in r.output and "`event_type`" in r.output
    assert "1 rows have an unknown event_type" in r.output
    assert "Traceback" not in r.output
    ds = Dataset.open(root)
    # kept in events (9 = 8 + 1), ignored by touches/users/orders
    assert ds.sql("SELECT count(*) AS n FROM events")["n"][0] == 9
    assert ds.sql("SELECT count(*) AS n FROM touches")["n"][0] == 4
    assert ds.sql("SELECT count(*) AS n FROM users")["n"][0] == 2


# -- duplicate event_ids -----------------------------------------------------------------
def test_duplicate_event_ids_dropped_and_counted(make_dataset: Maker) -> None:
    root = make_dataset()
    r = validate(root)
    assert r.exit_code == 0
    # e3 appears twice: one copy dropped
    assert "`event_id`: 1 rows repeat an earlier event_id and are dropped" in r.output
    assert "event_id='e3', copies=2" in r.output
    assert "raw_rows  rows" in r.output and "       9     8" in r.output


# -- per-type required columns -----------------------------------------------------------
def test_touch_without_channel(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(
        pl.when(pl.col("event_id") == "e8").then(pl.lit("  ")).otherwise(pl.col("channel"))
        .alias("channel"))
    r = validate(make_dataset(ev))
    assert_error(r, "events/", "`channel`", "1 touch rows have no channel",
                 "give every touch its raw source label")


def test_campaign_join_without_campaign_id(make_dataset: Maker) -> None:
    join = tiny_events().head(1).with_columns(event_type=pl.lit("campaign_join"),
                                              event_id=pl.lit("e10"))
    r = validate(make_dataset(pl.concat([tiny_events(), join])))
    assert_error(r, "`campaign_id`", "1 campaign_join rows have no campaign_id",
                 "name the joined campaign")


# -- unparseable / corrupt files ---------------------------------------------------------
def test_unparseable_event_time_in_csv(tmp_path: Path) -> None:
    text = CSV_HEAD + ("u1,2025-07-01 10:00:00,register,,,,,e1\n"
                       "u2,yesterday,register,,,,,e2\n")
    r = validate(csv_dataset(tmp_path / "ds", text))
    assert_error(r, "events.csv", "`event_time`", "1 rows have an event_time that is not a "
                 "timestamp", "ISO 8601", "event_time='yesterday'")


def test_ambiguous_slash_dates_in_csv_are_refused(tmp_path: Path) -> None:
    # 01/07/2025 is 1 July or 7 January: never guessed, only ISO 8601 is read
    text = CSV_HEAD + ("u1,01/07/2025 10:00:00,register,,,,,e1\n"
                       "u2,02/07/2025 10:00:00,register,,,,,e2\n")
    assert_error(validate(csv_dataset(tmp_path / "ds", text)), "events.csv", "`event_time`",
                 "2 rows")


def test_corrupt_parquet_in_directory(make_dataset: Maker) -> None:
    root = make_dataset()
    bad = root / "events" / "month=2025-07" / "part-0.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file at all")
    r = validate(root)
    assert_error(r, "events/", "cannot be read", "replace the file")
    assert_error(count_touches(root), "events/")


def test_corrupt_single_parquet(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    (root / "events.parquet").write_bytes(b"\x00garbage" * 50)
    assert_error(validate(root), "events.parquet", "cannot be read as parquet")


def test_corrupt_gzip_csv(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    (root / "events.csv.gz").write_bytes(gzip.compress(b"user_id,event_time\n")[:12])
    assert_error(validate(root), "events.csv.gz", "cannot be read")


# -- empty / missing / ambiguous data ----------------------------------------------------
def test_empty_events_parquet(make_dataset: Maker) -> None:
    r = validate(make_dataset(tiny_events().clear(), form="parquet"))
    assert_error(r, "events.parquet", "the events data has no rows", "fix:")


def test_empty_events_csv_header_only(tmp_path: Path) -> None:
    assert_error(validate(csv_dataset(tmp_path / "ds", CSV_HEAD)), "events.csv", "no rows")


def test_empty_events_directory(tmp_path: Path) -> None:
    (tmp_path / "ds" / "events" / "2025").mkdir(parents=True)
    assert_error(validate(tmp_path / "ds"), "events/", "no .parquet files inside")


def test_missing_events(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    tiny_spend().write_parquet(root / "spend.parquet")
    assert_error(validate(root), str(root), "no events data", "events.parquet or events.csv")


def test_two_events_forms(make_dataset: Maker) -> None:
    root = make_dataset(form="parquet")
    tiny_events().write_csv(root / "events.csv")
    assert_error(validate(root), "events is given more than once", "events.parquet",
                 "events.csv", "keep only one")


# -- config ------------------------------------------------------------------------------
def test_unknown_timezone(make_dataset: Maker) -> None:
    root = make_dataset(config='timezone = "Mars/Olympus_Mons"\n')
    assert_error(validate(root), "campaign_roi.toml", "timezone 'Mars/Olympus_Mons' is unknown",
                 "Asia/Shanghai")


def test_bad_toml(make_dataset: Maker) -> None:
    root = make_dataset(config="[channels\nkol = ['kol_*']\n")
    assert_error(validate(root), "campaign_roi.toml", "not valid TOML", "fix the file's syntax")


def test_config_with_wrong_value_type(make_dataset: Maker) -> None:
    root = make_dataset(config='[channels]\nkol = 3\n')
    assert_error(validate(root), "campaign_roi.toml", "`channels.kol`", "list of strings")


def test_missing_config_file(make_dataset: Maker, tmp_path: Path) -> None:
    r = cli("validate", "--data", str(make_dataset()), "--config", str(tmp_path / "nope.toml"))
    assert_error(r, "nope.toml", "config file not found")


def test_config_is_a_directory(make_dataset: Maker, tmp_path: Path) -> None:
    r = cli("validate", "--data", str(make_dataset()), "--config", str(tmp_path))
    assert_error(r, str(tmp_path), "cannot read the config file")


# -- spend and campaigns -----------------------------------------------------------------
def test_spend_with_negative_cost(make_dataset: Maker) -> None:
    spend = tiny_spend().with_columns(cost=pl.Series([50.0, -80.0, 20.0]))
    r = validate(make_dataset(spend=spend))
    assert_error(r, "spend.parquet", "`cost`", "1 rows have a negative cost", "costs must be >= 0")


def test_spend_with_unparseable_date(tmp_path: Path, make_dataset: Maker) -> None:
    root = make_dataset()
    (root / "spend.csv").write_text("date,channel,cost\n2025-07-01,kol,5\n07/02/2025,kol,6\n")
    assert_error(validate(root), "spend.csv", "`date`", "1 rows", "YYYY-MM-DD")


def test_campaign_ending_before_it_starts(make_dataset: Maker) -> None:
    camp = tiny_campaigns().with_columns(end_date=pl.lit(date(2025, 6, 30)))
    r = validate(make_dataset(campaigns=camp))
    assert_error(r, "campaigns.csv", "`end_date`", "1 rows end before they start",
                 "swap start_date and end_date")


def test_campaign_without_name_column(make_dataset: Maker) -> None:
    assert_error(validate(make_dataset(campaigns=tiny_campaigns().drop("name"))),
                 "campaigns.csv", "`name`", "is missing")


# -- where the data is -------------------------------------------------------------------
def test_data_is_not_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "events.parquet"
    tiny_events().write_parquet(f)
    assert_error(validate(f), f"--data {f}", "not a directory", "dataset directory")


def test_data_does_not_exist(tmp_path: Path) -> None:
    assert_error(validate(tmp_path / "nope"), "not a directory")


def test_no_data_and_no_env() -> None:
    r = cli("sql", "SELECT 1", env={"CAMPAIGN_ROI_DATA": None})
    assert_error(r, "no dataset given", "--data DIR", "CAMPAIGN_ROI_DATA")


def test_env_gives_the_data(make_dataset: Maker) -> None:
    r = cli("sql", "SELECT count(*) AS n FROM users", "--format", "csv",
            env={"CAMPAIGN_ROI_DATA": str(make_dataset())})
    assert r.exit_code == 0, r.output
    assert r.stdout == "n\n2\n"


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["validate", "--debug", "--data", str(tmp_path / "nope")])
    assert r.exit_code == 1
    assert type(r.exception).__name__ == "UserError"


def test_several_errors_are_all_listed(make_dataset: Maker) -> None:
    ev = tiny_events().with_columns(
        pl.when(pl.col("event_id") == "e1").then(None).otherwise(pl.col("user_id"))
        .alias("user_id"),
        pl.when(pl.col("event_id") == "e4").then(-1.0).otherwise(pl.col("amount"))
        .alias("amount"),
    )
    root = make_dataset(ev)
    r = validate(root)
    assert_error(r, "`user_id`", "`amount`", "2 error(s)")
    # an analysis shows the first and points at validate
    assert_error(count_touches(root), "`user_id`", "+1 more: run `campaign-roi validate`")


def test_valid_tiny_dataset_has_no_error(tiny: Path) -> None:
    r = validate(tiny)
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    assert "OK:" in r.stdout


@pytest.mark.parametrize("wrapped", [False, True])
def test_out_of_memory_names_the_fix(tiny: Path, monkeypatch: pytest.MonkeyPatch,
                                     wrapped: bool) -> None:
    """DuckDB running out of memory is not an internal error: one line naming the setting
    to raise, whether it reaches the CLI as is or wrapped in a DataError."""
    import duckdb

    from campaign_roi.errors import DataError

    oom = duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block of size 256 KiB")

    def fail(*_args: object, **_kw: object) -> None:
        if wrapped:
            raise DataError(f"{tiny}: query failed: {oom}")
        raise oom

    monkeypatch.setattr("campaign_roi.kpis.summary", fail)
    r = cli("summary", "--period", "2025Q3", "--data", str(tiny))
    assert_error(r, "Out of Memory Error", "engine.memory_limit", "campaign_roi.toml")
    assert "internal error" not in r.output

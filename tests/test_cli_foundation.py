"""The foundation commands through click (validate, sql, query list/run), the SQL console's
read-only rule and the shared renderer."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from campaign_roi import render, sql_files
from campaign_roi.cli import main
from campaign_roi.errors import UserError
from campaign_roi.sql_console import parse_params, query_params

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, env={"CAMPAIGN_ROI_DATA": None})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def refused(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Error:" in result.stderr and "Traceback" not in result.output
    for n in needles:
        assert n in result.stderr, (n, result.stderr)


# -- validate ----------------------------------------------------------------------------
def test_validate_prints_the_profile(tiny: Path) -> None:
    out = ok(cli("validate", "--data", str(tiny)))
    assert f"OK: {tiny} is a valid dataset (2 warnings)." in out
    # overview: 9 raw rows, 8 after dedup, users u1 u2, prospect p1, 3 spend rows, 1 campaign
    assert "       9     8      2          1  2025-07-01  2025-07-11           3          1" in out
    assert "touch          4    3  2025-07-01  2025-07-11" in out
    assert "other                   1           1" in out


def test_profile_counts_add_up_over_user_slices(tiny: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Large data counts distinct ids slice by slice of users: the same profile."""
    from campaign_roi.dataset import Dataset
    from campaign_roi.validate import profile

    whole = profile(Dataset.open(tiny))
    monkeypatch.setattr("campaign_roi.slices.ROWS_PER_SLICE", 2)  # 9 rows: 5 slices
    sliced = profile(Dataset.open(tiny))
    for name, frame in whole.items():
        assert sliced[name].equals(frame), name
    # users u1 u2, prospect p1 (as printed by validate)
    assert sliced["overview"].select("users", "prospects").row(0) == (2, 1)


def test_validate_warns_about_unmatched_channels_top_10(make_dataset: Path) -> None:
    from conftest import tiny_events

    # 12 distinct unmatched labels, `zz_0` touched 3 times: the 10 most touched are listed
    extra = pl.DataFrame({
        "user_id": ["p9"] * 14,
        "event_time": [datetime(2025, 7, 20)] * 14,
        "event_type": ["touch"] * 14,
        "channel": [f"zz_{i}" for i in range(12)] + ["zz_0", "zz_0"],
    })
    root = make_dataset(pl.concat([tiny_events(), extra], how="diagonal_relaxed"))  # type: ignore[operator]
    out = ok(cli("validate", "--data", str(root)))
    # 14 + mystery_src (1) = 15 touches with 13 unmatched labels
    assert "column `channel`: 15 touches have 13 raw channel labels that no rule maps" in out
    line = next(x for x in out.splitlines() if "channel='zz_0'" in x)
    assert line.count("channel=") == 10
    assert line.index("channel='zz_0', touches=3") < line.index("channel='mystery_src'")


def test_validate_json_lists_issues(tiny: Path) -> None:
    out = ok(cli("validate", "--data", str(tiny), "--format", "json"))
    issues = json.loads(out)
    assert [(i["level"], i["column"], i["count"]) for i in issues] == [
        ("warning", "event_id", 1), ("warning", "channel", 1)]


def test_validate_out_file(tiny: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    ok(cli("validate", "--data", str(tiny), "--out", str(target)))
    assert "valid dataset" in target.read_text()


# -- sql ---------------------------------------------------------------------------------
QUERY = "SELECT channel_group, count(*) AS touches FROM touches GROUP BY 1 ORDER BY 1"
EXPECTED_CSV = "channel_group,touches\ncampus_community,1\nfeed_ads,1\nkol,1\nother,1\n"


def test_sql_query_argument(tiny: Path) -> None:
    out = ok(cli("sql", QUERY, "--data", str(tiny)))
    assert out.splitlines()[0].split() == ["channel_group", "touches"]
    assert "campus_community        1" in out


def test_sql_from_file(tiny: Path, tmp_path: Path) -> None:
    f = tmp_path / "q.sql"
    f.write_text(QUERY + ";\n", encoding="utf-8")
    assert ok(cli("sql", "-f", str(f), "--data", str(tiny), "--format", "csv")) == EXPECTED_CSV


def test_sql_from_stdin(tiny: Path) -> None:
    assert ok(cli("sql", "-", "--data", str(tiny), "--format", "csv", stdin=QUERY)) == EXPECTED_CSV


def test_sql_with_params(tiny: Path) -> None:
    out = ok(cli("sql", "SELECT count(*) AS n FROM events WHERE event_type = $t AND "
                 "amount >= $min", "-p", "t=order", "-p", "min=99.5", "--data", str(tiny),
                 "--format", "json"))
    assert json.loads(out) == [{"n": 1}]  # o1 (100) ≥ 99.5


def test_sql_missing_param(tiny: Path) -> None:
    refused(cli("sql", "SELECT $x", "--data", str(tiny)), "$x has no value", "-p x=")


def test_sql_unused_param(tiny: Path) -> None:
    refused(cli("sql", "SELECT 1", "-p", "x=1", "--data", str(tiny)), "-p x", "has no $x")


def test_sql_dollar_in_a_string_is_not_a_param(tiny: Path) -> None:
    assert ok(cli("sql", "SELECT '$x' AS a -- $y", "--data", str(tiny), "--format", "csv")) \
        == "a\n$x\n"


def test_sql_bad_param_syntax(tiny: Path) -> None:
    refused(cli("sql", "SELECT 1", "-p", "novalue", "--data", str(tiny)), "name=value")


def test_sql_syntax_error(tiny: Path) -> None:
    refused(cli("sql", "SELEC 1", "--data", str(tiny)), "SQL does not parse")


def test_sql_unknown_table(tiny: Path) -> None:
    refused(cli("sql", "SELECT * FROM nope", "--data", str(tiny)), "query failed", "nope")


def test_sql_interval_result_is_an_error_not_a_crash(tiny: Path) -> None:
    refused(cli("sql", "SELECT INTERVAL 1 DAY AS d", "--data", str(tiny)), "cast the column")


def test_sql_query_and_file_is_a_usage_error(tiny: Path, tmp_path: Path) -> None:
    r = cli("sql", "SELECT 1", "-f", str(tmp_path / "x.sql"), "--data", str(tiny))
    assert r.exit_code == 2 and "not both" in r.output


def test_sql_without_query_is_a_usage_error(tiny: Path) -> None:
    assert cli("sql", "--data", str(tiny)).exit_code == 2


def test_sql_multiple_statements_return_the_last(tiny: Path) -> None:
    out = ok(cli("sql", "SELECT 1 AS a; SELECT 2 AS b", "--data", str(tiny), "--format", "csv"))
    assert out == "b\n2\n"


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1) TO '{dir}/x.csv'",
    "CREATE TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "INSERT INTO channel_map VALUES ('a', 'b')",
    "UPDATE channel_map SET channel_group = 'x'",
    "DELETE FROM channel_map",
    "DROP VIEW events",
    "ATTACH '{dir}/other.db' AS other",
    "INSTALL httpfs",
    "LOAD icu",
    "EXPORT DATABASE '{dir}/exp'",
    "SET threads = 1",
    "PRAGMA version",
    "CALL pragma_version()",
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    "SELECT 1; CREATE TABLE t AS SELECT 1",
])
def test_sql_is_read_only(tiny: Path, tmp_path: Path, statement: str) -> None:
    out = tmp_path / "writes"
    out.mkdir()
    r = cli("sql", statement.format(dir=out), "--data", str(tiny))
    refused(r, "statements are refused", "read-only", "--allow-write")
    assert not any(out.iterdir())  # nothing was written


@pytest.mark.parametrize("statement", [
    "DESCRIBE events", "SHOW TABLES", "SUMMARIZE SELECT 1 AS a", "EXPLAIN SELECT * FROM events",
    "EXPLAIN ANALYZE SELECT count(*) FROM events", "FROM touches", "VALUES (1)",
    "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
])
def test_sql_read_statements_run(tiny: Path, statement: str) -> None:
    ok(cli("sql", statement, "--data", str(tiny)))


def test_allow_write_runs_create_table(tiny: Path) -> None:
    out = ok(cli("sql", "CREATE TABLE t AS SELECT 41 + 1 AS x; SELECT x FROM t",
                 "--allow-write", "--data", str(tiny), "--format", "csv"))
    assert out == "x\n42\n"


# -- query list / run --------------------------------------------------------------------
@pytest.fixture
def queries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "queries"
    (d / "marts").mkdir(parents=True)
    (d / "marts" / "fdn_touches_by_group.sql").write_text(
        "-- touches per channel group\nSELECT channel_group, count(*) AS n FROM touches "
        "WHERE event_date >= CAST($since AS DATE) GROUP BY 1 ORDER BY 1\n", encoding="utf-8")
    (d / "fdn_writes.sql").write_text("CREATE TABLE x AS SELECT 1\n", encoding="utf-8")
    monkeypatch.setattr(sql_files, "queries_dir", lambda: d)
    return d


def test_query_list(queries: Path) -> None:
    out = ok(cli("query", "list", "--format", "csv"))
    assert out == "name,description\nfdn_writes,\"\"\nmarts/fdn_touches_by_group,touches per channel group\n"


def test_query_run_with_param(queries: Path, tiny: Path) -> None:
    out = ok(cli("query", "run", "marts/fdn_touches_by_group", "-p", "since=2025-07-02",
                 "--data", str(tiny), "--format", "csv"))
    # touches on or after 07-02: kol (07-02), other (07-09), feed_ads (07-11)
    assert out == "channel_group,n\nfeed_ads,1\nkol,1\nother,1\n"


def test_query_run_unknown_name(queries: Path, tiny: Path) -> None:
    refused(cli("query", "run", "fdn_nope", "--data", str(tiny)), "no query named 'fdn_nope'",
            "marts/fdn_touches_by_group")


def test_query_run_outside_the_library(queries: Path, tiny: Path) -> None:
    refused(cli("query", "run", "../../etc/passwd", "--data", str(tiny)), "no query named")


def test_query_run_is_read_only(queries: Path, tiny: Path) -> None:
    refused(cli("query", "run", "fdn_writes", "--data", str(tiny)), "--allow-write")


def test_python_dash_m(tiny: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CAMPAIGN_ROI_DATA", None)
    p = subprocess.run([sys.executable, "-m", "campaign_roi", "sql", QUERY, "--data", str(tiny),
                        "--format", "csv"], capture_output=True, text=True, env=env, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout == EXPECTED_CSV
    bad = subprocess.run([sys.executable, "-m", "campaign_roi", "validate", "--data",
                          str(tiny / "nope")], capture_output=True, text=True, env=env,
                         check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("Error:")
    assert "Traceback" not in bad.stderr


# -- renderer ----------------------------------------------------------------------------
def frame() -> pl.DataFrame:
    return pl.DataFrame({
        "channel": ["kol", "feed_ads", None],
        "users": [1200, 3, None],
        "rate": [0.0781, float("nan"), float("inf")],
        "day": [date(2025, 7, 1), None, date(2025, 7, 3)],
    })


def test_json_is_an_array_of_objects() -> None:
    rows = json.loads(render.to_text(frame(), "json"))
    assert rows == [
        {"channel": "kol", "users": 1200, "rate": 0.0781, "day": "2025-07-01"},
        {"channel": "feed_ads", "users": 3, "rate": None, "day": None},  # NaN → null
        {"channel": None, "users": None, "rate": None, "day": "2025-07-03"},  # inf → null
    ]
    assert render.to_text(frame().clear(), "json").strip() == "[]"


def test_json_numbers_from_duckdb_decimals(tiny: Path) -> None:
    out = ok(cli("sql", "SELECT sum(x) AS s, sum(x) / 4 AS q, CAST(1.25 AS DECIMAL(6,2)) AS d "
                 "FROM (VALUES (1), (2)) t(x)", "--data", str(tiny), "--format", "json"))
    assert out.strip() == '[{"s":3,"q":0.75,"d":1.25}]'


def test_json_times_are_iso(tiny: Path) -> None:
    out = ok(cli("sql", "SELECT event_time, local_time, event_date FROM events "
                 "WHERE event_id = 'e7'", "--data", str(tiny), "--format", "json"))
    assert json.loads(out) == [{"event_time": "2025-07-10T00:15:00+08:00",
                                "local_time": "2025-07-10T00:15:00", "event_date": "2025-07-10"}]


def test_csv_has_a_header_and_empty_nulls() -> None:
    assert render.to_text(frame(), "csv") == (
        "channel,users,rate,day\nkol,1200,0.0781,2025-07-01\nfeed_ads,3,,\n,,,2025-07-03\n")


def test_csv_nested_values_are_json_text() -> None:
    df = pl.DataFrame({"path": [["kol", "feed_ads"]], "blob": [b"\x01\xff"]})
    assert render.to_text(df, "csv") == 'path,blob\n"[""kol"",""feed_ads""]",01ff\n'


def test_table_is_aligned() -> None:
    text = render.to_text(frame(), "table")
    assert text.splitlines() == [
        "channel   users    rate  day",
        "--------  -----  ------  ----------",
        "kol       1,200  0.0781  2025-07-01",
        "feed_ads      3     NaN",
        "                    inf  2025-07-03",
    ]
    assert render.to_text(frame().clear(), "table").endswith("(no rows)\n")


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "table"])
def test_out_is_atomic(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "sub" / f"result.{fmt}"
    render.emit(frame(), fmt, target)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    if fmt == "parquet":
        back = pl.read_parquet(target)
        assert back["users"].to_list() == [1200, 3, None]


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "result.csv"
    target.write_text("old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(render.os, "replace", boom)
    with pytest.raises(OSError):
        render.emit(frame(), "csv", target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_parquet_without_out_is_an_error(tiny: Path) -> None:
    with pytest.raises(UserError, match="needs --out"):
        render.emit(frame(), "parquet", None)
    refused(cli("sql", "SELECT 1", "--data", str(tiny), "--format", "parquet"), "--out")


def test_cli_out_writes_the_file(tiny: Path, tmp_path: Path) -> None:
    target = tmp_path / "touches.json"
    assert ok(cli("sql", QUERY, "--data", str(tiny), "--format", "json", "--out",
                  str(target))) == ""
    assert json.loads(target.read_text())[0] == {"channel_group": "campus_community", "touches": 1}


def test_parse_params_types() -> None:
    assert parse_params(["a=1", "b=-2.5", "c=2025-07-01", "d=x=y", "e="]) == {
        "a": 1, "b": -2.5, "c": "2025-07-01", "d": "x=y", "e": ""}
    with pytest.raises(UserError):
        parse_params(["1a=3"])


def test_query_params_ignores_literals_and_comments() -> None:
    assert query_params("SELECT $a, '$b', \"$c\" /* $d */ -- $e\n, $f_1") == {"a", "f_1"}

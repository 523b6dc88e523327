"""Path-table reader and normaliser (SPEC §4.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaign_roi.path_table as path_table_module
from campaign_roi.errors import DataError
from campaign_roi.path_table import (
    Touches,
    _split_bytes,
    _split_polars,
    canonical_touches,
    normalise_path_table,
    read_path_table,
    split_paths,
    write_path_table,
)

# Any NumPy/Polars warning (overflow, division by zero, …) fails the test.
pytestmark = pytest.mark.filterwarnings("error")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def test_csv_canonical_columns(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "paths.csv",
        "path,conversions,value,nulls\nkol > feed_ads,3,300.5,10\nreferral,1,20,0\n",
    )
    df = read_path_table(f)
    assert df.schema == pl.Schema(
        {"path": pl.String, "conversions": pl.Float64, "value": pl.Float64, "nulls": pl.Float64}
    )
    assert df.rows() == [("kol > feed_ads", 3.0, 300.5, 10.0), ("referral", 1.0, 20.0, 0.0)]


def test_channelattribution_semicolon_file(tmp_path: Path) -> None:
    # ChannelAttribution's own sample layout: ';' delimiter, its column names,
    # '>' without spaces; two spellings of the same path are summed (2+1, 20+5, 5+0).
    f = _write(
        tmp_path,
        "Data.csv",
        "path;total_conversions;total_conversion_value;total_null\n"
        "eta > iota > alpha;2;20;5\neta>iota>  alpha ;1;5;0\ntheta;0;0;4\n",
    )
    assert read_path_table(f).rows() == [
        ("eta > iota > alpha", 3.0, 25.0, 5.0),
        ("theta", 0.0, 0.0, 4.0),
    ]


def test_semicolon_path_separator_when_no_gt(tmp_path: Path) -> None:
    # No '>' anywhere: ';' separates channels; empty entries are dropped.
    f = _write(tmp_path, "p.csv", 'path,conversions\n"a; b;;c",2\n" c ",1\n')
    assert read_path_table(f).select("path", "conversions").rows() == [
        ("a > b > c", 2.0),
        ("c", 1.0),
    ]


def test_semicolon_kept_inside_names_when_gt_present(tmp_path: Path) -> None:
    f = _write(tmp_path, "p.csv", 'path,conversions\n"a;x > b",2\n')
    assert read_path_table(f).get_column("path").to_list() == ["a;x > b"]


def test_tab_delimited_bom_and_optional_columns(tmp_path: Path) -> None:
    f = _write(tmp_path, "p.tsv", "\ufeffPath\tTotal_Conversions\na > b\t4\nb\t0\n")
    assert read_path_table(f).rows() == [("a > b", 4.0, 0.0, 0.0), ("b", 0.0, 0.0, 0.0)]


def test_parquet_and_round_trip(tmp_path: Path) -> None:
    src = pl.DataFrame({"path": ["b > a", "a"], "total_conversions": [1, 2], "total_null": [3, 0]})
    f = tmp_path / "p.parquet"
    src.write_parquet(f)
    df = read_path_table(f)
    assert df.rows() == [("a", 2.0, 0.0, 0.0), ("b > a", 1.0, 0.0, 3.0)]
    out = tmp_path / "out.csv"
    write_path_table(df, out)
    assert read_path_table(out).equals(df)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_empty_path_kept_as_no_touch(tmp_path: Path) -> None:
    f = _write(tmp_path, "p.csv", 'path,conversions\n" > ",2\na,1\n')
    assert read_path_table(f).select("path", "conversions").rows() == [("", 2.0), ("a", 1.0)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("channel,conversions\na,1\n", "no 'path' column"),
        ("path,value\na,1\n", "'conversions' or 'total_conversions'"),
        ("path,conversions\na,abc\n", "non-numeric value(s), e.g. 'abc' in data row 1"),
        ("path,conversions,nulls\na,1,-2\nb,1,3\n", "negative value(s), e.g. -2.0 in data row 1"),
        ("path,conversions\na,\n", "empty value(s)"),
        ("path,conversions\na,nan\n", "NaN or infinite"),
        ("path,conversions\n", "has no rows"),
        ("", "empty (no header line)"),
    ],
)
def test_bad_csv_errors(tmp_path: Path, text: str, needle: str) -> None:
    f = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError) as err:
        read_path_table(f)
    msg = str(err.value)
    assert str(f) in msg and needle in msg and "fix:" in msg


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_path_table(tmp_path / "missing.csv")
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_path_table(bad)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"path,conversions\n" + "caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_path_table(latin)
    big = tmp_path / "late_latin.csv"  # the bad byte only after the first read buffer
    big.write_bytes(b"path,conversions\n" + b"a,1\n" * 5000 + "caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_path_table(big)


def test_normalise_dataset_frame() -> None:
    # Dataset-style input: integer counts, duplicate paths, unsorted rows.
    df = pl.DataFrame(
        {
            "path": ["b > a", "a", "b > a"],
            "conversions": [1, 2, 3],
            "value": [1.5, 0.0, 2.5],
            "nulls": [0, 1, 1],
        }
    )
    assert normalise_path_table(df).rows() == [("a", 2.0, 0.0, 1.0), ("b > a", 4.0, 4.0, 1.0)]
    empty = normalise_path_table(df.head(0))
    assert empty.height == 0 and empty.columns == ["path", "conversions", "value", "nulls"]
    with pytest.raises(DataError, match="null"):
        normalise_path_table(pl.DataFrame({"path": [None, "a"], "conversions": [1, 1]}))


def test_canonical_touches_detects_non_canonical() -> None:
    assert canonical_touches(pl.Series(["a>b"])) is None
    assert canonical_touches(pl.Series([" a > b"])) is None
    assert canonical_touches(pl.Series(["a >  > b"])) is None
    assert canonical_touches(pl.Series(["a;b"])) is None  # ';' table: must be split
    ok = canonical_touches(pl.Series(["b > a > b", "", "c"]))
    assert ok is not None
    assert ok.channels == ["a", "b", "c"]
    assert ok.row.tolist() == [0, 0, 0, 2] and ok.code.tolist() == [2, 1, 2, 3]


_names = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters=">\r\n", exclude_categories=["Cs"]),
        min_size=1,
        max_size=70,  # beyond 64 bytes the byte tokeniser hands over to Polars
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["kol", "抖音", "a b"]) | _names, max_size=6), max_size=25))
def test_byte_tokeniser_matches_polars_split(paths: list[list[str]]) -> None:
    series = pl.Series([" > ".join(p) for p in paths], dtype=pl.String)
    fast = split_paths(series)
    ref = _split_polars(series)
    assert fast.channels == ref.channels
    assert np.array_equal(fast.row, ref.row) and np.array_equal(fast.code, ref.code)


def _assert_same_touches(fast: Touches, ref: Touches) -> None:
    assert fast.channels == ref.channels
    assert np.array_equal(fast.row, ref.row) and np.array_equal(fast.code, ref.code)
    assert np.array_equal(fast.lengths, ref.lengths)
    # The pieces: every row cut into pieces of piece_touches touches (the last may be shorter).
    k = fast.piece_touches
    assert np.array_equal(fast.piece_counts, -(-fast.lengths // k))
    sizes = np.diff(fast.piece_offsets)[fast.pieces]
    ends = np.cumsum(fast.piece_counts)
    last = (ends - 1)[fast.piece_counts > 0]
    assert (np.delete(sizes, last) == k).all() and (sizes[last] >= 1).all() and (sizes[last] <= k).all()
    assert len(np.unique(fast.piece_offsets[:-1])) == len(fast.piece_offsets) - 1  # listed once


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["kol", "抖音", "a b", "kol_x"]) | _names, max_size=9), max_size=25),
    st.integers(1, 5),
)
def test_pieces_of_any_size_match_polars_split(paths: list[list[str]], piece_touches: int) -> None:
    series = pl.Series([" > ".join(p) for p in paths], dtype=pl.String)
    fast = _split_bytes(series, check_canonical=True, piece_touches=piece_touches)
    ref = _split_polars(series)
    if fast is None:
        # the one documented refusal (_decode_pieces): without any " > " in the table, a ";"
        # in a name is not canonical (";" may be the table's own separator)
        assert all(len(p) <= 1 for p in paths) and any(";" in n for p in paths for n in p)
        return
    assert fast.piece_touches == piece_touches or not fast.lengths.any()  # no touch at all
    _assert_same_touches(fast, ref)


def test_pieces_the_sample_missed_are_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 pieces sampled out of 300 rows: most distinct pieces are found in a second pass.
    monkeypatch.setattr(path_table_module, "_SAMPLE", 3)
    rng = np.random.default_rng(5)
    names = ["a", "bb", "ccc", "d d", "抖音"]
    paths = [" > ".join(rng.choice(names, size=int(rng.integers(0, 8)))) for _ in range(300)]
    series = pl.Series(paths, dtype=pl.String)
    ref = _split_polars(series)
    for k in (1, 2, 3):
        fast = _split_bytes(series, check_canonical=True, piece_touches=k)
        assert fast is not None
        _assert_same_touches(fast, ref)
    # Too varied for pieces of 3 (the sample missed most of them): touch by touch.
    auto = _split_bytes(series, check_canonical=True)
    assert auto is not None and auto.piece_touches == 1
    _assert_same_touches(auto, ref)


def test_pieces_of_repetitive_paths() -> None:
    paths = ["a > b > c > a > b > c > a", "a > b > c", "c", "", "b > c > a > b"] * 50
    series = pl.Series(paths, dtype=pl.String)
    fast = split_paths(series)
    assert fast.piece_touches == path_table_module.PIECE_TOUCHES
    assert len(fast.piece_offsets) - 1 == 6  # a>b>c (twice: inside and at the end), a, c, b>c>a, b
    _assert_same_touches(fast, _split_polars(series))


@pytest.mark.parametrize(
    "paths",
    [
        ["a > ", "b"],  # a separator that ends a path
        ["a >", " b"],  # a separator across two paths
        ["a > b", " > c"],
        ["a > b > "],
        ["a >  > b"],
        ["a>b > c"],
        ["a > b", "c >d"],
        ["x", "a  > b"],
    ],
)
def test_non_canonical_pieces(paths: list[str]) -> None:
    series = pl.Series(paths, dtype=pl.String)
    for k in (1, 2, 3):
        assert _split_bytes(series, check_canonical=True, piece_touches=k) is None
    _assert_same_touches(split_paths(series), _split_polars(series))

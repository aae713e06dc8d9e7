"""The small Parquet reader returns what pyarrow reads, for GloVe's word list and other layouts."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixseek.language.glove import _package_dir
from pixseek.language.parquet import ParquetError, read_string_column


def test_glove_word_list_is_read_exactly_as_pyarrow_reads_it() -> None:
    path = _package_dir() / "glove_6B_index.parquet"
    expected = pq.read_table(path).column(0).to_pylist()
    words = read_string_column(path)
    assert len(words) == 400_000 and words[:3] == ["the", ",", "."]
    assert words == expected


WORDS = [f"wörd{i % 700}-{'x' * (i % 13)}" for i in range(5000)] + ["", "naïve", "日本"]


@pytest.mark.parametrize(
    "options",
    [
        {},  # dictionary + snappy, data page v1
        {"compression": "none", "use_dictionary": False},
        {"data_page_version": "2.0", "row_group_size": 1000},
        {"data_page_version": "2.0", "compression": "none", "data_page_size": 512},
        {"dictionary_pagesize_limit": 2000, "data_page_size": 4000},  # dictionary overflows to PLAIN pages
    ],
)
@pytest.mark.parametrize("nulls", [False, True])
def test_other_layouts_match_pyarrow(tmp_path: Path, options: dict, nulls: bool) -> None:
    values = [None if nulls and i % 7 == 3 else w for i, w in enumerate(WORDS)]
    table = pa.table({"n": pa.array(range(len(values))), "word": pa.array(values, pa.string())})
    pq.write_table(table, tmp_path / "t.parquet", **options)
    assert read_string_column(tmp_path / "t.parquet", column=1) == values


def test_required_column_and_wrong_type(tmp_path: Path) -> None:
    schema = pa.schema([pa.field("w", pa.string(), nullable=False), pa.field("n", pa.int64())])
    pq.write_table(pa.table({"w": ["a", "b"], "n": [1, 2]}, schema=schema), tmp_path / "t.parquet")
    assert read_string_column(tmp_path / "t.parquet") == ["a", "b"]
    with pytest.raises(ParquetError, match="not a plain string column"):
        read_string_column(tmp_path / "t.parquet", column=1)


def test_unsupported_or_bad_files_are_errors(tmp_path: Path) -> None:
    pq.write_table(pa.table({"w": WORDS}), tmp_path / "zstd.parquet", compression="zstd")
    with pytest.raises(ParquetError, match="compression"):
        read_string_column(tmp_path / "zstd.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really PAR1")
    with pytest.raises(ParquetError):
        read_string_column(tmp_path / "junk.parquet")
    data = (tmp_path / "zstd.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ParquetError, match="not a Parquet file"):
        read_string_column(tmp_path / "cut.parquet")


def test_corrupt_bytes_give_parquet_errors_only(tmp_path: Path) -> None:
    pq.write_table(pa.table({"w": WORDS}), tmp_path / "t.parquet")
    data = bytearray((tmp_path / "t.parquet").read_bytes())
    rng = random.Random(12)
    outcomes = set()
    for _ in range(300):
        corrupt = bytearray(data)
        for _ in range(3):
            corrupt[rng.randrange(4, len(data) - 4)] = rng.randrange(256)
        (tmp_path / "c.parquet").write_bytes(corrupt)
        try:
            read_string_column(tmp_path / "c.parquet")
            outcomes.add("read")
        except ParquetError:
            outcomes.add("error")
    assert "error" in outcomes


def test_glove_loads_without_pyarrow(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None; from pathlib import Path; "
        "from pixseek.language.glove import Glove; "
        f"glove = Glove(Path({str(tmp_path)!r})); assert glove.word(glove.row('dog')) == 'dog'; print(len(glove))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "400000"

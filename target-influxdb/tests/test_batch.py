"""BATCH messages: the records of SDK batch files are written exactly as RECORD messages are
(same mapping, same errors naming the stream, STATE only behind acknowledged writes)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from target_influxdb.errors import StreamError

from tests.servers import InfluxDB1

SCHEMA = {
    "type": "SCHEMA",
    "stream": "meter",
    "schema": {
        "properties": {
            "site": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "kwh": {"type": "number"},
            "count": {"type": "integer"},
            "ok": {"type": "boolean"},
            "note": {"type": ["string", "null"]},
        }
    },
    "key_properties": ["site", "timestamp"],
}
STATE = {"type": "STATE", "value": {"bookmarks": {"meter": {"up_to": "done"}}}}


def rows(first: int, last: int) -> list[dict]:
    return [
        {
            "site": f"s{n % 3}",
            "timestamp": f"2025-10-26T{n // 60:02d}:{n % 60:02d}:00+00:00",
            "kwh": 0 if n % 7 == 0 else n / 8,  # an integer 0 in a number property: a float
            "count": n,
            "ok": n % 2 == 0,
            "note": None if n % 5 == 0 else f'note "{n}"',
        }
        for n in range(first, last + 1)
    ]


def jsonl_file(path: Path, records: list[dict], *, compress: bool = True) -> str:
    text = "".join(json.dumps(record) + "\n" for record in records).encode()
    path.write_bytes(gzip.compress(text) if compress else text)
    return path.as_uri()


def parquet_file(path: Path, records: list[dict]) -> str:
    pq.write_table(pa.Table.from_pylist(records), path)
    return path.as_uri()


def batch(urls: list[str], file_format: str = "jsonl", compression: str | None = "gzip") -> dict:
    return {
        "type": "BATCH",
        "stream": "meter",
        "encoding": {"format": file_format, "compression": compression},
        "manifest": urls,
    }


def points(influxdb1: InfluxDB1, database: str) -> list[dict]:
    return influxdb1.points(database, "meter")


@pytest.mark.parametrize(
    ("file_format", "compression", "compress"),
    [
        ("jsonl", "gzip", True),
        ("jsonl", None, False),
        ("jsonl", "none", True),  # singer-sdk 0.54 taps gzip JSONL whatever the setting says
        ("parquet", None, None),
        ("parquet", "gzip", None),
    ],
)
def test_batch_files_become_the_same_points_as_record_messages(
    load, v1_config, influxdb1, tmp_path, file_format, compression, compress
):
    database = v1_config["database"]
    first, second = rows(1, 120), rows(121, 200)
    if file_format == "jsonl":
        urls = [
            jsonl_file(tmp_path / f"{n}.jsonl", part, compress=compress)
            for n, part in ((1, first), (2, second))
        ]
    else:
        urls = [
            parquet_file(tmp_path / f"{n}.parquet", part) for n, part in ((1, first), (2, second))
        ]
    loaded = load(
        {**v1_config, "batch_size_rows": 50},
        [SCHEMA, batch(urls, file_format, compression), STATE],
    )
    from_batch = points(influxdb1, database)

    influxdb1.query('DROP MEASUREMENT "meter"', database)
    load(
        v1_config,
        [SCHEMA, *({"type": "RECORD", "stream": "meter", "record": r} for r in first + second)],
    )
    assert from_batch == points(influxdb1, database)
    assert len(from_batch) == 200
    assert loaded.states == [STATE["value"]]
    assert "4 batch manifests" not in loaded.log  # one BATCH message, counted once
    assert "1 batch manifests" in loaded.log


def test_a_batch_piped_into_the_cli_is_stored_before_its_state(
    run_cli, v1_config, influxdb1, tmp_path
):
    url = jsonl_file(tmp_path / "b.json.gz", rows(1, 30))
    result = run_cli(v1_config, [SCHEMA, batch([url]), STATE])

    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [STATE["value"]]
    assert sorted(p["count"] for p in points(influxdb1, v1_config["database"])) == list(
        range(1, 31)
    )


def test_batch_files_reach_a_v2_server(load, v2_config, empty_victoria_metrics, tmp_path):
    url = jsonl_file(tmp_path / "b.json.gz", rows(1, 30))
    loaded = load(v2_config, [SCHEMA, batch([url]), STATE])

    samples = empty_victoria_metrics.samples('{__name__="meter_count"}')
    assert sorted(v for series in samples.values() for v in series.values()) == list(range(1, 31))
    assert loaded.states == [STATE["value"]]


def test_a_bad_record_in_a_batch_file_names_stream_line_record_and_file(
    run_cli, v1_config, influxdb1, tmp_path
):
    records = rows(1, 10)
    records[6]["count"] = "seven"
    url = jsonl_file(tmp_path / "bad.json.gz", records)
    before = {"type": "STATE", "value": {"bookmarks": {"meter": {"up_to": "before"}}}}
    result = run_cli(v1_config, [SCHEMA, before, batch([url]), STATE])

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert f"Input line 3, record 7 of BATCH file {url}: Stream 'meter': property 'count'" in error
    assert "'seven'" in error
    assert [json.loads(line) for line in result.stdout.splitlines()] == [before["value"]]
    assert points(influxdb1, v1_config["database"]) == []


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ({"format": "csv", "compression": None}, "'format': 'csv'"),
        ({"format": "jsonl", "compression": "zstd"}, "'compression': 'zstd'"),
    ],
)
def test_an_encoding_the_target_cannot_read_is_refused_without_state(
    run_cli, v1_config, influxdb1, tmp_path, encoding, expected
):
    url = jsonl_file(tmp_path / "b.json.gz", rows(1, 3))
    message = {**batch([url]), "encoding": encoding}
    result = run_cli(v1_config, [SCHEMA, message, STATE])

    assert result.returncode == 1
    [error] = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert "Input line 2: Stream 'meter': a BATCH message has files of encoding" in error
    assert expected in error
    assert "it reads JSONL (plain or gzip) and Parquet" in error
    assert result.stdout == ""
    assert points(influxdb1, v1_config["database"]) == []


def test_parquet_without_pyarrow_says_which_extra_to_install(
    load, v1_config, tmp_path, monkeypatch
):
    url = parquet_file(tmp_path / "b.parquet", rows(1, 3))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if pyarrow were not installed
    with pytest.raises(StreamError, match=r"pip install 'target-influxdb\[parquet\]'"):
        load(v1_config, [SCHEMA, batch([url], "parquet", None), STATE])


def test_a_missing_batch_file_is_a_clear_error(load, v1_config, tmp_path):
    url = (tmp_path / "gone.json.gz").as_uri()
    with pytest.raises(StreamError, match=rf"Stream 'meter': cannot read BATCH file {url}"):
        load(v1_config, [SCHEMA, batch([url]), STATE])

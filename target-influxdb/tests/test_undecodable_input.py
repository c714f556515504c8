"""Input the target cannot decode, and input that is not a record: one paragraph naming the
line (or the BATCH file and record), nothing stored, no STATE, and never the line's content.

Each runs on both write paths (InfluxDB 1.x; VictoriaMetrics through /api/v2/write)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TIME = {"type": "string", "format": "date-time"}
SCHEMA = {
    "type": "SCHEMA",
    "stream": "meter",
    "schema": {"properties": {"site": {"type": "string"}, "timestamp": TIME, "note": {}}},
    "key_properties": ["site", "timestamp"],
}
BEFORE = {"type": "STATE", "value": {"bookmarks": {"meter": {"up_to": 1}}}}
SECRET = "s3cr3t-never-logged"


def record(n: int, note: str = "ok") -> dict:
    return {
        "type": "RECORD",
        "stream": "meter",
        "record": {"site": "a", "timestamp": f"2025-10-26T00:{n:02d}:00Z", "note": note},
    }


def line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


def run_bytes(config: dict, data: bytes, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "target_influxdb", "--config", str(config_file)],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )


def one_paragraph(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, text
    return errors[0]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (b'"o\xffk"', "Input line 3: not UTF-8 text (byte "),
        (b'"\\ud800"', "Input line 3: a string holds half of a UTF-16 surrogate pair"),
    ],
    ids=["not-utf8", "lone-surrogate"],
)
def test_an_undecodable_line_is_one_paragraph_with_its_number_and_nothing_is_stored(
    write_path, tmp_path, bad, expected
):
    """Not at the write, where the surrogate used to fail without a line number."""
    data = line(SCHEMA) + line(record(1)) + line(record(2)).replace(b'"ok"', bad) + line(BEFORE)
    result = run_bytes(write_path.config, data, tmp_path)

    assert result.returncode == 1
    assert expected in one_paragraph(result.stderr)
    assert result.stdout == b""
    assert not write_path.stored("meter")  # the batch with record 1 was not written either


def test_a_surrogate_pair_is_text_and_is_stored(v1_config, influxdb1, tmp_path):
    pair = line(record(1)).replace(b'"ok"', b'"\\ud83d\\udd0c"')  # an escaped emoji
    result = run_bytes(v1_config, line(SCHEMA) + pair, tmp_path)

    assert result.returncode == 0, result.stderr.decode()
    assert [p["note"] for p in influxdb1.points(v1_config["database"], "meter")] == ["\U0001f50c"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"TOKEN={SECRET}",
            "Input line 2: not a JSON Singer message (Expecting value at column 1)",
        ),
        (json.dumps([SECRET]), "Input line 2: a JSON array, not a Singer message"),
        (json.dumps(SECRET), "Input line 2: a JSON string, not a Singer message"),
        (
            json.dumps({"type": f"RECORD {SECRET}"}),
            "Input line 2: unknown Singer message type (a JSON string); expected SCHEMA",
        ),
        (json.dumps({"type": "RECORDS"}), "Input line 2: unknown Singer message type 'RECORDS'"),
    ],
    ids=["not-json", "array", "string", "odd-type", "typo"],
)
def test_an_input_line_that_is_not_a_message_is_named_by_position_never_by_content(
    v1_config, tmp_path, text, expected
):
    result = run_bytes(v1_config, line(SCHEMA) + text.encode() + b"\n", tmp_path)

    assert result.returncode == 1
    assert expected in one_paragraph(result.stderr)
    assert SECRET not in result.stderr.decode()


def batch_message(*paths: Path) -> dict:
    return {
        "type": "BATCH",
        "stream": "meter",
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [path.as_uri() for path in paths],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            f"INFLUXDB_TOKEN={SECRET}\n".encode(),
            "line 1 is not a JSON record (",
        ),
        (
            json.dumps(f"INFLUXDB_TOKEN={SECRET}").encode() + b"\n",
            "record 1 of BATCH file {url}: Stream 'meter': a record is a JSON string, not an "
            "object",
        ),
        (
            line(record(1)["record"]) + line(record(2)["record"]).replace(b'"ok"', b'"\\udfff"'),
            "line 2 is not a JSON record (a string holds half of a UTF-16 surrogate pair",
        ),
        (b'{"note": "\xfe"}\n', "line 1 is not a JSON record (not UTF-8 text (byte 11 of the"),
    ],
    ids=["dotenv", "json-string", "surrogate", "not-utf8"],
)
def test_a_batch_file_that_holds_no_record_is_named_by_file_and_position_never_by_content(
    write_path, tmp_path, content, expected
):
    named = tmp_path / ".env"
    named.write_bytes(content)
    data = line(SCHEMA) + line(BEFORE) + line(batch_message(named))
    result = run_bytes(write_path.config, data, tmp_path)

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert "Input line 3" in message
    assert expected.format(url=named.as_uri()) in message
    assert named.as_uri() in message
    assert SECRET not in result.stderr.decode()
    assert [json.loads(text) for text in result.stdout.splitlines()] == [BEFORE["value"]]
    assert not write_path.stored("meter")

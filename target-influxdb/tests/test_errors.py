"""Errors a user can act on: one paragraph on stderr, exit code 1, no traceback, no secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from target_influxdb import errors
from target_influxdb.durability import Stop
from target_influxdb.errors import StoppedError, StreamError, WriteError, WriteInterruptedError
from target_influxdb.settings import V1Destination
from target_influxdb.target import TargetInfluxDB
from target_influxdb.writers import V1Writer

from tests.servers import InfluxDB1, free_port, influxdb1_binary

DATA = Path(__file__).parent / "data"

PASSWORD = "pa55-w0rd-never-logged"
TOKEN = "t0ken-never-logged"
URL_PASSWORD = "url-secret-never-logged"
SECRETS = (PASSWORD, TOKEN, URL_PASSWORD)


@pytest.fixture(scope="module")
def secured_influxdb1(tmp_path_factory):
    """An InfluxDB 1.x with authentication: admin `admin`, `writer` (WRITE), `reader` (READ)."""
    server = InfluxDB1(influxdb1_binary(), tmp_path_factory.mktemp("secured"), auth=True)
    server.start()
    server.create_user("admin", PASSWORD, admin=True)
    server.create_database("secured")
    server.create_user("writer", PASSWORD, grants={"secured": "WRITE"})
    server.create_user("reader", PASSWORD, grants={"secured": "READ"})
    yield server
    server.stop()


def one_paragraph(stderr: str) -> str:
    """The single ERROR line of a failed run (and that there is exactly one, no traceback)."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, stderr
    return errors[0].split("| ERROR", 1)[1]


def assert_no_secret(result) -> None:
    for secret in SECRETS:
        assert secret not in result.stderr
        assert secret not in result.stdout


def test_an_unreachable_server_is_named_with_its_url(run_cli, tmp_path):
    port = free_port()
    config = {
        "url": f"http://admin:{URL_PASSWORD}@127.0.0.1:{port}",
        "database": "db",
        "password": PASSWORD,
        "max_retries": 1,
        "retry_interval": 0.01,
    }
    result = run_cli(config, "consumption.singer")

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert f"Cannot reach InfluxDB at http://127.0.0.1:{port} (after up to 1 retries)" in message
    assert "Connection refused" in message
    assert "Check the `url` setting" in message
    assert result.stdout == ""  # no STATE
    assert_no_secret(result)


def test_a_missing_database_says_how_to_create_it(run_cli, influxdb1):
    result = run_cli({"url": influxdb1.url, "database": "nope"}, "consumption.singer")

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert "has no database 'nope'" in message
    assert 'CREATE DATABASE "nope"' in message
    assert result.stdout == ""


def test_a_wrong_password_or_missing_permission_names_the_user_problem(run_cli, secured_influxdb1):
    base = {
        "url": secured_influxdb1.url,
        "database": "secured",
        "token": TOKEN,
        "api_version": "v1",
    }
    wrong = run_cli(
        {**base, "username": "writer", "password": PASSWORD + "x"}, "consumption.singer"
    )
    reader = run_cli({**base, "username": "reader", "password": PASSWORD}, "consumption.singer")
    writer = run_cli(
        {
            **base,
            "username": "writer",
            "password": PASSWORD,
            "measurements": {"consumption": "electricity_consumption"},
        },
        "consumption.singer",
    )

    assert wrong.returncode == 1
    assert "refused the write with HTTP 401" in one_paragraph(wrong.stderr)
    assert reader.returncode == 1
    message = one_paragraph(reader.stderr)
    assert "HTTP 403" in message
    assert "lacks WRITE permission on database 'secured'" in message
    assert writer.returncode == 0, writer.stderr
    assert len(secured_influxdb1.points("secured", "electricity_consumption")) == 5
    for result in (wrong, reader, writer):
        assert_no_secret(result)


def test_no_secret_reaches_the_log_even_at_debug_level(run_cli, secured_influxdb1, monkeypatch):
    monkeypatch.setenv("TARGET_INFLUXDB_LOGLEVEL", "DEBUG")
    config = {
        "url": secured_influxdb1.url,
        "database": "secured",
        "username": "writer",
        "password": PASSWORD,
        "token": TOKEN,
        "bucket": "b",
        "api_version": "v1",
    }
    result = run_cli(config, "consumption.singer")

    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr
    assert_no_secret(result)


def test_a_field_type_conflict_names_measurement_field_and_both_types(
    run_cli, v1_config, influxdb1
):
    database = v1_config["database"]
    influxdb1.session.post(  # an integer in the same shard: field types are fixed per shard
        f"{influxdb1.url}/write",
        params={"db": database, "precision": "s"},
        data="electricity_consumption consumption_kwh=1i 1761400000",
        timeout=5,
    ).raise_for_status()
    result = run_cli(
        {**v1_config, "measurements": {"consumption": "electricity_consumption"}},
        "consumption.singer",
    )

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert (
        "Field type conflict in measurement 'electricity_consumption': field "
        "'consumption_kwh' was sent as float but"
    ) in message
    assert "already stores it as integer" in message
    assert "Stream 'consumption'" in message
    assert result.stdout == ""


def test_a_malformed_input_line_is_named_by_its_number(run_cli, v1_config, influxdb1):
    lines = Path(__file__).parent.joinpath("data", "consumption.singer").read_text().splitlines()
    lines.insert(2, '{"type": "RECORD", "stream": "consumption", "record": {')
    result = run_cli(v1_config, "\n".join(lines) + "\n")

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert "Input line 3: not a JSON Singer message" in message
    assert result.stdout == ""


def test_sdk_input_errors_are_one_paragraph_with_the_line_number(run_cli, v1_config):
    messages = [
        {
            "type": "SCHEMA",
            "stream": "a",
            "schema": {"properties": {"id": {"type": "integer"}}},
            "key_properties": ["id"],
        },
        {"type": "RECORD", "stream": "b", "record": {"id": 1}},
    ]
    result = run_cli(v1_config, messages)

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert (
        "Input line 2: A record for stream 'b' was encountered before a corresponding schema"
        in (message)
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            '{"code":"unauthorized","message":"unauthorized access"}',
            "the `token` is missing or wrong, or it lacks write permission on bucket 'electricity'",
        ),
        (
            404,
            '{"code":"not found","message":"bucket \\"electricity\\" not found"}',
            "influx bucket create --name electricity --org wattivahti",
        ),
        (404, "404 page not found", "Set `api_version: v1` with `database`"),
        (
            422,
            '{"code":"unprocessable entity","message":"partial write: points beyond '
            'retention policy dropped=2"}',
            "partial write: points beyond retention policy",
        ),
        (413, '{"code":"request too large","message":"too large"}', "Lower `batch_size_rows`"),
    ],
)
def test_v2_rejections_say_what_to_do(
    run_cli, v2_config, empty_victoria_metrics, fault_proxy, status, body, expected
):
    proxy = fault_proxy(empty_victoria_metrics.url)
    proxy.faults = [(status, {"Content-Type": "application/json"}, body)]
    result = run_cli({**v2_config, "url": proxy.url, "token": TOKEN}, "consumption.singer")

    assert result.returncode == 1
    assert expected in one_paragraph(result.stderr)
    assert result.stdout == ""  # not even the first STATE: nothing was acknowledged
    assert_no_secret(result)


def test_config_errors_exit_non_zero_without_traceback(run_cli):
    result = run_cli({"url": "http://127.0.0.1:9", "api_version": "v3"}, "consumption.singer")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "'v3' is not one of" in result.stderr
    assert json.dumps({}) not in result.stdout
    assert os.linesep not in result.stdout


def test_a_nesting_too_deep_for_python_is_one_paragraph_with_the_line_number(run_cli, v1_config):
    schema = {"type": "SCHEMA", "stream": "s", "schema": {"properties": {"a": {}}}}
    deep = '{"type": "RECORD", "stream": "s", "record": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"
    result = run_cli(v1_config, json.dumps(schema) + "\n" + deep + "\n")

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert "Input line 2: a value is nested more deeply than this target can handle" in message
    assert "RecursionError" not in result.stderr


@pytest.mark.parametrize(
    ("records", "advice"),
    [
        (1, "A single point is over the server's request size limit"),
        (3, "Lower `batch_size_rows`"),
    ],
)
def test_a_413_advises_lowering_the_batch_size_only_when_a_smaller_batch_can_help(
    run_cli, v1_config, influxdb1, fault_proxy, records, advice
):
    proxy = fault_proxy(influxdb1.url)
    proxy.faults = [(413, {}, '{"error":"Request Entity Too Large"}')]
    lines = (DATA / "consumption.singer").read_text().splitlines()
    schema = next(line for line in lines if '"SCHEMA"' in line)
    rows = [line for line in lines if '"RECORD"' in line][:records]
    result = run_cli({**v1_config, "url": proxy.url}, "\n".join([schema, *rows]) + "\n")

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert f"a batch of {records} points" in message
    assert advice in message
    if records == 1:
        assert "batch_size_rows" not in message


def test_verify_ssl_null_keeps_certificate_checks_on(v1_config):
    """A null setting (e.g. an empty variable under Meltano) means the default, not False."""
    target = TargetInfluxDB(
        config={**v1_config, "url": "https://127.0.0.1:8086", "verify_ssl": None}
    )
    assert target.settings.connection.verify_ssl is True
    writer = V1Writer(target.settings.connection, V1Destination("db"), "s")
    assert writer._session.verify is True
    writer.close()


# How a failed run ends (README, "How a plugin ends a failed run"): one paragraph that names
# the program, as the tap's does, and the exit status 1, or 128 + the signal of a stop.


def test_settings_that_do_not_match_their_schema_are_one_paragraph_naming_the_program(run_cli):
    result = run_cli({"url": "http://127.0.0.1:9", "api_version": "v3"}, "consumption.singer")

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert "target-influxdb: error: The settings are not valid: 'v3' is not one of" in message
    assert "in config['api_version']" in message
    assert "`target-influxdb --about` lists every setting" in message


def test_a_failure_paragraph_starts_with_the_program_name(run_cli, influxdb1):
    result = run_cli({"url": influxdb1.url, "database": "nope"}, "consumption.singer")

    assert result.returncode == 1
    message = one_paragraph(result.stderr).split(" | ", 2)[2]
    assert message.startswith(
        "target-influxdb: error: Stream 'consumption', a batch of 5 points: InfluxDB at"
    )


def test_an_output_closed_by_its_reader_is_one_paragraph_and_exit_1(v1_config, influxdb1, tmp_path):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(v1_config), encoding="utf-8")
    read, write = os.pipe()
    os.close(read)  # nobody reads the STATE messages
    try:
        result = subprocess.run(
            [sys.executable, "-m", "target_influxdb", "--config", str(config_file)],
            input=(DATA / "consumption.singer").read_text(),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)

    assert result.returncode == 1
    message = one_paragraph(result.stderr)
    assert "target-influxdb: error: The program reading the target's output" in message
    assert "closed it" in message
    # the points were written before the STATE could not be
    assert len(influxdb1.points(v1_config["database"], "consumption")) == 5


@pytest.mark.parametrize(
    ("exc", "late", "signum", "expected", "status"),
    [
        (
            WriteError("the server said no"),
            None,
            None,
            "target-influxdb: error: the server said no",
            1,
        ),
        (
            StreamError("Stream 's': a bad value."),
            WriteError("Cannot reach InfluxDB."),
            None,
            "target-influxdb: error: Stream 's': a bad value. The write in flight failed too: "
            "Cannot reach InfluxDB.",
            1,
        ),
        (
            WriteInterruptedError(),
            None,
            signal.SIGTERM,
            "target-influxdb: The write was stopped by a signal before InfluxDB acknowledged "
            "it; it is not retried, and no STATE covers it. Stopped by SIGTERM before all "
            "input was read and stored",
            143,
        ),
        (
            StoppedError(signal.SIGINT, "SIGINT"),
            None,
            signal.SIGINT,
            "target-influxdb: Stopped by SIGINT before all input was read and stored",
            130,
        ),
        (KeyboardInterrupt(), None, None, "target-influxdb: Interrupted before the run", 130),
    ],
    ids=["error", "error-and-failed-write", "stopped-write", "stopped", "ctrl-c-at-start"],
)
def test_a_failed_run_ends_with_one_paragraph_and_its_exit_status(
    exc, late, signum, expected, status
):
    stopped = None
    if signum is not None:
        stopped = exc if isinstance(exc, StoppedError) else Stop()
        if isinstance(stopped, Stop):
            stopped.request(signum)
            stopped = stopped.error()
    paragraph, code = errors.ending("target-influxdb", exc, None, late, stopped)

    assert paragraph.startswith(expected)
    assert "\n" not in paragraph
    assert code == status

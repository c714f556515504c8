"""The real-server fixtures start real servers and read back exactly what was written."""

from __future__ import annotations

import os

import psutil
import pytest
import requests

from tests.servers import InfluxDB1, PostgreSQL, VictoriaMetrics


def test_influxdb1_fixture_is_a_real_1x_server_that_reads_back_points(influxdb1, influx_database):
    ping = requests.get(f"{influxdb1.url}/ping", timeout=5)
    assert ping.headers["X-Influxdb-Version"].startswith("1.")
    assert influxdb1.version.startswith("1.")
    lines = (
        'electricity_consumption,metering_point=1234567 consumption_kwh=0.102,resolution="PT15MIN" '
        "1761436800\n"
        "electricity_consumption,metering_point=1234567 consumption_kwh=0.116 1761440400\n"
    )
    write = requests.post(
        f"{influxdb1.url}/write",
        params={"db": influx_database, "precision": "s"},
        data=lines,
        timeout=5,
    )
    assert write.status_code == 204, write.text
    points = influxdb1.points(influx_database, "electricity_consumption")
    assert [(p["time"], p["consumption_kwh"], p["metering_point"]) for p in points] == [
        (1761436800, 0.102, "1234567"),
        (1761440400, 0.116, "1234567"),
    ]
    assert influxdb1.field_types(influx_database, "electricity_consumption") == {
        "consumption_kwh": "float",
        "resolution": "string",
    }
    assert influxdb1.measurements(influx_database) == ["electricity_consumption"]


def test_influxdb1_can_be_stopped_and_restarted_with_its_data(tmp_path):
    from tests.servers import influxdb1_binary

    server = InfluxDB1(influxdb1_binary(), tmp_path)
    server.start()
    try:
        server.create_database("keep")
        requests.post(
            f"{server.url}/write",
            params={"db": "keep"},
            data="m v=1 1700000000000000000",
            timeout=5,
        ).raise_for_status()
        server.stop()
        assert server.process is None
        try:
            requests.get(f"{server.url}/ping", timeout=1)
            reachable = True
        except requests.ConnectionError:
            reachable = False
        assert not reachable
        server.start()
        assert [p["v"] for p in server.points("keep", "m")] == [1]
    finally:
        server.stop()


def test_victoria_metrics_fixture_accepts_v2_line_protocol(empty_victoria_metrics: VictoriaMetrics):
    vm = empty_victoria_metrics
    write = requests.post(
        f"{vm.url}/api/v2/write",
        params={"org": "o", "bucket": "b", "precision": "s"},
        data="electricity_consumption,metering_point=1234567 consumption_kwh=0.102 1761436800",
        timeout=5,
    )
    assert write.status_code == 204, write.text
    samples = vm.samples()
    assert samples == {
        ("electricity_consumption_consumption_kwh", "metering_point=1234567"): {1761436800: 0.102}
    }
    vm.delete_all()
    assert vm.samples() == {}


def test_missing_binaries_fail_with_instructions(monkeypatch, tmp_path):
    import tests.servers as servers

    monkeypatch.setattr(servers, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    try:
        servers.find_binary("influxd", "influxdb")
    except servers.ServerUnavailableError as exc:
        message = str(exc)
    else:
        raise AssertionError("find_binary did not fail without apt-get")
    assert "apt-get and dpkg are not available" in message
    assert "sudo apt-get install influxdb" in message
    assert str(tmp_path / "influxdb") in message


def test_postgresql_fixture_is_a_real_server_on_loopback_that_keeps_data(
    postgresql: PostgreSQL, postgres_database: str
):
    assert postgresql.version.split(".")[0].isdigit()
    assert int(postgresql.version.split(".")[0]) >= 13  # what Meltano's system database needs
    postgresql.execute("CREATE TABLE t (x int)", postgres_database)
    postgresql.execute("INSERT INTO t VALUES (1), (2)", postgres_database)
    assert postgresql.execute("SELECT sum(x) FROM t", postgres_database) == [(3,)]
    [(address,)] = postgresql.execute("SELECT inet_server_addr()::text", postgres_database)
    assert address == "127.0.0.1/32"
    [(folder,)] = postgresql.execute("SELECT current_setting('data_directory')", postgres_database)
    assert folder == str(postgresql.cluster / "data")
    assert postgresql.process is not None
    if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as an unprivileged user
        assert psutil.Process(postgresql.process.pid).uids().real != 0


def test_a_missing_postgresql_fails_with_instructions(monkeypatch):
    import tests.servers as servers

    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    monkeypatch.setattr(servers.Path, "glob", lambda self, pattern: iter(()))
    with pytest.raises(servers.ServerUnavailableError, match="sudo apt-get install postgresql"):
        servers.postgresql_binary()

"""Shared pytest fixtures: real InfluxDB 1.x, VictoriaMetrics and PostgreSQL servers, and the
simulator.

Loaded for every test folder by the root ``conftest.py``. A server that cannot be started makes
the tests that need it FAIL with a message saying how to provide it; nothing is skipped.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import stat
import subprocess
import tempfile
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tap_wattivahti.tap import TapWattiVahti

from tests.meltano_project import MeltanoRunner, install, make_project
from tests.price_simulators import EleringSimulator, EntsoeSimulator
from tests.servers import (
    InfluxDB1,
    PostgreSQL,
    ServerUnavailableError,
    VictoriaMetrics,
    influxdb1_binary,
    postgresql_binary,
    victoria_metrics_binary,
)
from tests.simulator import SEED_METERING_POINT, Simulator
from tests.wheels import BuildError, Built, build_all, distributions

_started: dict[str, str] = {}


def catalog_selecting(config: dict[str, Any], *streams: str) -> dict[str, Any]:
    """The tap's catalog for ``config`` with exactly the named streams selected."""
    catalog = TapWattiVahti(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


_database_numbers = itertools.count(1)
Server = t.TypeVar("Server", InfluxDB1, VictoriaMetrics, PostgreSQL)


def _serve(server_class: type[Server], binary_factory, workdir: Path) -> Iterator[Server]:
    """A started server of ``server_class`` (a test FAILS when it cannot start), removed
    afterwards."""
    try:
        server = server_class(binary_factory(), workdir)
        server.start()
    except ServerUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    _started[server.name] = f"{server.version} at {server.url} ({server.binary.source})"
    yield server
    server.remove()


@pytest.fixture(scope="session")
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """A real InfluxDB 1.x server for the whole session."""
    yield from _serve(InfluxDB1, influxdb1_binary, tmp_path_factory.mktemp("influxdb1"))


def _fresh_database(server: InfluxDB1 | PostgreSQL) -> Iterator[str]:
    """A new, empty database on ``server``, dropped afterwards (if the server still runs)."""
    name = f"test_{next(_database_numbers)}"
    server.create_database(name)
    yield name
    if server.process is not None:
        server.drop_database(name)


@pytest.fixture
def influx_database(influxdb1: InfluxDB1) -> Iterator[str]:
    """A new, empty database on the session's InfluxDB 1.x server, dropped afterwards."""
    yield from _fresh_database(influxdb1)


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics server for the whole session."""
    yield from _serve(VictoriaMetrics, victoria_metrics_binary, tmp_path_factory.mktemp("vm"))


@pytest.fixture
def empty_victoria_metrics(victoria_metrics: VictoriaMetrics) -> VictoriaMetrics:
    """The session's VictoriaMetrics with every series deleted first."""
    victoria_metrics.delete_all()
    return victoria_metrics


@pytest.fixture(scope="session")
def postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """A real PostgreSQL server for the whole session."""
    yield from _serve(PostgreSQL, postgresql_binary, tmp_path_factory.mktemp("postgresql"))


@pytest.fixture
def postgres_database(postgresql: PostgreSQL) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL server, dropped afterwards."""
    yield from _fresh_database(postgresql)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A WattiVahti simulator on a free loopback port with the seed metering point."""
    with Simulator() as sim:
        yield sim


@pytest.fixture
def elering() -> Iterator[EleringSimulator]:
    """An Elering price API simulator on a free loopback port."""
    with EleringSimulator() as sim:
        yield sim


@pytest.fixture
def entsoe() -> Iterator[EntsoeSimulator]:
    """An ENTSO-E Transparency Platform simulator on a free loopback port."""
    with EntsoeSimulator() as sim:
        yield sim


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, hand the servers it started to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["servers"] = dict(_started)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the pytest-xdist controller, collect the servers a worker started."""
    _started.update(getattr(node, "workeroutput", {}).get("servers", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which real servers the tests talked to."""
    if _started:
        terminalreporter.section("real servers used")
        for name, description in sorted(_started.items()):
            terminalreporter.write_line(f"{name}: {description}")


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A new folder that other users may enter, as a project folder usually is (pytest's own
    temporary folders are closed to them): in the system's temporary folder, removed after."""
    folder = Path(tempfile.mkdtemp(prefix="open-folder-"))
    folder.chmod(0o755)
    closed = [p for p in folder.resolve().parents if not p.stat().st_mode & stat.S_IXOTH]
    if closed:
        shutil.rmtree(folder)
        pytest.fail(f"{closed[0]} is closed to other users: no open folder for this test")
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="session")
def built_packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Both plugins' wheel and sdist, built once per test run with `uv build`."""
    try:
        return distributions(made_once(tmp_path_factory, "dist", build_all))
    except BuildError as exc:
        pytest.fail(str(exc), pytrace=False)


def made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]
) -> Path:
    """The folder ``name`` that ``make(folder)`` filled once for the whole test run: the
    pytest-xdist workers share it (the first one makes it, the others wait for it), so a
    `meltano install` or `uv build` costs its processor time once, not once per worker. When
    ``make`` fails (it raises), the next test that needs the folder tries again."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder of this run, shared by its workers
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / ".made"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def installed_once(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    install_into: Callable[[Path], subprocess.CompletedProcess[str]],
) -> Path:
    """The folder ``name`` in which ``install_into(folder)`` (a `meltano install`) succeeded
    once for the whole test run (see :func:`made_once`); a failure FAILS the test that needs
    it, with Meltano's output."""

    def install_or_fail(folder: Path) -> None:
        result = install_into(folder)
        if result.returncode != 0:
            pytest.fail(f"meltano install failed:\n{result.stdout}\n{result.stderr}", pytrace=False)

    return made_once(tmp_path_factory, name, install_or_fail)


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped Meltano project, copied to a temporary folder of this worker; its plugins
    `meltano install`-ed once for the whole run."""
    installed = installed_once(
        tmp_path_factory, "meltano-installed", lambda folder: install(make_project(folder))
    )
    return make_project(tmp_path_factory.mktemp("meltano-project"), plugins_from=installed)


@pytest.fixture
def meltano(
    meltano_project: Path,
    simulator: Simulator,
    elering: EleringSimulator,
    influxdb1: InfluxDB1,
    influx_database: str,
    tmp_path: Path,
) -> MeltanoRunner:
    """`meltano` in the installed project, configured through environment variables the way a
    user configures it: the simulators as WattiVahti and Elering, the session's InfluxDB 1.x (a
    fresh database), and a state database and refresh-token file of this test's own."""
    token_file = tmp_path / "refresh_token.txt"
    token_file.write_text(simulator.issue_refresh_token() + "\n", encoding="utf-8")
    return MeltanoRunner(
        meltano_project,
        {
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "WATTIVAHTI_METERING_POINT": SEED_METERING_POINT,
            "REFRESH_TOKEN_FILE": str(token_file),
            "TAP_WATTIVAHTI_API_URL": simulator.api_url,
            "TAP_WATTIVAHTI_TOKEN_URL": simulator.token_url,
            "TAP_WATTIVAHTI_ELERING_URL": elering.url,
            "INFLUXDB_URL": influxdb1.url,
            "TARGET_INFLUXDB_API_VERSION": "v1",
            "TARGET_INFLUXDB_DATABASE": influx_database,
        },
    )

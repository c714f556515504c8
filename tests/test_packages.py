"""Each plugin is a complete package: `uv build` makes a wheel and an sdist with full metadata,
and the wheel installed alone into a fresh virtual environment gives working console scripts."""

from __future__ import annotations

import json
import subprocess
import tarfile
import zipfile
from datetime import date
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

from tests.hub import about
from tests.servers import REPO_ROOT
from tests.simulator import SEED_METERING_POINT, local_midnight_utc
from tests.wheels import install

SCRIPTS = {
    "tap-wattivahti": {"tap-wattivahti", "wattivahti-login"},
    "target-influxdb": {"target-influxdb"},
}
URL_LABELS = {"Homepage", "Documentation", "Repository", "Issues"}


def wheel_metadata(wheel: Path) -> tuple[Message, set[str]]:
    """The wheel's METADATA and the names of its files."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [path] = [n for n in names if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(path).decode()), names


def sdist_members(sdist: Path) -> dict[str, str]:
    """Path inside the sdist (without its top folder) → text, for regular files."""
    members = {}
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            content = archive.extractfile(member)
            if member.isfile() and content is not None:
                members[member.name.split("/", 1)[1]] = content.read().decode()
    return members


@pytest.mark.parametrize("folder", list(SCRIPTS))
def test_wheel_and_sdist_carry_complete_metadata(built_packages, folder):
    built = built_packages[folder]
    metadata, files = wheel_metadata(built.wheel)
    package = folder.replace("-", "_")

    assert metadata["Name"] == folder
    assert metadata["Summary"]
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert f"{package}-{metadata['Version']}.dist-info/licenses/LICENSE" in files
    assert metadata["Requires-Python"] == ">=3.10"
    # The readme is the package's own README, shown as Markdown on the package index.
    assert metadata["Description-Content-Type"] == "text/markdown"
    readme = (REPO_ROOT / folder / "README.md").read_text(encoding="utf-8")
    assert str(metadata.get_payload()).strip() == readme.strip()
    # Python versions: the classifiers say what the SDK reports in --about.
    classifiers = metadata.get_all("Classifier", [])
    versions = [c.rsplit(" :: ", 1)[1] for c in classifiers if c.count(".") and "Python ::" in c]
    assert versions == about(folder)["supported_python_versions"]
    assert "Operating System :: OS Independent" in classifiers
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL", []))
    assert set(urls) == URL_LABELS
    assert urls["Documentation"] == f"{urls['Repository']}/blob/main/{folder}/README.md"
    assert "singer-sdk==0.54.9" in metadata.get_all("Requires-Dist", [])
    entry_points = next(n for n in files if n.endswith("entry_points.txt"))
    with zipfile.ZipFile(built.wheel) as archive:
        scripts = archive.read(entry_points).decode().split("[console_scripts]")[1]
    assert {line.split(" = ")[0] for line in scripts.split("\n") if " = " in line} == (
        SCRIPTS[folder]
    )
    module = "target.py" if folder.startswith("target-") else "tap.py"
    assert f"{package}/{module}" in files

    members = sdist_members(built.sdist)
    assert members["README.md"] == readme
    assert members["LICENSE"] == (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "pyproject.toml" in members
    sources = (REPO_ROOT / folder / package).glob("*.py")
    assert {f"{package}/{p.name}" for p in sources} <= set(members)


def _run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    args = [str(c) for c in command]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=300, **kwargs)


def test_installed_wheels_run_a_pipe_outside_the_workspace(
    built_packages, simulator, influxdb1, influx_database, tmp_path_factory
):
    """`pip install` of each wheel alone (here `uv pip install`, into its own new environment
    outside the repository) gives console scripts that work: `--about`, and the tap piped into
    the target, from the simulator into a real InfluxDB 1.x."""
    work = tmp_path_factory.mktemp("installed")
    bins = {folder: install(built.wheel, work / folder) for folder, built in built_packages.items()}
    for folder, scripts in SCRIPTS.items():
        assert {p.name for p in bins[folder].iterdir()} >= scripts
        code = f"import {folder.replace('-', '_')} as m; print(m.__file__)"
        located = _run([bins[folder] / "python", "-c", code], cwd=work)
        assert located.stdout.startswith(str(work / folder)), located
        described = _run([bins[folder] / folder, "--about", "--format", "json"], cwd=work)
        assert described.returncode == 0, described.stderr
        assert json.loads(described.stdout)["name"] == folder
    login = _run([bins["tap-wattivahti"] / "wattivahti-login", "--help"], cwd=work)
    assert login.returncode == 0, login.stderr
    assert "--token-file" in login.stdout

    start, stop = local_midnight_utc(date(2025, 10, 26)), local_midnight_utc(date(2025, 10, 27))
    simulator.available_until = stop
    tap_config = work / "tap.json"
    config = simulator.tap_config(
        refresh_token_file=str(work / "refresh_token.txt"),
        start_date=start.isoformat(),
        end_date=stop.isoformat(),
    )
    tap_config.write_text(json.dumps(config))
    target_config = work / "target.json"
    target_config.write_text(json.dumps({"url": influxdb1.url, "database": influx_database}))
    tap_log = work / "tap.log"
    with (
        tap_log.open("w") as log,
        subprocess.Popen(
            [bins["tap-wattivahti"] / "tap-wattivahti", "--config", tap_config],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=work,
        ) as tap,
    ):
        target = _run(
            [bins["target-influxdb"] / "target-influxdb", "--config", target_config],
            stdin=tap.stdout,
            cwd=work,
        )
    assert tap.returncode == 0, tap_log.read_text()
    assert target.returncode == 0, target.stderr
    points = influxdb1.points(influx_database, "consumption")
    assert len(points) == 100  # the fall DST day
    assert sum(p["consumption_kwh"] for p in points) == pytest.approx(24.510, abs=0.0005)
    assert {p["metering_point"] for p in points} == {SEED_METERING_POINT}
    state = json.loads(target.stdout.splitlines()[-1])
    partitions = state["bookmarks"]["consumption"]["partitions"]
    assert partitions[0]["replication_key_value"] == "2025-10-26T21:45:00+00:00"


@pytest.mark.parametrize("folder", list(SCRIPTS))
def test_packages_name_their_authors(built_packages, folder):
    built = built_packages[folder]
    metadata, _ = wheel_metadata(built.wheel)
    sdist_metadata = Parser().parsestr(sdist_members(built.sdist)["PKG-INFO"])
    assert metadata["Author"] == sdist_metadata["Author"] == "wattivahti-meltano contributors"


@pytest.mark.parametrize("folder", list(SCRIPTS))
def test_sdist_holds_the_package_and_its_documents_but_no_tests(built_packages, folder):
    """The tests and benchmarks beside a package import the repository's root `tests` package
    (simulator, servers): they cannot run from an sdist, so it leaves them out."""
    package = folder.replace("-", "_")
    members = set(sdist_members(built_packages[folder].sdist))
    root = REPO_ROOT / folder
    sources = {str(p.relative_to(root)) for p in (root / package).rglob("*.py")}
    documents = {"README.md", "LICENSE", "pyproject.toml", "PKG-INFO"}
    # hatchling adds the repository's .gitignore (what it left out), nothing else
    assert members - {".gitignore"} == sources | documents

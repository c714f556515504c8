"""The two plugins as users get them: built with `uv build`, installed into fresh environments.

Used by the package tests and the foreign Meltano project test: the wheels are built once per
test session, and each install goes into a new virtual environment outside the workspace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.meltano_project import PLUGIN_FOLDERS, base_environment
from tests.servers import REPO_ROOT


class BuildError(RuntimeError):
    """`uv build` or `uv pip install` failed; the message holds its output."""


@dataclass(frozen=True)
class Built:
    """One plugin's distributions."""

    folder: str
    wheel: Path
    sdist: Path


def uv() -> str:
    """The uv executable: the one running the tests (`uv run` sets UV), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise BuildError(
            "uv is not available: run the tests with ./scripts/test (it installs uv) or put uv "
            "on PATH."
        )
    return found


def _run(*args: str, cwd: Path) -> None:
    env = base_environment()
    env.pop("VIRTUAL_ENV", None)  # nothing of the workspace's environment
    done = subprocess.run(
        [uv(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise BuildError(f"uv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def build_all(out_dir: Path) -> None:
    """`uv build --all-packages` (the README's command): each plugin's wheel and sdist in
    ``out_dir``. The wheel is built from the sdist, so a file missing there breaks the wheel."""
    _run("build", "--all-packages", "--out-dir", str(out_dir), "--quiet", cwd=REPO_ROOT)


def distributions(out_dir: Path) -> dict[str, Built]:
    """Each plugin's wheel and sdist that :func:`build_all` put in ``out_dir``."""
    built = {}
    for folder in PLUGIN_FOLDERS:
        [wheel] = out_dir.glob(f"{folder.replace('-', '_')}-*.whl")
        [sdist] = out_dir.glob(f"{folder.replace('-', '_')}-*.tar.gz")
        built[folder] = Built(folder, wheel, sdist)
    return built


def install(wheel: Path, venv: Path) -> Path:
    """A new virtual environment at ``venv`` with ``wheel`` and its dependencies; its bin folder."""
    _run("venv", "--quiet", str(venv), cwd=venv.parent)
    python = venv / "bin" / "python"
    _run("pip", "install", "--quiet", "--python", str(python), str(wheel), cwd=venv.parent)
    return venv / "bin"

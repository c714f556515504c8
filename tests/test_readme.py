"""The README says what the code does: generated tables are current, its queries run."""

from __future__ import annotations

import os
import re
import subprocess

from tests.readme import README, generated
from tests.servers import REPO_ROOT


def test_settings_tables_are_generated_from_about():
    text = README.read_text(encoding="utf-8")
    assert text == generated(text), "run `uv run python -m tests.readme` to update README.md"


def test_quick_start_is_the_two_scripts_and_ci_runs_the_test_one():
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(\./scripts/\S+)", quick_start, flags=re.MULTILINE)
    assert commands == ["./scripts/test", "./scripts/demo"]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "exec ./scripts/test\n" in ci


def test_the_scripts_run_everything_with_umask_077(tmp_path):
    """Each command the scripts start (all through uv) runs with umask 077: Meltano's settings
    files (tokens), logs and state are the user's alone. A stand-in uv records the umask."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "uv").write_text('#!/bin/sh\necho "$(umask) $*" >> "$UMASKS"\n')
    (fake / "uv").chmod(0o755)
    umasks = tmp_path / "umasks.txt"
    scripts = [p for p in (REPO_ROOT / "scripts").iterdir() if p.name != "bootstrap.sh"]
    assert {p.name for p in scripts} == {"demo", "test"}
    for script in scripts:
        done = subprocess.run(
            ["bash", "-c", f"umask 022 && exec {script}"],
            env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "UMASKS": str(umasks)},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    calls = [call.split(" ", 1) for call in umasks.read_text().splitlines()]
    commands = [command for _, command in calls]
    assert commands.count("sync --quiet --compile-bytecode") == 2
    assert "run python -m tests.demo" in commands
    assert any(command.startswith("run pytest") for command in commands)
    assert {umask for umask, _ in calls} == {"0077"}

"""The README says what the code does: generated tables are current, its queries run."""

from __future__ import annotations

import re

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

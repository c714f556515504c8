"""The README's generated parts: the settings tables, from `<plugin> --about --format=markdown`;
and its bounded backfill commands, for the tests that run them.

`uv run python -m tests.readme` rewrites the tables in place; a test fails when they are out of
date.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.servers import REPO_ROOT

README = REPO_ROOT / "README.md"
PLUGINS = ("tap-wattivahti", "target-influxdb")


def settings_table(plugin: str) -> str:
    """The `## Settings` table of the plugin's markdown --about, as the SDK prints it."""
    executable = Path(sys.executable).with_name(plugin)
    about = subprocess.run(
        [executable, "--about", "--format", "markdown"], capture_output=True, text=True, check=True
    ).stdout
    table = about.split("## Settings", 1)[1].split("\n\n", 2)[1]
    return table.strip()


def _marker(plugin: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- settings:{plugin} begin -->\n)(.*?)(<!-- settings:{plugin} end -->)", re.DOTALL
    )


def generated(text: str) -> str:
    """``text`` with every settings table replaced by the current one."""
    for plugin in PLUGINS:
        table = settings_table(plugin)
        text, count = _marker(plugin).subn(lambda m, t=table: m[1] + t + "\n" + m[3], text)
        if count != 1:
            raise ValueError(f"README.md needs exactly one settings:{plugin} begin/end marker pair")
    return text


def backfill_command(suffix: str) -> tuple[dict[str, str], list[str]]:
    """The README's bounded backfill with state ID suffix ``suffix``: its window variables and the
    arguments after `uv run meltano`."""
    command = re.search(
        r"TAP_WATTIVAHTI_START_DATE=(\S+) TAP_WATTIVAHTI_END_DATE=(\S+) \\\n"
        rf"\s+uv run meltano (run --state-id-suffix {suffix} .+)\n",
        README.read_text(encoding="utf-8"),
    )
    if not command:
        raise ValueError(f"README.md has no backfill command with the suffix {suffix}")
    window = {"TAP_WATTIVAHTI_START_DATE": command[1], "TAP_WATTIVAHTI_END_DATE": command[2]}
    return window, command[3].split()


def main() -> None:
    text = README.read_text(encoding="utf-8")
    README.write_text(generated(text), encoding="utf-8")
    print(f"Updated the settings tables in {README}")


if __name__ == "__main__":
    main()

# Sourced by scripts/test and scripts/demo: make sure uv is available, installing it if needed.
# A fresh Debian/Ubuntu machine with only Python 3.10+ is enough; on Debian, where `python3 -m venv`
# needs the python3-venv package, that is installed with apt-get when running as root (or sudo).

UV_VERSION="0.13.9"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_VENV="$REPO_ROOT/.cache/tools"

apt_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to apt-get install $*" >&2; return 1; }
        sudo="sudo"
    fi
    $sudo apt-get install -y -qq "$@" >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@" >/dev/null; }
}

ensure_uv() {
    if command -v uv >/dev/null 2>&1; then
        return
    fi
    if [ ! -x "$TOOLS_VENV/bin/uv" ]; then
        echo "Installing uv $UV_VERSION into $TOOLS_VENV ..."
        if ! python3 -m venv "$TOOLS_VENV" >/dev/null 2>&1; then
            rm -rf "$TOOLS_VENV"
            apt_install python3-venv
            python3 -m venv "$TOOLS_VENV"
        fi
        "$TOOLS_VENV/bin/python" -m pip install --quiet "uv==$UV_VERSION"
    fi
    export PATH="$TOOLS_VENV/bin:$PATH"
}

ensure_uv
cd "$REPO_ROOT"
# Compile bytecode at install time: where PYTHONDONTWRITEBYTECODE is set (CI machines, containers)
# Python would otherwise compile every module it imports on every start, which triples the start-up
# time of meltano (3.4 s instead of 1.1 s) and slows every plugin run. Meltano's plugin installs
# use uv too: the tests ask it to compile as well (tests/meltano_project.py).
uv sync --quiet --compile-bytecode
# The workspace's own packages are installed editable, so no install compiles them: compile them
# here (each start of the tap would otherwise compile it again: 0.2 s of its 0.7 s, and the tests
# start it hundreds of times). Only files changed since the last time are compiled again.
uv run --no-sync python -m compileall -q -j 0 tap-wattivahti/tap_wattivahti \
    target-influxdb/target_influxdb tests >/dev/null

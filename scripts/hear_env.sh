#!/usr/bin/env bash
# Create (or reuse) the side environment of the real HEAR tools.
#
# Usage: source scripts/hear_env.sh   (or: bash scripts/hear_env.sh to only build it)
#
# What it holds: torch 2.13.0 (installed first), numpy, a CPU TensorFlow (hear-validator imports it at
# module level), hearvalidator 2021.0.6 installed with --no-deps --ignore-requires-python (plain
# `pip install hearvalidator` silently picks the older 2021.0.2 on Python 3.11), and this package.
#
# Extending it: set EXTRA_PACKAGES (a space-separated list of pip arguments, installed last) and,
# when they need flags, EXTRA_PIP_FLAGS (e.g. "--no-deps"); for several groups with different flags
# call `hear_env_install FLAGS -- PACKAGES...` after sourcing. The stamp records torch, hearvalidator,
# setup.py's hash and the extras, so the environment is rebuilt only when one of them changes.
# It lives outside the checkout (default ~/.cache/w2v-music/venv-hear, HEAR_VENV overrides it) so that
# every clone on a machine, CI's fresh clones included, reuses it; on reuse, this package's editable
# install is re-pointed at the current checkout (a few seconds, no download).
set -euo pipefail

_HEAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HEAR_VENV="${HEAR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/w2v-music/venv-hear}"
HEAR_PY="$HEAR_VENV/bin/python"
EXTRA_PACKAGES="${EXTRA_PACKAGES:-}"
EXTRA_PIP_FLAGS="${EXTRA_PIP_FLAGS:-}"

_hear_stamp_text() {
    printf 'torch==2.13.0 hearvalidator==2021.0.6 tensorflow-cpu setup=%s extras=%s flags=%s\n' \
        "$(sha256sum "$_HEAR_ROOT/setup.py" | cut -c1-16)" "$EXTRA_PACKAGES" "$EXTRA_PIP_FLAGS"
}

hear_env_install() {
    # hear_env_install [PIP FLAGS...] -- PACKAGES...  : pip install into the side environment.
    local flags=()
    while [[ $# -gt 0 && "$1" != "--" ]]; do flags+=("$1"); shift; done
    [[ "${1:-}" == "--" ]] && shift
    "$HEAR_PY" -m pip install -q "${flags[@]}" "$@"
}

_hear_env_build() {
    echo "[hear_env] building $HEAR_VENV (torch, TensorFlow CPU: a large download, minutes)" >&2
    rm -rf "$HEAR_VENV" && mkdir -p "$(dirname "$HEAR_VENV")"
    python3 -m venv "$HEAR_VENV"
    "$HEAR_PY" -m pip install -q --upgrade pip
    hear_env_install -- "torch==2.13.0"
    hear_env_install -- numpy tensorflow-cpu
    hear_env_install --no-deps --ignore-requires-python -- "hearvalidator==2021.0.6"
    # This package with its core dependencies (torch is already satisfied, so pip keeps it).
    hear_env_install -- -e "$_HEAR_ROOT"
    if [[ -n "$EXTRA_PACKAGES" ]]; then
        # shellcheck disable=SC2086
        hear_env_install $EXTRA_PIP_FLAGS -- $EXTRA_PACKAGES
    fi
    _hear_stamp_text > "$HEAR_VENV/.stamp"
}

if [[ -x "$HEAR_PY" && -f "$HEAR_VENV/.stamp" && "$(cat "$HEAR_VENV/.stamp")" == "$(_hear_stamp_text)" ]]; then
    echo "[hear_env] reusing $HEAR_VENV" >&2
    installed="$("$HEAR_PY" -c 'import hear_w2v_music, os; print(os.path.dirname(os.path.dirname(os.path.abspath(hear_w2v_music.__file__))))' 2>/dev/null || true)"
    if [[ "$installed" != "$_HEAR_ROOT" ]]; then
        echo "[hear_env] pointing its hear-w2v-music install at $_HEAR_ROOT" >&2
        hear_env_install --no-deps -- -e "$_HEAR_ROOT"
    fi
else
    _hear_env_build
fi
export HEAR_VENV HEAR_PY

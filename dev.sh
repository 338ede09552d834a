#!/usr/bin/env bash
# One entry point for people and CI: sets up what is missing, then runs a nox session.
#   ./dev.sh demo [l1ml demo options]     the whole chain on embedded defaults
#   ./dev.sh tests [pytest options]       the test suite
#   ./dev.sh lint                         ruff
#   ./dev.sh env-keras3                   builds .venv-keras3, the HGQ2 / Keras 3 front-end's own environment
# Set-up is idempotent: the venv is rebuilt only when pyproject.toml changes, and Debian packages the
# tests need are installed only when missing (as root; otherwise it says what to install).
set -euo pipefail
cd "$(dirname "$0")"

session=${1:-tests}
shift || true

py=${PYTHON:-}
if [ -z "$py" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      py=$cand
      break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "dev.sh: l1ml needs Python 3.11 (TensorFlow 2.14, which hls4ml's QKeras support pins, has no wheels for 3.12)." >&2
  echo "        Install python3.11 or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

# The HGQ2 front-end's environment (docs/hgq2.md): only on demand, never instead of .venv.
if [ "$session" = env-keras3 ]; then
  k3=.venv-keras3
  k3stamp="$k3/.installed-$(sha256sum envs/keras3/requirements.txt | cut -c1-16)"
  if [ ! -f "$k3stamp" ]; then
    echo "dev.sh: setting up $k3 (about 2 minutes and 1.8 GB the first time)" >&2
    "$py" -m venv "$k3"
    "$k3/bin/python" -m pip install -q -r envs/keras3/requirements.txt
    "$k3/bin/python" -m pip check
    rm -f "$k3"/.installed-*
    touch "$k3stamp"
  fi
  echo "dev.sh: $k3 is ready" >&2
  exit 0
fi

venv=.venv
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "dev.sh: setting up $venv (about 2 minutes and 2.7 GB the first time)" >&2
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  "$venv/bin/python" -m pip install -q -e '.[dev]'
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi

# The demo compiles the firmware's C simulations (g++, nlohmann-json) and runs GHDL; the tests need more.
case "$session" in
  tests) bash scripts/system-deps.sh tests ;;
  demo) bash scripts/system-deps.sh demo ;;
esac

exec "$venv/bin/nox" -s "$session" -- "$@"

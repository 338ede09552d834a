#!/usr/bin/env bash
# Debian packages l1ml and its tests use: GHDL (conifer's VHDL simulated at RTL), nlohmann-json (conifer's
# C++ backend), g++, Slurm and munge (the scale-out tests), Verilator and Yosys (the open RTL path),
# Chromium (the report's page test) and bubblewrap (the queue's job sandbox).
# `system-deps.sh demo` checks only what the demo needs. Installs the missing ones when run as root with apt;
# otherwise names them. In CI (CI=true) a missing package is an error, since tests would be skipped.
set -euo pipefail

need=()
command -v ghdl >/dev/null 2>&1 || need+=(ghdl)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
if [ "${1:-tests}" != demo ]; then
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
fi

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi

echo "system-deps: missing Debian packages: ${need[*]}" >&2
echo "             install them with: sudo apt-get install ${need[*]}" >&2
if [ "${CI:-}" = true ]; then
  exit 1
fi
echo "             the tests that need them will be skipped" >&2

"""Helpers for the queue-hardening tests: jobs that run a shell script of the test's choosing (through a
real csim step: g++ builds a testbench whose main() runs `bash job.sh`), processes found from the host, and
the supervisor driven directly. Re-exports tests/synth/synth_helpers (loaded by path, as tests/slurm does)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


def _load_synth_helpers():
    name = "synth_test_helpers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "synth" / "synth_helpers.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


synth = _load_synth_helpers()
M = 1024**2

SCRIPT_TESTBENCH = r"""
#include <cstdlib>
#include <sys/wait.h>
int main() {
    int rc = std::system("bash job.sh");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}
"""


def script_project(root: Path, name: str, script: str) -> Path:
    """A project whose csim step runs `script` (bash) in the job's hls4ml directory."""
    prj = synth.make_project(root, name)
    hls = prj / "build" / "firmware" / "v1" / "hls4ml"
    (hls / "myproject_test.cpp").write_text(SCRIPT_TESTBENCH)
    (hls / "job.sh").write_text(script)
    return prj


def tagged(tag: str) -> list[psutil.Process]:
    """Live processes whose command line carries `tag` (how a test finds the children a job hid)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(tag in a for a in p.info["cmdline"] or ()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def escapees(tag: str, mb: int = 0, seconds: int = 120) -> str:
    """Bash lines that start one child with setsid and one double-forked grandchild, each holding `mb` MB
    and sleeping; both carry `tag` in their command line."""
    hog = f"python3 -c 'import time; x = bytearray({mb} << 20); time.sleep({seconds})' {tag}"
    return f"setsid {hog} >/dev/null 2>&1 < /dev/null &\n( {hog} >/dev/null 2>&1 < /dev/null & ) &\n"


def supervise(
    tmp: Path, script: str, memory: int, timeout: float, sandboxed: bool, **spec
) -> subprocess.Popen:
    """Start l1ml.synth.supervisor on `script`, as the local dispatcher does (sandboxed or not)."""
    from l1ml.synth import sandbox

    work = tmp / "run"
    (work / "src").mkdir(parents=True)
    (work / "src" / "job.sh").write_text(script)
    argv = ["bash", "job.sh"]
    if sandboxed:
        argv = sandbox.wrap(argv, work, [tmp / "hidden"])
    full = {
        "argv": argv,
        "cwd": str(work / "src"),
        "env": sandbox.job_env(dict(os.environ), work),
        "log": str(tmp / "job.log"),
        "status": str(tmp / "status.json"),
        "memory": memory,
        "timeout": timeout,
        "grace": 1.0,
        "worker_pid": os.getpid(),
        "orphan_grace": 60,
        **spec,
    }
    (tmp / "spec.json").write_text(json.dumps(full))
    return subprocess.Popen(
        [sys.executable, "-m", "l1ml.synth.supervisor", str(tmp / "spec.json")],
        cwd=REPO,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def status(tmp: Path) -> dict:
    return json.loads((tmp / "status.json").read_text())


def wait_gone(procs: list[psutil.Process], timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(_alive(p) for p in procs):
            return True
        time.sleep(0.05)
    return False


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

"""Issue 27, rows 5-7: limits enforced while the run runs, each ending it with a state naming the limit:
processes (pids), disk (directory and log), the sandbox's tmpfs (/tmp, /dev/shm) counted as memory, memory
as PSS (shared pages counted once), CPU time. Driven through the real supervisor, sandboxed."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from hardening_helpers import M, status, supervise, tagged, wait_gone

from l1ml.synth import sandbox

needs_bwrap = pytest.mark.skipif(
    sandbox.probe("auto").mode != "bwrap", reason="bubblewrap does not work here"
)


def _run(tmp_path, script, memory=1024 * M, timeout=120, sandboxed=True, **spec):
    p = supervise(tmp_path, script, memory, timeout, sandboxed, **spec)
    p.wait(timeout + 60)
    return status(tmp_path)


@pytest.mark.extended
def test_1100_sleeping_processes_end_with_pids(tmp_path):
    tag = f"pids-{uuid.uuid4().hex[:8]}"
    script = f"for i in $(seq 1100); do (exec -a {tag} sleep 60) & done\nwait\n"
    t0 = time.time()
    st = _run(tmp_path, script, sandboxed=False, max_pids=200)
    assert st["state"] == "pids" and "over its limit of 200" in st["reason"], st
    assert time.time() - t0 < 60
    assert wait_gone(tagged(tag), 10)


def test_shared_pages_are_counted_once(tmp_path):
    """40 forks of one process holding 60 MB: RSS sums to 2.4 GB, PSS to about 60 MB; 500 MB declared."""
    script = (
        'python3 -c "\nimport os, time\nx = bytearray(60 << 20)\nfor i in range(40):\n'
        '    if os.fork() == 0:\n        time.sleep(6); os._exit(0)\ntime.sleep(6)\n"\n'
    )
    st = _run(tmp_path, script, memory=500 * M, sandboxed=False)
    assert st["state"] == "succeeded", st


def test_directory_and_log_count_against_disk(tmp_path):
    st = _run(tmp_path, "head -c 300M /dev/zero > big\nsleep 30\n", sandboxed=False, max_disk=64 * M,
              disk_paths=[str(tmp_path / "run"), str(tmp_path / "job.log")])  # fmt: skip
    assert st["state"] == "disk" and "over its limit of 64M" in st["reason"], st
    st2 = tmp_path / "b"
    st2.mkdir()
    s = _run(st2, "head -c 100M /dev/zero | base64\nsleep 30\n", sandboxed=False, max_disk=64 * M,
             disk_paths=[str(st2 / "run"), str(st2 / "job.log")])  # fmt: skip
    assert s["state"] == "disk", s


def test_cpu_time_limit(tmp_path):
    st = _run(tmp_path, "while :; do :; done\n", sandboxed=False, max_cpu=2.0)
    assert st["state"] == "cpu" and "CPU time" in st["reason"], st


@needs_bwrap
def test_dev_shm_is_memory_and_tmpfs_is_bounded(tmp_path):
    # 700 MB in /dev/shm against 250 MB declared: counted, the run is ended as oom.
    st = _run(tmp_path, "head -c 700M /dev/zero > /dev/shm/fill\nsleep 30\n", memory=250 * M,
              tmpfs=["/tmp", "/dev/shm"])  # fmt: skip
    assert st["state"] == "oom", st
    # And each tmpfs has a size: a write past it fails inside the run.
    (tmp_path / "b" / "src").mkdir(parents=True)
    for where in ("/dev/shm", "/tmp"):
        argv = sandbox.wrap(["bash", "-c", f"head -c 200M /dev/zero > {where}/f || echo FULL"], tmp_path / "b", [],
                            tmpfs_size=64 * M)  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert "FULL" in out.stdout, (where, out)

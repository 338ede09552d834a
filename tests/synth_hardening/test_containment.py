"""Process-family containment by the per-run supervisor (child subreaper; plus a PID namespace when
sandboxed): children that leave with setsid or double-fork are counted in the job's memory and killed at
the end, on OOM, on timeout and on cancel. Real processes, real signals, the real supervisor program."""

from __future__ import annotations

import signal
import uuid

import pytest
from hardening_helpers import M, escapees, status, supervise, synth, tagged, wait_gone

from l1ml.synth import sandbox

MODES = [False] + ([True] if sandbox.probe().mode == "bwrap" else [])


def _start(tmp_path, body: str, memory=1024 * M, timeout=60.0, sandboxed=False, mb=0):
    tag = f"escapee-{uuid.uuid4().hex[:8]}"
    p = supervise(tmp_path, escapees(tag, mb) + body, memory, timeout, sandboxed)
    # Both hidden children are up (and hold their memory) before the test goes on.
    synth.wait_for(lambda: len(tagged(tag)) >= 2, 30, what="the setsid and double-forked children")
    return p, tag


@pytest.mark.parametrize("sandboxed", MODES, ids=lambda s: "bwrap" if s else "subreaper")
def test_escaped_children_die_when_the_job_ends(tmp_path, sandboxed):
    p, tag = _start(tmp_path, "sleep 1\nexit 0\n", sandboxed=sandboxed)
    hidden = tagged(tag)
    if not sandboxed:  # the double-forked one lost its parent and was re-parented to the subreaper
        assert any(h.ppid() == p.pid for h in hidden)
    assert p.wait(30) == 0
    st = status(tmp_path)
    assert st["state"] == "succeeded" and st["exit_code"] == 0
    assert st["subreaper"] is True
    assert wait_gone(hidden, 2), [h.pid for h in hidden]
    assert not tagged(tag)


@pytest.mark.parametrize("sandboxed", MODES, ids=lambda s: "bwrap" if s else "subreaper")
def test_memory_of_escaped_children_counts_and_oom_kills_them(tmp_path, sandboxed):
    # The script itself holds almost nothing; its two hidden children hold 150 MB each.
    p, tag = _start(tmp_path, "sleep 60\n", memory=200 * M, sandboxed=sandboxed, mb=150)
    hidden = tagged(tag)
    assert p.wait(30) == 0
    st = status(tmp_path)
    assert st["state"] == "oom", st
    # bash and sleep hold a few MB: only the hidden children can have taken it past 200M.
    assert st["peak_memory"] > 200 * M and "over its declared 200M" in st["reason"]
    assert wait_gone(hidden, 2) and not tagged(tag)


@pytest.mark.parametrize("sandboxed", MODES, ids=lambda s: "bwrap" if s else "subreaper")
def test_timeout_kills_escaped_children(tmp_path, sandboxed):
    p, tag = _start(tmp_path, "sleep 60\n", timeout=2.0, sandboxed=sandboxed)
    hidden = tagged(tag)
    assert p.wait(30) == 0
    st = status(tmp_path)
    assert st["state"] == "timeout" and "timeout of 2s" in st["reason"]
    assert wait_gone(hidden, 2) and not tagged(tag)


@pytest.mark.parametrize("sandboxed", MODES, ids=lambda s: "bwrap" if s else "subreaper")
def test_cancel_kills_escaped_children(tmp_path, sandboxed):
    p, tag = _start(tmp_path, "trap '' TERM\nsleep 60\n", sandboxed=sandboxed)  # it even ignores SIGTERM
    hidden = tagged(tag)
    p.send_signal(signal.SIGTERM)  # what the worker sends on cancel
    assert p.wait(30) == 0
    assert status(tmp_path)["state"] == "cancelled"
    assert wait_gone(hidden, 2) and not tagged(tag)


def test_a_fork_bomb_is_contained(tmp_path):
    # Five setsid loops that keep starting setsid children while they are being killed: frozen with
    # SIGSTOP first, then killed, pass after pass, until none is left.
    tag = f"bomb-{uuid.uuid4().hex[:8]}"
    child = f"setsid bash -c 'sleep 60; true' {tag} &"
    loop = f"while :; do {child} sleep 0.05; done"
    script = f'for i in 1 2 3 4 5; do setsid bash -c "{loop}" {tag} & done\nsleep 60\n'
    p = supervise(tmp_path, script, 64 * 1024 * M, 5.0, sandboxed=False)
    synth.wait_for(lambda: len(tagged(tag)) >= 15, 30, what="the forking loops and their children")
    assert p.wait(30) == 0
    assert status(tmp_path)["state"] == "timeout"
    assert wait_gone(tagged(tag), 3) and not tagged(tag)

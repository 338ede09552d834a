"""Helpers for the Slurm tests, importable by name (``conftest`` is ambiguous beside tests/synth's)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load_synth_helpers():
    # The queue's own test helpers (tiny C++ firmware project, CLI runner, service processes), reused so
    # these tests drive the queue exactly as tests/synth does.
    spec = importlib.util.spec_from_file_location(
        "synth_test_helpers", REPO / "tests" / "synth" / "synth_helpers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synth = _load_synth_helpers()


def scontrol_job(slurm_id: str) -> dict[str, str]:
    from l1ml.synth.dispatch.slurm import parse_scontrol

    r = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", slurm_id], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    return parse_scontrol(r.stdout)


END = ("succeeded", "failed", "oom", "timeout", "cancelled")


class Scenario:
    """A queue with dispatcher = "slurm": its server, its worker, and the jobs submitted to it by key."""

    def __init__(self, tmp, procs):
        self.tmp, self.procs = tmp, procs
        self.ids: dict[str, int] = {}
        self.url = ""
        self.token = ""

    def start(self) -> None:
        self.url = self.procs.server(synth.free_port(), log=self.tmp / "server.log")
        self.procs.worker("64G", log=self.tmp / "worker.log")

    def submit(self, key: str, memory: str, timeout: str = "10m", **behaviour) -> None:
        prj = synth.make_project(self.tmp / "projects", key, **behaviour)
        args = ["-p", str(prj), "-m", "v1", "--step", "csim", "--memory", memory, "--timeout", timeout]
        r = synth.cli("submit", *args, "--server", self.url, "--token", self.token, "--json")
        self.ids[key] = json.loads(r.stdout)["id"]

    def job(self, key: str):
        return synth.job(self.ids[key])

    def slurm_id(self, key: str) -> str:
        return synth.wait_for(
            lambda: (self.job(key).handle or {}).get("slurm_id"), 30, 0.1, f"job {key} to reach Slurm"
        )

    def slurm_state(self, key: str) -> str:
        return scontrol_job(self.slurm_id(key)).get("JobState", "")

    def wait_slurm_state(self, key: str, state: str, timeout: float) -> None:
        """Wait for Slurm to show job `key` in `state`; on a timeout, say what Slurm was doing instead (each
        job's state and reason, the node's CPUs and state), since that is all a CI log will show."""
        try:
            synth.wait_for(
                lambda: self.slurm_state(key) == state, timeout, 0.2, f"the {key} job to be {state}"
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{slurm_picture()}") from None

    def wait(self, key: str, timeout: float = 60.0):
        try:
            return synth.wait_state(self.ids[key], END, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e} (job {key})\n{slurm_picture()}") from None

    def close(self) -> None:
        """Stop the services, and cancel whatever a failed test left on the single node."""
        self.procs.stop()
        self.procs.procs.clear()
        for key in self.ids:
            sid = (self.job(key).handle or {}).get("slurm_id", "")
            if sid.isdigit():
                subprocess.run(["scancel", sid], capture_output=True, check=False)


def slurm_picture() -> str:
    lines = []
    for argv in (["squeue", "-o", "%i %j %T %r %C %m"], ["scontrol", "--oneliner", "show", "node"]):
        r = subprocess.run(argv, capture_output=True, text=True, check=False)
        lines.append(f"$ {' '.join(argv)} (exit {r.returncode})\n{r.stdout}{r.stderr}")
    return "\n".join(lines)

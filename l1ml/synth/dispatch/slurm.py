"""Run synthesis steps as Slurm batch jobs: sbatch, squeue, then sacct or scontrol, and scancel.

Settings, the ``[slurm]`` table of synth.toml (``dispatcher = "slurm"`` selects it)::

    [slurm]
    partition = "fpga"
    account = "cms_l1"
    cpus = 2                                  # --cpus-per-task
    sbatch_args = ["--qos=normal"]            # anything else the site wants
    shared = "/eos/cms/store/group/l1ml"      # holds the work dirs; default: the `work` setting
    shared_on_nodes = "/eos/cms/store/group/l1ml"   # only where batch nodes mount it elsewhere
    slurm_conf = "/etc/slurm/other.conf"      # SLURM_CONF for the client tools, if not the default
    slurmd_log = "/var/log/slurm/slurmd.log"  # if readable from here: more evidence for memory kills
    poll = 2.0                                # seconds between squeue calls

Each run is one Slurm job named ``l1ml-<queue tag>-<job id>-a<attempt>``: unique per queue, job and
attempt, so after a restart a run whose id never reached the store is found by name and adopted, not
submitted twice. The work directory reaches the node through the shared filesystem; the wrapper script
leaves the exit code there too, which is the answer once Slurm (without accounting) has purged the job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from l1ml.errors import ConfigError, ToolNotFound
from l1ml.synth.dispatch import Launch
from l1ml.synth.dispatch._batch import (
    STATUS_DIR,
    BatchDispatcher,
    BatchError,
    BatchRun,
    BatchStatus,
    SharedPaths,
    batch_tool,
    check_keys,
    client_env,
    common_fields,
    queue_tag,
    run_tool,
    signal_name,
    tail,
    wrapper_script,
)
from l1ml.synth.job import CANCELLED, FAILED, OOM, QUEUED, RUNNING, SUCCEEDED, TIMEOUT, Job, format_memory

INSTALL_HINT = (
    "install Slurm's client tools (Debian/Ubuntu: apt-get install slurm-client; EL: dnf install "
    "slurm) or give their paths in the [tools] table of synth.toml"
)
KEYS = {
    "shared",
    "shared_on_nodes",
    "partition",
    "account",
    "cpus",
    "sbatch_args",
    "slurm_conf",
    "slurmd_log",
    "poll",
}

PENDING_STATES = {
    "PENDING",
    "CONFIGURING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESV_DEL_HOLD",
    "SPECIAL_EXIT",
}
ACTIVE_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED", "SUSPENDED"}
_MEMORY_KILL = re.compile(
    r"exceeded (?:job )?memory limit(?: \((\d+) > (\d+)\))?|oom[-_ ]kill", re.IGNORECASE
)
_TRANSIENT = ("unable to contact", "timed out", "try again", "connection refused", "temporarily")


@dataclass(frozen=True)
class SlurmConfig:
    paths: SharedPaths
    tag: str
    partition: str = ""
    account: str = ""
    cpus: int = 1
    sbatch_args: tuple[str, ...] = ()
    slurm_conf: str = ""
    slurmd_log: str = ""
    poll: float = 2.0

    @classmethod
    def from_table(
        cls, table: dict, home: Path, where: str = "[slurm]", work: Path | None = None
    ) -> SlurmConfig:
        check_keys(table, KEYS, where)
        cpus, poll = common_fields(table, where, 2.0)
        args = table.get("sbatch_args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f'{where}: sbatch_args must be a list of strings, like ["--qos=normal"]')
        return cls(
            SharedPaths.from_table(table, work or Path(home) / "work"),
            queue_tag(home),
            str(table.get("partition", "")),
            str(table.get("account", "")),
            cpus,
            tuple(args),
            str(table.get("slurm_conf", "")),
            str(table.get("slurmd_log", "")),
            poll,
        )


# --- what Slurm says, in our terms ------------------------------------------------------------


def sbatch_time(timeout: float) -> int:
    """Slurm limits are whole minutes; round up so a job never gets less than it asked for."""
    return max(1, math.ceil(timeout / 60.0))


def sbatch_mem(memory: int) -> str:
    return f"{max(1, math.ceil(memory / 1024**2))}M"


def parse_exit_code(text: str) -> tuple[int | None, int]:
    """Slurm's 'code:signal' -> (exit code, signal); (None, 0) when absent."""
    m = re.fullmatch(r"\s*(\d+):(\d+)\s*", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else (None, 0)


def parse_scontrol(line: str) -> dict[str, str]:
    """One line of ``scontrol --oneliner show job``: Key=value pairs, where a value may hold spaces."""
    fields: dict[str, str] = {}
    for part in re.split(r" (?=[A-Za-z][A-Za-z/:_]*=)", line.strip()):
        key, sep, value = part.partition("=")
        if sep:
            fields[key] = value.strip()
    return fields


def parse_mem(text: str) -> int | None:
    """'96904K', '100M', '1.5G' (Slurm's binary units) -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)([KMGTP]?)\s*", text or "")
    if not m:
        return None
    return int(float(m.group(1)) * 1024 ** " KMGTP".index(m.group(2) or " "))


def memory_evidence(texts: list[str]) -> tuple[bool, int | None, str]:
    """Did slurmstepd kill the job for its memory? Returns (killed for memory, peak bytes if stated, the line
    that says so), from its message in the job's log or slurmd's."""
    for text in texts:
        for line in text.splitlines():
            m = _MEMORY_KILL.search(line)
            if m:
                return True, int(m.group(1)) if m.group(1) else None, line.strip()
    return False, None, ""


def end_status(native: str, exit_code: str, reason: str, memory: int, evidence: list[str]) -> BatchStatus:
    """Slurm's word for a job -> ours, with the reason a user reads.

    Without cgroups a job over its --mem is killed by jobacct_gather's OverMemoryKill and ends FAILED with
    signal 9, not OUT_OF_MEMORY; slurmstepd's message in the evidence tells it from any other SIGKILL.
    """
    state = native.split()[0].rstrip("+") if native else ""
    code, sig = parse_exit_code(exit_code)
    limit = format_memory(memory)
    if state in PENDING_STATES:
        return BatchStatus(QUEUED, "" if reason in ("", "None") else reason, native=state)
    if state in ACTIVE_STATES:
        return BatchStatus(RUNNING, "suspended by Slurm" if state == "SUSPENDED" else "", native=state)
    if state == "COMPLETED" and not code and not sig:
        return BatchStatus(SUCCEEDED, "", 0, native=state)
    if state == "OUT_OF_MEMORY":
        return BatchStatus(
            OOM, f"Slurm ended it for using more than its {limit} of memory", code, native=state
        )
    if state in ("TIMEOUT", "DEADLINE"):
        what = "time limit" if state == "TIMEOUT" else "deadline"
        return BatchStatus(
            TIMEOUT, f"Slurm stopped it at its {what} (Slurm state {state})", code, native=state
        )
    if sig == 9 or code == 137 or state in ("FAILED", "CANCELLED"):
        killed, peak, line = memory_evidence(evidence)
        if killed:
            return BatchStatus(
                OOM, f"killed for using more than its {limit} of memory: {line}", code, peak, native=state
            )
    if state == "CANCELLED":
        return BatchStatus(CANCELLED, f"cancelled in Slurm ({native})", code, native=state)
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return BatchStatus(FAILED, f"the node running it failed (Slurm state {state})", code, native=state)
    if state == "PREEMPTED":
        return BatchStatus(FAILED, "preempted by another Slurm job", code, native=state)
    if sig:
        return BatchStatus(FAILED, f"killed by {signal_name(sig)} (Slurm state {state})", code, native=state)
    if code:
        return BatchStatus(FAILED, f"a command exited with code {code}; see the log", code, native=state)
    detail = f", {reason}" if reason and reason != "None" else ""
    return BatchStatus(FAILED, f"Slurm ended it {state or 'in an unknown state'}{detail}", code, native=state)


# --- the dispatcher ----------------------------------------------------------------------


class SlurmDispatcher(BatchDispatcher):
    """The Dispatcher for Slurm: sbatch, squeue, then sacct or (without accounting) scontrol, scancel."""

    name = "slurm"
    id_key = "slurm_id"

    def __init__(self, settings, config: SlurmConfig | None = None, tools: dict | None = None):
        # The worker's settings, never the config file read again: CLI and test overrides must count.
        if config is None:
            config = SlurmConfig.from_table(dict(settings.slurm or {}), settings.home, work=settings.work)
        if tools is None:
            tools = settings.tools
        super().__init__(settings, config.poll)
        self.config = config
        self._bin = {
            t: batch_tool(t, INSTALL_HINT, tools) for t in ("sbatch", "squeue", "scontrol", "scancel")
        }
        self._sacct = _optional_tool("sacct", tools)
        self._sstat = _optional_tool("sstat", tools)
        self._env = client_env({"SLURM_CONF": config.slurm_conf} if config.slurm_conf else None)

    def _run(self, tool: str, *args: str):
        return run_tool([self._bin[tool], *args], env=self._env)

    def job_name(self, job: Job) -> str:
        return f"l1ml-{self.config.tag}-{job.id}-a{job.attempts}"

    def _submit(self, launch: Launch, run: BatchRun) -> str:
        paths, cfg = self.config.paths, self.config
        node_dir = paths.on_nodes(run.workdir)
        wrapper = run.workdir / STATUS_DIR / f"{run.name}.sh"
        wrapper.write_text(
            wrapper_script(
                paths.on_nodes(Path(launch.script)),
                node_dir / "src",
                node_dir / STATUS_DIR / f"{run.name}.exit",
                comment=f"l1ml job {launch.job.id} ({launch.job.step}), attempt {launch.job.attempts}",
            )
        )
        argv = [
            self._bin["sbatch"],
            "--parsable",
            f"--job-name={run.name}",
            f"--comment=l1ml:{run.name}",
            f"--mem={sbatch_mem(launch.memory)}",
            f"--time={sbatch_time(launch.timeout)}",
            f"--cpus-per-task={cfg.cpus}",
            "--nodes=1",
            "--ntasks=1",
            # The queue decides about reruns; a Slurm requeue would rerun into the same work dir.
            "--no-requeue",
            f"--chdir={node_dir}",
            f"--output={paths.on_nodes(run.log)}",
            "--open-mode=append",
        ]
        argv += [f"--partition={cfg.partition}"] if cfg.partition else []
        argv += [f"--account={cfg.account}"] if cfg.account else []
        argv += [*cfg.sbatch_args, str(wrapper)]
        proc = run_tool(argv, env=self._env)
        if proc.returncode != 0:
            raise _slurm_error("sbatch", proc)
        slurm_id = proc.stdout.strip().split(";")[0]
        if not slurm_id.isdigit():
            raise BatchError(f"sbatch answered '{proc.stdout.strip()}' instead of a job id")
        return slurm_id

    def _states(self, runs: dict[str, BatchRun]) -> dict[str, BatchStatus | None]:
        """squeue for the runs still queued or running; sacct, or scontrol, for those that left the queue."""
        out: dict[str, BatchStatus | None] = {}
        queued = self._squeue(list(runs))
        for slurm_id, (native, reason) in queued.items():
            out[slurm_id] = end_status(native, "", reason, runs[slurm_id].memory, [])
        gone = [i for i in runs if i not in queued]
        rows = self._sacct_rows(gone) if gone else {}
        for slurm_id in gone:
            run = runs[slurm_id]
            fields = rows.get(slurm_id) if rows is not None else self._scontrol(slurm_id)
            if fields is None:
                out[slurm_id] = None
            elif fields:
                evidence = self._evidence(run) if fields.get("JobState") != "COMPLETED" else []
                out[slurm_id] = end_status(
                    fields.get("JobState", ""),
                    fields.get("ExitCode", ""),
                    fields.get("Reason", ""),
                    run.memory,
                    evidence,
                )
            # An empty row: sacct has not caught up with a job that just left the queue; ask next time.
        return out

    def _squeue(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        proc = self._run("squeue", "--noheader", f"--jobs={','.join(ids)}", "--format=%i|%T|%r")
        if proc.returncode != 0:
            if "invalid job id" in proc.stderr.lower():
                return {}  # every one of them has left the queue
            raise _slurm_error("squeue", proc)
        rows = {}
        for line in proc.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3:
                rows[parts[0]] = (parts[1], parts[2])
        return rows

    def _sacct_rows(self, ids: list[str]) -> dict[str, dict] | None:
        """sacct's rows, or None when the cluster has no accounting (then scontrol is the only source)."""
        if self._sacct is None:
            return None
        proc = run_tool(
            [
                self._sacct,
                "--noheader",
                "--parsable2",
                "--allocations",
                f"--jobs={','.join(ids)}",
                "--format=JobIDRaw,State,ExitCode,Reason",
            ],
            env=self._env,
        )
        if proc.returncode != 0:
            if "accounting storage is disabled" in (proc.stderr + proc.stdout).lower():
                self._sacct = None  # a cluster's accounting does not come and go; stop asking
                return None
            raise _slurm_error("sacct", proc)
        rows: dict[str, dict] = {i: {} for i in ids}
        for line in proc.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 4 and parts[0] in rows:
                rows[parts[0]] = {"JobState": parts[1], "ExitCode": parts[2], "Reason": parts[3]}
        return rows

    def _scontrol(self, slurm_id: str) -> dict[str, str] | None:
        """scontrol's record of a job, or None once Slurm has purged it (MinJobAge after its end)."""
        proc = self._run("scontrol", "--oneliner", "show", "job", slurm_id)
        if proc.returncode != 0:
            if "invalid job id" in proc.stderr.lower():
                return None
            raise _slurm_error("scontrol", proc)
        return parse_scontrol(proc.stdout.splitlines()[0] if proc.stdout.strip() else "")

    def _evidence(self, run: BatchRun) -> list[str]:
        # Only lines naming this Slurm job: the log also holds the job's earlier attempts.
        mine = f"StepId={run.batch_id}."
        texts = [tail(run.log)]
        if self.config.slurmd_log:
            texts.append(tail(Path(self.config.slurmd_log), 1 << 20))
        return ["\n".join(line for line in t.splitlines() if mine in line) for t in texts]

    def _forgotten(self, run: BatchRun) -> BatchStatus | None:
        killed, peak, line = memory_evidence(self._evidence(run))
        if not killed:
            return None
        return BatchStatus(
            OOM,
            f"killed for using more than its {format_memory(run.memory)} of memory: {line}",
            None,
            peak,
            native="forgotten",
        )

    def _peak(self, run: BatchRun) -> int | None:
        """MaxRSS of the batch step from sstat, which asks slurmd directly (no accounting needed)."""
        if self._sstat is None:
            return None
        proc = run_tool(
            [self._sstat, "--noheader", "--parsable2", f"--jobs={run.batch_id}.batch", "--format=MaxRSS"],
            env=self._env,
        )
        lines = proc.stdout.strip().splitlines() if proc.returncode == 0 else []
        return parse_mem(lines[0]) if lines else None

    def _remove(self, slurm_id: str) -> None:
        proc = self._run("scancel", slurm_id)
        err = proc.stderr.lower()
        if (
            proc.returncode != 0
            and "already completing or completed" not in err
            and "invalid job id" not in err
        ):
            raise _slurm_error("scancel", proc)

    def find(self, name: str) -> list[str]:
        return self._find(name)

    def _find(self, name: str) -> list[str]:
        """Slurm job ids with this name: queued, running, or ended but not yet purged."""
        proc = self._run("squeue", "--noheader", f"--name={name}", "--format=%i")
        if proc.returncode != 0:
            raise _slurm_error("squeue", proc)
        ids = [line.strip() for line in proc.stdout.splitlines() if line.strip().isdigit()]
        if not ids:
            proc = self._run("scontrol", "--oneliner", "show", "job")
            if proc.returncode != 0 and "no jobs" not in (proc.stdout + proc.stderr).lower():
                raise _slurm_error("scontrol", proc)
            for line in proc.stdout.splitlines():
                fields = parse_scontrol(line)
                if fields.get("JobName") == name and fields.get("JobId", "").isdigit():
                    ids.append(fields["JobId"])
        return sorted(ids, key=int)


def _optional_tool(name: str, tools: dict | None) -> str | None:
    try:
        return batch_tool(name, INSTALL_HINT, tools)
    except ToolNotFound:  # sacct and sstat only add detail; squeue and scontrol answer without them
        return None


def _slurm_error(tool: str, proc) -> BatchError:
    msg = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
    return BatchError(f"{tool} failed: {msg}", transient=any(word in msg.lower() for word in _TRANSIENT))

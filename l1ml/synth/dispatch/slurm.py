"""Run synthesis steps as Slurm batch jobs: sbatch, squeue, then sacct or scontrol, and scancel.

Settings, the ``[slurm]`` table of synth.toml (``dispatcher = "slurm"`` selects it)::

    [slurm]
    partition = "fpga"
    account = "cms_l1"
    cpus = 2                                  # --cpus-per-task
    sbatch_args = ["--qos=normal"]            # anything else the site wants
    shared = "/eos/cms/store/group/l1ml"      # holds the queue's home; default: the home itself
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
import time
from dataclasses import dataclass
from pathlib import Path

from l1ml.errors import ConfigError, ToolNotFound
from l1ml.synth.dispatch import Launch, Outcome
from l1ml.synth.dispatch._batch import (
    STATUS_DIR,
    BatchError,
    BatchStatus,
    SharedPaths,
    check_keys,
    client_env,
    find_tool,
    queue_tag,
    read_status_file,
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
PEAK_EVERY = 5.0  # seconds between sstat calls for one run


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
    def from_table(cls, table: dict, home: Path, where: str = "[slurm]") -> SlurmConfig:
        check_keys(table, KEYS, where)
        cpus = table.get("cpus", 1)
        if not isinstance(cpus, int) or cpus < 1:
            raise ConfigError(f"{where}: cpus must be a whole number of at least 1, not {cpus!r}")
        args = table.get("sbatch_args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f'{where}: sbatch_args must be a list of strings, like ["--qos=normal"]')
        poll = table.get("poll", 2.0)
        if not isinstance(poll, (int, float)) or poll < 0:
            raise ConfigError(f"{where}: poll must be a number of seconds, not {poll!r}")
        return cls(
            SharedPaths.from_table(table, home),
            queue_tag(home),
            str(table.get("partition", "")),
            str(table.get("account", "")),
            cpus,
            tuple(args),
            str(table.get("slurm_conf", "")),
            str(table.get("slurmd_log", "")),
            float(poll),
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


@dataclass
class _Run:
    name: str
    slurm_id: str  # digits; "" before sbatch answered; "gone" when Slurm forgot it and only files remain
    workdir: Path
    log: Path
    memory: int
    error: str = ""  # sbatch refused it
    status: BatchStatus | None = None
    ending: tuple[str, str] | None = None  # (state, reason) asked for by cancel()
    peak: int | None = None
    peak_at: float = 0.0

    @property
    def status_file(self) -> Path:
        return self.workdir / STATUS_DIR / f"{self.name}.exit"

    def handle(self) -> dict:
        return {
            "system": "slurm",
            "name": self.name,
            "slurm_id": self.slurm_id,
            "workdir": str(self.workdir),
            "log": str(self.log),
            "memory": self.memory,
            "error": self.error,
        }


class SlurmDispatcher:
    """The Dispatcher for Slurm. Slurm holds the runs, so a restarted worker takes them over (`adopt`) and
    a worker that stops leaves them running (`keeps_running`)."""

    name = "slurm"
    keeps_running = True

    def __init__(self, settings=None, config: SlurmConfig | None = None, tools: dict | None = None):
        if config is None:
            if settings is None:
                from l1ml.synth.settings import load_settings

                settings = load_settings()
            config = SlurmConfig.from_table(dict(getattr(settings, "slurm", None) or {}), settings.home)
        if tools is None and settings is not None:
            tools = settings.tools
        self.config = config
        self.settings = settings
        self._bin = {
            t: find_tool(t, INSTALL_HINT, tools) for t in ("sbatch", "squeue", "scontrol", "scancel")
        }
        self._sacct = _optional_tool("sacct", tools)
        self._sstat = _optional_tool("sstat", tools)
        self._env = client_env({"SLURM_CONF": config.slurm_conf} if config.slurm_conf else None)
        self._runs: dict[int, _Run] = {}
        self._refreshed = 0.0
        self.last_error = ""  # the latest answer Slurm could not give; the worker may show it

    def _run(self, tool: str, *args: str):
        return run_tool([self._bin[tool], *args], env=self._env)

    def job_name(self, job: Job) -> str:
        return f"l1ml-{self.config.tag}-{job.id}-a{job.attempts}"

    # --- start --------------------------------------------------------------------------------------------

    def start(self, launch: Launch) -> dict:
        job = launch.job
        run = _Run(self.job_name(job), "", Path(launch.workdir), Path(launch.log), launch.memory)
        self._runs[job.id] = run
        try:
            run.slurm_id = self._sbatch(launch, run)
        except BatchError as exc:
            # Not raised: the worker would stop; the run fails with Slurm's answer as its reason instead.
            run.error = str(exc)
        return run.handle()

    def _sbatch(self, launch: Launch, run: _Run) -> str:
        paths, cfg = self.config.paths, self.config
        node_dir = paths.on_nodes(run.workdir)
        (run.workdir / STATUS_DIR).mkdir(parents=True, exist_ok=True)
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

    # --- follow -------------------------------------------------------------------------------------------

    def poll(self, job: Job, handle: dict) -> Outcome | None:
        run = self._track(job, handle)
        if run.error:
            self._runs.pop(job.id, None)
            return Outcome(FAILED, reason=run.error)
        found = self._resolve(run)
        if found is None:
            return None  # Slurm is not answering; ask again next time
        if not found:
            self._runs.pop(job.id, None)
            return Outcome(FAILED, reason=f"Slurm has no job named {run.name} and it never started")
        if run.status is None or not run.status.finished:
            self._refresh()
        st = run.status
        if st is None or not st.finished:
            return None
        self._runs.pop(job.id, None)
        if run.ending is not None and st.state == CANCELLED:
            return Outcome(run.ending[0], st.exit_code, run.ending[1], run.peak)
        return Outcome(st.state, st.exit_code, st.reason, st.peak_memory or run.peak)

    def _refresh(self, force: bool = False) -> None:
        """One squeue for every run this worker follows, at most every `poll` seconds; then sacct or scontrol
        for those that left the queue."""
        now = time.monotonic()
        if not force and now - self._refreshed < self.config.poll:
            return
        self._refreshed = now
        live = {
            r.slurm_id: r
            for r in self._runs.values()
            if r.slurm_id.isdigit() and not (r.status and r.status.finished)
        }
        for r in self._runs.values():
            if r.slurm_id == "gone" and r.status is None:
                r.status = self._from_files(r)
        try:
            queued = self._squeue(list(live))
            for slurm_id, (native, reason) in queued.items():
                live[slurm_id].status = end_status(native, "", reason, live[slurm_id].memory, [])
            gone = [i for i in live if i not in queued]
            for slurm_id, status in self._ended(gone, live).items():
                live[slurm_id].status = status
            self.last_error = ""
        except BatchError as exc:
            # Slurm not answering (controller restart) says nothing about the jobs: keep them running.
            self.last_error = str(exc)

    def _squeue(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        if not ids:
            return {}
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

    def _ended(self, ids: list[str], runs: dict[str, _Run]) -> dict[str, BatchStatus]:
        if not ids:
            return {}
        rows = self._sacct_rows(ids)
        out: dict[str, BatchStatus] = {}
        for slurm_id in ids:
            run = runs[slurm_id]
            fields = rows.get(slurm_id) if rows is not None else self._scontrol(slurm_id)
            if fields is None:
                out[slurm_id] = self._from_files(run)
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

    def _evidence(self, run: _Run) -> list[str]:
        # Only lines naming this Slurm job: the log also holds the job's earlier attempts.
        mine = f"StepId={run.slurm_id}."
        texts = [tail(run.log)]
        if self.config.slurmd_log:
            texts.append(tail(Path(self.config.slurmd_log), 1 << 20))
        return ["\n".join(line for line in t.splitlines() if mine in line) for t in texts]

    def _from_files(self, run: _Run) -> BatchStatus:
        """The end of a run Slurm no longer remembers, from what the wrapper left on the shared filesystem."""
        code = read_status_file(run.status_file)
        if code == 0:
            return BatchStatus(SUCCEEDED, "", 0, native="purged")
        if code is not None:
            return BatchStatus(
                FAILED, f"a command exited with code {code}; see the log", code, native="purged"
            )
        killed, peak, line = memory_evidence(self._evidence(run))
        if killed:
            return BatchStatus(
                OOM,
                f"killed for using more than its {format_memory(run.memory)} of memory: {line}",
                None,
                peak,
                native="purged",
            )
        return BatchStatus(
            FAILED,
            f"Slurm no longer knows job {run.slurm_id} ({run.name}) and it left no exit "
            f"code in {run.status_file}: it was stopped (time limit, scancel or node "
            "failure) while no worker was watching, and without accounting Slurm cannot "
            "say which",
            native="purged",
        )

    def peak(self, job: Job, handle: dict) -> int | None:
        """MaxRSS of the batch step from sstat, which asks slurmd directly (no accounting needed)."""
        run = self._runs.get(job.id)
        if run is None or not run.slurm_id.isdigit() or self._sstat is None:
            return run.peak if run else None
        now = time.monotonic()
        if run.status is not None and run.status.state == RUNNING and now - run.peak_at >= PEAK_EVERY:
            run.peak_at = now
            proc = run_tool(
                [self._sstat, "--noheader", "--parsable2", f"--jobs={run.slurm_id}.batch", "--format=MaxRSS"],
                env=self._env,
            )
            value = (
                parse_mem(proc.stdout.strip().splitlines()[0])
                if proc.returncode == 0 and proc.stdout.strip()
                else None
            )
            if value:
                run.peak = max(run.peak or 0, value)
        return run.peak

    # --- cancel, adopt, reap ------------------------------------------------------------------------------

    def cancel(self, job: Job, handle: dict, state: str = CANCELLED, reason: str = "cancelled") -> None:
        run = self._track(job, handle)
        run.ending = (state, reason)
        if self._resolve(run) and run.slurm_id.isdigit():
            self._scancel(run.slurm_id)
        self._refreshed = 0.0  # the next poll should see the cancel, not a cached RUNNING

    def _scancel(self, slurm_id: str) -> None:
        proc = self._run("scancel", slurm_id)
        err = proc.stderr.lower()
        if (
            proc.returncode != 0
            and "already completing or completed" not in err
            and "invalid job id" not in err
        ):
            raise _slurm_error("scancel", proc)

    def adopt(self, job: Job, handle: dict) -> bool:
        """After a restart: True if Slurm has (or had) this run, so the worker follows it to its end. While
        Slurm does not answer, also True: requeueing a run that may be running would run it twice."""
        return self._resolve(self._track(job, handle)) is not False

    def reap(self, job: Job, handle: dict) -> None:
        run = self._track(job, handle)
        if self._resolve(run) and run.slurm_id.isdigit():
            self._scancel(run.slurm_id)
        self._runs.pop(job.id, None)

    def _track(self, job: Job, handle: dict) -> _Run:
        """The run this worker follows for `job`, rebuilt from its handle after a restart."""
        h = handle or {}
        name = h.get("name") or self.job_name(job)
        run = self._runs.get(job.id)
        if run is None or run.name != name:
            workdir, log = _paths_for(self.settings, job, h)
            run = _Run(
                name,
                str(h.get("slurm_id") or ""),
                workdir,
                log,
                int(h.get("memory") or job.memory),
                str(h.get("error") or ""),
            )
            self._runs[job.id] = run
        return run

    def _resolve(self, run: _Run) -> bool | None:
        """Does Slurm have (or had) this run? A handle without a Slurm id means the worker stopped between
        sbatch and recording its answer; the unique job name finds it. None: Slurm is not answering."""
        if run.slurm_id or run.error:
            return True
        try:
            ids = self.find(run.name)
        except BatchError as exc:
            self.last_error = str(exc)
            return None
        if ids:
            run.slurm_id = ids[-1]
        elif (
            run.status_file.with_name(run.status_file.name + ".started").exists() or run.status_file.exists()
        ):
            run.slurm_id = "gone"
        else:
            return False
        return True

    def find(self, name: str) -> list[str]:
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


def _paths_for(settings, job: Job, handle: dict) -> tuple[Path, Path]:
    if handle.get("workdir") and handle.get("log"):
        return Path(handle["workdir"]), Path(handle["log"])
    if settings is None:
        raise ConfigError("the Slurm dispatcher needs the queue's settings to find a job's work directory")
    from l1ml.synth.worker import job_dir, log_path  # the worker owns the layout of the work directory

    return job_dir(settings, job.id) / f"attempt{job.attempts}", log_path(settings, job.id)


def _optional_tool(name: str, tools: dict | None) -> str | None:
    try:
        return find_tool(name, INSTALL_HINT, tools)
    except ToolNotFound:  # sacct and sstat only add detail; squeue and scontrol answer without them
        return None


def _slurm_error(tool: str, proc) -> BatchError:
    msg = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
    return BatchError(f"{tool} failed: {msg}", transient=any(word in msg.lower() for word in _TRANSIENT))

"""Run synthesis steps as Slurm batch jobs: sbatch, squeue, sacct or scontrol, scancel.

Settings (the ``[slurm]`` table of synth.toml)::

    [slurm]
    shared = "/eos/cms/store/group/l1ml/queue"   # holds the queue's work dir; batch nodes see it too
    shared_on_nodes = "/eos/cms/store/group/l1ml/queue"   # only where nodes mount it elsewhere
    partition = "fpga"
    account = "cms_l1"
    cpus = 2                       # --cpus-per-task
    sbatch_args = ["--qos=normal"] # anything else the site wants
    slurm_conf = "/etc/slurm/other.conf"   # SLURM_CONF for the client tools, if not the default
    slurmd_log = "/var/log/slurm/slurmd.log"  # if readable from here: more evidence for memory kills

Each run is one Slurm job named ``l1ml-<queue tag>-<job id>-a<attempt>``. The queue records that name in
the job's handle before sbatch runs and the Slurm id once sbatch answers; after a restart, a handle with a
name but no id is looked up by name, so a submission that happened is adopted and one that did not is made.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from l1ml.errors import ConfigError
from l1ml.synth.dispatch._batch import (
    STATUS_DIR,
    BatchError,
    BatchStatus,
    SharedPaths,
    Submission,
    batch_script,
    check_keys,
    find_tool,
    read_status_file,
    run_tool,
    signal_name,
)
from l1ml.synth.job import CANCELLED, FAILED, OOM, QUEUED, RUNNING, SUCCEEDED, TIMEOUT, Job, format_memory

INSTALL_HINT = ("install Slurm's client tools (Debian/Ubuntu: apt-get install slurm-client; EL: dnf install "
                "slurm) or name them in the [tools] table of synth.toml")
KEYS = {"shared", "shared_on_nodes", "partition", "account", "cpus", "sbatch_args", "slurm_conf", "slurmd_log"}

PENDING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                  "SPECIAL_EXIT"}
ACTIVE_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED", "SUSPENDED"}
_MEMORY_KILL = re.compile(r"exceeded (?:job )?memory limit(?: \((\d+) > (\d+)\))?|oom[-_ ]kill", re.IGNORECASE)
_TRANSIENT = ("unable to contact", "timed out", "try again", "connection refused", "temporarily")


@dataclass(frozen=True)
class SlurmConfig:
    paths: SharedPaths
    partition: str = ""
    account: str = ""
    cpus: int = 1
    sbatch_args: tuple[str, ...] = ()
    slurm_conf: str = ""
    slurmd_log: str = ""
    tag: str = "q"  # tells this queue's jobs from another queue's under the same Slurm user

    @classmethod
    def from_table(cls, table: dict, where: str = "[slurm]", tag: str = "q") -> SlurmConfig:
        check_keys(table, KEYS, where)
        cpus = table.get("cpus", 1)
        if not isinstance(cpus, int) or cpus < 1:
            raise ConfigError(f"{where}: cpus must be a whole number of at least 1, not {cpus!r}")
        args = table.get("sbatch_args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"{where}: sbatch_args must be a list of strings, like [\"--qos=normal\"]")
        return cls(SharedPaths.from_table(table, where), str(table.get("partition", "")),
                   str(table.get("account", "")), cpus, tuple(args), str(table.get("slurm_conf", "")),
                   str(table.get("slurmd_log", "")), tag)


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
    """One line of ``scontrol -o show job``: Key=value pairs, where a value may hold spaces."""
    fields: dict[str, str] = {}
    for part in re.split(r" (?=[A-Za-z][A-Za-z/:_]*=)", line.strip()):
        key, sep, value = part.partition("=")
        if sep:
            fields[key] = value.strip()
    return fields


def memory_evidence(texts: list[str]) -> tuple[bool, int | None, str]:
    """Did slurmstepd kill the job for its memory? Looks for its message in the job's log or slurmd's.
    Returns (killed for memory, peak bytes if stated, the line that says so)."""
    for text in texts:
        for line in text.splitlines():
            m = _MEMORY_KILL.search(line)
            if m:
                peak = int(m.group(1)) if m.group(1) else None
                return True, peak, line.strip()
    return False, None, ""


def end_status(native: str, exit_code: str, reason: str, memory: int, evidence: list[str]) -> BatchStatus:
    """Slurm's word for a job -> ours, with the reason a user reads in `l1ml synth show`.

    Without cgroups, a job over its --mem is killed by jobacct_gather's OverMemoryKill and ends FAILED
    (or CANCELLED) with signal 9, not OUT_OF_MEMORY; the slurmstepd message in the evidence tells it
    apart from any other SIGKILL.
    """
    state = native.split()[0].rstrip("+") if native else ""
    code, sig = parse_exit_code(exit_code)
    limit = format_memory(memory)
    if state in PENDING_STATES:
        return BatchStatus(QUEUED, reason if reason not in ("", "None") else "", native=state)
    if state in ACTIVE_STATES:
        return BatchStatus(RUNNING, "suspended by Slurm" if state == "SUSPENDED" else "", native=state)
    if state == "COMPLETED" and code == 0 and sig == 0:
        return BatchStatus(SUCCEEDED, "", 0, native=state)
    if state == "OUT_OF_MEMORY":
        return BatchStatus(OOM, f"Slurm ended it for using more than its {limit} of memory", code, native=state)
    if state in ("TIMEOUT", "DEADLINE"):
        what = "time limit" if state == "TIMEOUT" else "deadline"
        return BatchStatus(TIMEOUT, f"Slurm stopped it at its {what}", code, native=state)
    if sig == 9 or code == 137 or state in ("FAILED", "CANCELLED"):
        killed, peak, line = memory_evidence(evidence)
        if killed:
            return BatchStatus(OOM, f"killed for using more than its {limit} of memory ({line})", code, peak,
                               native=state)
    if state == "CANCELLED":
        return BatchStatus(CANCELLED, f"cancelled in Slurm ({native})", code, native=state)
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return BatchStatus(FAILED, f"Slurm reports {state}: the node running it failed", code, native=state)
    if state == "PREEMPTED":
        return BatchStatus(FAILED, "preempted by Slurm", code, native=state)
    if sig:
        return BatchStatus(FAILED, f"killed by {signal_name(sig)}", code, native=state)
    if code:
        return BatchStatus(FAILED, f"exit code {code}", code, native=state)
    detail = f" ({reason})" if reason and reason != "None" else ""
    return BatchStatus(FAILED, f"Slurm ended it {state or 'in an unknown state'}{detail}", code, native=state)


class SlurmDispatcher:
    """Submits, follows and cancels runs as Slurm jobs. Holds no state between calls but a cached answer to
    'is accounting enabled', so a restarted server can take over from the handles in the store."""

    system = "slurm"

    def __init__(self, config: SlurmConfig, tools: dict | None = None):
        self.config = config
        self._bin = {name: find_tool(name, INSTALL_HINT, tools)
                     for name in ("sbatch", "squeue", "scontrol", "scancel")}
        self._sacct = self._which_optional("sacct", tools)
        self._env = _client_env(config.slurm_conf)

    @staticmethod
    def _which_optional(name: str, tools: dict | None) -> str | None:
        try:
            return find_tool(name, INSTALL_HINT, tools)
        except Exception:  # sacct is only a faster route; scontrol gives the same answer while Slurm remembers
            return None

    def _run(self, tool: str, *args: str):
        return run_tool([self._bin[tool], *args], env=self._env)

    # --- submit -------------------------------------------------------------------------------------------

    def name_for(self, job: Job) -> str:
        return f"l1ml-{self.config.tag}-{job.id}-a{job.attempts}"

    def prepare(self, job: Job, workdir: Path, commands: list[list[str]], log: Path) -> Submission:
        """Write the batch script and return the handle to record before `submit`."""
        name = self.name_for(job)
        node_dir = self.config.paths.on_nodes(workdir)
        status_dir = Path(workdir) / STATUS_DIR
        status_dir.mkdir(parents=True, exist_ok=True)
        script = batch_script(commands, node_dir, node_dir / STATUS_DIR / f"{name}.exit",
                              comment=f"l1ml job {job.id} ({job.step}), attempt {job.attempts}")
        (status_dir / f"{name}.sh").write_text(script)
        return Submission(self.system, name, str(workdir), str(log), job.memory, job.timeout)

    def sbatch_argv(self, sub: Submission) -> list[str]:
        cfg = self.config
        argv = [self._bin["sbatch"], "--parsable", f"--job-name={sub.name}", f"--comment=l1ml:{sub.name}",
                f"--mem={sbatch_mem(sub.memory)}", f"--time={sbatch_time(sub.timeout)}",
                f"--cpus-per-task={cfg.cpus}", "--nodes=1", "--ntasks=1",
                # The queue decides about reruns; a Slurm requeue would rerun into the same work dir.
                "--no-requeue",
                f"--chdir={cfg.paths.on_nodes(Path(sub.workdir))}",
                f"--output={cfg.paths.on_nodes(Path(sub.log))}", "--open-mode=append"]
        if cfg.partition:
            argv.append(f"--partition={cfg.partition}")
        if cfg.account:
            argv.append(f"--account={cfg.account}")
        argv += list(cfg.sbatch_args)
        argv.append(str(Path(sub.workdir) / STATUS_DIR / f"{sub.name}.sh"))
        return argv

    def submit(self, sub: Submission) -> Submission:
        """sbatch the prepared script; the returned handle carries the Slurm job id."""
        Path(sub.log).parent.mkdir(parents=True, exist_ok=True)
        argv = self.sbatch_argv(sub)
        proc = run_tool(argv, env=self._env)
        if proc.returncode != 0:
            raise _slurm_error("sbatch", proc)
        job_id = proc.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise BatchError(f"sbatch answered '{proc.stdout.strip()}' instead of a job id")
        return replace(sub, external_id=job_id)

    # --- follow -------------------------------------------------------------------------------------------

    def poll(self, subs: list[Submission]) -> dict[str, BatchStatus]:
        """The state of each submitted run, keyed by its name. A run Slurm cannot answer for right now (the
        controller is down) raises BatchError; the caller keeps the job running and asks again."""
        out: dict[str, BatchStatus] = {}
        by_id = {s.external_id: s for s in subs if s.external_id.isdigit()}
        for s in subs:
            if not s.external_id:
                out[s.name] = BatchStatus(QUEUED, "being submitted to Slurm")
            elif not s.external_id.isdigit():
                out[s.name] = self._from_status_file(s)
        queued = self._squeue(list(by_id))
        gone = [i for i in by_id if i not in queued]
        for job_id, (native, reason) in queued.items():
            out[by_id[job_id].name] = end_status(native, "", reason, by_id[job_id].memory, [])
        for job_id, status in self._ended(gone, by_id).items():
            out[by_id[job_id].name] = status
        return out

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

    def _ended(self, ids: list[str], by_id: dict[str, Submission]) -> dict[str, BatchStatus]:
        if not ids:
            return {}
        rows = self._sacct_rows(ids)
        out: dict[str, BatchStatus] = {}
        for job_id in ids:
            sub = by_id[job_id]
            fields = rows.get(job_id) if rows is not None else self._scontrol(job_id)
            if fields is None:
                out[job_id] = self._from_status_file(sub)
            elif fields:
                evidence = self._evidence(sub) if fields.get("JobState", "") != "COMPLETED" else []
                out[job_id] = end_status(fields.get("JobState", ""), fields.get("ExitCode", ""),
                                         fields.get("Reason", ""), sub.memory, evidence)
            # An empty row: sacct has not caught up with a job that just left the queue; ask next time.
        return out

    def _sacct_rows(self, ids: list[str]) -> dict[str, dict] | None:
        """sacct's rows, or None when there is no accounting (then scontrol is the only source)."""
        if self._sacct is None:
            return None
        proc = run_tool([self._sacct, "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(ids)}",
                         "--format=JobIDRaw,State,ExitCode,Reason"], env=self._env)
        if proc.returncode != 0:
            if "accounting storage is disabled" in (proc.stderr + proc.stdout).lower():
                self._sacct = None  # stays so for this cluster; skip the call from now on
                return None
            raise _slurm_error("sacct", proc)
        rows: dict[str, dict] = {i: {} for i in ids}
        for line in proc.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 4 and parts[0] in rows:
                rows[parts[0]] = {"JobState": parts[1], "ExitCode": parts[2], "Reason": parts[3]}
        return rows

    def _scontrol(self, job_id: str) -> dict[str, str] | None:
        """scontrol's record of a job, or None once Slurm has purged it (MinJobAge after its end)."""
        proc = self._run("scontrol", "--oneliner", "show", "job", job_id)
        if proc.returncode != 0:
            if "invalid job id" in proc.stderr.lower():
                return None
            raise _slurm_error("scontrol", proc)
        return parse_scontrol(proc.stdout.splitlines()[0] if proc.stdout else "")

    def _evidence(self, sub: Submission) -> list[str]:
        # Only lines naming this Slurm job: the log may hold an earlier attempt's messages.
        mine = f"StepId={sub.external_id}."
        texts = [_tail(Path(sub.log))]
        if self.config.slurmd_log:
            texts.append(_tail(Path(self.config.slurmd_log), 1 << 20))
        return ["\n".join(line for line in t.splitlines() if mine in line) for t in texts]

    def _from_status_file(self, sub: Submission) -> BatchStatus:
        code = read_status_file(sub.status_file)
        if code == 0:
            return BatchStatus(SUCCEEDED, "", 0, native="purged")
        if code is not None:
            return BatchStatus(FAILED, f"exit code {code}", code, native="purged")
        killed, peak, line = memory_evidence(self._evidence(sub))
        if killed:
            return BatchStatus(OOM, f"killed for using more than its {format_memory(sub.memory)} of memory "
                                    f"({line})", None, peak, native="purged")
        return BatchStatus(FAILED, f"Slurm no longer knows job {sub.external_id} and it left no exit status in "
                                   f"{sub.status_file}: it was killed (time limit, cancel or node failure) while "
                                   "the queue was not watching, and Slurm has no accounting to say which",
                           native="purged")

    # --- cancel and adopt ---------------------------------------------------------------------------------

    def cancel(self, sub: Submission) -> None:
        if not sub.external_id.isdigit():
            found = self.adopt(sub)
            if found is None or not found.external_id.isdigit():
                return
            sub = found
        proc = self._run("scancel", sub.external_id)
        err = proc.stderr.lower()
        if proc.returncode != 0 and "already completing or completed" not in err and "invalid job id" not in err:
            raise _slurm_error("scancel", proc)

    def adopt(self, sub: Submission) -> Submission | None:
        """A handle recorded as 'about to submit' by a server that then stopped: the Slurm job if sbatch
        went through (found by its unique name), else None, and the caller submits it now."""
        if sub.external_id:
            return sub
        ids = self.find(sub.name)
        if ids:
            return replace(sub, external_id=ids[0])
        if read_status_file(sub.status_file) is not None:
            return replace(sub, external_id="purged")
        return None

    def find(self, name: str) -> list[str]:
        """Slurm job ids with this name: queued, running, or ended but not yet purged."""
        proc = self._run("squeue", "--noheader", f"--name={name}", "--format=%i")
        if proc.returncode != 0:
            raise _slurm_error("squeue", proc)
        ids = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        if ids:
            return sorted(ids, key=int)
        proc = self._run("scontrol", "--oneliner", "show", "job")
        if proc.returncode != 0 and "no jobs" not in proc.stdout.lower() + proc.stderr.lower():
            raise _slurm_error("scontrol", proc)
        for line in proc.stdout.splitlines():
            fields = parse_scontrol(line)
            if fields.get("JobName") == name and fields.get("JobId", "").isdigit():
                ids.append(fields["JobId"])
        return sorted(ids, key=int)


def _client_env(slurm_conf: str) -> dict:
    # The server's environment minus its secrets: sbatch passes its environment on to the job by default.
    env = {k: v for k, v in os.environ.items() if not re.search(r"TOKEN|SECRET|PASSWORD", k, re.IGNORECASE)}
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    return env


def _slurm_error(tool: str, proc) -> BatchError:
    msg = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
    return BatchError(f"{tool} failed: {msg}", transient=any(word in msg.lower() for word in _TRANSIENT))


def _tail(path: Path, size: int = 64 * 1024) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""

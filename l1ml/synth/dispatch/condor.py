"""Run synthesis steps as HTCondor jobs, through the htcondor Python bindings (``pip install htcondor``;
imported only when this dispatcher is made).

Settings, the ``[condor]`` table of synth.toml (``dispatcher = "condor"`` selects it)::

    [condor]
    schedd = "bigbird42.cern.ch"     # default: the local schedd of the submit host's HTCondor config
    pool = "tweetybird.cern.ch"      # the collector that knows that schedd; default: COLLECTOR_HOST
    cpus = 2                         # request_cpus
    shared = "/eos/cms/store/group/l1ml"          # holds the work dirs; default: the `work` setting
    shared_on_nodes = "/eos/cms/store/group/l1ml" # only where execute nodes mount it elsewhere
    poll = 10.0                      # seconds between schedd queries
    [condor.submit]                  # any other submit commands, as the site wants them
    "+JobFlavour" = '"workday"'
    requirements = 'OpSysAndVer == "AlmaLinux9"'

The job's work directory reaches the execute node through the shared filesystem (should_transfer_files =
NO), as on CERN's EOS/AFS setups. The run-time limit is ours: periodic_hold puts the job on hold with a
reason once it has run past the timeout, and periodic_remove then removes it, so it never lingers held.

Only the path up to the schedd is tested here (the submit description, and the state mapping on recorded
job ads); no live HTCondor pool was part of the test run.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from l1ml.errors import ConfigError, ToolNotFound
from l1ml.synth.dispatch import Launch
from l1ml.synth.dispatch._batch import (
    STATUS_DIR,
    BatchDispatcher,
    BatchError,
    BatchRun,
    BatchStatus,
    SharedPaths,
    check_keys,
    common_fields,
    queue_tag,
    signal_name,
    wrapper_script,
)
from l1ml.synth.job import CANCELLED, FAILED, OOM, QUEUED, RUNNING, SUCCEEDED, TIMEOUT, Job, format_memory

INSTALL_HINT = (
    "the HTCondor Python bindings are not installed: pip install htcondor (or l1ml[condor]); "
    "on lxplus they come with the system Python"
)
KEYS = {"schedd", "pool", "shared", "shared_on_nodes", "cpus", "submit", "poll"}
TIMEOUT_SUBCODE = 61  # our periodic_hold's HoldReasonSubCode: tells our time limit from other policy holds
PROJECTION = [
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "HoldReason",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "LastHoldReason",
    "LastHoldReasonCode",
    "LastHoldReasonSubCode",
    "RemoveReason",
    "MemoryUsage",
    "ResidentSetSize_RAW",
    "RequestMemory",
    "L1mlName",
    "LastRejMatchReason",
    "EnteredCurrentStatus",
]

# HoldReasonCode values (HTCondor's condor_holdcodes.h) that the mapping tells apart.
HOLD_USER, HOLD_POLICY, HOLD_ON_SUBMIT, HOLD_SPOOLING = 1, 3, 15, 16
HOLD_STARTD, HOLD_SYSTEM_POLICY, HOLD_OUT_OF_RESOURCES = 21, 26, 34
HOLD_DURATION, HOLD_EXECUTE_DURATION = 46, 47
SUBCODE_MEMORY = 102


@dataclass(frozen=True)
class CondorConfig:
    paths: SharedPaths
    tag: str
    schedd: str = ""
    pool: str = ""
    cpus: int = 1
    submit: dict = field(default_factory=dict)
    poll: float = 10.0

    @classmethod
    def from_table(
        cls, table: dict, home: Path, where: str = "[condor]", work: Path | None = None
    ) -> CondorConfig:
        check_keys(table, KEYS, where)
        cpus, poll = common_fields(table, where, 10.0)
        extra = table.get("submit", {})
        if not isinstance(extra, dict) or not all(isinstance(v, (str, int, float)) for v in extra.values()):
            raise ConfigError(
                f'{where}.submit must be a table of submit commands, like \'"+JobFlavour" = "\\"workday\\""\''
            )
        ours = {k.lower() for k in _OURS}
        clash = sorted(k for k in extra if k.lower() in ours)
        if clash:
            raise ConfigError(f"{where}.submit sets {', '.join(clash)}, which l1ml sets from the job itself")
        return cls(
            SharedPaths.from_table(table, work or Path(home) / "work"),
            queue_tag(home),
            str(table.get("schedd", "")),
            str(table.get("pool", "")),
            cpus,
            {str(k): str(v) for k, v in extra.items()},
            poll,
        )


_OURS = (
    "universe",
    "executable",
    "arguments",
    "initialdir",
    "output",
    "error",
    "log",
    "should_transfer_files",
    "transfer_executable",
    "request_memory",
    "request_cpus",
    "periodic_hold",
    "periodic_hold_reason",
    "periodic_hold_subcode",
    "periodic_remove",
    "batch_name",
    "+L1mlName",
    "+L1mlQueue",
)


def request_memory(memory: int) -> str:
    """request_memory is in MiB; round up so a job never gets less than it declared."""
    return str(max(1, math.ceil(memory / 1024**2)))


def submit_description(
    name: str,
    tag: str,
    wrapper: PurePosixPath,
    initialdir: PurePosixPath,
    status_dir: PurePosixPath,
    memory: int,
    timeout: float,
    cpus: int = 1,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The submit description of one run, as submit-file commands (what htcondor.Submit takes)."""
    limit = max(1, math.ceil(timeout))
    desc = {
        "universe": "vanilla",
        "executable": "/bin/bash",
        "arguments": _condor_args([str(wrapper)]),
        "transfer_executable": "false",
        "initialdir": str(initialdir),
        # The wrapper appends the job's output to the queue's log itself; these catch what bash says first.
        "output": str(status_dir / f"{name}.out"),
        "error": str(status_dir / f"{name}.err"),
        "log": str(status_dir / f"{name}.condor.log"),
        "should_transfer_files": "NO",  # the work directory is on the shared filesystem
        "request_memory": request_memory(memory),
        "request_cpus": str(cpus),
        "periodic_hold": f"(JobStatus == 2) && (time() - JobCurrentStartDate > {limit})",
        "periodic_hold_reason": f'"l1ml: ran past its timeout of {limit} s"',
        "periodic_hold_subcode": str(TIMEOUT_SUBCODE),
        "periodic_remove": f"(JobStatus == 5) && (HoldReasonCode == {HOLD_POLICY}) && "
        f"(HoldReasonSubCode == {TIMEOUT_SUBCODE})",
        "batch_name": f"l1ml-{tag}",
        "+L1mlName": f'"{name}"',
        "+L1mlQueue": f'"{tag}"',
    }
    desc.update(extra or {})
    return desc


def _condor_args(args: list[str]) -> str:
    # HTCondor's "new" argument syntax: the whole in double quotes, each argument in single quotes.
    return '"' + " ".join("'" + a.replace("'", "''").replace('"', '""') + "'" for a in args) + '"'


# --- job ads -> our states --------------------------------------------------------------------------------


def ad_peak(ad: Mapping) -> int | None:
    """Largest memory use HTCondor saw, bytes: ResidentSetSize_RAW (KiB), else MemoryUsage (MiB)."""
    raw = ad.get("ResidentSetSize_RAW")
    if isinstance(raw, (int, float)) and raw > 0:
        return int(raw) * 1024
    mib = ad.get("MemoryUsage")
    return int(mib) * 1024**2 if isinstance(mib, (int, float)) and mib > 0 else None


def _hold(ad: Mapping, last: bool = False) -> tuple[int, int, str]:
    p = "LastHoldReason" if last else "HoldReason"
    return int(ad.get(p + "Code") or 0), int(ad.get(p + "SubCode") or 0), str(ad.get(p) or "")


def _hold_status(code: int, sub: int, text: str, memory: int, peak: int | None) -> BatchStatus | None:
    """What a hold means for us, or None for a hold someone may release (then the run waits)."""
    limit = format_memory(memory)
    if code in (HOLD_USER, HOLD_ON_SUBMIT, HOLD_SPOOLING):
        return None
    if (code == HOLD_POLICY and sub == TIMEOUT_SUBCODE) or code in (HOLD_DURATION, HOLD_EXECUTE_DURATION):
        return BatchStatus(TIMEOUT, f"HTCondor stopped it at its time limit: {text}", None, peak, "HELD")
    memory_hold = code == HOLD_OUT_OF_RESOURCES and sub in (0, SUBCODE_MEMORY)
    if memory_hold or (code in (HOLD_STARTD, HOLD_SYSTEM_POLICY) and "memory" in text.lower()):
        return BatchStatus(
            OOM, f"HTCondor held it for using more than its {limit} of memory: {text}", None, peak, "HELD"
        )
    return BatchStatus(FAILED, f"HTCondor held it (HoldReasonCode {code}): {text}", None, peak, "HELD")


def ad_status(ad: Mapping, memory: int) -> BatchStatus:
    """A job ad (from the queue or the history) -> our state, with the reason a user reads."""
    status = int(ad.get("JobStatus") or 0)
    peak = ad_peak(ad)
    if status in (0, 1):
        return BatchStatus(QUEUED, str(ad.get("LastRejMatchReason") or ""), native="IDLE")
    if status in (2, 6):
        return BatchStatus(RUNNING, "", None, peak, "RUNNING" if status == 2 else "TRANSFERRING_OUTPUT")
    if status == 7:
        return BatchStatus(RUNNING, "suspended by HTCondor", None, peak, "SUSPENDED")
    if status == 5:
        code, sub, text = _hold(ad)
        held = _hold_status(code, sub, text, memory, peak)
        return held or BatchStatus(QUEUED, f"{text}; it runs again once released", native="HELD")
    if status == 4:
        if ad.get("ExitBySignal"):
            sig = int(ad.get("ExitSignal") or 0)
            return BatchStatus(FAILED, f"killed by {signal_name(sig)}", None, peak, "COMPLETED")
        code = int(ad.get("ExitCode") or 0)
        if code == 0:
            return BatchStatus(SUCCEEDED, "", 0, peak, "COMPLETED")
        return BatchStatus(FAILED, f"a command exited with code {code}; see the log", code, peak, "COMPLETED")
    if status == 3:
        # A held job that is then removed (by periodic_remove, by us) still says why it was held, in the
        # HoldReason* or, depending on the version, LastHoldReason* attributes.
        for last in (False, True):
            code, sub, text = _hold(ad, last)
            held = _hold_status(code, sub, text, memory, peak) if code else None
            if held is not None:
                return BatchStatus(held.state, held.reason, None, peak, "REMOVED")
        why = str(ad.get("RemoveReason") or "no reason given")
        return BatchStatus(CANCELLED, f"removed from HTCondor: {why}", None, peak, "REMOVED")
    return BatchStatus(FAILED, f"HTCondor reports JobStatus {status}, which l1ml does not know", None, peak)


def _ad_id(ad: Mapping) -> str:
    return f"{int(ad['ClusterId'])}.{int(ad.get('ProcId') or 0)}"


# --- the dispatcher -----------------------------------------------------------------------------------------


def load_bindings():
    """The htcondor module: htcondor2 (HTCondor >= 24), else the version 1 bindings, which take the same
    calls used here."""
    try:
        import htcondor2 as htcondor
    except ImportError:
        try:
            import htcondor
        except ImportError:
            raise ToolNotFound(INSTALL_HINT) from None
    return htcondor


class CondorDispatcher(BatchDispatcher):
    """The Dispatcher for HTCondor: Schedd.submit, Schedd.query then Schedd.history, Schedd.act(Remove)."""

    name = "condor"
    id_key = "condor_id"

    def __init__(self, settings, config: CondorConfig | None = None, schedd=None, bindings=None):
        # The worker's settings, never the config file read again: CLI and test overrides must count.
        if config is None:
            config = CondorConfig.from_table(dict(settings.condor or {}), settings.home, work=settings.work)
        super().__init__(settings, config.poll)
        self.config = config
        self.htcondor = bindings or load_bindings()
        self._schedd = schedd  # found on first use, so making a dispatcher needs no reachable pool

    @property
    def schedd(self):
        if self._schedd is None:
            try:
                if self.config.schedd:
                    collector = self.htcondor.Collector(self.config.pool or None)
                    where = collector.locate(self.htcondor.DaemonType.Schedd, self.config.schedd)
                    self._schedd = self.htcondor.Schedd(where)
                else:
                    self._schedd = self.htcondor.Schedd()
            except Exception as exc:  # the bindings raise HTCondorException, or plain RuntimeError in v1
                raise BatchError(
                    f"cannot reach the HTCondor schedd {self.config.schedd or '(local)'}: {exc}",
                    transient=True,
                ) from None
        return self._schedd

    def job_name(self, job: Job) -> str:
        return f"l1ml-{self.config.tag}-{job.id}-a{job.attempts}"

    def description(self, launch: Launch, run: BatchRun) -> dict[str, str]:
        paths = self.config.paths
        node_dir = paths.on_nodes(run.workdir)
        return submit_description(
            run.name,
            self.config.tag,
            node_dir / STATUS_DIR / f"{run.name}.sh",
            node_dir,
            node_dir / STATUS_DIR,
            launch.memory,
            launch.timeout,
            self.config.cpus,
            self.config.submit,
        )

    def _submit(self, launch: Launch, run: BatchRun) -> str:
        paths = self.config.paths
        node_dir = paths.on_nodes(run.workdir)
        wrapper = run.workdir / STATUS_DIR / f"{run.name}.sh"
        wrapper.write_text(
            wrapper_script(
                paths.on_nodes(Path(launch.script)),
                node_dir / "src",
                node_dir / STATUS_DIR / f"{run.name}.exit",
                header=[f"exec >>{shlex.quote(str(paths.on_nodes(run.log)))} 2>&1"],
                comment=f"l1ml job {launch.job.id} ({launch.job.step}), attempt {launch.job.attempts}",
            )
        )
        sub = self.htcondor.Submit(self.description(launch, run))
        try:
            result = self.schedd.submit(sub, count=1)
        except Exception as exc:  # the bindings' own exception types differ between versions
            raise BatchError(f"the schedd refused the job: {exc}") from None
        return f"{int(result.cluster())}.0"

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:  # the bindings' own exception types differ between versions
            raise BatchError(f"HTCondor {what} failed: {exc}", transient=True) from None

    def _states(self, runs: dict[str, BatchRun]) -> dict[str, BatchStatus | None]:
        tag = f'L1mlQueue == "{self.config.tag}"'
        ads = {_ad_id(a): a for a in self._call("query", self.schedd.query, tag, PROJECTION)}
        missing = [i for i in runs if i not in ads]
        if missing:
            wanted = " || ".join(
                f"(ClusterId == {i.split('.')[0]} && ProcId == {i.split('.')[1]})" for i in missing
            )
            for ad in self._call(
                "history", self.schedd.history, f"{tag} && ({wanted})", PROJECTION, len(missing)
            ):
                ads.setdefault(_ad_id(ad), ad)
        out: dict[str, BatchStatus | None] = {}
        for cid, run in runs.items():
            ad = ads.get(cid)
            if ad is None:
                out[cid] = None
                continue
            st = ad_status(ad, run.memory)
            run.peak = max(run.peak or 0, st.peak_memory or 0) or None
            if st.finished and st.native == "HELD":
                self._remove(cid)  # a held job would sit in the schedd forever
            out[cid] = st
        return out

    def _peak(self, run: BatchRun) -> int | None:
        return run.peak  # the ads of the last poll carry it

    def _remove(self, cid: str) -> None:
        self._call("remove", self.schedd.act, self.htcondor.JobAction.Remove, [cid], "l1ml: run stopped")

    def _find(self, name: str) -> list[str]:
        constraint = f'L1mlName == "{name}"'
        ads = list(self._call("query", self.schedd.query, constraint, ["ClusterId", "ProcId"]))
        if not ads:
            ads = list(self._call("history", self.schedd.history, constraint, ["ClusterId", "ProcId"], 1))
        return sorted({_ad_id(a) for a in ads}, key=lambda i: tuple(int(x) for x in i.split(".")))

"""What the Slurm and HTCondor dispatchers share: the batch script, the shared-filesystem paths, the record
of a submission kept in the job's handle, and running a batch system's command-line tools.

A batch job runs on a node that sees the queue's work directory through a shared filesystem (EOS, AFS,
NFS...). The script it runs writes its exit code to a status file beside the work, so a job whose end the
batch system has already forgotten (Slurm purges finished jobs after MinJobAge) still has a known end.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from l1ml.errors import ConfigError, L1mlError, ToolNotFound

STATUS_DIR = ".l1ml-batch"


class BatchError(L1mlError):
    """A batch system refused a command (sbatch rejected the job, the schedd is unreachable...).

    ``transient`` marks an answer worth retrying (the controller is restarting), as opposed to a refusal
    (no such partition, more memory than any node has) that ends the job."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class BatchStatus:
    """One batch job's state, in the queue's terms (l1ml.synth.job.STATES), with the evidence for it."""

    state: str
    reason: str = ""
    exit_code: int | None = None
    peak_memory: int | None = None
    native: str = ""  # the batch system's own word for it (COMPLETED, HELD...), for logs and reports

    @property
    def finished(self) -> bool:
        from l1ml.synth.job import TERMINAL

        return self.state in TERMINAL


@dataclass(frozen=True)
class SharedPaths:
    """The queue's work directory as the queue's host sees it (``local``) and as batch nodes see it
    (``nodes``). They differ where, say, the server mounts EOS at /data/eos and nodes at /eos."""

    local: Path
    nodes: PurePosixPath

    @classmethod
    def from_table(cls, table: dict, home: Path) -> SharedPaths:
        """``shared`` defaults to the queue's home: the simplest setup puts the whole queue on EOS/NFS."""
        local = Path(str(table.get("shared") or home)).expanduser()
        nodes = PurePosixPath(str(table.get("shared_on_nodes") or local))
        return cls(local, nodes)

    def on_nodes(self, path: Path) -> PurePosixPath:
        try:
            rel = Path(path).resolve().relative_to(self.local.resolve())
        except ValueError:
            raise ConfigError(
                f"work directory {path} is not inside the shared directory {self.local}; batch "
                "nodes could not see it. Put the queue's home on the shared filesystem or set "
                "'shared' to a directory that holds it"
            ) from None
        return self.nodes / rel.as_posix()


def check_keys(table: dict, valid: set[str], where: str) -> None:
    unknown = set(table) - valid
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(valid))}"
        )


def wrapper_script(
    script: PurePosixPath,
    cwd: PurePosixPath,
    status: PurePosixPath,
    header: list[str] = (),
    comment: str = "",
) -> str:
    """The batch job itself: runs the queue's run script in ``cwd`` and leaves its exit code in ``status``.

    ``status`` + ".started" is written first, so that after a restart a run the batch system has forgotten can
    still be told apart from one that was never submitted."""
    q = shlex.quote
    tmp = str(status) + ".tmp"
    lines = ["#!/bin/bash", *header]
    if comment:
        lines.append(f"# {comment}")
    lines += [
        f": > {q(str(status) + '.started')}",
        f"cd {q(str(cwd))} || exit 111",
        f"bash {q(str(script))}",
        "rc=$?",
        # Written then renamed, so a reader never sees half a number.
        f'printf "%s\\n" "$rc" > {q(tmp)} && mv -f {q(tmp)} {q(str(status))}',
        'exit "$rc"',
        "",
    ]
    return "\n".join(lines)


def read_status_file(path: Path) -> int | None:
    """The exit code the batch script recorded, or None when it never got that far."""
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def find_tool(name: str, install_hint: str, tools: dict | None = None) -> str:
    """The executable for ``name``: settings' [tools] table first, then PATH."""
    configured = (tools or {}).get(name)
    if configured:
        if os.access(configured, os.X_OK):
            return str(configured)
        raise ToolNotFound(f"{name}: '{configured}' from the settings' [tools] table is not an executable")
    found = shutil.which(name)
    if not found:
        raise ToolNotFound(f"{name} not found on PATH; {install_hint}")
    return found


def run_tool(argv: list[str], env: dict | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run a batch system's client tool; the caller reads the return code."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, env=env, timeout=timeout)
    except FileNotFoundError:
        raise ToolNotFound(f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BatchError(f"{shlex.join(argv)} did not answer within {timeout:.0f} s") from None


def signal_name(sig: int) -> str:
    import signal

    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def tail(path: Path, size: int = 64 * 1024) -> str:
    """The last ``size`` bytes of a log, or "" if it cannot be read (yet)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def client_env(extra: dict | None = None) -> dict:
    """This process's environment minus its secrets: sbatch and condor pass the submitter's environment on to
    the job, and the server's token must not end up in a batch job's environment."""
    import re

    env = {k: v for k, v in os.environ.items() if not re.search(r"TOKEN|SECRET|PASSWORD", k, re.IGNORECASE)}
    env.update(extra or {})
    return env


def queue_tag(home: Path) -> str:
    """Short and stable per queue, so two queues submitting as one user never adopt each other's jobs."""
    import hashlib

    return hashlib.sha1(str(Path(home).resolve()).encode()).hexdigest()[:6]

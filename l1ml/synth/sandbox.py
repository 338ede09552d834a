"""Job isolation: each run in a bubblewrap sandbox where only its own work directory is writable.

Inside the sandbox the whole filesystem is read-only, and the queue's own places are hidden behind empty
tmpfs mounts: the store and uploaded archives (``home``), every job's work directory (``work``), the
config file's directory (tokens), the worker's home directory and /tmp. The run gets its own PID namespace
with a fresh /proc, so it sees no other process (no /proc/PID/environ or /proc/PID/root of the worker to
read through), and when its first process ends the kernel kills every process left in the namespace. The
environment is cleaned of tokens and secrets. Capabilities are dropped, so even a root worker's job cannot
unmount what hides the store.

``probe()`` tries bwrap once; the worker reports the mode it runs in at start. Without bwrap (or where user
namespaces are refused) runs are not isolated from the worker's user: the worker says so, and
``sandbox = "bwrap"`` in synth.toml makes that an error instead of a fallback.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from l1ml.errors import ConfigError

MODES = ("auto", "bwrap", "none")
# Directories of host sockets a job must not reach as the queue's account (hidden if they exist).
HOST_SOCKETS = ("/run/munge", "/var/run/munge", "/run/user", "/var/run/user")
# Names of environment variables a job never gets: the queue's own, and anything that looks like a secret.
_SECRET = re.compile(r"^L1ML_SYNTH_|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE", re.IGNORECASE)


@dataclass(frozen=True)
class Isolation:
    mode: str  # "bwrap" or "none"
    detail: str  # what was found, for the worker's start-up line


@functools.lru_cache(maxsize=4)
def _bwrap_works(bwrap: str) -> str:
    """'' if a PID-namespaced, read-only sandbox starts here, else why not."""
    try:
        r = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
             "--unshare-net", "--size", "1048576", "--tmpfs", "/tmp", "--die-with-parent", "--new-session", "true"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} could not run: {exc}"
    if r.returncode != 0:
        return f"{bwrap} refused a sandbox here ({r.stderr.strip() or f'exit {r.returncode}'})"
    return ""


def probe(mode: str = "auto") -> Isolation:
    """The isolation runs get on this host, given the configured mode."""
    if mode not in MODES:
        raise ConfigError(f"sandbox = '{mode}' is not valid; valid: {', '.join(MODES)}")
    if mode == "none":
        return Isolation(
            "none", "sandbox = 'none' in the settings: jobs run as the worker's user, unisolated"
        )
    bwrap = shutil.which("bwrap")
    why = "bwrap (bubblewrap) is not installed" if bwrap is None else _bwrap_works(bwrap)
    if not why:
        return Isolation(
            "bwrap",
            f"{bwrap}: read-only root, own PID and network namespaces, only the job's directory writable",
        )
    if mode == "bwrap":
        raise ConfigError(f"sandbox = 'bwrap' but {why}")
    return Isolation(
        "none", f"{why}; jobs run as the worker's user and could read or write the queue's store"
    )


# What a job's environment may hold (an allow-list: DB_PASS or a cloud key under any name stays out). The
# admin adds names or prefixes with `sandbox_env` in synth.toml (a license server, a tool's root).
ENV_ALLOW = (
    "PATH", "LANG", "LANGUAGE", "LC_", "TZ", "TERM", "USER", "LOGNAME", "SHELL", "PWD",
    "XILINX", "VITIS", "VIVADO", "LM_LICENSE_FILE", "INTEL", "QUARTUS", "MGLS_", "LD_LIBRARY_PATH",
    "PYTHONPATH", "VIRTUAL_ENV", "CXX", "CC", "OMP_NUM_THREADS",
)  # fmt: skip


def job_env(environ: dict[str, str], workdir: Path, allow: tuple | list = ()) -> dict[str, str]:
    names = (*ENV_ALLOW, *allow)
    env = {k: v for k, v in environ.items() if any(k.startswith(n) for n in names) and not _SECRET.search(k)}
    env["HOME"] = str(workdir)  # the worker's home is hidden; tools that write dotfiles write them here
    env["TMPDIR"] = "/tmp"
    return env


def _covered(path: Path, hidden: list[Path]) -> bool:
    return any(path == h or h in path.parents for h in hidden)


def wrap(
    argv: list[str],
    workdir: Path,
    hide: list[Path],
    writable: list[Path] = (),
    readable: list[Path] = (),
    tmpfs_size: int = 1024**3,
    network: bool = False,
) -> list[str]:
    """argv run in a sandbox: read-only root, `hide` behind empty tmpfs, `workdir` (and the admin's
    `writable` extras) writable, cwd workdir/src; /tmp and /dev/shm tmpfs of `tmpfs_size` bytes each (the
    supervisor counts them as the run's memory); no network unless `network` (a netns with only lo: the
    queue's server and every host TCP socket are out of reach)."""
    size = ["--size", str(int(tmpfs_size))]
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", *size, "--tmpfs", "/dev/shm", "--proc", "/proc",
           *size, "--tmpfs", "/tmp"]  # fmt: skip
    done = [Path("/tmp")]
    for h in sorted({Path(p).absolute() for p in hide}, key=lambda p: len(p.parts)):
        if _covered(h, done) or not h.is_dir():
            continue  # already hidden by a parent's tmpfs; a missing dir hides nothing
        cmd += ["--tmpfs", str(h)]
        done.append(h)
    # The Python that runs l1ml's own step commands (`python -m l1ml...`) and l1ml itself may live under a
    # hidden place: the worker's home (pyenv, a user install) or /tmp (a clone with its venv, as CI makes
    # one). Show them again, read-only.
    for p in interpreter_dirs():
        if _covered(p, done):
            cmd += ["--ro-bind", str(p), str(p)]
    for r in readable:  # the admin's: input data that sits under a hidden place
        r = Path(r).absolute()
        if r.is_dir():
            cmd += ["--ro-bind", str(r), str(r)]
    for w in [*writable, workdir]:
        w = Path(w).absolute()
        if w.is_dir():
            cmd += ["--bind", str(w), str(w)]
    for h in done[1:]:  # the empty tmpfs that hide things are read-only too (the binds in them are not)
        cmd += ["--remount-ro", str(h)]
    cmd += [
        *([] if network else ["--unshare-net"]),
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--chdir", str(workdir / "src"), "--",
    ]  # fmt: skip
    return cmd + argv


def interpreter_dirs() -> list[Path]:
    """The directories of the running Python installation and its venv, and l1ml's own package (an
    editable install leaves it in the clone, outside the venv), symlinks resolved. They hold code, not
    secrets."""
    import sys

    import l1ml

    dirs = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    dirs.add(Path(os.path.realpath(sys.executable)).parent.parent)
    dirs.add(Path(l1ml.__file__).resolve().parent)
    return sorted(d for d in dirs if d.is_dir())


def hidden_paths(settings) -> list[Path]:
    """What a job must not see: the store and archives, every work directory, the tokens' config file,
    and the worker user's home (its dotfiles hold tokens and keys)."""
    from l1ml.plan import config_file

    paths = [settings.home, settings.work, config_file().absolute().parent]
    # Host sockets a job must not reach as the queue's account: munge (Slurm trusts what it signs), the
    # user session's bus and agents.
    paths += sorted({Path(os.path.realpath(p)) for p in HOST_SOCKETS if os.path.isdir(p)})
    home = os.path.expanduser("~")
    if home and home != "/":
        paths.append(Path(home))
    paths += [Path(p) for p in settings.sandbox_hide]
    return paths

"""Queue settings: a TOML file (L1ML_SYNTH_CONFIG, else <user config dir>/l1ml/synth.toml) plus env vars.

home = "/data/l1ml-queue"        # the SQLite store and uploads: a local disk; L1ML_SYNTH_HOME overrides
work = "/eos/.../l1ml-work"      # work dirs and results; default home/work; L1ML_SYNTH_WORK overrides
server = "http://buildhost:8765" # clients use the HTTP API instead of the local store
token = "..."                    # this user's token for that server; L1ML_SYNTH_TOKEN overrides
dispatcher = "local"             # how a worker runs jobs: see l1ml.synth.dispatch
lease = 60                       # seconds a worker's claim lives without a heartbeat
max_attempts = 3                 # runs of a job whose worker died, before it is marked failed
sandbox = "auto"                 # bwrap if it works here (the worker says at start), "bwrap" (required), "none"
max_user_bytes = 53687091200     # per-user quota on queued archives and kept results (bytes)
keep_days = 14                   # results and work dirs of finished jobs are deleted after this (`l1ml synth gc`)
[tools]                          # executables, where they are not on PATH
vitis_hls = "/tools/Xilinx/Vitis_HLS/2023.2/bin/vitis_hls"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from l1ml.errors import ConfigError
from l1ml.plan import config_file


@dataclass(frozen=True)
class Settings:
    home: Path
    # Apart from home because SQLite's WAL needs a local disk, while batch nodes need the work dirs on a
    # shared filesystem (EOS, NFS).
    work: Path | None = None  # None: home/work
    server: str = ""
    token: str = ""
    dispatcher: str = "local"
    lease: float = 60.0
    max_attempts: int = 3
    max_upload: int = 1024**3  # bytes, compressed
    max_unpacked: int = 2 * 1024**3  # bytes, all members together: firmware sources are MBs, not GBs
    max_members: int = 50_000
    tools: dict = field(default_factory=dict)
    slurm: dict = field(default_factory=dict)  # [slurm]: see l1ml.synth.dispatch.slurm
    condor: dict = field(default_factory=dict)  # [condor]: see l1ml.synth.dispatch.condor
    sandbox: str = "auto"  # "auto" (bwrap if it works here, else none, said at worker start), "bwrap", "none"
    sandbox_hide: list = field(default_factory=list)  # more directories a job must not see
    sandbox_writable: list = field(default_factory=list)  # more directories a job may write (scratch)
    # Directories a job may read although a hidden place holds them (data under /tmp or a home directory)
    sandbox_readable: list = field(default_factory=list)
    sandbox_env: list = field(default_factory=list)  # names (or PREFIX_) a job's environment may hold too
    sandbox_network: bool = False  # runs get a network namespace (no network) unless this is true
    max_user_bytes: int = 50 * 1024**3  # per user: uploaded archives of unfinished jobs + kept results
    keep_days: float = 14.0  # finished jobs' work dirs and results are deleted this long after they end
    delete_fetched: bool = False  # ... or as soon as their results were fetched
    # Packing a run's results (l1ml.synth.pack) is bounded: files over max_result_file bytes are left out,
    # and a packer still running after pack_timeout seconds is killed (the outcome is kept).
    max_result_file: int = 1024**3
    pack_timeout: float = 600.0
    # Limits each run is held to while it runs (l1ml.synth.supervisor); each recorded with the job.
    max_pids: int = 1024  # processes and threads of one run
    max_job_disk: int = 20 * 1024**3  # its work directory and log, bytes (also at most the user's quota)
    tmpfs_size: int = 1024**3  # each of /tmp and /dev/shm inside the sandbox, bytes; counted as memory
    max_cpu_time: float = 7 * 86400.0  # CPU seconds of all its processes together
    max_connections: int = 512  # the server's open connections; the rest are closed at once
    header_timeout: float = 10.0  # seconds a client may take to send a request's headers
    upload_timeout: float = 600.0  # seconds an upload may take, and 30 s at most between its chunks

    @property
    def db(self) -> Path:
        return self.home / "queue.db"

    @property
    def archives(self) -> Path:
        return self.home / "archives"

    def __post_init__(self):
        _check_types(self)
        # Absolute: jobs run with their own work directory as cwd, where a relative path means nothing.
        object.__setattr__(self, "home", Path(self.home).expanduser().absolute())
        work = Path(self.work).expanduser().absolute() if self.work else self.home / "work"
        object.__setattr__(self, "work", work)


# Expected type of each key, checked when the settings are read, so a bad value names its key at once
# rather than failing a worker mid-run.
_POSITIVE = (
    "lease", "max_attempts", "max_upload", "max_unpacked", "max_members", "max_user_bytes", "max_result_file",
    "pack_timeout", "max_pids", "max_job_disk", "tmpfs_size", "max_cpu_time", "max_connections",
    "header_timeout", "upload_timeout",
)  # fmt: skip
_INTS = (
    "max_attempts", "max_upload", "max_unpacked", "max_members", "max_user_bytes", "max_result_file",
    "max_pids", "max_job_disk", "tmpfs_size", "max_connections",
)  # fmt: skip


def _check_types(s: Settings) -> None:
    import math

    def bad(key: str, want: str) -> ConfigError:
        return ConfigError(f"{config_file()}: {key} = {getattr(s, key)!r} must be {want}")

    for key in ("server", "token", "dispatcher", "sandbox"):
        if not isinstance(getattr(s, key), str):
            raise bad(key, "a string")
    for key in ("tools", "slurm", "condor"):
        if not isinstance(getattr(s, key), dict):
            raise bad(key, f"a table ([{key}])")
    if not all(isinstance(v, str) for v in s.tools.values()):
        raise bad("tools", "a table of executable paths (strings)")
    for key in ("sandbox_hide", "sandbox_writable", "sandbox_readable"):
        v = getattr(s, key)
        if not isinstance(v, list) or not all(isinstance(x, str) and x.startswith("/") for x in v):
            raise bad(key, "a list of absolute paths")
    for key in ("delete_fetched", "sandbox_network"):
        if not isinstance(getattr(s, key), bool):
            raise bad(key, "true or false")
    if not isinstance(s.sandbox_env, list) or not all(isinstance(x, str) and x for x in s.sandbox_env):
        raise bad("sandbox_env", "a list of variable names")
    for key in (*_POSITIVE, "keep_days"):
        v = getattr(s, key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise bad(key, "a number")
        if key in _INTS and not isinstance(v, int):
            raise bad(key, "a whole number")
        if v <= 0 or v > 2**62:
            raise bad(key, "positive")
    from l1ml.synth.sandbox import MODES

    if s.sandbox not in MODES:
        raise bad("sandbox", f"one of {', '.join(MODES)}")


def load_settings(**overrides) -> Settings:
    """File, then env vars, then explicit overrides (CLI options); None overrides are ignored."""
    path = config_file()
    doc: dict = {}
    if path.is_file():
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    valid = {f.name for f in fields(Settings)}
    unknown = set(doc) - valid
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(valid))}"
        )
    if os.environ.get("L1ML_SYNTH_HOME"):
        doc["home"] = os.environ["L1ML_SYNTH_HOME"]
    if os.environ.get("L1ML_SYNTH_WORK"):
        doc["work"] = os.environ["L1ML_SYNTH_WORK"]
    if os.environ.get("L1ML_SYNTH_TOKEN"):
        doc["token"] = os.environ["L1ML_SYNTH_TOKEN"]
    if os.environ.get("L1ML_SYNTH_SANDBOX"):
        doc["sandbox"] = os.environ["L1ML_SYNTH_SANDBOX"]
    if os.environ.get("L1ML_SYNTH_SERVER"):
        doc["server"] = os.environ["L1ML_SYNTH_SERVER"]
    doc.update({k: v for k, v in overrides.items() if v is not None})
    if "home" not in doc:
        import platformdirs

        doc["home"] = Path(platformdirs.user_data_dir("l1ml")) / "synth"
    try:
        return Settings(**doc)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None

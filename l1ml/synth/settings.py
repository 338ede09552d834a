"""Queue settings: a TOML file (L1ML_SYNTH_CONFIG, else <user config dir>/l1ml/synth.toml) plus env vars.

home = "/data/l1ml-queue"        # the SQLite store and uploads: a local disk; L1ML_SYNTH_HOME overrides
work = "/eos/.../l1ml-work"      # work dirs and results; default home/work; L1ML_SYNTH_WORK overrides
server = "http://buildhost:8765" # clients use the HTTP API instead of the local store
token = "..."                    # this user's token for that server; L1ML_SYNTH_TOKEN overrides
dispatcher = "local"             # how a worker runs jobs: see l1ml.synth.dispatch
lease = 60                       # seconds a worker's claim lives without a heartbeat
max_attempts = 3                 # runs of a job whose worker died, before it is marked failed
[tools]                          # executables, where they are not on PATH
vitis_hls = "/tools/Xilinx/Vitis_HLS/2023.2/bin/vitis_hls"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from l1ml.errors import ConfigError


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
    max_upload: int = 2 * 1024**3  # bytes, compressed
    max_unpacked: int = 8 * 1024**3  # bytes, all members together
    max_members: int = 50_000
    tools: dict = field(default_factory=dict)
    slurm: dict = field(default_factory=dict)  # [slurm]: see l1ml.synth.dispatch.slurm
    condor: dict = field(default_factory=dict)  # [condor]: see l1ml.synth.dispatch.condor

    @property
    def db(self) -> Path:
        return self.home / "queue.db"

    @property
    def archives(self) -> Path:
        return self.home / "archives"

    def __post_init__(self):
        # Absolute: jobs run with their own work directory as cwd, where a relative path means nothing.
        object.__setattr__(self, "home", Path(self.home).expanduser().absolute())
        work = Path(self.work).expanduser().absolute() if self.work else self.home / "work"
        object.__setattr__(self, "work", work)


def config_file() -> Path:
    env = os.environ.get("L1ML_SYNTH_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("l1ml")) / "synth.toml"


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

"""FPGA boards: <name>.toml -> Board, from the user's boards directory, then the checkout's boards/ (if
any), then the ones shipped with l1ml (l1ml/boards/, package data). The first file of a name wins.

A board is declared as data: its part, the clock it must close timing at, and the resources a design
may use. Conversion takes the part and clock from here; synthesis reports are read against the
resources.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from l1ml.errors import ConfigError
from l1ml.project import repo_root

RESOURCES = ("lut", "ff", "dsp", "bram_36k", "uram")


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    clock_period_ns: float
    clock_uncertainty_pct: float
    description: str = ""
    resources: dict[str, int] = field(default_factory=dict)
    file: Path | None = None

    @property
    def clock_mhz(self) -> float:
        return 1e3 / self.clock_period_ns

    @property
    def clock_uncertainty(self) -> str:
        """In the form hls4ml's backends take."""
        return f"{self.clock_uncertainty_pct:g}%"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "part": self.part,
            "clock_period_ns": self.clock_period_ns,
            "clock_uncertainty_pct": self.clock_uncertainty_pct,
            "description": self.description,
            "resources": dict(self.resources),
        }


def boards_dir() -> Path:
    """The boards shipped with l1ml (package data)."""
    return Path(__file__).resolve().parent.parent / "boards"


def user_boards_dir() -> Path:
    """Where a user adds boards of their own: L1ML_BOARDS_DIR, else e.g. ~/.config/l1ml/boards."""
    import os

    given = os.environ.get("L1ML_BOARDS_DIR")
    if given:
        return Path(given).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("l1ml")) / "boards"


def search_path() -> list[Path]:
    dirs = [user_boards_dir(), repo_root() / "boards", boards_dir()]
    return list(dict.fromkeys(dirs))  # the checkout's boards/ may be the package's own


def board_names(directory: Path | None = None) -> list[str]:
    dirs = [directory] if directory else search_path()
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})


def _find(name: str, directory: Path | None) -> Path | None:
    for d in [directory] if directory else search_path():
        if (d / f"{name}.toml").is_file():
            return d / f"{name}.toml"
    return None


def board_file(project) -> Path | None:
    """The file the project's board is read from (as project_board finds it), None when there is none:
    `l1ml run` hashes it into the convert step's key, so editing a board re-runs convert."""
    name = project.firmware.board
    if name.endswith(".toml"):
        return project.resolve(name)
    return _find(name, None)


def load_board(name: str, directory: Path | None = None) -> Board:
    """A board by name (<name>.toml on the search path, or in `directory`) or by the path of a .toml."""
    if name.endswith(".toml"):
        f = Path(name).expanduser()
        name = f.stem
        if not f.is_file():
            raise ConfigError(f"board file {f} does not exist")
    else:
        f = _find(name, directory)
    if f is None:
        looked = ", ".join(str(d) for d in ([directory] if directory else search_path()))
        raise ConfigError(
            f"unknown board '{name}'; available boards: {', '.join(board_names(directory)) or 'none'} "
            f"(looked in {looked}; add your own as <name>.toml in {user_boards_dir()})"
        )
    try:
        doc = tomllib.loads(f.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{f}: not valid TOML: {exc}") from None
    return _board_from(doc, name, f)


def _board_from(doc: dict, name: str, f: Path) -> Board:
    known = {"description", "part", "clock_period_ns", "clock_uncertainty_pct", "resources"}
    unknown = set(doc) - known
    if unknown:
        raise ConfigError(
            f"{f}: unknown key(s) {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(known))}"
        )
    for key in ("part", "clock_period_ns"):
        if key not in doc:
            raise ConfigError(f"{f}: missing key '{key}'")
    period = doc["clock_period_ns"]
    if isinstance(period, bool) or not isinstance(period, int | float) or period <= 0:
        raise ConfigError(f"{f}: 'clock_period_ns' must be a positive number, got {period!r}")
    res = doc.get("resources", {})
    if not isinstance(res, dict):
        raise ConfigError(f"{f}: [resources] must be a table")
    bad = set(res) - set(RESOURCES)
    if bad:
        raise ConfigError(
            f"{f} [resources]: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(RESOURCES)}"
        )
    for key, value in res.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{f} [resources]: '{key}' must be a count (integer >= 0), got {value!r}")
    return Board(
        name=name,
        part=str(doc["part"]),
        clock_period_ns=float(period),
        clock_uncertainty_pct=float(doc.get("clock_uncertainty_pct", 12.5)),
        description=str(doc.get("description", "")),
        resources={k: int(res.get(k, 0)) for k in RESOURCES},
        file=f,
    )


def list_boards(directory: Path | None = None) -> list[Board]:
    return [load_board(n, directory) for n in board_names(directory)]


def project_board(project) -> Board:
    """The project's board: a name from boards/, or a .toml path relative to the project."""
    name = project.firmware.board
    if name.endswith(".toml"):
        return load_board(str(project.resolve(name)))
    return load_board(name)

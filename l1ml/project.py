"""Project files: ``projects/<name>/project.toml`` read into frozen dataclasses.

Each TOML table maps to one dataclass below. The dataclass fields are the schema: an unknown key, or a
value of the wrong type, is a ConfigError naming the key and the file. Paths inside a project file are
relative to the project directory unless absolute.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from l1ml.errors import ConfigError

SIGNAL_NAMES = ("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu")
MODEL_KINDS = ("dense_ae", "cnn_ae", "vae", "bdt", "hgq2_ae")  # hgq2_ae: Keras 3 worker (l1ml/frontends/)
PTQ_MODES = ("default", "profile")  # [firmware] ptq: how a float network's precisions are chosen (firmware/ptq.py)
# [firmware] ptq_precision: a signed fixed-point type, "ap_" optional, modes passed through to hls4ml.
_PTQ_TYPE = re.compile(r"^\s*(?:ap_)?(u?)fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,(.*))?>\s*$")


@dataclass(frozen=True)
class DataConfig:
    # With synthetic = true, missing files are generated (seeded) on first use.
    synthetic: bool = True
    background: str = "build/data/background.h5"
    signals: dict[str, str] = field(
        default_factory=lambda: {name: f"build/data/{name}.h5" for name in SIGNAL_NAMES}
    )
    key: str = "Particles"
    generate_events: int = 200_000
    max_events: int = 0  # 0 reads every event
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])  # background train/val/test
    seed: int = 42
    # "hdf5": ADC2021-layout files; "l1ntuple": CMS L1 ntuples (ROOT), mapped by [data.inputs] (docs/data.md).
    # background, signals and rate_sample may then be globs or lists of many files.
    format: str = "hdf5"
    inputs: dict[str, str | int] = field(default_factory=dict)  # tree/branch names over the L1Upgrade default
    rate_sample: str = ""  # ZeroBias files for `l1ml rate` (glob); empty: the background files
    sample_events: int = 1_000_000  # l1ntuple: events drawn (seeded) for training; emulate and rate read all


@dataclass(frozen=True)
class PreprocessingConfig:
    # "shift": per-feature integer offsets and power-of-two shifts on hardware units (what the FPGA can do).
    # "identity": hardware units as they are.
    kind: str = "shift"


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "dense_ae"
    hidden: list[int] = field(default_factory=lambda: [32, 16])
    latent: int = 8
    bits: int = 8
    integer: int = 3
    alpha: int = 1
    batchnorm: bool = True
    filters: list[int] = field(default_factory=lambda: [4, 8])  # CNN AE
    n_estimators: int = 20  # BDT
    max_depth: int = 4  # BDT
    ebops_beta: float = 1e-6  # hgq2_ae: weight of HGQ2's resource estimate (EBOPs) in the loss


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 20
    batch_size: int = 1024
    learning_rate: float = 1e-3
    finetune_epochs: int = 5  # quantization-aware fine-tuning of the deployed (BN-folded) model
    seed: int = 1
    # Stop when the validation loss has not improved for this many epochs (BDT: boosting rounds); 0: never.
    early_stopping_patience: int = 0
    # Keep the weights (BDT: the trees up to the round) with the lowest validation loss, not the last.
    best_checkpoint: bool = False


@dataclass(frozen=True)
class TriggerConfig:
    rate_khz: float = 1.0
    # L1 rates are a fraction of the LHC's colliding-bunch crossing rate, not of 40 MHz:
    # n_bunches x the revolution frequency (11.245 kHz), 28.6 MHz for 2544 colliding bunches.
    colliding_bunches: int = 2544
    revolution_khz: float = 11.245
    reference_fpr: float = 1e-5
    # Every rate `l1ml deploy` sets a threshold for; empty means just rate_khz.
    rates_khz: list[float] = field(default_factory=list)
    # A threshold or rate resting on fewer background events above it (of the rate sample) is refused
    # for deploy and promotion and flagged elsewhere: 100 events is about +-10%. 0 turns the check off
    # (tiny test samples).
    min_events_above: int = 100


@dataclass(frozen=True)
class FirmwareConfig:
    board: str = "vu9p"
    backend: str = "Vitis"  # hls4ml backend: Vitis, Vivado, or (l1ml/firmware/backends/) Catapult, Quartus, oneAPI, Libero
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    hls_config: str = ""  # hls_configs/*.yml, relative to the repository root or absolute
    precision: str = "ap_fixed<18,8,AP_RND>"  # conifer BDTs; AP_RND: truncated leaves would bias the sum low
    namespace: str = ""  # C++ namespace; defaults to the project name
    # Open-source RTL (l1ml/firmware/rtl/): also build alkaid Verilog on every `l1ml convert` (as --backend rtl does).
    rtl: bool = False
    # alkaid's pipeline stage budget in ns; negative: the board's clock period less its uncertainty;
    # 0: one combinational block.
    rtl_latency_cutoff_ns: float = -1.0
    rtl_yosys_flow: str = "xilinx"  # xilinx (synth_xilinx for the board's family) or generic
    # Float networks (no QKeras layer): post-training quantization by hls4ml's rules (l1ml/firmware/ptq.py).
    # "default": config_from_keras_model with ptq_precision; "profile": each float layer's weight, bias and
    # result types sized from hls4ml's profiling of their ranges on the project's background events.
    ptq: str = "default"
    ptq_precision: str = "ap_fixed<16,6>"
    ptq_profile_events: int = 20000


@dataclass(frozen=True)
class ValidationConfig:
    events: int = 2000  # per sample
    tolerance_lsb: int = 0
    # Networks: events (all samples together) run through hls4ml's C simulation; beyond them the
    # bit-exact batch emulator takes over, checked against the C simulation on these events.
    csim_events: int = 5000
    # BDTs: trigger decisions allowed to flip per sample between the float xgboost model and the
    # fixed-point firmware (quantization, not an exactness failure): a count (>= 1) or a fraction of the
    # sample's events (< 1). Networks: the software model is the deployed fixed-point model, so none may.
    quantization_flips: float = 0.001
    # Float networks (post-training quantized): the largest drop of a signal's TPR at the target rate,
    # firmware against the float model, that validation accepts (absolute).
    ptq_tpr_drop: float = 0.02
    # Float networks: events per sample the physics cost is measured on, with the emulator (0: every event;
    # never fewer than `events`), so that the target rate's FPR is resolved where the files allow.
    ptq_events: int = 100_000


@dataclass(frozen=True)
class SynthConfig:
    memory: str = ""  # e.g. "16G"; empty derives a default from the project's size
    timeout: str = "6h"
    # The queue steps `l1ml run` submits and waits for (csim runs here; csynth/vsynth need the vendor tools).
    steps: list[str] = field(default_factory=lambda: ["csim"])


@dataclass(frozen=True)
class GateConfig:
    # The regression gate against the production version (l1ml/lifecycle/gate.py).
    # A signal's TPR at the deployed threshold fails the gate when it drops by more than tpr_drop
    # (absolute) or tpr_drop_relative (of the reference's TPR), and the drop is significant: more than
    # `significance` times its statistical error.
    tpr_drop: float = 0.01  # largest allowed drop of a signal's TPR at the target rate (absolute)
    tpr_drop_relative: float = 0.1  # largest allowed drop relative to the reference's TPR
    significance: float = 2.0  # a drop counts only beyond this many standard errors
    rate_growth: float = 0.2  # largest allowed relative growth of the rate at the target threshold
    latency_growth: float = 0.0  # largest allowed relative growth of the latency in cycles
    resource_growth: float = 0.05  # largest allowed relative growth of LUT, FF, DSP or BRAM


@dataclass(frozen=True)
class TrackingConfig:
    uri: str = ""  # MLflow tracking URI; empty: MLFLOW_TRACKING_URI, else no tracking
    experiment: str = ""  # default: the project name
    registered_model: str = ""  # default: l1ml-<project name>


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "preprocessing": PreprocessingConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "trigger": TriggerConfig,
    "firmware": FirmwareConfig,
    "validation": ValidationConfig,
    "synth": SynthConfig,
    "gate": GateConfig,
    "tracking": TrackingConfig,
}


@dataclass(frozen=True)
class Project:
    name: str
    path: Path  # the project directory
    file: Path  # its project.toml
    data: DataConfig
    preprocessing: PreprocessingConfig
    model: ModelConfig
    training: TrainingConfig
    trigger: TriggerConfig
    firmware: FirmwareConfig
    validation: ValidationConfig
    synth: SynthConfig
    gate: GateConfig = field(default_factory=GateConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @property
    def build_dir(self) -> Path:
        return self.path / "build"

    @property
    def models_dir(self) -> Path:
        return self.build_dir / "models"

    def resolve(self, p: str) -> Path:
        """A path from the project file: absolute as is, otherwise relative to the project directory."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else self.path / q

    def model_dir(self, version: str | None = None) -> Path:
        """The directory of a model version; None means the newest."""
        v = version or latest_model_version(self)
        d = self.models_dir / v
        if not d.is_dir():
            raise ConfigError(
                f"model version '{v}' not found in {self.models_dir}; have: {', '.join(model_versions(self)) or 'none'}"
            )
        return d

    def firmware_dir(self, version: str | None = None, variant: str | None = None) -> Path:
        """The firmware of a model version: its `variant` (id, id prefix or label), else its active
        variant (the last converted or chosen, build/firmware/vN/active.json), else build/firmware/vN
        itself (a conversion from before variants, or none yet). See l1ml/layout.py."""
        from l1ml.layout import resolve_dir, version_root

        v = version or latest_model_version(self)
        return resolve_dir(version_root(self, v), variant)

    @property
    def colliding_rate_hz(self) -> float:
        """The rate of bunch crossings with collisions, which every L1 rate is a fraction of."""
        return self.trigger.colliding_bunches * self.trigger.revolution_khz * 1e3

    @property
    def trigger_fpr(self) -> float:
        """The background efficiency that gives the target L1 rate."""
        return self.trigger.rate_khz * 1e3 / self.colliding_rate_hz


def _check_type(value, tp, where: str):
    origin = typing.get_origin(tp)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {'text' if tp is str else 'true or false'}, got {value!r}")
        return value
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, inner = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return {k: _check_type(v, inner, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, types.UnionType):
        return value
    raise TypeError(f"unsupported schema type {tp}")  # a bug in this module, not in the user's file


def _unknown_key(key: str, valid, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(sorted(valid))}")


def build_section(cls: type, table: dict, where: str):
    """One TOML table into its dataclass, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in names:
            raise _unknown_key(key, names, where)
        values[key] = _check_type(value, hints[key], f"{where}: key '{key}'")
    return cls(**values)


def load_project(path: str | Path) -> Project:
    """Read a project from its directory or its project.toml."""
    p = Path(path)
    file = p / "project.toml" if p.is_dir() or not p.suffix else p
    if not file.is_file():
        raise ConfigError(f"no project file at {file}; a project is a directory holding project.toml")
    try:
        doc = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    name = doc.pop("name", file.parent.name)
    if not isinstance(name, str):
        raise ConfigError(f"{file}: key 'name' must be text")
    sections = {}
    for key, table in doc.items():
        if key not in SECTIONS:
            raise _unknown_key(key, ["name", *SECTIONS], str(file))
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: '{key}' must be a table ([{key}])")
        sections[key] = build_section(SECTIONS[key], table, f"{file} [{key}]")
    for key, cls in SECTIONS.items():
        sections.setdefault(key, cls())
    proj = Project(name=name, path=file.parent.resolve(), file=file.resolve(), **sections)
    _validate(proj)
    return proj


def _validate(p: Project) -> None:
    where = str(p.file)
    if p.model.kind not in MODEL_KINDS:
        raise ConfigError(f"{where} [model]: kind '{p.model.kind}' is not one of {', '.join(MODEL_KINDS)}")
    if p.preprocessing.kind not in ("shift", "identity"):
        raise ConfigError(f"{where} [preprocessing]: kind must be 'shift' or 'identity'")
    split = p.data.split
    if len(split) != 3 or any(s <= 0 for s in split) or abs(sum(split) - 1) > 1e-6:
        raise ConfigError(f"{where} [data]: split must be three positive fractions summing to 1, got {split}")
    if p.data.format not in ("hdf5", "l1ntuple"):
        raise ConfigError(f"{where} [data]: format must be 'hdf5' or 'l1ntuple', got '{p.data.format}'")
    if p.data.format == "l1ntuple":
        from l1ml.data.l1ntuple import NtupleMap

        NtupleMap.from_inputs(p.data.inputs, f"{where} [data.inputs]")
    elif p.data.inputs:
        raise ConfigError(f"{where} [data]: [data.inputs] maps ROOT branches; it needs format = 'l1ntuple'")
    if p.data.sample_events < 1:
        raise ConfigError(f"{where} [data]: sample_events must be at least 1")
    if p.firmware.backend not in ("Vitis", "Vivado", "Catapult", "Quartus", "oneAPI", "Libero"):
        raise ConfigError(
            f"{where} [firmware]: backend must be one of Vitis, Vivado, Catapult, Quartus, oneAPI, Libero"
        )
    if p.training.early_stopping_patience < 0:
        raise ConfigError(f"{where} [training]: early_stopping_patience must be 0 (off) or more epochs")
    qf = p.validation.quantization_flips
    if qf < 0 or (qf >= 1 and qf != int(qf)):
        raise ConfigError(
            f"{where} [validation]: quantization_flips must be a count (0, 1, 2, ...) or a fraction below 1, "
            f"got {qf}"
        )
    if p.firmware.rtl_yosys_flow not in ("xilinx", "generic", "xilinx-stages", "generic-stages"):
        raise ConfigError(
            f"{where} [firmware]: rtl_yosys_flow must be 'xilinx', 'generic', 'xilinx-stages' or 'generic-stages'"
        )
    for key in ("epochs", "batch_size"):
        if getattr(p.training, key) < 1:
            raise ConfigError(f"{where} [training]: {key} must be at least 1")
    for key in ("hidden", "filters"):
        if any(n < 1 for n in getattr(p.model, key)):
            raise ConfigError(
                f"{where} [model]: {key} must hold positive layer sizes, got {getattr(p.model, key)}"
            )
    if p.model.latent < 1 or p.model.bits < 2:
        raise ConfigError(f"{where} [model]: latent must be >= 1 and bits >= 2")
    if p.trigger.rate_khz <= 0:
        raise ConfigError(f"{where} [trigger]: rate_khz must be positive")
    if p.trigger.colliding_bunches <= 0 or p.trigger.colliding_bunches > 3564:
        raise ConfigError(f"{where} [trigger]: colliding_bunches must be between 1 and 3564 (the LHC's bunch slots)")
    if p.trigger.revolution_khz <= 0:
        raise ConfigError(f"{where} [trigger]: revolution_khz must be positive")
    if any(r <= 0 for r in p.trigger.rates_khz):
        raise ConfigError(f"{where} [trigger]: rates_khz must hold positive rates, got {p.trigger.rates_khz}")
    from l1ml.plan import STEPS as QUEUE_STEPS

    bad = [s for s in p.synth.steps if s not in QUEUE_STEPS]
    if bad:
        raise ConfigError(f"{where} [synth]: steps {bad} unknown; valid steps: {', '.join(QUEUE_STEPS)}")
    if p.trigger.min_events_above < 0:
        raise ConfigError(f"{where} [trigger]: min_events_above must be 0 (no minimum) or a positive count")
    for key in ("tpr_drop", "tpr_drop_relative", "significance", "rate_growth", "latency_growth", "resource_growth"):
        if getattr(p.gate, key) < 0:
            raise ConfigError(f"{where} [gate]: {key} must be >= 0")
    if p.firmware.ptq not in PTQ_MODES:
        raise ConfigError(f"{where} [firmware]: ptq must be one of {', '.join(PTQ_MODES)}, got '{p.firmware.ptq}'")
    parse_precision(p.firmware.ptq_precision, f"{where} [firmware] ptq_precision")
    if p.firmware.ptq_profile_events < 1:
        raise ConfigError(f"{where} [firmware]: ptq_profile_events must be at least 1")
    if p.validation.ptq_events < 0:
        raise ConfigError(f"{where} [validation]: ptq_events must be 0 (every event) or a positive count")
    if not 0 <= p.validation.ptq_tpr_drop <= 1:
        raise ConfigError(f"{where} [validation]: ptq_tpr_drop must be between 0 and 1")


def parse_precision(text: str, where: str) -> tuple[int, int, str]:
    """'ap_fixed<16,6>' or 'fixed<16,6,AP_RND,AP_SAT>' -> (width, integer, ',modes' or '')."""
    m = _PTQ_TYPE.match(text or "")
    if not m or m.group(1):
        raise ConfigError(
            f"{where}: '{text}' is not a signed fixed-point type; write e.g. ap_fixed<16,6> or "
            "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"
        )
    width, integer = int(m.group(2)), int(m.group(3))
    if not 2 <= width <= 64 or not 1 <= integer <= width:
        raise ConfigError(f"{where}: '{text}' needs 2 <= width <= 64 and 1 <= integer bits <= width")
    return width, integer, f",{m.group(4).strip()}" if m.group(4) else ""


def model_versions(p: Project) -> list[str]:
    if not p.models_dir.is_dir():
        return []
    vs = [
        d.name
        for d in p.models_dir.iterdir()
        if d.is_dir() and d.name.startswith("v") and d.name[1:].isdigit()
    ]
    return sorted(vs, key=lambda v: int(v[1:]))


def latest_model_version(p: Project) -> str:
    vs = model_versions(p)
    if not vs:
        raise ConfigError(
            f"project '{p.name}' has no model yet; run `l1ml train` or `l1ml models import` first"
        )
    return vs[-1]


def new_model_dir(p: Project) -> Path:
    """Create the next version directory. mkdir without exist_ok makes two concurrent trainings safe."""
    p.models_dir.mkdir(parents=True, exist_ok=True)
    while True:
        vs = model_versions(p)
        n = int(vs[-1][1:]) + 1 if vs else 1
        d = p.models_dir / f"v{n}"
        try:
            d.mkdir()
            return d
        except FileExistsError:
            continue


def repo_root() -> Path:
    """The checkout that holds boards/ and hls_configs/ (this package's parent directory)."""
    return Path(__file__).resolve().parent.parent


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"missing file {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None

"""Software against firmware, on the project's background and signal events.

Networks: the deployed QKeras model (evaluated in float64, where its sums are exact) against the
hls4ml C simulation, output by output, plus the trigger decision at the model's threshold. BDTs:
delegated to l1ml.validate_bdt. Either way the result is a Validation, written as JSON, JUnit XML
and a PNG of the differences.

Differences are in LSBs of the firmware output type; a validation fails when one exceeds
project.validation.tolerance_lsb. The quantization error (the trained float model against the
firmware) is reported alongside and never fails. When a network mismatches, a tracing build of the
same firmware locates the first layer where software and firmware part.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml.compare import OutputComparison, compare, flipped_decisions, lsb_of
from l1ml.errors import ConfigError
from l1ml.progress import or_silent


@dataclass
class Divergence:
    layer: str
    events_compared: int
    mismatches: int
    max_diff: float
    types: dict[str, str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Validation:
    project: str
    version: str
    kind: str
    comparisons: list[OutputComparison]
    flips: dict[str, int]
    threshold: float | None
    events: dict[str, int]
    passed: bool
    quantization: list[OutputComparison] = field(default_factory=list)
    divergence: Divergence | None = None
    cached_library: bool | None = None
    details: dict = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    diffs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # for the plot only

    @property
    def failures(self) -> list[str]:
        return [c.name for c in self.comparisons if not c.ok]

    def to_dict(self) -> dict:
        return {
            "project": self.project,
            "version": self.version,
            "kind": self.kind,
            "passed": self.passed,
            "events": self.events,
            "threshold": self.threshold,
            "flips": self.flips,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "quantization": [c.to_dict() for c in self.quantization],
            "first_divergence": self.divergence.to_dict() if self.divergence else None,
            "cached_library": self.cached_library,
            "details": self.details,
        }


def samples_hw(project, events: int) -> dict[str, np.ndarray]:
    """{sample: (N, 57) hardware units}, background first."""
    from l1ml.data import units
    from l1ml.data.io import load_project_samples

    return {name: units.to_hardware(p) for name, p in load_project_samples(project, events).items()}


def validate(
    project, version: str | None = None, events: int | None = None, progress=None, samples=None
) -> Validation:
    """Validate the firmware of a model version (default: the newest). `samples` ({name: (N, 57) hardware
    units}) replaces the project's event files, e.g. in tests."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.project import read_json

    rep = or_silent(progress)
    model_dir = project.model_dir(version)
    version = model_dir.name
    fw_dir = project.firmware_dir(version)
    if not (fw_dir / "manifest.json").is_file():
        raise ConfigError(
            f"no firmware for model {version} in {fw_dir}; run `l1ml convert --model {version}` first"
        )
    man = read_json(model_dir / "manifest.json")
    fw_man = read_json(fw_dir / "manifest.json")
    _check_link(model_dir, fw_dir, fw_man)
    n = project.validation.events if events is None else events
    rep.task("data", None)
    hw = samples if samples is not None else samples_hw(project, n)
    hw = {k: v[:n] if n else v for k, v in hw.items()}
    rep.advance("data")
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    x = {k: pre.apply(v) for k, v in hw.items()}
    if man["kind"] == "bdt":
        return _validate_bdt(project, model_dir, fw_dir, man, x, rep)
    return _validate_network(project, model_dir, fw_dir, man, fw_man, x, rep)


def _check_link(model_dir: Path, fw_dir: Path, fw_man: dict) -> None:
    """The firmware must have been made from this very model version."""
    from l1ml.manifest import sha256

    link = fw_man.get("model_manifest") or {}
    now = sha256(model_dir / "manifest.json")
    if link.get("sha256") and link["sha256"] != now:
        raise ConfigError(
            f"{fw_dir} was converted from a different {model_dir.name} (manifest hash changed); "
            "run `l1ml convert` again"
        )


def _validate_bdt(project, model_dir, fw_dir, man, x, rep) -> Validation:
    from l1ml.validate_bdt import validate_bdt

    rep.task("bdt", None)
    r = validate_bdt(project, model_dir, fw_dir, x, man.get("threshold"))
    rep.advance("bdt")
    fails = [c for c in r.comparisons if not c.informative]
    return Validation(
        project=project.name,
        version=model_dir.name,
        kind="bdt",
        comparisons=fails,
        quantization=[c for c in r.comparisons if c.informative],
        flips=dict(r.flips),
        threshold=r.threshold,
        events=dict(r.events),
        passed=bool(r.passed),
        details={"bdt": {k: v for k, v in r.to_dict().items() if k not in ("comparisons",)}},
    )


def _output_label(kind: str, i: int) -> str:
    if i == 1:
        return "score"
    return "z_mean" if kind == "vae" else "reconstruction"


def _validate_network(project, model_dir, fw_dir, man, fw_man, x, rep) -> Validation:
    from l1ml.firmware.hls4ml import load_csim
    from l1ml.models.ae import shape_inputs
    from l1ml.models.io import load_model, predict_exact

    kind = man["kind"]
    names = list(x)
    sizes = {k: len(v) for k, v in x.items()}
    X = shape_inputs(kind, np.concatenate([x[k] for k in names]))
    rep.task("compile", None)
    csim, cached = load_csim(fw_dir, fw_man)
    rep.advance("compile")
    fw, emu_checks, note = _firmware_outputs(project, csim, fw_dir, fw_man, X, rep)
    rep.task("software", None)
    deploy = load_model(model_dir / man["deploy_file"])
    sw = [o.reshape(len(X), -1) for o in predict_exact(deploy, X)]
    rep.advance("software")
    tol = project.validation.tolerance_lsb
    comps, diffs = [], {}
    for i, (s, f, info) in enumerate(zip(sw, fw, fw_man["outputs"], strict=True)):
        label = _output_label(kind, i)
        lsb = lsb_of(info["precision"])
        comps.append(compare(label, s, f, lsb, tol))
        diffs[label] = ((f - s) / lsb).ravel()
    thr = man.get("threshold")
    flips, bounds, start = {}, {}, 0
    for k in names:
        bounds[k] = slice(start, start + sizes[k])
        start += sizes[k]
    if thr is not None:
        flips = {k: flipped_decisions(sw[1][b], fw[1][b], thr) for k, b in bounds.items()}
    quant = _quantization(model_dir, man, kind, X, fw, diffs)
    comps += emu_checks
    passed = all(c.ok for c in comps) and not any(flips.values())
    v = Validation(
        project=project.name,
        version=model_dir.name,
        kind=kind,
        comparisons=comps,
        quantization=quant,
        flips=flips,
        threshold=thr,
        events=sizes,
        passed=passed,
        cached_library=cached,
        details={
            "output_precisions": {
                _output_label(kind, i): o["precision"] for i, o in enumerate(fw_man["outputs"])
            },
            "firmware_outputs": note,
        },
        diffs=diffs,
    )
    if not passed:
        rep.task("trace", None)
        bad = np.zeros(len(X), bool)
        for s, f in zip(sw, fw, strict=True):
            bad |= (s != f).any(axis=1)
        v.divergence = first_divergence(project, deploy, fw_man, X[bad][:200])
        rep.advance("trace")
    return v


def _firmware_outputs(project, csim, fw_dir, fw_man, X, rep):
    """The firmware's outputs for every event.

    Up to [validation] csim_events events: hls4ml's C simulation. Beyond that, the bit-exact batch
    emulator, which is itself compared with the C simulation on those first events, at 0 LSB, so the
    emulator stays checked wherever it stands in for the firmware. A network the emulator refuses falls
    back to the C simulation on every event, and the report says so.
    """
    n_csim = min(len(X), project.validation.csim_events)
    rep.task("firmware", None)
    fw_csim = [np.asarray(o).reshape(n_csim, -1) for o in csim.predict(X[:n_csim])]
    rep.advance("firmware")
    if n_csim == len(X):
        return fw_csim, [], f"C simulation on all {len(X)} events"
    from l1ml.emulate.fixed import UnsupportedError
    from l1ml.emulate.nn_fixed import emulate_arrays

    rep.task("emulator", None)
    try:
        emu = [o.reshape(len(X), -1) for o in emulate_arrays(fw_dir / "hls4ml", X).values()]
    except UnsupportedError as exc:
        fw = [np.asarray(o).reshape(len(X), -1) for o in csim.predict(X)]
        return fw, [], f"C simulation on all {len(X)} events (the batch emulator refused: {exc})"
    rep.advance("emulator")
    checks = []
    for i, (e, c, info) in enumerate(zip(emu, fw_csim, fw_man["outputs"], strict=True)):
        label = f"{_output_label(fw_man.get('kind', ''), i)} (emulator vs C simulation)"
        checks.append(compare(label, c, e[:n_csim], lsb_of(info["precision"]), 0))
    note = f"batch emulator on all {len(X)} events, checked against the C simulation on the first {n_csim}"
    return emu, checks, note


def _quantization(model_dir, man, kind, X, fw, diffs) -> list[OutputComparison]:
    """The trained model (float BN, before folding) against the firmware: informative only."""
    from l1ml.models.deploy import score_numpy, trunk, vae_score_numpy
    from l1ml.models.io import load_model

    f = model_dir / man.get("model_file", "")
    if not man.get("model_file") or not f.is_file():
        return []
    trained = trunk(load_model(f), kind)
    y = np.asarray(trained.predict(X, batch_size=8192, verbose=0), np.float64).reshape(len(X), -1)
    flat = X.reshape(len(X), -1)
    score = vae_score_numpy(y) if kind == "vae" else score_numpy(flat, y)
    out = []
    for label, s, f_ in ((_output_label(kind, 0), y, fw[0]), ("score", score, fw[1])):
        err = f_ - s
        scale = float(np.max(np.abs(s))) or 1.0
        out.append(compare(f"{label} (float model)", s, f_, lsb=scale * 2**-20, informative=True))
        diffs[f"{label} quantization"] = (err / scale).ravel()
    return out


def first_divergence(project, deploy, fw_man: dict, X: np.ndarray) -> Divergence | None:
    """Run the failing events through a tracing build and the float64 software layer by layer; the first
    layer (in the firmware's order) whose outputs differ."""
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls4ml import traced_csim
    from l1ml.models.io import layer_outputs_exact

    if not len(X):
        return None
    with tempfile.TemporaryDirectory(prefix="l1ml-trace-") as tmp:
        board = project_board(project)
        csim, order = traced_csim(deploy, project, board, fw_man["input_precision"], Path(tmp) / "hls4ml")
        _, fw_layers = csim.trace(X)
    keras_names = [layer.name for layer in deploy.layers]
    common = [n for n in order if n in fw_layers and n in keras_names]
    sw_layers = layer_outputs_exact(deploy, X, common)
    for name in common:
        s = sw_layers[name].reshape(len(X), -1)
        f = fw_layers[name].reshape(len(X), -1)
        if s.shape != f.shape:
            continue
        diff = s != f
        if diff.any():
            return Divergence(
                layer=name,
                events_compared=len(X),
                mismatches=int(diff.any(axis=1).sum()),
                max_diff=float(np.abs(s - f).max()),
                types=fw_man.get("layer_types", {}).get(name, {}),
            )
    return None


# ---- reports ----


def default_report_dir(project, version: str) -> Path:
    return project.build_dir / "validation" / version


def write_reports(v: Validation, out_dir: Path, junit: Path | None = None) -> dict[str, str]:
    """report.json, junit.xml and differences.png in out_dir (junit may go elsewhere)."""
    from l1ml.manifest import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "junit": junit or out_dir / "junit.xml",
        "png": out_dir / "differences.png",
    }
    write_json(paths["json"], v.to_dict())
    paths["junit"].parent.mkdir(parents=True, exist_ok=True)
    paths["junit"].write_text(junit_xml(v))
    plot_differences(v, paths["png"])
    v.reports = {k: str(p) for k, p in paths.items()}
    return v.reports


def junit_xml(v: Validation) -> str:
    """One testcase per compared output and per sample's trigger decisions; informative comparisons
    are testcases that always pass, with their numbers in system-out."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name=f"l1ml-validate.{v.project}.{v.version}")
    cases = 0
    failures = 0

    def case(name: str, ok: bool, message: str, out: str = "") -> None:
        nonlocal cases, failures
        cases += 1
        tc = ET.SubElement(suite, "testcase", classname=f"{v.project}.{v.version}.{v.kind}", name=name)
        if not ok:
            failures += 1
            f = ET.SubElement(tc, "failure", message=message)
            f.text = message
        if out:
            ET.SubElement(tc, "system-out").text = out

    for c in v.comparisons:
        msg = (
            f"{c.name}: {c.mismatches}/{c.events} values differ, max {c.max_diff_lsb:g} LSB "
            f"(tolerance {c.tolerance_lsb:g}), {100 * c.frac_identical:.3f}% bit-identical"
        )
        if not c.ok and v.divergence is not None:
            msg += f"; first diverging layer: {v.divergence.layer}"
        case(f"bit-exact {c.name}", c.ok, msg, msg)
    for sample, n in v.flips.items():
        case(
            f"decisions {sample}",
            n == 0,
            f"{sample}: {n} trigger decisions flipped at threshold {v.threshold}",
        )
    for c in v.quantization:
        case(
            f"quantization {c.name}",
            True,
            "",
            f"max |diff| {c.max_diff:g}, {100 * c.frac_identical:.2f}% identical",
        )
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def plot_differences(v: Validation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bitexact = {k: d for k, d in v.diffs.items() if "quantization" not in k}
    quant = {k: d for k, d in v.diffs.items() if "quantization" in k}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    if bitexact:
        for k, d in bitexact.items():
            d = d[np.isfinite(d)]
            lim = max(1.0, float(np.abs(d).max()) if d.size else 1.0)
            ax.hist(d, bins=np.linspace(-lim, lim, 41), histtype="step", label=f"{k}", log=True)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "see report.json (BDT comparisons)", ha="center", transform=ax.transAxes)
    ax.set_xlabel("firmware - software [LSB of the output type]")
    ax.set_ylabel("values")
    status = "PASS" if v.passed else "FAIL"
    where = f", diverges at {v.divergence.layer}" if v.divergence else ""
    ax.set_title(f"{v.project} {v.version}: bit-exactness {status}{where}", fontsize=10)
    ax = axes[1]
    for k, d in quant.items():
        ax.hist(d[np.isfinite(d)], bins=60, histtype="step", label=k, log=True)
    if quant:
        ax.legend()
    ax.set_xlabel("firmware - float model [relative to the largest value]")
    ax.set_title("quantization error (informative)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""The CMSSW emulator package: C++ sources rendered from templates/, the firmware's own sources, a
Makefile, metadata.json and the parity vectors. Building and checking it is build.py's job.

    <pkg>/Makefile  version.map  metadata.json
         include/hls4mlEmulator.h  include/l1ml_result.h  include/l1ml_loader.h  include/ap_types/
         include/<name>.h          the consumer's header: the firmware's types, preprocessing, thresholds
         src/emulator.cpp          (templates/emulator.cpp.j2)
         firmware/                 hls4ml's firmware/ (networks) or conifer's BDT.h + parameters.h
    or, with --arithmetic kernel (networks): src/emulator.cpp (templates/emulator_kernel.cpp.j2) and
         src/network.h, l1ml's compiled kernel (l1ml/emulate/native), and no firmware/
         check/parity.cpp          parity/inputs.txt  parity/expected.txt
         example/consumer.cpp      a CMSSW-style consumer to start from (`make example`)

Outputs: output i of the firmware is one thing under three names, kept together in `Output`: what it is
(`role`: reconstruction, z_mean, score...), the firmware's variable (layer17_out) and the emulator's
dataset (dec_out_dense, or fout_linear for a post-training-quantized model). They are matched by position,
the order the firmware, the emulator (`outputs` attribute "order") and metadata.json all use.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml.data import units
from l1ml.errors import ConfigError, L1mlError
from l1ml.fixed import FixedType

TEMPLATES = Path(__file__).resolve().parent / "templates"
OBJECTS = ["MET"] + ["electron"] * 4 + ["muon"] * 4 + ["jet"] * 10  # the ADC2021 rows (l1ml/data/generate.py)


@dataclass
class Output:
    name: str  # the firmware's variable (hls4ml layerN_out; "margin" for a BDT)
    size: int
    type: FixedType
    ctype: str = ""  # the C++ spelling of the firmware's type, exactly (std::any_cast needs the exact type)
    role: str = ""  # what it is: output_roles()
    emulator: str = ""  # the emulator's dataset name (set when deploy reads the emulator's file)


def output_roles(kind: str, n: int) -> list[str]:
    """What each firmware output is, in order: the last is always the trigger score."""
    if n == 1:
        return ["score"]
    first = "z_mean" if kind == "vae" else "reconstruction"  # validate's labels (l1ml/validate/network.py)
    return [first, *[f"output{i}" for i in range(1, n - 1)], "score"]


@dataclass
class Spec:
    """Everything the templates need, gathered from the model and firmware manifests."""

    name: str  # <Name>_v<N>, the library's stem
    project: str
    version: str
    kind: str
    namespace: str
    top: str  # hls4ml top function, or conifer project name
    outputs: list[Output]
    input_type: str  # the C++ spelling of the firmware's input type
    offsets: list[int]
    shifts: list[int]
    model_hash: str
    firmware_dir: Path
    sources: list[str] = field(default_factory=list)
    bdt_trees: int = 0
    # "firmware": hls4ml's firmware code (or conifer's); "kernel": l1ml's compiled kernel, network_h
    arithmetic: str = "firmware"
    network_h: str = ""

    @property
    def so(self) -> str:
        return f"{self.name}.so"

    @property
    def score_type(self) -> FixedType:
        return self.outputs[-1].type


def spec_for(project, version: str, model_man: dict, fw_man: dict, fw_dir: Path, pre, name: str) -> Spec:
    from l1ml.firmware.names import c_name

    kind = model_man.get("kind")
    if kind == "bdt":
        import json

        cm = fw_dir / "conifer_model.json"
        if not cm.is_file():
            raise ConfigError(f"no {cm}; run `l1ml convert --model {version}` again")
        n_classes = int(json.loads(cm.read_text()).get("n_classes", 2))
        per_class = 1 if n_classes == 2 else n_classes  # conifer's fn_classes
        prec = fw_man.get("precision", "")
        outs = [Output("margin", per_class, FixedType.parse(prec), ctype=prec)]
        bdt_trees = int(fw_man["n_trees"])
        ns = c_name(project.firmware.namespace or project.name)
        top = fw_man.get("project_name", "")
        mhash = (fw_man.get("hashes") or {}).get("model", "")
        if int(fw_man.get("n_features", units.N_INPUTS)) != units.N_INPUTS:
            raise ConfigError(f"{fw_dir / 'manifest.json'}: the BDT takes {fw_man.get('n_features')} inputs, not 57")
    else:
        ns = fw_man.get("namespace") or ""
        if not ns:
            raise ConfigError(
                f"{fw_dir / 'manifest.json'}: the hls4ml firmware has no C++ namespace; re-run `l1ml convert` "
                "so that each model's layers live in their own namespace"
            )
        top = fw_man["project_name"]
        outs = [
            Output(o["name"], int(o["size"]), FixedType.parse(o["precision"], integers=True), ctype=o["precision"])
            for o in fw_man["outputs"]
        ]
        mhash = (fw_man.get("hashes") or {}).get("deploy", "")
        bdt_trees = 0
        if int(np.prod(fw_man.get("input_shape", [units.N_INPUTS]))) != units.N_INPUTS:
            raise ConfigError(f"{fw_dir / 'manifest.json'}: the network takes {fw_man['input_shape']}, not 57 inputs")
    for o, role in zip(outs, output_roles(kind, len(outs)), strict=True):
        o.role = role
    # conifer's input_t is its one precision; hls4ml's is the input precision convert chose
    input_type = fw_man.get("input_precision") or (fw_man.get("precision", "") if kind == "bdt" else pre.input_precision())
    for o in outs:
        if o.type.width > 64:
            raise L1mlError(f"output {o.name} is {o.type}: wider than the 64-bit integers read_result gives")
    return Spec(
        name=name,
        project=project.name,
        version=version,
        kind=kind,
        namespace=ns,
        top=top,
        outputs=outs,
        input_type=input_type,
        offsets=list(pre.offsets),
        shifts=list(pre.shifts),
        model_hash=mhash,
        firmware_dir=fw_dir,
        bdt_trees=bdt_trees,
    )


def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _copy_firmware(spec: Spec, dest: Path) -> list[str]:
    """The firmware's own C++ into dest/firmware; returns the sources to compile (besides src/)."""
    fw = dest / "firmware"
    if spec.kind == "bdt":
        src = spec.firmware_dir / "conifer_hls" / "firmware"
        fw.mkdir(parents=True)
        for f in ("BDT.h", "parameters.h"):
            if not (src / f).is_file():
                raise ConfigError(f"{src / f} not found; run `l1ml convert --model {spec.version}` again")
            shutil.copy2(src / f, fw / f)
        return []  # conifer's BDT is header-only: the trees are static constants in parameters.h
    src = spec.firmware_dir / "hls4ml" / "firmware"
    if not (src / f"{spec.top}.cpp").is_file():
        raise ConfigError(f"no {src / (spec.top + '.cpp')}; run `l1ml convert --model {spec.version}` again")
    shutil.copytree(src, fw)
    return [f"firmware/{spec.top}.cpp"]


def _ap_types() -> Path:
    """The ap_fixed headers hls4ml ships (the same ones its firmware and l1ml's C simulation use)."""
    import importlib.util

    origin = importlib.util.find_spec("hls4ml").origin
    d = Path(origin).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_fixed.h").is_file():
        raise L1mlError(f"hls4ml's ap_types headers not found at {d}")
    return d


def write_package(spec: Spec, dest: Path, thresholds: dict, parity_in: np.ndarray, parity_out: np.ndarray) -> None:
    """Render the package into dest (which must not exist)."""
    dest.mkdir(parents=True)
    kernel = spec.arithmetic == "kernel"
    spec.sources = ["src/emulator.cpp", *([] if kernel else _copy_firmware(spec, dest))]
    env = _env()
    (dest / "include").mkdir()
    (dest / "src").mkdir()
    (dest / "check").mkdir()
    (dest / "parity").mkdir()
    (dest / "example").mkdir()
    for f in ("hls4mlEmulator.h", "l1ml_result.h", "l1ml_loader.h"):
        shutil.copy2(TEMPLATES / f, dest / "include" / f)
    shutil.copytree(_ap_types(), dest / "include" / "ap_types")
    shutil.copy2(TEMPLATES / "version.map", dest / "version.map")
    ctx = {
        "name": spec.name,
        "project": spec.project,
        "version": spec.version,
        "kind": spec.kind,
        "kind_text": "conifer BDT" if spec.kind == "bdt" else f"hls4ml {spec.kind} network",
        "template_name": "emulator_kernel.cpp.j2" if kernel else "emulator.cpp.j2",
        "model_hash": spec.model_hash or "unknown",
        "namespace": spec.namespace,
        "top": spec.top,
        "n_inputs": units.N_INPUTS,
        "n_objects": units.N_OBJECTS,
        "n_features": units.N_FEATURES,
        "offsets": spec.offsets,
        "shifts": spec.shifts,
        "max_shift": max(spec.shifts, default=0),
        "hw_min": [int(v) for v in units.HW_MIN],
        "hw_max": [int(v) for v in units.HW_MAX],
        "thresholds": [t["threshold_int"] for t in thresholds["thresholds"]],
        "outputs": template_outputs(spec),
        "input_type": spec.input_type,
        "result_type": result_type(spec),
        "result_arrays_type": result_type(spec, arrays=True),
        "result_doc": result_doc(spec),
        "score_member": _member(len(spec.outputs), len(spec.outputs) - 1) + ("[0]" if spec.outputs[-1].size > 1 else ""),
        "score_frac": spec.score_type.frac,
        "score_member_arrays": _member(len(spec.outputs), len(spec.outputs) - 1) + "[0]",
        "rates": [t["rate_khz"] for t in thresholds["thresholds"]],
        "sources": spec.sources,
        "so": spec.so,
        "bdt_trees": spec.bdt_trees,
        "bdt_classes": spec.outputs[0].size if spec.kind == "bdt" else 0,
    }
    (dest / "include" / f"{spec.name}.h").write_text(env.get_template("model.h.j2").render(**ctx))
    (dest / "src" / "emulator.cpp").write_text(env.get_template(ctx["template_name"]).render(**ctx))
    (dest / "check" / "parity.cpp").write_text(env.get_template("parity.cpp.j2").render(**ctx))
    (dest / "example" / "consumer.cpp").write_text(env.get_template("consumer.cpp.j2").render(**ctx))
    if kernel:
        (dest / "src" / "network.h").write_text(spec.network_h)
    (dest / "Makefile").write_text(env.get_template("Makefile.j2").render(**ctx))
    write_parity(dest / "parity", parity_in, parity_out)


def _value_type(o: Output) -> str:
    return o.ctype if o.size == 1 else f"std::array<{o.ctype}, {o.size}>"


def result_type(spec: Spec, arrays: bool = False) -> str:
    """What read_result fills in the firmware's interface: one output as itself, two as a std::pair (as
    AXOL1TL's std::pair<ResultType, ap_ufixed<18,14>>), more as a std::tuple; an output of one value as
    its type, a wider one as a std::array of it. `arrays`: every output as a std::array, even of one value
    (as CICADA reads an array of one result); the library accepts both."""
    vals = [f"std::array<{o.ctype}, {o.size}>" if arrays else _value_type(o) for o in spec.outputs]
    if len(vals) == 1:
        return vals[0]
    return f"std::{'pair' if len(vals) == 2 else 'tuple'}<{', '.join(vals)}>"


def result_doc(spec: Spec) -> str:
    roles = [f"{o.role}_t" if o.size == 1 else f"std::array<{o.role}_t, {o.size}>" for o in spec.outputs]
    if len(roles) == 1:
        return roles[0]
    return f"std::{'pair' if len(roles) == 2 else 'tuple'}<{', '.join(roles)}>"


def _member(n: int, i: int, r: str = "r") -> str:
    """The C++ expression for output i of a result_t named r."""
    if n == 1:
        return r
    if n == 2:
        return f"{r}.first" if i == 0 else f"{r}.second"
    return f"std::get<{i}>({r})"


def template_outputs(spec: Spec) -> list[dict]:
    n = len(spec.outputs)
    return [
        {"name": o.name, "variable": o.name, "role": o.role, "ctype": o.ctype, "size": o.size,
         "scale": repr(2.0**-o.type.frac), "member": _member(n, i), "fw_member": _member(n, i, "fw")}
        for i, o in enumerate(spec.outputs)
    ]


def write_parity(d: Path, inputs: np.ndarray, expected: np.ndarray) -> None:
    np.savetxt(d / "inputs.txt", np.asarray(inputs, np.int64), fmt="%d")
    np.savetxt(d / "expected.txt", np.asarray(expected, np.int64), fmt="%d")


def input_contract(pre) -> dict:
    names = []
    for o, obj in enumerate(OBJECTS):
        for feat in ("pT", "eta", "phi"):
            names.append(f"{obj}{o}_{feat}")
    return {
        "accepts": [
            "std::array<std::int32_t, 57>",
            "std::vector<std::int32_t> of 57",
            "const std::int32_t * or std::int32_t * to 57 values",
        ],
        "order": "object-major: [pT, eta, phi] of each of the 19 objects in turn",
        "objects": [{"slot": i, "type": t} for i, t in enumerate(OBJECTS)],
        "features": names,
        "hardware_units": {
            "pT": {"lsb_gev": units.PT_LSB, "min": 0, "max": units.PT_MAX_HW, "type": "ap_uint<12>"},
            "eta": {"lsb": units.ETA_LSB, "min": -units.ETA_MAX_HW, "max": units.ETA_MAX_HW, "type": "ap_int<8>"},
            "phi": {"lsb_rad": units.PHI_LSB, "min": -units.PHI_MAX_HW, "max": units.PHI_MAX_HW, "type": "ap_int<8>"},
        },
        "type": "std::int32_t hardware integers (values outside the ranges above: prepare_input throws "
        "std::out_of_range)",
        "padding": "an absent object is all zero; an object with pT == 0 counts as absent, and all three of its "
        "network inputs are 0 after preprocessing",
        "preprocessing": {
            "what": "x = (hw - offset) >> shift (exact, in fixed point), inside the library",
            "offsets": list(pre.offsets),
            "shifts": list(pre.shifts),
            "network_input_type": pre.input_precision(),
        },
    }

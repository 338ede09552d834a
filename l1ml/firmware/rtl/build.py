"""`l1ml convert --backend rtl`: the deployed network's firmware arithmetic as an alkaid Verilog design.

    build/firmware/vN/hls4ml (the ModelGraph the emulator reads) -> trace.py -> alkaid CombLogic
        -> checked against the emulator with alkaid's own compiled predict -> RTLModel.write()
        -> build/firmware/vN/rtl/{design/, tb/, rtl.json}

tb/ holds a Verilog testbench (templates/tb.v.j2), the input codes of the project's first background
events and the output codes the emulator gives for them: `rtlsim` (Verilator) must reproduce them bit for
bit. Everything is written into a staging directory and renamed into place at the end.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError, L1mlError

RTL_TB_EVENTS = 2000
RTL_DIR = "rtl"


def rtl_dir(project, version: str | None = None) -> Path:
    return project.firmware_dir(version) / RTL_DIR


def templates():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("l1ml.firmware.rtl", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def latency_cutoff_ns(project, board) -> float:
    """alkaid's latency cut-off: a pipeline stage per clock period (less its uncertainty), or 0 for one
    combinational block. [firmware] rtl_latency_cutoff_ns overrides it (0 = combinational)."""
    given = getattr(project.firmware, "rtl_latency_cutoff_ns", -1.0)
    if given is not None and given >= 0:
        return float(given)
    return board.clock_period_ns * (1 - board.clock_uncertainty_pct / 100)


def tb_inputs(project, model_dir: Path, n: int) -> np.ndarray:
    """The first `n` background events, preprocessed as the firmware receives them (as tbdata.py)."""
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing

    events = load_particles(project.resolve(project.data.background), project.data.key, n)
    x = Preprocessing.load(model_dir / "preprocessing.json").apply(units.to_hardware(events))
    return x.reshape(len(x), -1).astype(np.float64)


def pack_hex(codes: np.ndarray, width: int) -> list[str]:
    """Rows of integer codes (element 0 at the least significant end, two's complement in `width` bits)
    as one hex word per row, the layout of alkaid's model_inp/model_out ports."""
    mask = (1 << width) - 1
    total = width * codes.shape[1]
    digits = (total + 3) // 4
    out = []
    for row in codes.astype(object):
        v = 0
        for j, c in enumerate(row):
            v |= (int(c) & mask) << (j * width)
        out.append(f"{v:0{digits}x}")
    return out


def unpack_hex(lines: list[str], width: int, n: int, signed: bool) -> np.ndarray:
    """The inverse of pack_hex: (rows, n) integer codes, as int64 (object when wider than 62 bits)."""
    mask = (1 << width) - 1
    rows = []
    for line in lines:
        v = int(line, 16)
        row = []
        for j in range(n):
            c = (v >> (j * width)) & mask
            if signed and c >> (width - 1):
                c -= 1 << width
            row.append(c)
        rows.append(row)
    return np.array(rows, dtype=object if width > 62 else np.int64).reshape(len(rows), n)


def padded(sig) -> tuple[bool, int, int]:
    """(signed, integer bits without sign, fractional bits) every element of an alkaid port is padded to."""
    k, i, f = np.max(np.asarray(sig.precisions), axis=0)
    return bool(k), int(i), int(f)


def build_rtl(project, version: str | None = None, progress=None) -> dict:
    """Trace a converted network into Verilog under build/firmware/vN/rtl/; returns rtl.json's content."""
    from l1ml import manifest
    from l1ml.emulate.nn_fixed import NNEmulator, load_hls_model
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.names import c_name
    from l1ml.firmware.rtl.trace import trace_model
    from l1ml.progress import or_silent
    from l1ml.project import read_json

    rep = or_silent(progress)
    model_dir = project.model_dir(version)
    version = model_dir.name
    fw_dir = project.firmware_dir(version)
    man = read_json(model_dir / "manifest.json")
    if man.get("kind") == "bdt":
        raise ConfigError(
            "the RTL backend builds networks; a BDT's VHDL comes from conifer (`l1ml convert`), "
            "simulated by GHDL (`rtlsim`)"
        )
    hls_dir = fw_dir / "hls4ml"
    if not (hls_dir / "hls4ml_config.yml").is_file():
        raise ConfigError(f"no hls4ml project in {hls_dir}; run `l1ml convert --model {version}` first")
    board = project_board(project)
    rep.task("trace", None)
    hm = load_hls_model(hls_dir, keras_model=model_dir / man["deploy_file"])
    comb, in_t, slots = trace_model(hm)
    rep.advance("trace")

    x = tb_inputs(project, model_dir, RTL_TB_EVENTS)
    emu = NNEmulator(hm)
    want = emu(x)
    expected = np.concatenate([want[s.name].reshape(len(x), -1) for s in slots], axis=1)
    rep.task("alkaid check", None)
    got = np.asarray(comb.predict(x), dtype=np.float64).reshape(expected.shape)
    bad = np.argwhere(got != expected)
    if len(bad):
        e, j = map(int, bad[0])
        slot = next(s for s in slots if s.start <= j < s.start + s.size)
        raise L1mlError(
            f"the traced logic differs from the emulator on {len(np.unique(bad[:, 0]))} of {len(x)} events "
            f"(first: event {e}, output '{slot.name}'[{j - slot.start}]: {got[e, j]!r} vs {expected[e, j]!r}); "
            "this is a bug in l1ml's RTL tracer: no design was written"
        )
    rep.advance("alkaid check")

    top = c_name(project.name)
    cutoff = latency_cutoff_ns(project, board)
    fw_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".rtl-", dir=fw_dir))
    try:
        rep.task("write Verilog", None)
        info = write_design(stage, comb, top, board, cutoff, x, expected, slots, in_t)
        rep.advance("write Verilog")
        info.update(
            version=version,
            created=manifest.now(),
            alkaid=_alkaid_version(),
            alkaid_checked_events=len(x),
            board=board.name,
            part=board.part,
            yosys_flow=project.firmware.rtl_yosys_flow,
        )
        manifest.write_json(stage / "rtl.json", info)
        final = fw_dir / RTL_DIR
        if final.exists():
            shutil.rmtree(final)
        stage.rename(final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return info


def _alkaid_version() -> str:
    from importlib.metadata import version

    return version("alkaid")


def write_design(stage: Path, comb, top: str, board, cutoff: float, x, expected, slots, in_t) -> dict:
    from alkaid.codegen import RTLModel

    model = RTLModel(
        comb,
        stage / "design",
        prj_name=top,
        flavor="verilog",
        latency_cutoff=cutoff if cutoff > 0 else -1,
        print_latency=False,
        part_name=board.part,
        clock_period=board.clock_period_ns,
        clock_uncertainty=board.clock_period_ns * board.clock_uncertainty_pct / 100,
    )
    try:
        model.write()
    except AssertionError as exc:  # alkaid's own limits, e.g. at most 64 bits per port element
        from l1ml.firmware.rtl.trace import RTLUnsupported

        raise RTLUnsupported(f"alkaid cannot write this design: {exc}") from None
    pipelined = any(sig.reg for sig in model.fsm.signals.values())
    # Clock edges from an event on model_inp to its result on model_out: the output schedule's offset.
    # (alkaid's RTLModel.latency subtracts the output register; the testbench needs the whole depth.)
    latency = max(int(sig.schedule.bias) for sig in model.fsm.out_signals) if pipelined else 0
    (sin,), (sout,) = model.fsm.inp_signals, model.fsm.out_signals
    ik, ii, if_ = padded(sin)
    ok, oi, of = padded(sout)
    iw, ow = int(ik) + ii + if_, int(ok) + oi + of
    n_in, n_out = int(sin.size), int(sout.size)
    if n_in != x.shape[1] or n_out != expected.shape[1]:
        raise L1mlError(
            f"alkaid's ports hold {n_in} inputs and {n_out} outputs; expected {x.shape[1]}, {expected.shape[1]}"
        )
    tb = stage / "tb"
    tb.mkdir()
    (tb / "inputs.hex").write_text("\n".join(pack_hex(_codes(x, if_), iw)) + "\n")
    (tb / "expected.hex").write_text("\n".join(pack_hex(_codes(expected, of), ow)) + "\n")
    sources = sorted(p.relative_to(stage).as_posix() for p in (stage / "design" / "src").rglob("*.v"))
    text = (
        templates()
        .get_template("tb.v.j2")
        .render(
            top=top,
            n=len(x),
            in_width=iw * n_in,
            out_width=ow * n_out,
            latency=latency,
            pipelined=pipelined,
            inputs="inputs.hex",
            outputs="rtl_outputs.hex",
        )
    )
    (tb / "tb.v").write_text(text)
    return {
        "top": top,
        "sources": sources,
        "testbench": "tb/tb.v",
        "events": len(x),
        "input": {"size": n_in, "precision": str(in_t), "element_bits": iw, "signed": ik, "frac": if_},
        "input_type": [in_t.width, in_t.integer, in_t.signed, in_t.rounding, in_t.overflow],
        "output": {"size": n_out, "element_bits": ow, "signed": ok, "frac": of},
        "outputs": [{"name": s.name, "start": s.start, "size": s.size, "frac": s.frac} for s in slots],
        "pipelined": pipelined,
        "latency_cycles": latency,
        "latency_cutoff_ns": cutoff if cutoff > 0 else None,
        "clock_ns": board.clock_period_ns,
        "comb_delay_ns_estimate": float(comb.latency[1]),
        "adder_cost": float(comb.cost),
    }


def _codes(values: np.ndarray, frac: int) -> np.ndarray:
    """Exact integer codes of dyadic values at `frac` fractional bits (object ints above 2**53)."""
    q = values * 2.0**frac
    if not np.array_equal(q, np.floor(q)):
        raise L1mlError(
            f"values are not whole codes at {frac} fractional bits; the port layout is not understood"
        )
    return q.astype(object) if np.abs(q).max(initial=0) >= 2.0**62 else q.astype(np.int64)


def read_info(d: Path) -> dict:
    f = d / "rtl.json"
    if not f.is_file():
        raise ConfigError(f"no RTL design in {d}; run `l1ml convert --backend rtl` first")
    return json.loads(f.read_text())

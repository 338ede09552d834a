"""The compiled emulation kernel (l1ml/emulate/native): every ap_fixed cast mode equals the numpy
emulator's, the dense AE, VAE encoder and CNN AE equal it on their codes and on hardware integers, its
own check refuses a kernel with one weight moved, and a network it does not describe stays on numpy."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "emulate"))

import _models  # noqa: E402

from l1ml.emulate.native import codegen  # noqa: E402
from l1ml.emulate.native.kernel import KernelMismatch, NotNative, compile_kernel  # noqa: E402
from l1ml.emulate.nn_layers import Info, Op  # noqa: E402
from l1ml.fixed import OVERFLOW, ROUNDING, Bounds, FixedType, cast  # noqa: E402

pytest.importorskip("hls4ml")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "cache"))  # compiled here, not reused


class CastChain:
    """A stand-in emulator: one input and, for each case, one cast of it (NNEmulator's interface)."""

    def __init__(self, t_in: FixedType, cases):
        self.input_names, self.output_names = ["x"], []
        self.ops = [Op("x", [], Info(t_in.frac, t_in.bounds, 16), None, native={"kind": "input"})]
        self.infos = {"x": self.ops[0].info}
        self.cases = {}
        for k, (t, relu) in enumerate(cases):
            name = f"c{k}"
            lo = max(t_in.bounds.lo, 0.0) if relu else t_in.bounds.lo
            _, ob = cast(np.zeros(1), t_in.frac, Bounds(lo, t_in.bounds.hi), t)
            info = Info(t.frac, ob, 16)
            self.ops.append(
                Op(name, ["x"], info, None, native={"kind": "cast", "frac": t_in.frac, "t": t, "relu": relu})
            )
            self.infos[name] = info
            self.output_names.append(name)
            self.cases[name] = (t, relu)
        self.t_in = t_in

    def __call__(self, q, coded=True):
        out = {}
        for name, (t, relu) in self.cases.items():
            codes, _ = cast(q.copy(), self.t_in.frac, self.t_in.bounds, t, lo_clip=0.0 if relu else None)
            out[name] = codes * 2.0**-t.frac
        return out


def _check_casts(cases):
    """Compile one kernel of the casts `cases` from a 16-bit input and compare it with numpy's casts on
    4,096 codes spread over the whole input range; returns the kernel's result per case."""
    t_in = FixedType(16, 6)  # 10 fractional bits
    chain = CastChain(t_in, cases)
    k = compile_kernel(chain, "casts")  # runs check_kernel: raises on any differing bit
    assert len(k.names) == len(cases)
    # and the check saw values that each mode treats differently: ties, negatives, out of range
    q = np.arange(-(2**15), 2**15, 37, dtype=np.float64)[:4096]
    q = np.resize(q, (len(q) // 16, 16))
    got, want = k(q), chain(q)
    assert all(np.array_equal(got[m], want[m]) for m in k.names)
    return {chain.cases[m]: got[m].tobytes() for m in k.names}


def _cast(r, o, signed, frac):
    width = 9 if signed else 8  # narrow enough that every overflow mode acts
    return FixedType(width, width - frac, signed, r, o)


def test_every_rounding_and_overflow_equals_numpy():
    """7 roundings x 4 overflows x signed/unsigned, 5 bits dropped (ties and overflow both act): 56 casts in
    one kernel. g++'s time grows much faster than the number of casts in one library (64: under a minute,
    112: 18 min, 448: over 25 min, on the loaded 2-core machine), so the full product with the ReLU clamp
    runs per rounding below (extended); every network kernel's ReLU casts are checked against numpy too."""
    cases = [(_cast(r, o, s, 5), False) for r, o, s in itertools.product(ROUNDING, OVERFLOW, (True, False))]
    by_case = _check_casts(cases)
    # the codes exercise what tells the modes apart: with 5 bits dropped, the 7 roundings give 7 results
    # (ties, negatives); from a 9-bit signed type, the 4 overflow modes give 4
    roundings = {by_case[(_cast(r, "WRAP", True, 5), False)] for r in ROUNDING}
    overflows = {by_case[(_cast("TRN", o, True, 5), False)] for o in OVERFLOW}
    assert len(roundings) == 7 and len(overflows) == 4


@pytest.mark.extended  # 7 kernels of 64 casts: about 20-50 s of g++ each
@pytest.mark.parametrize("rounding", ROUNDING)
def test_every_cast_mode_equals_numpy(rounding):
    """For each rounding: 4 overflows x signed/unsigned x four shifts (one bit added, none, 2 and 5
    dropped), with and without the ReLU clamp, from a 16-bit input: 7 x 64 = 448 casts in all."""
    cases = [(_cast(rounding, o, s, f), relu)
             for o, s, f, relu in itertools.product(OVERFLOW, (True, False), (11, 10, 8, 5), (False, True))]  # fmt: skip
    _check_casts(cases)


@pytest.fixture(scope="module")
def dense_ae(tmp_path_factory):
    from l1ml.emulate.nn_fixed import NNEmulator

    bkg = _models.events(3000, seed=5)
    x, pre = _models.network_inputs(bkg)
    km = _models.deploy_model("dense_ae", seed=4, cfg=_models.Cfg(hidden=(16,), latent=4))
    hm = _models.hls_model(km, tmp_path_factory.mktemp("k") / "hls4ml", pre.input_precision(), compile=False)
    return NNEmulator(hm), x, pre, bkg


def test_dense_ae_kernel_equals_numpy_on_events(dense_ae):
    from l1ml.data import units
    from l1ml.emulate.stream import hardware_codes

    emu, x, pre, bkg = dense_ae
    k = compile_kernel(emu, "dense_ae", pre=pre)
    assert k.takes_hardware  # the preprocessing folds into the kernel
    hw = units.to_hardware(bkg)
    want = emu(x)
    for got in (k(emu.input_codes(x)), k.run_hw(hw), k(hardware_codes(pre, emu, hw))):
        assert set(got) == set(want)
        assert all(np.array_equal(got[m], want[m]) for m in want)
    only = k.run_hw(hw, [emu.output_names[-1]])
    assert list(only) == [emu.output_names[-1]] and np.array_equal(
        only[emu.output_names[-1]], want[emu.output_names[-1]]
    )
    assert 0 < k.seconds_per_event < 1e-3  # timed by the check, for --workers 0's choice


def test_default_workers_follow_the_kernels_measured_time():
    """--workers 0: one per core on numpy, and with a kernel slower per event than reading (the CNN AE's
    7 us); one process with a kernel faster than that (the dense AE's 0.65 us)."""
    from types import SimpleNamespace

    from l1ml.emulate.parallel import READ_SECONDS_PER_EVENT, default_processes, usable_cores

    assert default_processes(None) == usable_cores()
    assert default_processes(SimpleNamespace(seconds_per_event=5 * READ_SECONDS_PER_EVENT)) == usable_cores()
    assert default_processes(SimpleNamespace(seconds_per_event=READ_SECONDS_PER_EVENT / 2)) == 1


def test_the_check_refuses_one_weight_moved(dense_ae, monkeypatch):
    """One weight of the first Dense layer moved by one unit of its accumulator's LSB in the generated
    C++: the kernel's own check against numpy refuses it."""
    emu, _, pre, _ = dense_ae
    real = codegen.program

    def moved(*a, **kw):
        p = real(*a, **kw)
        w = next(c for c in p["consts"] if c["name"].startswith("W"))
        w["data"][0] = repr(float(w["data"][0]) + 1.0)
        return p

    monkeypatch.setattr(codegen, "program", moved)
    with pytest.raises(KernelMismatch, match="differs from the numpy emulator on output"):
        compile_kernel(emu, "moved", pre=pre)


@pytest.mark.parametrize(
    "kind,cfg",
    [("vae", _models.Cfg(hidden=(16,), latent=4)), ("cnn_ae", _models.Cfg(filters=(2, 4), latent=4))],
)
def test_vae_and_cnn_kernels_equal_numpy(kind, cfg, tmp_path):
    """The VAE encoder (Dense, ReLU, the squared-sum score) and the CNN AE (padded 3x3 convolutions
    through their im2col tables, average pooling with its per-window divisor, the AE score head)."""
    from l1ml.data import units
    from l1ml.emulate.nn_fixed import NNEmulator

    bkg = _models.events(1500, seed=7)
    x, pre = _models.network_inputs(bkg)
    km = _models.deploy_model(kind, seed=2, cfg=cfg)
    emu = NNEmulator(_models.hls_model(km, tmp_path / "hls4ml", pre.input_precision(), compile=False))
    kinds = {(op.native or {}).get("kind") for op in emu.ops}
    assert ("avgpool" in kinds) == (kind == "cnn_ae")
    k = compile_kernel(emu, kind, pre=pre)
    got, want = k.run_hw(units.to_hardware(bkg)), emu(x)
    assert set(got) == set(want) and all(np.array_equal(got[m], want[m]) for m in want)


def test_a_network_the_kernel_does_not_describe_stays_on_numpy(tmp_path):
    """A sigmoid (hls4ml's lookup table) has no compiled form: refused by name, and the engine keeps
    numpy."""
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from l1ml.data import units
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.emulate.nn_project import _Network

    bkg = _models.events(500, seed=6)
    x, pre = _models.network_inputs(bkg)
    inp = tf.keras.Input((57,), name="x")
    q = quantized_bits(8, 3, alpha=1)
    h = QDense(4, kernel_quantizer=q, bias_quantizer=q, name="d")(inp)
    km = tf.keras.Model(inp, tf.keras.layers.Activation("sigmoid", name="sig")(h))
    emu = NNEmulator(_models.hls_model(km, tmp_path / "hls4ml", pre.input_precision(), compile=False))
    with pytest.raises(NotNative, match="layer 'sig' has no compiled form"):
        compile_kernel(emu, "sig")
    eng = _Network.__new__(_Network)
    eng.emu, eng.names, eng.kernel, eng.kernel_note = emu, list(emu.output_names), None, "numpy"
    assert eng.use_kernel(pre).startswith("numpy (layer 'sig'") and eng.kernel is None
    q = eng.prepare(pre, units.to_hardware(bkg))
    assert q.dtype == np.float64  # input codes, for numpy

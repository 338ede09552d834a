"""The emulator libraries: co-loaded, bit-identical to `l1ml emulate`, safe to create and destroy."""

from __future__ import annotations

import json
import subprocess

import h5py
import numpy as np
import pytest
from deploy_helpers import read_outputs, write_events

pytestmark = pytest.mark.slow

N_EVENTS = 3000


def _emulate(proj, d, tmp_path):
    """`l1ml emulate` over the first N_EVENTS background events: (hw inputs, expected bits per event)."""
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.emulate.nn_project import emulate_project
    from l1ml.fixed import FixedType

    bkg = proj.resolve(proj.data.background)
    parts = load_particles(bkg, proj.data.key, max_events=N_EVENTS)
    tmp_path = tmp_path / d.out.parent.name  # two projects may share a name
    tmp_path.mkdir(exist_ok=True)
    src = tmp_path / f"{proj.name}_events.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset(proj.data.key, data=parts)
    out = tmp_path / f"{proj.name}_emulated.h5"
    emulate_project(proj, src, out)
    md = json.loads((d.out / "metadata.json").read_text())
    fw = json.loads((proj.firmware_dir(d.version) / "manifest.json").read_text())
    names = ["margin"] if d.kind == "bdt" else fw["output_names"]
    with h5py.File(out, "r") as f:
        cols = [
            FixedType.parse(o["type"]).to_bits(f[f"outputs/{n}"][:], n)
            for n, o in zip(names, md["output"]["outputs"], strict=True)
        ]
        score = FixedType.parse(md["output"]["score"]["type"]).to_bits(f["score"][:], "score")
    meta = d.thresholds
    fired = np.stack([score > t["threshold_int"] for t in meta["thresholds"]], axis=1).astype(np.int64)
    return units.to_hardware(parts), np.concatenate([*cols, fired], axis=1), score


def _check_both_orders(host, events, prefix, first, second, label) -> None:
    """Load two libraries, each given as (deployment, expected bits), into one host process in both
    orders, and require each library's outputs to equal its own expected bits exactly."""
    for order in ([first, second], [second, first]):
        r = subprocess.run(
            [str(host), "run", str(events), str(prefix), *[str(d.library) for d, _ in order]],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        for i, (d, want) in enumerate(order):
            got = read_outputs(prefix.with_name(f"{prefix.name}.{i}.bin"), want.shape[1])
            assert got.shape == want.shape
            diff = np.argwhere(got != want)
            assert len(diff) == 0, f"{label(d, i)}: first difference at (event, value) {diff[0]}"


def test_two_libraries_in_one_process_both_orders(deployed, host, tmp_path):
    ae_proj, ae = deployed("dense_ae")
    bdt_proj, bdt = deployed("bdt")
    hw, ae_want, _ = _emulate(ae_proj, ae, tmp_path)
    hw_b, bdt_want, _ = _emulate(bdt_proj, bdt, tmp_path)
    assert np.array_equal(hw, hw_b)  # same events for both models
    events = write_events(tmp_path / "events.bin", hw)
    _check_both_orders(host, events, tmp_path / "out", (ae, ae_want), (bdt, bdt_want), lambda d, i: d.name)
    # The AE outputs something that varies: a constant output would match a broken comparison too.
    assert len(np.unique(ae_want[:, -4])) > 10


def test_two_autoencoders_with_the_same_names_both_orders(deployed, host, tmp_path):
    """Two AEs from the same project name: the same C++ namespace, the same hls4ml layer, weight and
    type names, the same library file name, different weights. Loaded side by side with RTLD_LOCAL,
    each must still compute only its own weights (the cmssw #44435 incident)."""
    a_proj, a = deployed("dense_ae")
    b_proj, b = deployed("dense_ae_twin")
    ns = [json.loads((p.firmware_dir(d.version) / "manifest.json").read_text())["namespace"] for p, d in
          ((a_proj, a), (b_proj, b))]
    assert ns[0] == ns[1] and a.library.name == b.library.name and a.library != b.library
    hw, a_want, a_score = _emulate(a_proj, a, tmp_path)
    hw_b, b_want, b_score = _emulate(b_proj, b, tmp_path)
    assert np.array_equal(hw, hw_b)
    # Different weights give different scores: a library computing the other's network would show.
    assert np.mean(a_score != b_score) > 0.5
    events = write_events(tmp_path / "events.bin", hw)
    _check_both_orders(
        host, events, tmp_path / "twin", (a, a_want), (b, b_want), lambda d, i: f"{d.library} loaded {i + 1}"
    )


def test_create_destroy_cycles(deployed, host, tmp_path):
    proj, d = deployed("dense_ae")
    hw, _, _ = _emulate(proj, d, tmp_path)
    events = write_events(tmp_path / "events.bin", hw[:60])
    r = subprocess.run([str(host), "cycle", str(events), str(d.library), "300"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    f = dict(zip(r.stdout.split()[::2], map(int, r.stdout.split()[1::2]), strict=True))
    assert f["cycles"] == 300 and f["mismatches"] == 0
    assert f["heap_growth"] <= 0, f"heap grew by {f['heap_growth']} bytes over 300 create/destroy cycles"
    assert f["unloaded"] == 1  # -fno-gnu-unique: dlclose really unloads, and reloading works
    assert f["reloads"] == 20


def test_integer_threshold_in_library_counts_like_emulator(deployed, host, tmp_path):
    """The .so's own comparison (score_bits > threshold_int) over the whole background sample gives
    exactly the emulator's count for every rate."""
    from l1ml.data import units
    from l1ml.data.io import load_particles

    for example in ("dense_ae", "bdt"):
        proj, d = deployed(example)
        hw = units.to_hardware(load_particles(proj.resolve(proj.data.background), proj.data.key))
        events = write_events(tmp_path / "all.bin", hw)
        prefix = tmp_path / "all"
        r = subprocess.run([str(host), "run", str(events), str(prefix), str(d.library)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        n_thr = len(d.thresholds["thresholds"])
        md = json.loads((d.out / "metadata.json").read_text())
        width = sum(o["size"] for o in md["output"]["outputs"]) + n_thr
        got = read_outputs(prefix.with_name("all.0.bin"), width)
        assert len(got) == d.thresholds["background_events"] == len(hw)
        counts = got[:, -n_thr:].sum(axis=0)
        for c, t in zip(counts, d.thresholds["thresholds"], strict=True):
            assert c == t["events_above"], (example, t)
        # the rates chosen put real events above the looser thresholds, so the count is a real test
        assert max(counts) > 50


def test_cycle_check_catches_a_leak(host, tmp_path):
    """The heap comparison is real: a library whose destroy_model forgets to delete fails it."""
    from deploy_helpers import TEMPLATES

    src = tmp_path / "leak.cpp"
    src.write_text(
        '#include "hls4mlEmulator.h"\n'
        "struct M : hls4mlEmulator::Model {\n"
        "  char buffer[4096];\n"
        "  void prepare_input(std::any) override {}\n"
        "  void predict() override {}\n"
        "  void read_result(std::any) override {}\n"
        "};\n"
        'extern "C" hls4mlEmulator::Model *create_model() { return new M; }\n'
        'extern "C" void destroy_model(hls4mlEmulator::Model *) {}\n'
    )
    lib = tmp_path / "leak.so"
    subprocess.run(["g++", "-std=c++17", "-shared", "-fPIC", f"-I{TEMPLATES}", str(src), "-o", str(lib)], check=True)
    events = write_events(tmp_path / "e.bin", np.zeros((3, 57), np.int32))
    r = subprocess.run([str(host), "cycle", str(events), str(lib), "20"], capture_output=True, text=True)
    f = dict(zip(r.stdout.split()[::2], map(int, r.stdout.split()[1::2]), strict=True))
    assert f["heap_growth"] >= 10 * 2 * 4096


def test_kernel_library_beside_the_firmware_library(deployed, host, tmp_path):
    """--arithmetic kernel: the library runs l1ml's compiled kernel instead of hls4ml's firmware code. It
    has the project's namespace and file name, passes the same audit and make check, says what it is in
    metadata.json, and co-loaded with the firmware library in both orders each equals `l1ml emulate` bit
    for bit. A BDT is refused by name."""
    from l1ml.deploy.core import deploy
    from l1ml.errors import ConfigError

    proj, fw = deployed("dense_ae")
    k = deploy(proj, tmp_path / "kernel", arithmetic="kernel", opt="-O1")
    assert k.library.name == fw.library.name and k.library != fw.library
    assert k.audit["exported"] == fw.audit["exported"] and "bit-identical" in k.parity
    md = json.loads((k.out / "metadata.json").read_text())
    assert "not hls4ml's firmware code" in md["arithmetic"]
    assert json.loads((fw.out / "metadata.json").read_text())["arithmetic"] == "hls4ml's firmware code"
    src = k.out / "emulator"
    assert (src / "src" / "network.h").is_file() and not (src / "firmware").exists()
    hw, want, _ = _emulate(proj, fw, tmp_path)
    events = write_events(tmp_path / "events.bin", hw)
    _check_both_orders(
        host, events, tmp_path / "k", (fw, want), (k, want), lambda d, i: f"{d.out.name} loaded {i + 1}"
    )
    bdt_proj, _ = deployed("bdt")
    with pytest.raises(ConfigError, match="--arithmetic kernel is for networks"):
        deploy(bdt_proj, tmp_path / "bdt_kernel", arithmetic="kernel", force=True)

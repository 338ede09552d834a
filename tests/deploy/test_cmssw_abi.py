"""The deployed library as CMSSW loads it (issue 23): hls4mlEmulatorExtras' member order, its ModelLoader's
way of opening and closing the library, the callers' own types through std::any, and no leak or crash over
load/destroy/reload rounds, with the library closed both after and before the last model dies."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from deploy_helpers import HERE, TEMPLATES

CMSSW = HERE / "cmssw"
KINDS = ["dense_ae", "cnn_ae", "vae_encoder", "bdt"]
EVENTS = 40  # parity events per model per round (each round runs both interfaces on two models)
ROUNDS = 4  # per close order


def _abi_check(tmp_path, header_dir) -> subprocess.CompletedProcess:
    exe = tmp_path / "abi_check"
    subprocess.run(
        ["g++", "-std=c++17", "-O1", f"-I{header_dir}", f"-I{CMSSW}", '-DL1ML_HEADER="hls4mlEmulator.h"',
         str(CMSSW / "abi_check.cpp"), "-o", str(exe)],
        check=True, capture_output=True,
    )
    return subprocess.run([str(exe)], capture_output=True, text=True)


def test_header_has_the_upstream_member_order():
    """l1ml's header and the independently written upstream-order header, in one translation unit: the
    same signature and vtable slot for every member, and calls through the upstream class land right."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as t:
        r = _abi_check(Path(t), TEMPLATES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DIFFERENT" not in r.stdout and "same delete ran ~Model" in r.stdout


def test_abi_check_catches_the_destructor_first(tmp_path):
    """The order l1ml shipped before (destructor first) fails the check, naming the slots."""
    text = (TEMPLATES / "hls4mlEmulator.h").read_text()
    dtor = "    virtual ~Model() = default;\n"
    assert dtor in text
    old = text.replace(dtor, "").replace("  public:\n", "  public:\n" + dtor, 1)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "hls4mlEmulator.h").write_text(old)
    r = _abi_check(tmp_path, tmp_path / "old")
    assert r.returncode == 1
    assert "DIFFERENT slot prepare_input" in r.stdout and "DIFFERENT slot read_result" in r.stdout


def _loader(tmp_path, d, sanitize: bool) -> tuple:
    """loader_host compiled against upstream_model.h and the package's consumer header; the library copied
    alone into a directory for LD_LIBRARY_PATH (the loader passes a bare name)."""
    inc = d.out / "emulator" / "include"
    exe = tmp_path / ("loader_asan" if sanitize else "loader")
    flags = ["-fsanitize=address", "-fno-omit-frame-pointer"] if sanitize else []
    subprocess.run(
        ["g++", "-std=c++17", "-O1", "-g", *flags, f"-I{CMSSW}", f"-I{inc}", f"-I{inc / 'ap_types'}",
         f'-DMODEL_HEADER="{d.name}.h"', f"-DMODEL_NS={d.name}", str(CMSSW / "loader_host.cpp"), "-o", str(exe),
         "-ldl"],
        check=True, capture_output=True,
    )
    lib = tmp_path / "lib"
    lib.mkdir(exist_ok=True)
    shutil.copy2(d.library, lib / d.library.name)
    par = d.out / "emulator" / "parity"
    for f in ("inputs.txt", "expected.txt"):
        rows = (par / f).read_text().splitlines()[:EVENTS]
        (tmp_path / f).write_text("\n".join(rows) + "\n")
    return exe, lib


def _run(exe, lib, tmp_path, name, rounds, prefix=()) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "LD_LIBRARY_PATH": str(lib), "ASAN_OPTIONS": "detect_leaks=1"}
    return subprocess.run(
        [*prefix, str(exe), name, str(tmp_path / "inputs.txt"), str(tmp_path / "expected.txt"), str(rounds)],
        capture_output=True, text=True, env=env,
    )


def _fields(stdout: str) -> dict:
    first = stdout.splitlines()[0].split()
    f = dict(zip(first[::2], map(int, first[1::2]), strict=True))
    for line in stdout.splitlines()[1:]:
        key, _, msg = line.partition(" ")
        f[key] = msg
    return f


@pytest.mark.slow
@pytest.mark.parametrize("key", KINDS)
def test_cmssw_loader_both_interfaces_both_close_orders(deployed, key, tmp_path):
    """Built against the upstream header; the model in a shared_ptr whose deleter calls destroy_model;
    both interfaces bit-identical to the parity vectors on two live models; the library closed after and
    before the last model dies, unloaded at the end of every round, reloaded the next; no leak (LSan) and
    no invalid access (ASan); a wrong std::any type is one std::runtime_error naming the expected type."""
    _, d = deployed(key)
    exe, lib = _loader(tmp_path, d, sanitize=True)
    r = _run(exe, lib, tmp_path, d.name, ROUNDS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "LeakSanitizer" not in r.stderr and "AddressSanitizer" not in r.stderr, r.stderr
    f = _fields(r.stdout)
    assert f["rounds"] == 2 * ROUNDS and f["mismatches"] == 0 and f["still_loaded"] == 0
    n_thr = len(d.thresholds["thresholds"])
    per_event = sum(o.size for o in _spec_outputs(d)) + n_thr
    # both close orders, two models, both interfaces; the early-close order runs the survivor once more
    assert f["values"] == ROUNDS * (4 + 6) * EVENTS * per_event
    assert f["input_error"].startswith(f"{d.name}: prepare_input expects a std::any holding {d.name}::input_t* = ")
    assert f["input_error"].endswith("but it holds float*")
    assert f"{d.name}::result_t* = " in f["result_error"] and f["result_error"].endswith("std::pair<double, double>*")


def _spec_outputs(d):
    import json
    from types import SimpleNamespace

    md = json.loads((d.out / "metadata.json").read_text())
    return [SimpleNamespace(**o) for o in md["output"]["outputs"]]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_no_leak_under_valgrind(deployed, tmp_path):
    """The same rounds under valgrind (the library not instrumented): every heap block freed, no error."""
    _, d = deployed("dense_ae")
    exe, lib = _loader(tmp_path, d, sanitize=False)
    (tmp_path / "inputs.txt").write_text("\n".join((tmp_path / "inputs.txt").read_text().splitlines()[:5]) + "\n")
    (tmp_path / "expected.txt").write_text("\n".join((tmp_path / "expected.txt").read_text().splitlines()[:5]) + "\n")
    vg = ["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--errors-for-leak-kinds=all",
          "--error-exitcode=99"]
    r = _run(exe, lib, tmp_path, d.name, 2, prefix=vg)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "All heap blocks were freed -- no leaks are possible" in r.stderr
    assert "ERROR SUMMARY: 0 errors" in r.stderr


@pytest.mark.slow
def test_early_close_crashes_without_the_self_reference(deployed, tmp_path):
    """The early-close order is a real test: the same library built without its self-reference (the
    pin create_model takes) crashes when the loader closes it before the last model dies."""
    from l1ml.deploy.build import build

    _, d = deployed("dense_ae")
    pkg = tmp_path / "pkg"
    shutil.copytree(d.out / "emulator", pkg, ignore=shutil.ignore_patterns("build", "*.so"))
    src = pkg / "src" / "emulator.cpp"
    pin = "self_handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);"
    assert pin in src.read_text()
    src.write_text(src.read_text().replace(pin, "self_handle = nullptr;"))
    lib = build(pkg, d.library.name, opt="-O1")
    exe, libdir = _loader(tmp_path, d, sanitize=False)
    shutil.copy2(lib, libdir / lib.name)
    r = _run(exe, libdir, tmp_path, d.name, 1)
    assert r.returncode < 0, r.stdout  # killed by a signal (SIGSEGV), in the "before" order


@pytest.mark.slow
def test_consumer_example_compiles_and_runs(deployed, tmp_path):
    """example/consumer.cpp, generated beside the library, compiles against the package's headers alone
    and runs: the model by name on the library path, the threshold as the firmware's integer."""
    import os

    _, d = deployed("dense_ae")
    pkg = tmp_path / "pkg"
    shutil.copytree(d.out / "emulator", pkg, ignore=shutil.ignore_patterns("build"))
    subprocess.run(["make", "-s", "example"], cwd=pkg, check=True, capture_output=True)
    env = {**os.environ, "LD_LIBRARY_PATH": str(pkg)}
    r = subprocess.run([str(pkg / "build" / "consumer"), d.name, "1"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    t = d.thresholds["thresholds"][1]
    assert r.stdout.startswith(f"{d.name}: score ")
    assert f"threshold {t['threshold_int']} bits at {t['rate_khz']:g} kHz, fired " in r.stdout
    header = (pkg / "include" / f"{d.name}.h").read_text()
    assert f"constexpr const char *kModelName = \"{d.name}\";" in header

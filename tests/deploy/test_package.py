"""The package's checks can fail: symbol audit, make check, bundle verify, the validation gate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from deploy_helpers import TEMPLATES

pytestmark = pytest.mark.slow

CONTRACT_KEYS = {"rate_khz", "fpr", "threshold", "threshold_int", "events_above", "rate_measured_khz", "rate_err_khz"}


def test_deployed_library_passes_audit_and_metadata(deployed):
    from l1ml.deploy.audit import audit

    proj, d = deployed("dense_ae")
    a = audit(d.library)
    assert a.passed, a.violations
    assert sorted(a.exported) == ["create_model", "destroy_model"]
    md = json.loads((d.out / "metadata.json").read_text())
    assert md["model_version"] == "v1" and md["forced"] is False
    assert len(md["input"]["features"]) == 57 and md["input"]["features"][0] == "MET0_pT"
    assert md["input"]["preprocessing"]["offsets"] == json.loads(
        (proj.model_dir("v1") / "preprocessing.json").read_text()
    )["offsets"]
    assert md["output"]["score"]["type"].startswith("ap_")
    assert md["hashes"]["model"] and md["thresholds"] == d.thresholds


def test_thresholds_contract(deployed):
    from l1ml.fixed import FixedType

    proj, d = deployed("dense_ae")
    t = json.loads((proj.build_dir / "deploy" / "v1" / "thresholds.json").read_text())
    assert t == d.thresholds
    assert t["colliding_rate_hz"] == pytest.approx(2544 * 11245.0)
    assert [r["rate_khz"] for r in t["thresholds"]] == [1.0, 100.0, 1000.0]
    frac = FixedType.parse(t["score_type"]).frac
    for r in t["thresholds"]:
        assert CONTRACT_KEYS <= set(r)
        assert r["threshold"] == r["threshold_int"] * 2.0**-frac
        n = t["background_events"]
        assert r["rate_measured_khz"] == pytest.approx(r["events_above"] / n * t["colliding_rate_hz"] / 1e3)
        assert r["rate_err_khz"] == pytest.approx(r["events_above"] ** 0.5 / n * t["colliding_rate_hz"] / 1e3)
        # at most floor(fpr * N) events above, as metrics.threshold_for_fpr
        assert r["events_above"] <= int(r["fpr"] * n)


def test_audit_fails_on_global_weight_array(tmp_path):
    """An un-namespaced, default-visibility build, as hls4ml writes weights: `weight2_t w2[...]` at file
    scope. The audit names the weight."""
    from l1ml.deploy.audit import AuditFailed, audit, require

    src = tmp_path / "leaky.cpp"
    src.write_text(
        '#include "hls4mlEmulator.h"\n'
        "float w2[4] = {0.25f, -0.5f, 0.125f, 1.0f};\n"
        "struct M : hls4mlEmulator::Model {\n"
        "  float y = 0;\n"
        "  void prepare_input(std::any) override {}\n"
        "  void predict() override { y = w2[0] + w2[3]; }\n"
        "  void read_result(std::any) override {}\n"
        "};\n"
        "#define EXPORT __attribute__((visibility(\"default\")))\n"
        'extern "C" EXPORT hls4mlEmulator::Model *create_model() { return new M; }\n'
        'extern "C" EXPORT void destroy_model(hls4mlEmulator::Model *m) { delete m; }\n'
    )
    lib = tmp_path / "leaky.so"
    subprocess.run(
        ["g++", "-std=c++17", "-shared", "-fPIC", f"-I{TEMPLATES}", str(src), "-o", str(lib)], check=True
    )
    a = audit(lib)
    assert not a.passed
    assert any(v.startswith("w2:") for v in a.violations), a.violations
    with pytest.raises(AuditFailed, match="w2"):
        require(lib)
    # The same source with the package's flags passes: hidden visibility plus the version script.
    ok = tmp_path / "tight.so"
    subprocess.run(
        ["g++", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", f"-I{TEMPLATES}", str(src),
         f"-Wl,--version-script={TEMPLATES / 'version.map'}", "-o", str(ok)],
        check=True,
    )
    assert audit(ok).passed, audit(ok).violations


FILE_READERS = {
    # name: (includes, the statement in predict() that reads a file at run time, the import expected;
    # std::ifstream's constructor is inlined: what the library imports is basic_filebuf::open)
    "fopen": ("#include <cstdio>\n", 'if (std::FILE *f = std::fopen("w.txt", "r")) std::fclose(f);', r"^fopen"),
    "open": ("#include <fcntl.h>\n#include <unistd.h>\n",
             'int fd = ::open("w.txt", O_RDONLY); if (fd >= 0) ::close(fd);', r"^open(64)?$"),
    "ifstream": ("#include <fstream>\n", 'std::ifstream f("w.txt"); y = f.good();', r"basic_(i?fstream|filebuf)"),
}


@pytest.mark.parametrize("reader", sorted(FILE_READERS))
def test_audit_fails_on_a_library_that_reads_files(tmp_path, reader):
    """Weights must be compiled in: a library importing fopen, open or std::ifstream fails the audit, even
    when its symbols are as tight as the package's (hidden visibility plus the version script)."""
    from l1ml.deploy.audit import AuditFailed, audit, require

    includes, statement, expected = FILE_READERS[reader]
    src = tmp_path / "reader.cpp"
    src.write_text(
        '#include "hls4mlEmulator.h"\n' + includes +
        "struct M : hls4mlEmulator::Model {\n"
        "  int y = 0;\n"
        "  void prepare_input(std::any) override {}\n"
        "  void predict() override { " + statement + " }\n"
        "  void read_result(std::any) override {}\n"
        "};\n"
        "#define EXPORT __attribute__((visibility(\"default\")))\n"
        'extern "C" EXPORT hls4mlEmulator::Model *create_model() { return new M; }\n'
        'extern "C" EXPORT void destroy_model(hls4mlEmulator::Model *m) { delete m; }\n'
    )
    lib = tmp_path / "reader.so"
    subprocess.run(
        ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-fvisibility=hidden", f"-I{TEMPLATES}", str(src),
         f"-Wl,--version-script={TEMPLATES / 'version.map'}", "-o", str(lib)],
        check=True,
    )
    a = audit(lib)
    assert sorted(a.exported) == ["create_model", "destroy_model"]  # the symbols alone would pass
    assert not a.passed
    assert any(re.search(expected, name) for name in a.file_imports), a.file_imports
    assert all("must read no files at run time" in v for v in a.violations), a.violations
    with pytest.raises(AuditFailed, match="read no files"):
        require(lib)


def test_make_check_fails_on_one_changed_parity_value(deployed, tmp_path):
    from l1ml.deploy.build import BuildError, check

    _, d = deployed("bdt")
    pkg = tmp_path / "pkg"
    shutil.copytree(d.out / "emulator", pkg)
    assert "all bit-identical" in check(pkg)
    f = pkg / "parity" / "expected.txt"
    rows = f.read_text().splitlines()
    vals = rows[7].split()
    vals[0] = str(int(vals[0]) + 1)  # one LSB on one event
    rows[7] = " ".join(vals)
    f.write_text("\n".join(rows) + "\n")
    with pytest.raises(BuildError, match="event 7 value 0"):
        check(pkg)
    r = subprocess.run(["make", "check"], cwd=pkg, capture_output=True, text=True)
    assert r.returncode != 0 and "parity FAILED: 1 of" in r.stdout


def test_bundle_verify_and_tamper(deployed, tmp_path):
    from l1ml.deploy.bundle import VerifyFailed, verify

    _, d = deployed("dense_ae")
    r = verify(d.bundle)
    assert r["ok"] and r["model_version"] == "v1" and r["forced"] is False and r["validated"] is True
    with tarfile.open(d.bundle) as t:
        names = t.getnames()
        man = json.loads(t.extractfile(f"{d.name}_bundle/manifest.json").read())
    assert "validation/report.json" in man["files"] and "metadata.json" in man["files"]
    assert any(n.endswith("hls/hls4ml/firmware/defines.h") for n in names)
    assert man["toolchain"]["hls4ml"] and man["toolchain"]["g++"]
    # Change one byte of one file: verify names it.
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(d.bundle) as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isreg() else None
            if m.name.endswith("/thresholds.json"):
                data = data.replace(b'"fpr"', b'"fpR"')
                m.size = len(data)
            import io

            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    with pytest.raises(VerifyFailed, match="thresholds.json: sha256"):
        verify(bad)
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    cli = [sys.executable, "-m", "l1ml.cli.main", "deploy", "--verify"]
    ok = subprocess.run([*cli, str(d.bundle)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "match the manifest" in ok.stdout
    no = subprocess.run([*cli, str(bad)], capture_output=True, text=True, env=env)
    assert no.returncode == 2 and "thresholds.json" in no.stderr and "Traceback" not in no.stderr


def test_forced_deploy_says_so(deployed):
    from l1ml.deploy.bundle import verify

    _, d = deployed("bdt")
    assert d.forced
    assert json.loads((d.out / "metadata.json").read_text())["forced"] is True
    r = verify(d.bundle)
    assert r["forced"] is True and r["validated"] is False


def test_gate_refuses_unvalidated_and_failed(deployed, tmp_path):
    from l1ml.deploy.core import NotValidated, deploy

    proj, _ = deployed("bdt")
    with pytest.raises(NotValidated, match="has not been validated"):
        deploy(proj, tmp_path / "x")
    rep = proj.build_dir / "validation" / "v1" / "report.json"
    rep.parent.mkdir(parents=True, exist_ok=True)
    rep.write_text(json.dumps({"version": "v1", "passed": False}))
    try:
        with pytest.raises(NotValidated, match="failed validation"):
            deploy(proj, tmp_path / "x")
    finally:
        rep.unlink()
    assert not (tmp_path / "x").exists()


def test_rates_khz_is_validated(tmp_path):
    from _projects import make_project

    from l1ml.errors import ConfigError
    from l1ml.project import load_project

    with pytest.raises(ConfigError, match="rates_khz"):
        load_project(make_project(tmp_path, "dense_ae", **{"trigger.rates_khz": [1.0, -2.0]}))
    p = load_project(make_project(tmp_path / "b", "dense_ae"))
    from l1ml.deploy.thresholds import target_rates

    assert target_rates(p) == [p.trigger.rate_khz]


def test_bundle_takes_synthesis_summary_and_exported_ip(deployed, tmp_path):
    """--synth RESULT_DIR: the queue's parsed summary and any exported IP go into the bundle, hashed."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.deploy.bundle import verify, write_bundle
    from l1ml.deploy.package import spec_for
    from l1ml.project import read_json

    proj, d = deployed("bdt")
    fw_dir = proj.firmware_dir("v1")
    mm, fm = read_json(proj.model_dir("v1") / "manifest.json"), read_json(fw_dir / "manifest.json")
    spec = spec_for(proj, "v1", mm, fm, fw_dir, Preprocessing.load(proj.model_dir("v1") / "preprocessing.json"), d.name)
    stage = tmp_path / "stage"
    stage.mkdir()
    for f in ("metadata.json", "thresholds.json"):
        shutil.copy2(d.out / f, stage / f)
    synth = tmp_path / "job7"
    (synth / "prj" / "solution1" / "impl" / "ip").mkdir(parents=True)
    (synth / "summary.json").write_text(json.dumps({"step": "csynth", "latency_cycles": 3}))
    (synth / "prj" / "solution1" / "impl" / "ip" / "l1ml_bdt.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    tar = write_bundle(proj, spec, stage, fw_dir, fm, mm, None, synth, d.audit, True)
    r = verify(tar)
    with tarfile.open(tar) as t:
        man = json.loads(t.extractfile(f"{d.name}_bundle/manifest.json").read())
    assert "synthesis/summary.json" in man["files"] and man["exported_ip"] == ["ip/l1ml_bdt.zip"]
    assert r["forced"] is True and man["forced_note"]


def test_rebuilt_graph_writes_outside_the_firmware(deployed, tmp_path):
    """load_hls_model's graph writes elsewhere: hls4ml's write() into the firmware directory replaced the
    firmware with hls4ml's defaults (weights read from text files, no namespace), which the next deploy's
    audit then refused. The benchmark that compiled hls4ml's predict did exactly that."""
    import hashlib

    from l1ml.emulate.nn_fixed import load_hls_model

    proj, d = deployed("dense_ae")
    fw = proj.firmware_dir(d.version) / "hls4ml"

    def digest():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(fw.rglob("*")) if p.is_file()}

    before = digest()
    hm = load_hls_model(fw)
    out = Path(hm.config.get_output_dir()).resolve()
    assert fw.resolve() not in (out, *out.parents)
    hm.write()  # what compile() runs first
    assert (out / "firmware").is_dir() and digest() == before
    chosen = load_hls_model(fw, output_dir=tmp_path / "here")
    assert Path(chosen.config.get_output_dir()) == tmp_path / "here"

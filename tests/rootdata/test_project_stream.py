"""A project on ROOT files end to end: training on a bounded sample, `l1ml emulate` of a glob of ROOT
files (equal to the HDF5 path and to the batch emulator on the same events), --scores-only, `l1ml rate`
on the ZeroBias files with its uncertainty, and split emulation through the queue's local worker."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from l1ml.cli.main import app
from l1ml.data import units

pytestmark = pytest.mark.slow


def _zb(zb_files):
    d, expected = zb_files
    files = sorted(p for p in expected if p.parent.name == "zb")
    return d, files, np.concatenate([expected[f] for f in files])


def test_training_reads_a_bounded_sample(root_project):
    from l1ml.data.samples import load_project_samples

    s = load_project_samples(root_project)
    assert len(s["background"]) == 5000  # sample_events, of 9000 in three files
    assert len(s["Ato4l"]) == 1500  # the whole file: fewer than sample_events
    man = json.loads((root_project.model_dir() / "manifest.json").read_text())
    assert man["kind"] == "dense_ae" and man["threshold"] is not None


def test_emulate_root_glob_equals_hdf5_and_the_batch_emulator(root_project, zb_files, tmp_path):
    from l1ml.data.preprocess import Preprocessing
    from l1ml.emulate.nn_fixed import emulate_arrays

    d, files, hw = _zb(zb_files)
    out_root = tmp_path / "root.h5"
    r = CliRunner().invoke(
        app, ["emulate", "-p", str(root_project.path), "-i", str(d / "zb" / "*.root"), "-o", str(out_root)]
    )
    assert r.exit_code == 0, r.output
    h5 = tmp_path / "same.h5"
    with h5py.File(h5, "w") as f:
        f["Particles"] = units.from_hardware(hw)
    out_h5 = tmp_path / "h5.h5"
    r = CliRunner().invoke(app, ["emulate", "-p", str(root_project.path), "-i", str(h5), "-o", str(out_h5)])
    assert r.exit_code == 0, r.output
    pre = Preprocessing.load(root_project.model_dir() / "preprocessing.json")
    ref = emulate_arrays(root_project.firmware_dir() / "hls4ml", pre.apply(hw.astype(np.int32)))
    names = list(ref)
    with h5py.File(out_root) as a, h5py.File(out_h5) as b:
        assert a["score"].shape == (len(hw),)
        assert np.array_equal(a["score"][:], b["score"][:])
        assert np.array_equal(a["score"][:], ref[names[-1]][:, 0])
        assert np.array_equal(a["outputs"][names[0]][:], ref[names[0]])
        assert a.attrs["input_format"] == "l1ntuple" and b.attrs["input_format"] == "hdf5"


def test_scores_only_writes_the_score_alone(root_project, zb_files, tmp_path):
    d, _, hw = _zb(zb_files)
    out = tmp_path / "s.h5"
    full = tmp_path / "f.h5"
    for o, extra in ((out, ["--scores-only"]), (full, [])):
        r = CliRunner().invoke(
            app,
            ["emulate", "-p", str(root_project.path), "-i", str(d / "zb" / "*.root"), "-o", str(o), *extra],
        )
        assert r.exit_code == 0, r.output
    with h5py.File(out) as a, h5py.File(full) as b:
        assert "outputs" not in a and a.attrs["scores_only"]
        assert np.array_equal(a["score"][:], b["score"][:])


def test_rate_on_zerobias_with_its_uncertainty(root_project, zb_files, tmp_path):
    d, _, hw = _zb(zb_files)
    scores = tmp_path / "s.h5"
    CliRunner().invoke(
        app,
        [
            "emulate",
            "-p",
            str(root_project.path),
            "-i",
            str(d / "zb" / "*.root"),
            "-o",
            str(scores),
            "--scores-only",
        ],
    )
    with h5py.File(scores) as f:
        s = f["score"][:].astype(np.float64)
    r = CliRunner().invoke(app, ["rate", "-p", str(root_project.path), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    n = len(hw)
    assert rep["events"] == n and len(rep["files"]) == 3
    hz = root_project.colliding_rate_hz
    assert rep["colliding_rate_hz"] == pytest.approx(2544 * 11245.0)
    man = json.loads((root_project.model_dir() / "manifest.json").read_text())
    deployed = rep["rows"][0]
    assert deployed["threshold"] == man["threshold"]
    k = int((s > man["threshold"]).sum())
    assert deployed["events_above"] == k
    assert deployed["rate_khz"] == pytest.approx(k / n * hz / 1e3)
    assert deployed["rate_err_khz"] == pytest.approx(np.sqrt(k * (1 - k / n)) / n * hz / 1e3)
    from l1ml.models.metrics import threshold_for_fpr

    target = rep["rows"][1]
    assert target["threshold"] == threshold_for_fpr(s, root_project.trigger_fpr)
    # The table a person reads shows the uncertainty.
    r = CliRunner().invoke(app, ["rate", "-p", str(root_project.path)])
    assert r.exit_code == 0 and "±" in r.output and "(stat.)" in r.output and "kHz" in r.output
    assert (root_project.build_dir / "rates" / man["version"] / "rates.json").is_file()


def test_split_counts_merge_to_the_single_run(root_project, zb_files):
    """Per-file and per-chunk splits, run in this process, merge to exactly the single run's counts; one
    missing chunk is caught."""
    from l1ml.data.stream import project_source
    from l1ml.emulate.nn_project import load_engine
    from l1ml.emulate.stream import ScoreCounts
    from l1ml.rates.split import emulate_ranges, plan_ranges

    src = project_source(root_project, which="rate_sample")
    engine, pre, _, _ = load_engine(root_project)
    counts = src.counts()
    single = emulate_ranges(engine, pre, src, [r for job in plan_ranges(counts, "file") for r in job])
    for per in ("file", 1000, 777):
        parts = [emulate_ranges(engine, pre, src, job) for job in plan_ranges(counts, per)]
        merged = ScoreCounts()
        for p in parts:
            merged = merged.merge(p)
        assert merged == single, per
    partial = ScoreCounts()
    for p in parts[1:]:
        partial = partial.merge(p)
    assert partial != single
    saved = ScoreCounts.from_dict(json.loads(json.dumps(single.to_dict())))
    assert saved == single


def test_split_on_the_local_queue_worker(root_project, zb_files, tmp_path, monkeypatch):
    """`l1ml rate --jobs file` through the queue (a real worker process, local dispatcher): one job per
    file, whose merged counts give the same report as the single run. (Chunked splits are the same code
    path with other ranges; the in-process test above covers them.)"""
    from queue_helpers import local_queue, split_matches_single

    with local_queue(tmp_path, monkeypatch, "local", readable=(zb_files[0], root_project.path)):
        jobs = split_matches_single(root_project, "file")
    assert len(jobs) == 3

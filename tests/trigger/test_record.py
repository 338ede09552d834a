"""The trigger record (l1ml/models/threshold.py) on firmware-exact scores: the threshold in integer and
real form, the rule of metrics.threshold_for_fpr, the count a float comparison and the integer comparison
both give, intervals, and the min_events_above flag."""

from __future__ import annotations

import numpy as np
import pytest

from l1ml.emulate.stream import ScoreCounts
from l1ml.models.metrics import threshold_for_fpr
from l1ml.models.threshold import build, target


@pytest.fixture
def proj(tmp_path):
    from _projects import make_project

    from l1ml.project import load_project

    return load_project(make_project(tmp_path, "dense_ae", **{"trigger.rates_khz": [1.0, 100.0]}))


def test_record_on_exact_scores(proj):
    frac = 10
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 1 << 16, 200_000)
    bits[:50] = 60_000  # a tie at the top: the rule still leaves at most floor(fpr * N) above
    scores = bits * 2.0**-frac
    counts = ScoreCounts()
    counts.add(scores)
    sig = {"A": rng.integers(0, 1 << 17, 5000) * 2.0**-frac}
    fw_man = {"outputs": [{"precision": "ap_fixed<18,8>"}]}
    rec = build(proj, "v1", "abc", "dense_ae", fw_man, counts, sig, ["rate.h5"])
    assert rec["score_frac"] == frac and rec["rate_sample"]["events"] == 200_000
    for rate in (1.0, 100.0):
        e = target(rec, rate)
        fpr = rate * 1e3 / proj.colliding_rate_hz
        assert e["threshold"] == threshold_for_fpr(scores, fpr)  # one rule, here on exact counts
        assert e["threshold"] == e["threshold_int"] * 2.0**-frac
        k = int((bits > e["threshold_int"]).sum())  # the library's integer comparison
        assert e["events_above"] == k == int((scores > e["threshold"]).sum()) <= int(fpr * 200_000)
        assert e["rate_low_khz"] <= e["rate_measured_khz"] <= e["rate_high_khz"]
        s = e["signals"]["A"]
        assert (
            s["tpr"] == float((sig["A"] > e["threshold"]).mean())
            and s["tpr_low"] <= s["tpr"] <= s["tpr_high"]
        )
        assert e["enough"] == (k >= 100)
    assert not target(rec)["enough"]  # 1 kHz on 200k events: about 7 events above
    assert target(rec, 100.0)["enough"]
    assert rec["reference"] is not None  # 1e-5 x 200k >= 1: resolvable, so recorded


def test_bdt_tprs_leave_out_its_training_signal(proj):
    """A BDT trained on a seeded half of each signal file's first events: the record's TPRs use only the
    rest. Here every training event scores above any threshold and every other event below it, so one
    training event counted would show as a TPR above zero."""
    import json

    from l1ml.errors import L1mlError
    from l1ml.models.train import signal_halves

    frac = 10
    counts = ScoreCounts()
    counts.add(np.random.default_rng(1).integers(0, 1 << 12, 100_000) * 2.0**-frac)
    n_file, n_read, seed = 3000, 2000, proj.data.seed
    sig = np.zeros(n_file)
    sig[signal_halves(n_read, seed)[0]] = 100.0  # the training half of the first 2,000 events
    mdir = proj.models_dir / "v1"
    mdir.mkdir(parents=True)
    man = {"version": "v1", "kind": "bdt", "source": "train",
           "signal_training": {"events_read": {"A": n_read}, "data_seed": seed, "format": "hdf5"}}  # fmt: skip
    (mdir / "manifest.json").write_text(json.dumps(man))
    fw_man = {"precision": "ap_fixed<18,8>"}
    rec = build(proj, "v1", "abc", "bdt", fw_man, counts, {"A": sig}, ["rate.h5"])
    a = target(rec)["signals"]["A"]
    assert a["events"] == n_file - n_read // 2 and a["passed"] == 0 and a["tpr"] == 0.0
    assert rec["signal_events"].startswith("held-out")
    # the same scores for a network (never trained on signal): every event counts
    net = build(proj, "v1", "abc", "dense_ae", {"outputs": [{"precision": "ap_fixed<18,8>"}]}, counts,
                {"A": sig}, ["rate.h5"])  # fmt: skip
    assert target(net)["signals"]["A"]["passed"] == n_read // 2
    # a signal file shorter than the one trained on is refused, not silently misaligned
    with pytest.raises(L1mlError, match="trained on the first 2000"):
        build(proj, "v1", "abc", "bdt", fw_man, counts, {"A": sig[:1500]}, ["rate.h5"])


def test_held_out_signal_is_what_training_held_out(tmp_path, small_data):
    """A real BDT trained on generated events: the events held_out keeps from each whole signal file are
    exactly prepare()'s test half (the ones train's metrics use), none of its training half."""
    from _projects import project_on_data

    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.models.threshold import held_out
    from l1ml.models.train import prepare, train_project
    from l1ml.project import load_project

    proj = load_project(project_on_data(tmp_path, "bdt", small_data, **{"model.n_estimators": 3}))
    train_project(proj)
    # train's metrics are labelled a first look in the file itself, pointing at the trigger record
    import json

    first = json.loads((proj.models_dir / "v1" / "metrics.json").read_text())["first_look"]
    assert "test split" in first and "not the trigger's" in first and "trigger.json" in first
    d = prepare(proj)
    # an event's identity: its particles' bytes (the file order is what the rate step scores in)
    files = {k: load_particles(proj.resolve(p), proj.data.key) for k, p in proj.data.signals.items()}
    ids = {k: np.arange(len(v), dtype=np.float64) for k, v in files.items()}
    kept, which = held_out(proj, "v1", "bdt", ids)
    assert which.startswith("held-out")
    for name, ev in files.items():
        want = {units.to_hardware(ev[i : i + 1]).tobytes() for i in kept[name].astype(int)}
        assert want == {row[None].tobytes() for row in d["sig_test"][name]}
    # validate's samples: the first events of each file, as (N, 19, 4) events; the training ones removed
    first = {k: units.to_hardware(v[:1000]) for k, v in files.items()}
    kept, _ = held_out(proj, "v1", "bdt", first, prefix=True)
    for name, ev in kept.items():
        test = {row.tobytes() for row in d["sig_test"][name]}
        assert 300 < len(ev) < 700 and all(row.tobytes() in test for row in ev)

import subprocess
import sys

import h5py
import numpy as np
import pytest

from l1ml.data import generate as gen
from l1ml.data.io import load_particles
from l1ml.errors import DataError


@pytest.fixture(scope="module")
def events():
    return {s: gen.generate(s, 3000, seed=5) for s in ("background", *gen.SIGNALS)}


def test_layout(events):
    for name, ev in events.items():
        assert ev.shape == (3000, 19, 4) and ev.dtype == np.float32, name
        present = ev[..., 0] > 0
        cls = ev[..., 3]
        # Class ids by row, and zero padding everywhere else.
        assert np.all(cls[:, 0] == 1)
        for rows, cid in ((slice(1, 5), 2), (slice(5, 9), 3), (slice(9, 19), 4)):
            assert np.all(np.where(present[:, rows], cls[:, rows] == cid, cls[:, rows] == 0))
            pt = ev[:, rows, 0]
            assert np.all(np.diff(pt, axis=1) <= 0), f"{name}: pT not ordered within type"
        assert np.all(ev[~present] == 0)
        assert np.all(ev[:, 0, 1] == 0), "MET has eta 0"
        # Acceptance per type, thresholds (issue 25: the L1 acceptance of l1ml/data/physics/params.py;
        # the old generator's ADC2021 lepton filter is gone, since a trigger's rate is over all crossings).
        assert np.abs(ev[:, 1:5, 1]).max() < 2.5
        assert np.abs(ev[:, 5:9, 1]).max() < 2.4
        assert np.abs(ev[:, 9:, 1]).max() < 4.7
        for rows, low in ((slice(1, 5), 3.0), (slice(5, 9), 3.0), (slice(9, 19), 15.0)):
            pt = ev[:, rows, 0]
            assert pt[pt > 0].min() > low


def test_signals_differ_like_the_real_ones(events):
    bkg = events["background"]
    n_lep = lambda ev: (ev[:, 1:9, 0] > 0).sum(1).mean()  # noqa: E731
    assert n_lep(events["Ato4l"]) > 2 * n_lep(bkg), "Ato4l has extra leptons"
    assert events["hChToTauNu"][:, 0, 0].mean() > 1.5 * bkg[:, 0, 0].mean(), "H+ -> tau nu has harder MET"
    assert events["hToTauTau"][:, 0, 0].mean() > bkg[:, 0, 0].mean()


def test_same_seed_same_events():
    a = gen.generate("Ato4l", 500, seed=11)
    b = gen.generate("Ato4l", 500, seed=11)
    c = gen.generate("Ato4l", 500, seed=12)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_sample():
    with pytest.raises(ValueError, match="unknown sample 'Zprime'"):
        gen.generate("Zprime", 10)


def h5(path, key="Particles", data=None, **extra):
    with h5py.File(path, "w") as f:
        if data is not None:
            f.create_dataset(key, data=data)
        for k, v in extra.items():
            f.create_dataset(k, data=v)
    return path


def test_loader_accepts_adc2021_layout_with_extra_datasets(tmp_path):
    ev = gen.generate("background", 100, seed=1)
    p = h5(
        tmp_path / "background_for_training.h5",
        data=ev,
        Particles_Classes=np.array([b"MET_class_1", b"Four_Ele_class_2"]),
        Particles_Names=np.array([b"Pt", b"Eta", b"Phi", b"Class"]),
    )
    assert np.array_equal(load_particles(p), ev)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (
            lambda p: h5(p, key="Objects", data=np.zeros((3, 19, 4))),
            r"no dataset 'Particles' \(the file holds: Objects\)",
        ),
        (lambda p: h5(p, data=np.zeros((3, 19, 3))), r"has shape \(3, 19, 3\), expected \(N, 19, 4\)"),
        (lambda p: h5(p, data=np.zeros((0, 19, 4))), "holds no events"),
        (lambda p: h5(p, data=np.full((3, 19, 4), np.nan)), "NaN or infinite values"),
        (lambda p: p.write_text("not hdf5"), "not a readable HDF5 file"),
    ],
)
def test_loader_errors_name_file_key_and_expectation(tmp_path, make, pattern):
    p = tmp_path / "bad.h5"
    make(p)
    with pytest.raises(DataError, match=pattern) as e:
        load_particles(p)
    assert str(p) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_particles(tmp_path / "none.h5")


def test_cli_generate_and_inspect(tmp_path):
    l1ml = [sys.executable, "-m", "l1ml.cli.main"]
    r = subprocess.run(
        [*l1ml, "data", "generate", "--out", str(tmp_path), "--events", "2000", "--seed", "1"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    for s in ("background", *gen.SIGNALS):
        assert (tmp_path / f"{s}.h5").is_file()
    r = subprocess.run([*l1ml, "data", "inspect", str(tmp_path / "Ato4l.h5")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "500 events" in r.stdout and "electrons" in r.stdout and "muons" in r.stdout


def test_cli_bad_file_is_one_line_not_a_traceback(tmp_path):
    p = h5(tmp_path / "x.h5", data=np.zeros((3, 19, 3)))
    r = subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "data", "inspect", str(p)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "expected (N, 19, 4)" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout

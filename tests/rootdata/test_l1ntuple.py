"""Reading L1 ntuples: the default L1Upgrade mapping, hardware units, the HDF5 round trip, bad inputs."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from rootdata_helpers import hw_events, write_l1ntuple, write_tree

from l1ml.data import units
from l1ml.data.l1ntuple import NtupleMap, _round_div4, iter_hardware
from l1ml.data.stream import Source
from l1ml.errors import ConfigError, DataError

DEFAULT = NtupleMap.from_inputs(None)


def read(path, m=DEFAULT, step=100_000):
    return np.concatenate([hw for _, hw in iter_hardware(path, m, step)])


def test_default_mapping_gives_the_gt_integers(zb_files):
    """BX 0 only, sorted by pT, cut to 4/4/10, muons to the calo scale, phi signed, MET of sumType 2 at
    BX 0: equal to the independent reference, whatever the chunk size."""
    _, expected = zb_files
    for path, want in expected.items():
        got = read(path)
        assert got.dtype == np.int32 and got.shape == (len(want), 57)
        assert np.array_equal(got, want), path
        assert np.array_equal(read(path, step=777), got)
    # The fixture's events exercise what the reader must handle: out-of-time harder objects, too many.
    assert (got[:, 3 * 9] > 0).mean() > 0.5


def test_reference_catches_a_real_mismatch(zb_files):
    """The comparison above fails when the reader drops the BX selection."""
    _, expected = zb_files
    path, want = next(iter(expected.items()))
    no_bx = NtupleMap.from_inputs({"eg_bx": "", "muon_bx": "", "jet_bx": "", "sum_bx": ""})
    assert not np.array_equal(read(path, no_bx), want)


def test_root_to_layout_equals_the_hdf5_path(zb_files, tmp_path):
    """ROOT -> (N, 19, 4) written as an ADC2021 HDF5 file reads back through the HDF5 path (load_particles,
    units.to_hardware, the streaming reader) to the same hardware units."""
    from l1ml.data.io import load_particles

    _, expected = zb_files
    path = next(iter(expected))
    hw = read(path)
    particles = units.from_hardware(hw)
    assert particles.shape == (len(hw), 19, 4)
    h5 = tmp_path / "same.h5"
    with h5py.File(h5, "w") as f:
        f["Particles"] = particles
    assert np.array_equal(load_particles(h5), particles)
    assert np.array_equal(units.to_hardware(load_particles(h5)), hw)
    assert np.array_equal(np.concatenate(list(Source([h5], "hdf5").iter_hardware(1000))), hw)
    # Class ids as ADC2021 has them: 1 MET, 2 e/gamma, 3 muons, 4 jets, 0 for padding.
    cls = particles[..., 3]
    assert set(np.unique(cls[:, 9:][particles[:, 9:, 0] > 0])) == {4.0}
    assert (cls[particles[..., 0] == 0] == 0).all()


def test_physics_units_read_the_floats_and_show_why_integers_are_used(zb_files):
    """units = "physics" converts the float branches through units.to_hardware's rounding: the same for
    e/gamma, jets and sums, but muonEt is (hwPt - 1) x 0.5 GeV, one step below the GT's integer."""
    _, expected = zb_files
    path, want = next(iter(expected.items()))
    phys = NtupleMap.from_inputs(
        {
            "units": "physics",
            **{
                f"{c}_{f}": f"{c}{F}"
                for c in ("eg", "jet")
                for f, F in (("pt", "Et"), ("eta", "Eta"), ("phi", "Phi"))
            },
            "muon_pt": "muonEt",
            "muon_eta": "muonEtaAtVtx",
            "muon_phi": "muonPhiAtVtx",
            "sum_pt": "sumEt",
            "sum_phi": "sumPhi",
        }
    )
    got = read(path, phys).reshape(-1, 19, 3)
    ref = want.reshape(-1, 19, 3)
    calo = np.r_[0, 1:5, 9:19]
    assert np.array_equal(got[:, calo], ref[:, calo])
    present = ref[:, 5:9, 0] > 1
    assert np.array_equal(got[:, 5:9, 0][present], ref[:, 5:9, 0][present] - 1)


def test_muon_scale_change_rounds_like_units():
    x = np.arange(-2000, 2000)
    assert np.array_equal(_round_div4(x), np.round(x / 4).astype(np.int64))


def test_project_mapping_overrides_and_rejects_unknown_keys():
    m = NtupleMap.from_inputs({"tree": "t", "met_type": 8, "jet_bx": ""})
    assert (
        m.tree == "t" and m.met_type == 8 and "jet_bx" not in dict((k, v) for k, v in m.branches.items() if v)
    )
    with pytest.raises(ConfigError, match="unknown key 'eg_ptt'.*did you mean 'eg_pt'"):
        NtupleMap.from_inputs({"eg_ptt": "x"})
    with pytest.raises(ConfigError, match="units must be one of"):
        NtupleMap.from_inputs({"units": "GeV"})
    with pytest.raises(ConfigError, match="met_type"):
        NtupleMap.from_inputs({"met_type": "MET"})


def test_project_file_inputs_need_format_l1ntuple(tmp_path):
    from l1ml.project import load_project

    (tmp_path / "project.toml").write_text('[data]\nformat = "l1ntuple"\n[data.inputs]\negpt = "egIEt"\n')
    with pytest.raises(ConfigError, match=r"\[data.inputs\]: unknown key 'egpt'"):
        load_project(tmp_path)
    (tmp_path / "project.toml").write_text('[data]\n[data.inputs]\neg_pt = "egIEt"\n')
    with pytest.raises(ConfigError, match="needs format = 'l1ntuple'"):
        load_project(tmp_path)
    (tmp_path / "project.toml").write_text('[data]\nformat = "root"\n')
    with pytest.raises(ConfigError, match="format must be"):
        load_project(tmp_path)


# ------------------------------------------------------------------------------------------ bad inputs


def test_missing_branch_lists_what_the_file_has(tmp_path):
    p = tmp_path / "nomu.root"
    write_l1ntuple(p, hw_events(50, 1), drop=("muonIEtaAtVtx",))
    with pytest.raises(DataError) as e:
        read(p)
    msg = str(e.value)
    assert "muon_eta = 'muonIEtaAtVtx'" in msg and "It holds:" in msg and "muonIEta" in msg
    assert str(p) in msg and "\n" not in msg


def test_wrong_tree_lists_the_trees(tmp_path, zb_files):
    _, expected = zb_files
    path = next(iter(expected))
    with pytest.raises(DataError, match=r"no tree 'Events'.*l1UpgradeTree/L1UpgradeTree"):
        read(path, NtupleMap.from_inputs({"tree": "Events"}))


def test_jagged_mismatch_names_the_branches_and_event(tmp_path):
    import awkward as ak

    p = tmp_path / "jag.root"
    good = {
        f"{c}{f}": ak.values_astype(ak.Array([[10, 5], [], [7]]), np.int16)
        for c in ("eg", "muon", "jet")
        for f in ("IEt", "IEta", "IPhi", "Bx")
    }
    good["muonIEtaAtVtx"] = good.pop("muonIEta")
    good["muonIPhiAtVtx"] = good.pop("muonIPhi")
    for f in ("sumIEt", "sumIPhi", "sumType", "sumBx"):
        good[f] = ak.values_astype(ak.Array([[2], [2], [2]]), np.int16)
    good["jetIEta"] = ak.values_astype(ak.Array([[1, 2], [3], [7]]), np.int16)  # one too many in event 1
    write_tree(p, good, shared_counters=False)
    with pytest.raises(DataError, match=r"jet branches disagree.*jet_pt has 0 and jet_eta has 1 in event 1"):
        read(p)


def test_empty_file_and_non_root_files(tmp_path):
    p = tmp_path / "empty.root"
    write_l1ntuple(p, np.zeros((0, 57), np.int32))
    with pytest.raises(DataError, match="holds no events"):
        Source([p], "l1ntuple").counts()
    with pytest.raises(DataError, match="holds no events"):
        read(p)
    txt = tmp_path / "notes.root"
    txt.write_text("not a ROOT file\n")
    with pytest.raises(DataError, match="neither a ROOT nor an HDF5 file"):
        Source([txt], "l1ntuple")
    h5 = tmp_path / "events.h5"
    with h5py.File(h5, "w") as f:
        f["Particles"] = np.zeros((3, 19, 4), np.float32)
    with pytest.raises(DataError, match="is an HDF5 file, but the input format is 'l1ntuple'"):
        Source([h5], "l1ntuple")
    fake = tmp_path / "fake.root"
    fake.write_bytes(b"root" + b"\0" * 20)  # ROOT's magic, nothing behind it
    with pytest.raises(DataError, match="not a readable ROOT file"):
        read(fake)


def test_glob_that_matches_nothing(tmp_path):
    from l1ml.data.stream import resolve_files

    with pytest.raises(DataError, match=r"'zb/\*.root' matches no file"):
        resolve_files("zb/*.root", tmp_path)


def test_bounded_sample_spans_the_files(zb_files):
    d, expected = zb_files
    files = sorted(p for p in expected if p.parent.name == "zb")
    src = Source(files, "l1ntuple")
    s = src.sample(2000, seed=1, block=100)
    assert s.shape == (2000, 57)
    whole = np.concatenate([expected[f] for f in files]).astype(np.int32)
    rows = {r.tobytes() for r in whole}
    assert all(r.tobytes() in rows for r in s)
    # Drawn from every file, not the first file's first events.
    sets = [{x.tobytes() for x in expected[f].astype(np.int32)} for f in files]
    per_file = [sum(r.tobytes() in rows_f for r in s) for rows_f in sets]
    assert all(k > 0 for k in per_file)
    assert np.array_equal(src.sample(2000, seed=1, block=100), s)

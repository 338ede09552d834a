"""L1-ntuple-shaped ROOT files for the tests, written with uproot: the L1Upgrade tree's real names and
types (vector<short> integers, vector<float> floats), events from l1ml's synthetic generator put into the
GT's hardware integers, with what real ntuples hold besides: objects of other bunch crossings, more
objects than the layout keeps, objects out of pT order, and every sum type, not only the MET."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TREE = "l1UpgradeTree/L1UpgradeTree"
SUM_TYPES = (0, 1, 2, 3, 8)  # kTotalEt, kTotalHt, kMissingEt, kMissingHt, kMissingEtHF


def hw_events(n: int, seed: int, kind: str = "background") -> np.ndarray:
    """(n, 57) hardware units of synthetic events: what the files written below must read back as."""
    from l1ml.data import generate, units

    return units.to_hardware(generate.generate(kind, n, seed))


def _objects(hw: np.ndarray, rows: range, rng, muon: bool) -> list[list[tuple]]:
    """Per event, (pt, eta, phi, bx) in ntuple integers, in time objects reversed (out of pT order),
    plus out-of-time copies and extra low-pT in-time objects beyond the layout's capacity."""
    h = hw.reshape(len(hw), 19, 3)
    out = []
    for ev in range(len(h)):
        objs = []
        for r in rows:
            pt, eta, phi = (int(v) for v in h[ev, r])
            if pt == 0:
                continue
            if muon:  # muon steps: 4 per calo step; +-1 rounds back to the same calo step
                eta, phi = 4 * eta + int(rng.integers(-1, 2)), 4 * phi + int(rng.integers(-1, 2))
                phi %= 576
            else:
                phi %= 144
            objs.append((pt, eta, phi, 0))
        objs.reverse()
        if objs and rng.random() < 0.5:  # an out-of-time object harder than everything in time
            pt, eta, phi, _ = objs[0]
            objs.insert(
                int(rng.integers(0, len(objs) + 1)), (pt + 200, -eta, phi, int(rng.choice([-2, -1, 1, 2])))
            )
        if len(objs) >= len(rows) and rng.random() < 0.5:  # one more than the layout keeps, softest
            objs.append((1, 0, 0, 0))
        out.append(objs)
    return out


def expected_hw(objs_by_type: dict, met: np.ndarray, n: int) -> np.ndarray:
    """An independent reference of the reader: per event and type, in-time objects, Python's stable
    sort by pT, the first 4/4/10, muons brought to the calo scale, phi signed."""
    out = np.zeros((n, 19, 3), dtype=np.int64)
    out[:, 0] = met
    for name, (row0, nrows) in {"eg": (1, 4), "muon": (5, 4), "jet": (9, 10)}.items():
        for ev, objs in enumerate(objs_by_type[name]):
            kept = sorted([o for o in objs if o[3] == 0], key=lambda o: -o[0])[:nrows]
            for k, (pt, eta, phi, _) in enumerate(kept):
                if name == "muon":
                    phi = phi - 576 if phi > 288 else phi
                    eta, phi = int(np.round(eta / 4)), int(np.round(phi / 4))
                else:
                    phi = phi - 144 if phi > 72 else phi
                out[ev, row0 + k] = (pt, eta, phi)
    return out.reshape(n, 57)


def write_l1ntuple(
    path: Path, hw: np.ndarray, seed: int = 0, tree: str = TREE, drop: tuple = (), compression=None
) -> np.ndarray:
    """Write `hw` events as an L1Upgrade tree; returns the (n, 57) the reader must give back."""
    import awkward as ak

    rng = np.random.default_rng(seed)
    n = len(hw)
    objs = {
        "eg": _objects(hw, range(1, 5), rng, False),
        "muon": _objects(hw, range(5, 9), rng, True),
        "jet": _objects(hw, range(9, 19), rng, False),
    }
    branches = {}
    for name in ("eg", "muon", "jet"):
        cols = (
            list(zip(*[(o[0], o[1], o[2], o[3]) for ev in objs[name] for o in ev], strict=True)) or [[]] * 4
        )
        counts = np.array([len(ev) for ev in objs[name]], dtype=np.int64)

        def jag(values, dtype, counts=counts):
            return ak.unflatten(np.asarray(values, dtype=dtype), counts)

        pt, eta, phi, bx = (np.asarray(c) for c in cols)
        eta_name = "muonIEtaAtVtx" if name == "muon" else f"{name}IEta"
        phi_name = "muonIPhiAtVtx" if name == "muon" else f"{name}IPhi"
        branches[f"{name}IEt"] = jag(pt, np.int16)
        branches[eta_name] = jag(eta, np.int16)
        branches[phi_name] = jag(phi, np.int16)
        branches[f"{name}Bx"] = jag(bx, np.int16)
        # The floats CMSSW writes beside them (not what the GT sees: muonEt is (hwPt - 1) x 0.5 GeV),
        # phi in (-pi, pi].
        branches[f"{name}Et"] = jag((pt - (1 if name == "muon" else 0)) * 0.5, np.float32)
        steps = 576 if name == "muon" else 144
        sphi = np.where(phi > steps // 2, phi - steps, phi)
        eta_lsb = 0.087 / 8 if name == "muon" else 0.087 / 2
        branches[eta_name.replace("I", "", 1)] = jag(eta * eta_lsb, np.float32)
        branches[phi_name.replace("I", "", 1)] = jag(sphi * 2 * np.pi / steps, np.float32)
        if name == "muon":
            branches["muonIEta"] = jag(eta, np.int16)
            branches["muonIPhi"] = jag(phi, np.int16)
            branches["muonQual"] = jag(np.full(len(pt), 12), np.uint16)
    # Sums: every type at BX 0, and the MET again at BX -1 with another value.
    met = hw.reshape(n, 19, 3)[:, 0]
    s_pt, s_phi, s_type, s_bx, s_counts = [], [], [], [], []
    for ev in range(n):
        k = 0
        for t in SUM_TYPES:
            pt = int(met[ev, 0]) if t == 2 else int(rng.integers(0, 2000))
            phi = int(met[ev, 2]) % 144 if t == 2 else int(rng.integers(0, 144))
            s_pt.append(pt)
            s_phi.append(phi)
            s_type.append(t)
            s_bx.append(0)
            k += 1
        s_pt.append(int(rng.integers(0, 500)))
        s_phi.append(int(rng.integers(0, 144)))
        s_type.append(2)
        s_bx.append(-1)
        s_counts.append(k + 1)
    for name, vals in (("sumIEt", s_pt), ("sumIPhi", s_phi), ("sumType", s_type), ("sumBx", s_bx)):
        branches[name] = ak.unflatten(np.asarray(vals, dtype=np.int16), np.asarray(s_counts, dtype=np.int64))
    branches["sumEt"] = ak.unflatten(
        np.asarray(s_pt, dtype=np.float32) * 0.5, np.asarray(s_counts, dtype=np.int64)
    )
    sphi = np.asarray(s_phi)
    sphi = np.where(sphi > 72, sphi - 144, sphi) * 2 * np.pi / 144
    branches["sumPhi"] = ak.unflatten(sphi.astype(np.float32), np.asarray(s_counts, dtype=np.int64))
    for d in drop:
        branches.pop(d)
    write_tree(path, branches, tree, compression)
    expect_met = np.zeros((n, 3), dtype=np.int64)
    expect_met[:, 0] = met[:, 0]
    expect_met[:, 2] = met[:, 2] % 144
    expect_met[expect_met[:, 2] > 72, 2] -= 144  # the GT has one phi for +-pi: +72
    expect_met[expect_met[:, 0] == 0] = 0
    return expected_hw(objs, expect_met, n)


COUNTERS = {"eg": "nEGs", "muon": "nMuons", "jet": "nJets", "sum": "nSums"}


def write_tree(path: Path, branches: dict, tree: str = TREE, compression=None, shared_counters: bool = True):
    """A TTree (not an RNTuple, which uproot writes for a plain assignment) with the L1Upgrade counters:
    nEGs, nMuons, nJets, nSums, shared by each collection's branches as in the real ntuple."""
    import uproot

    def counter(name: str) -> str:
        if not shared_counters:
            return "n" + name
        return next((c for k, c in COUNTERS.items() if name.startswith(k)), "n" + name)

    kw = {} if compression is None else {"compression": compression}
    with uproot.recreate(path, **kw) as f:
        t = f.mktree(tree, {k: v.type for k, v in branches.items()}, counter_name=counter)
        t.extend(branches)

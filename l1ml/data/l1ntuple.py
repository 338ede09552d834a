"""CMS L1 ntuples (CMSSW's L1TNtuples, ROOT) read into the ADC2021 layout, in the GT's hardware units.

The mapping from tree and branches to the 19 objects x (pT, eta, phi) layout is data: `NtupleMap`, built
from a project's ``[data.inputs]`` table over `DEFAULT_INPUTS` (the L1Upgrade tree of L1TNtuples). Files are
read with uproot, in entry ranges, so no file is ever held whole in memory.

Hardware units (see docs/data.md, "Units"):
- pT: 0.5 GeV steps, the GT's scale for every object (``*IEt``, ``sumIEt``).
- eta, phi: the calorimeter's GT steps, which l1ml/data/units.py uses for every object: eta 0.087/2,
  phi 2*pi/144, phi signed in [-72, 72] (the ntuple's ``*IPhi`` 0..143 maps to -71..72).
- Muons arrive in the muon system's finer steps (``muonIEtaAtVtx`` 0.087/8, ``muonIPhiAtVtx`` 2*pi/576):
  exactly 4 muon steps per calorimeter step, so they are divided by 4 and rounded half to even, which is
  what units.to_hardware does to the same position given as a float.
With ``units = "hardware"`` (the default) the integer branches are used as they are; the float branches
of an L1 ntuple are not the GT's inputs (e.g. muonEt = (hwPt - 1) x 0.5 GeV, calo phi = hwPhi x 0.0435,
not x 2*pi/144), so converting them back can be off by one step. ``units = "physics"`` reads GeV and
radians (for ntuples that hold no integers) through units.to_hardware's own rounding.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1ml.data import units
from l1ml.errors import ConfigError, DataError

DEFAULT_TREE = "l1UpgradeTree/L1UpgradeTree"
MET_SUM_TYPE = 2  # l1t::EtSum::kMissingEt; 8 is kMissingEtHF (MET including HF)

# What every key of [data.inputs] means; the docs table (docs/data.md) says the same.
DEFAULT_INPUTS: dict[str, str] = {
    "tree": DEFAULT_TREE,
    "units": "hardware",
    "eg_pt": "egIEt",
    "eg_eta": "egIEta",
    "eg_phi": "egIPhi",
    "eg_bx": "egBx",
    "muon_pt": "muonIEt",
    "muon_eta": "muonIEtaAtVtx",
    "muon_phi": "muonIPhiAtVtx",
    "muon_bx": "muonBx",
    "jet_pt": "jetIEt",
    "jet_eta": "jetIEta",
    "jet_phi": "jetIPhi",
    "jet_bx": "jetBx",
    "sum_pt": "sumIEt",
    "sum_phi": "sumIPhi",
    "sum_type": "sumType",
    "sum_bx": "sumBx",
    "met_type": str(MET_SUM_TYPE),
}

# name -> (first row, rows, muon scale in hardware units)
COLLECTIONS = {"eg": (1, 4, False), "muon": (5, 4, True), "jet": (9, 10, False)}
MUON_STEPS_PER_CALO_STEP = 4  # 0.087/2 / (0.087/8) and (2*pi/144) / (2*pi/576)
CALO_PHI_STEPS = 144
MUON_PHI_STEPS = 576
UNITS = ("hardware", "physics")


@dataclass(frozen=True)
class NtupleMap:
    tree: str
    units: str
    branches: dict[str, str]  # role (eg_pt, ..., sum_bx) -> branch name; "" for an unused *_bx
    met_type: int

    @classmethod
    def from_inputs(cls, inputs: dict[str, str] | None, where: str = "[data.inputs]") -> NtupleMap:
        """DEFAULT_INPUTS with the given keys replaced; unknown keys and bad values are ConfigErrors."""
        merged = dict(DEFAULT_INPUTS)
        for key, value in (inputs or {}).items():
            if key not in DEFAULT_INPUTS:
                close = difflib.get_close_matches(key, list(DEFAULT_INPUTS), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(
                    f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(DEFAULT_INPUTS)}"
                )
            if key == "met_type" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ConfigError(f"{where}: key '{key}' must be text, got {value!r}")
            merged[key] = value
        if merged["units"] not in UNITS:
            raise ConfigError(f"{where}: units must be one of {', '.join(UNITS)}, got '{merged['units']}'")
        try:
            met_type = int(merged["met_type"])
        except ValueError:
            raise ConfigError(
                f"{where}: met_type must be an integer sumType (2 = kMissingEt), got '{merged['met_type']}'"
            ) from None
        roles = {k: v for k, v in merged.items() if k not in ("tree", "units", "met_type")}
        for k, v in roles.items():
            if not v and not k.endswith("_bx"):
                raise ConfigError(f"{where}: key '{k}' needs a branch name (only the *_bx keys may be empty)")
        if not merged["tree"]:
            raise ConfigError(f"{where}: key 'tree' needs the tree's path in the file")
        return cls(tree=merged["tree"], units=merged["units"], branches=roles, met_type=met_type)

    def needed(self) -> list[str]:
        return [b for b in self.branches.values() if b]


# ------------------------------------------------------------------------------------------- files


def open_tree(path: Path, m: NtupleMap):
    """The mapped tree of one ROOT file, with a clear error for a non-ROOT file or a missing tree."""
    import uproot

    p = Path(path)
    if not p.is_file():
        raise DataError(f"event file {p} not found")
    try:
        # Plain reads and no array cache: uproot's default memory-maps the file and caches 100 MB of
        # arrays, so resident memory grew with the file size (measured +300 MB over 20M events).
        f = uproot.open(p, handler=uproot.source.file.MultithreadedFileSource, array_cache=None)
    except (ValueError, OSError) as exc:
        raise DataError(f"{p}: not a readable ROOT file ({str(exc).splitlines()[0]})") from None
    try:
        tree = f[m.tree]
    except (KeyError, uproot.KeyInFileError):
        have = _holds(f)
        f.close()
        raise DataError(
            f"{p}: no tree '{m.tree}' (the file holds {', '.join(have) or 'nothing'}); set [data.inputs] tree"
        ) from None
    if not isinstance(tree, uproot.behaviors.TTree.TTree):  # an RNTuple has num_entries too
        cls = getattr(tree, "classname", type(tree).__name__)
        f.close()
        raise DataError(f"{p}: '{m.tree}' is a {cls}, not a TTree (l1ml reads L1 ntuples' TTrees)")
    return f, tree


def _holds(f) -> list[str]:
    """What a ROOT file holds, by name, with the class of anything that is not a TTree: uproot writes an
    RNTuple by default, and listing only TTrees said "none" for a file holding 'Events'."""
    out = set()
    for k, cls in f.classnames(recursive=True).items():
        if cls != "TDirectory":
            out.add(k.split(";")[0] if cls == "TTree" else f"{k.split(';')[0]} ({cls})")
    return sorted(out)


def branch_paths(tree, m: NtupleMap, where: str) -> dict[str, str]:
    """role -> the branch's full path in the tree (split objects nest them: L1Upgrade/egIEt)."""
    full = [k for k in tree.keys(recursive=True)]
    by_name: dict[str, list[str]] = {}
    for k in full:
        by_name.setdefault(k.rsplit("/", 1)[-1], []).append(k)
        by_name.setdefault(k, []).append(k)
    out, missing = {}, []
    for role, name in m.branches.items():
        if not name:
            continue
        hits = by_name.get(name, [])
        if len(hits) == 1 or (hits and name in hits):
            out[role] = name if name in hits else hits[0]
        elif len(hits) > 1:
            raise DataError(f"{where}: branch name '{name}' ({role}) is ambiguous: {', '.join(hits)}")
        else:
            missing.append((role, name))
    if missing:
        leaves = sorted({k.rsplit("/", 1)[-1] for k in full})
        parts = []
        for role, name in missing:
            close = difflib.get_close_matches(name, leaves, n=2)
            parts.append(f"{role} = '{name}'" + (f" (close: {', '.join(close)})" if close else ""))
        raise DataError(
            f"{where}: tree '{m.tree}' has no branch {'; '.join(parts)}. It holds: {', '.join(leaves)}. "
            "Set the names in [data.inputs]"
        )
    return out


def count_events(path: Path, m: NtupleMap) -> int:
    f, tree = open_tree(path, m)
    with f:
        branch_paths(tree, m, str(path))
        return int(tree.num_entries)


def iter_hardware(path: Path, m: NtupleMap, step: int = 100_000, start: int = 0, stop: int | None = None):
    """Stream (first entry, (n, 57) int32 hardware units) from one file, `step` entries at a time."""
    f, tree = open_tree(path, m)
    with f:
        where = str(path)
        paths = branch_paths(tree, m, where)
        n = int(tree.num_entries)
        if n == 0:
            raise DataError(f"{where}: tree '{m.tree}' holds no events")
        stop = n if stop is None else min(stop, n)
        exprs = sorted(set(paths.values()))
        for s in range(start, stop, step):
            e = min(s + step, stop)
            arrays = tree.arrays(exprs, entry_start=s, entry_stop=e, library="ak", how=dict)
            yield s, to_hardware({role: arrays[p] for role, p in paths.items()}, m, f"{where}[{s}:{e}]")


# ----------------------------------------------------------------------------------- conversion


def _flat(a, role: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(counts per event, flat values) of a jagged branch, from its layout without copies when it can."""
    import awkward as ak

    if a.ndim != 2:
        raise DataError(f"{where}: branch for {role} is not one list per event (type {ak.type(a)})")
    lay = a.layout
    if isinstance(lay, ak.contents.ListOffsetArray) and isinstance(lay.content, ak.contents.NumpyArray):
        off = np.asarray(lay.offsets.data)
        return np.diff(off), np.asarray(lay.content.data)[off[0] : off[-1]]
    return np.asarray(ak.num(a, axis=1), dtype=np.int64), np.asarray(ak.flatten(a, axis=1))


def _check_same_counts(counts: dict[str, np.ndarray], what: str, where: str) -> None:
    items = list(counts.items())
    first_role, first = items[0]
    for role, c in items[1:]:
        if len(c) != len(first) or not np.array_equal(c, first):
            bad = int(np.argmax(c != first)) if len(c) == len(first) else 0
            raise DataError(
                f"{where}: {what} branches disagree on the number of objects: {first_role} has "
                f"{int(first[bad])} and {role} has {int(c[bad])} in event {bad}; they must be parallel lists"
            )


def _ints(flat: np.ndarray, role: str, where: str, lsb: float | None, hi: int) -> np.ndarray:
    """Branch values as int64 hardware steps: integers as they are, floats (physics units) / lsb, rounded
    half to even as units.to_hardware does; clipped to +-hi first, so no float overflows an integer."""
    if flat.dtype.kind in "iu" and lsb is None:
        return flat.astype(np.int64)
    v = np.asarray(flat, dtype=np.float64)
    if v.size and not np.isfinite(v).all():
        raise DataError(f"{where}: branch for {role} holds NaN or infinite values")
    if lsb is not None:
        v = np.round(v / lsb)
    elif v.size and not np.array_equal(v, np.round(v)):
        raise DataError(
            f"{where}: branch for {role} holds non-integer values but units = 'hardware'; map the integer "
            "branch (e.g. egIEt, not egEt) or set units = 'physics'"
        )
    return np.clip(v, -hi - 1, hi + 1).astype(np.int64)


def _round_div4(x: np.ndarray) -> np.ndarray:
    """x / 4 rounded half to even, in integers (np.round's rule, exact for any size)."""
    q, r = x >> 2, x & 3
    return q + ((r > 2) | ((r == 2) & ((q & 1) == 1)))


def _signed_phi(phi: np.ndarray, steps: int) -> np.ndarray:
    """Unsigned GT phi (0..steps-1) to the signed range units.py uses: (-steps/2, steps/2]."""
    phi = np.mod(phi, steps)
    return np.where(phi > steps // 2, phi - steps, phi)


def _eta_phi(eta, phi, muon: bool, m: NtupleMap, role: str, where: str):
    if m.units == "physics":
        return (
            _ints(eta, role + "_eta", where, units.ETA_LSB, units.ETA_MAX_HW),
            _ints(phi, role + "_phi", where, units.PHI_LSB, units.PHI_MAX_HW),
        )
    big = 1 << 20  # any integer; clipping to the layout's range comes after the scale change
    eta = _ints(eta, role + "_eta", where, None, big)
    phi = _ints(phi, role + "_phi", where, None, big)
    if muon:  # 4 muon steps per calo step; rounded half to even like units.to_hardware
        return _round_div4(eta), _round_div4(_signed_phi(phi, MUON_PHI_STEPS))
    return eta, _signed_phi(phi, CALO_PHI_STEPS)


def _pt(flat, role: str, m: NtupleMap, where: str) -> np.ndarray:
    lsb = units.PT_LSB if m.units == "physics" else None
    return _ints(flat, role, where, lsb, units.PT_MAX_HW)


def _place(out: np.ndarray, n: int, counts, keep, pt, eta, phi, row0: int, rows: int) -> None:
    """Per event: highest pT first (stable: ties keep the ntuple's order), the first `rows` into out."""
    if keep is not None:
        ev_all = np.repeat(np.arange(n), counts)
        counts = np.bincount(ev_all[keep], minlength=n)
        pt, eta, phi = pt[keep], eta[keep], phi[keep]
    ev = np.repeat(np.arange(n), counts)
    if len(pt) > 1:
        # Real ntuples come sorted (the calo layer 2 and the uGMT sort); sort only when they are not.
        same = ev[1:] == ev[:-1]
        if (same & (pt[1:] > pt[:-1])).any():
            order = np.argsort(
                ev * (1 << 16) + (units.PT_MAX_HW + 1 - np.clip(pt, 0, units.PT_MAX_HW)), kind="stable"
            )
            pt, eta, phi = pt[order], eta[order], phi[order]
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(pt)) - np.repeat(starts, counts)
    sel = rank < rows
    # Flat positions in the (n, 19, 3) output: one index array instead of two broadcast per write.
    at = (ev[sel] * units.N_OBJECTS + row0 + rank[sel]) * units.N_FEATURES
    flat_out = out.reshape(-1)
    ptc = np.clip(pt[sel], 0, units.PT_MAX_HW)
    gone = ptc == 0  # below one pT step: no object, all three inputs stay zero (as units.to_hardware)
    flat_out[at] = ptc
    flat_out[at + 1] = np.where(gone, 0, np.clip(eta[sel], -units.ETA_MAX_HW, units.ETA_MAX_HW))
    flat_out[at + 2] = np.where(gone, 0, np.clip(phi[sel], -units.PHI_MAX_HW, units.PHI_MAX_HW))


def to_hardware(arrays: dict, m: NtupleMap, where: str = "") -> np.ndarray:
    """One chunk of branches (role -> awkward array) -> (n, 57) int32, the ADC2021 layout in hardware units.

    Objects of bunch crossing 0 only (when *_bx is mapped); per type, sorted by pT (highest first, ties
    keep the ntuple's order) and cut to the layout's 4 e/gamma, 4 muons and 10 jets; MET is the first sum
    of sumType met_type. Ranges are clipped to units.py's, and objects below one pT step are padding.
    """
    n = len(next(iter(arrays.values())))
    out = np.zeros((n, units.N_OBJECTS, units.N_FEATURES), dtype=np.int32)
    for name, (row0, rows, muon) in COLLECTIONS.items():
        roles = [f"{name}_{f}" for f in ("pt", "eta", "phi", "bx") if f"{name}_{f}" in arrays]
        flat = {r: _flat(arrays[r], r, where) for r in roles}
        _check_same_counts({r: c for r, (c, _) in flat.items()}, name, where)
        counts = flat[f"{name}_pt"][0]
        pt = _pt(flat[f"{name}_pt"][1], f"{name}_pt", m, where)
        eta, phi = _eta_phi(flat[f"{name}_eta"][1], flat[f"{name}_phi"][1], muon, m, name, where)
        keep = flat[f"{name}_bx"][1] == 0 if f"{name}_bx" in flat else None
        _place(out, n, counts, keep, pt, eta, phi, row0, rows)
    roles = [r for r in ("sum_pt", "sum_phi", "sum_type", "sum_bx") if r in arrays]
    flat = {r: _flat(arrays[r], r, where) for r in roles}
    _check_same_counts({r: c for r, (c, _) in flat.items()}, "sum", where)
    counts = flat["sum_pt"][0]
    keep = flat["sum_type"][1] == m.met_type
    if "sum_bx" in flat:
        keep &= flat["sum_bx"][1] == 0
    ev = np.repeat(np.arange(n), counts)[keep]
    pt = _pt(flat["sum_pt"][1], "sum_pt", m, where)[keep]
    _, phi = _eta_phi(np.zeros(len(keep), np.int64), flat["sum_phi"][1], False, m, "sum", where)
    phi = phi[keep]
    first = np.ones(len(ev), dtype=bool)
    first[1:] = ev[1:] != ev[:-1]  # the first MET sum of each event
    met = np.clip(pt[first], 0, units.PT_MAX_HW)
    out[ev[first], 0, 0] = met
    # As units.to_hardware: below one pT step is no object. Every other slot is zero or was written by
    # _place, which zeroes such objects itself (cheaper than a boolean mask over the whole output).
    out[ev[first], 0, 2] = np.where(met == 0, 0, np.clip(phi[first], -units.PHI_MAX_HW, units.PHI_MAX_HW))
    return out.reshape(n, units.N_INPUTS)

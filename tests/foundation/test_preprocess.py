import numpy as np
import pytest

from l1ml.data import units
from l1ml.data.generate import generate
from l1ml.data.preprocess import Preprocessing
from l1ml.errors import ConfigError


@pytest.fixture(scope="module")
def hw():
    return units.to_hardware(generate("background", 5000, seed=2))


def _fixed(precision):
    w, i = (int(v) for v in precision[len("ap_fixed<") : -1].split(","))
    return w, i


def test_outputs_are_exact_in_the_input_type(hw):
    pre = Preprocessing.fit(hw)
    w, i = _fixed(pre.input_precision())
    frac = w - i
    # Every value of the whole hardware range, not just the sample, must be representable.
    extremes = np.stack([units.HW_MIN, units.HW_MAX, np.zeros_like(units.HW_MIN)])
    extremes[:, ::3] = np.maximum(extremes[:, ::3], 1)  # pT > 0 keeps the object present
    for x in (pre.apply(hw), pre.apply(extremes)):
        scaled = x.astype(np.float64) * 2.0**frac
        assert np.array_equal(scaled, np.round(scaled)), "not a multiple of the LSB"
        assert scaled.max() <= 2 ** (w - 1) - 1 and scaled.min() >= -(2 ** (w - 1))


def test_padding_stays_zero_and_pt_offsets_are_zero(hw):
    pre = Preprocessing.fit(hw)
    assert all(o == 0 for o in pre.offsets[::3])
    x = pre.apply(hw)
    assert np.all(x[units.padding_mask(hw) == 0] == 0)


def test_shift_brings_spread_near_one(hw):
    pre = Preprocessing.fit(hw)
    x = pre.apply(hw)
    mask = units.padding_mask(hw).astype(bool)
    met_pt = x[:, 0]
    assert 0.1 < met_pt.std() <= 1.0
    assert np.abs(x[mask]).max() < 2**8


def test_roundtrip(tmp_path, hw):
    pre = Preprocessing.fit(hw)
    pre.save(tmp_path / "p.json")
    assert Preprocessing.load(tmp_path / "p.json") == pre


def test_bad_file(tmp_path):
    (tmp_path / "p.json").write_text('{"offsets": [1, 2], "shifts": [0]}')
    with pytest.raises(ConfigError, match="one length"):
        Preprocessing.load(tmp_path / "p.json")
    with pytest.raises(ConfigError, match="preprocessing expects"):
        Preprocessing.identity().apply(np.zeros((2, 5)))


def test_hardware_units():
    ev = np.zeros((1, 19, 4), np.float32)
    ev[0, 1] = [10.3, 1.0, -0.5, 2]
    ev[0, 2] = [0.2, 1.0, 1.0, 2]  # below one pT LSB: not an object
    hw = units.to_hardware(ev).reshape(19, 3)
    assert hw[1].tolist() == [21, 23, -11]
    assert hw[2].tolist() == [0, 0, 0]

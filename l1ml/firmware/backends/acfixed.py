"""How hls4ml writes a precision as ac_fixed (its Catapult, Quartus and oneAPI backends), where that differs
from the ap_fixed it writes for Vitis/Vivado, so that the emulator computes in the type the C++ declares.

ac_fixed's own arithmetic needs no special case in the emulator: its quantization modes (AC_TRN, AC_RND,
AC_RND_CONV, ...) and overflow modes (AC_WRAP, AC_SAT, AC_SAT_ZERO, AC_SAT_SYM) are defined like ap_fixed's
(ac_types/include/ac_fixed.h, quantization_adjust and overflow_adjust), and the tests in tests/backends
compare the compiled C++ with the emulator at 0 LSB. What differs is the *type*:

- Width 1 becomes width 2 with the same integer bits (hls4ml ACFixedPrecisionDefinition.definition_cpp:
  "oneAPI ac_fixed requires at least two bits"), which adds one *fractional* bit and moves the saturation
  limit: ufixed<1,0,RND_CONV,SAT> holds {0, 0.5}; the written ac_fixed<2,0,false,AC_RND_CONV,AC_SAT> holds
  {0, 0.25, 0.5, 0.75}. The firmware then differs from the software model wherever such a layer sees a
  value above 0.5; `widened_layers` lists them at conversion so that it is said, not discovered.
- Saturation bits are dropped with a warning; the emulator refuses them (fixed.from_hls) as it does for
  ap_fixed.
"""

from __future__ import annotations

from l1ml.fixed import is_ac, written_width


def widened_layers(hls_model) -> list[dict]:
    """Every layer variable whose ac_fixed type hls4ml writes wider than its precision says."""
    out = []
    for layer in hls_model.get_layers():
        for key, t in layer.types.items():
            p = t.precision
            if is_ac(p) and written_width(p) != int(getattr(p, "width", 0) or 0):
                kind = "fixed" if p.signed else "ufixed"
                out.append(
                    {
                        "layer": layer.name,
                        "type": key,
                        "precision": f"{kind}<{p.width},{p.integer}>",
                        "written": p.definition_cpp(),
                    }
                )
    return out

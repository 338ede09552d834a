"""ap_fixed arithmetic on numpy arrays of integer codes, and `FixedType`, l1ml's one fixed-point type.

A fixed-point value is held as its integer code ``q`` (value = q * 2**-frac) in a float64 array. float64
is used instead of int64 because BLAS multiplies it, and every operation here (scaling by a power of two,
floor, adding 0.5, wrapping) is exact on integers below 2**53. Callers must keep codes under that bound;
`Bounds` is how they prove it ahead of time, per layer, before any event is touched.

The rounding and overflow rules follow ap_fixed_base's conversion constructor (ap_types/ap_fixed_base.h,
``quantization_adjust`` and ``overflow_adjust``): the value is first quantized with the target's rounding
mode, then brought into range with its overflow mode.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from l1ml.errors import ConfigError, DataError, L1mlError, UnsupportedError

EXACT_BITS = 53  # float64 holds every integer of magnitude <= 2**53 exactly
EXACT_LIMIT = 2.0**EXACT_BITS

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


class NonFiniteInput(DataError):
    """An input is NaN or infinite: no fixed-point value corresponds to it."""


@dataclass(frozen=True)
class Bounds:
    """Closed interval of integer codes a tensor can hold, known before running."""

    lo: float
    hi: float

    def scaled(self, shift: int) -> Bounds:
        return Bounds(self.lo * 2.0**shift, self.hi * 2.0**shift)

    def within(self, other: Bounds) -> bool:
        return other.lo <= self.lo and self.hi <= other.hi

    @property
    def maxabs(self) -> float:
        return max(abs(self.lo), abs(self.hi))


_TYPE = re.compile(r"ap_(u?)(fixed<(\d+),(-?\d+)((?:,\w+)*)|int<(\d+))>")


@dataclass(frozen=True)
class FixedType:
    """An ap_fixed / ap_ufixed type: the one description of a fixed-point type in l1ml, for the network
    emulator (codes in float64 arrays, `cast` below), conifer's BDTs (int64 codes, `to_int`) and deploy's
    integer thresholds (`to_bits`). Modes are spelled without "AP_": rounding "TRN", overflow "WRAP"."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    @classmethod
    def parse(cls, text: str, integers: bool = False) -> FixedType:
        """A C++ spelling, `ap_fixed<W,I[,AP_Q[,AP_O[,0]]]>` or `ap_ufixed<...>`, as hls4ml and conifer
        write it into their headers; with `integers`, also `ap_int<W>` / `ap_uint<W>` (as ap_fixed<W,W>).
        Where a double is converted (conifer's BDT inputs) ap_int is refused: its bundled double
        constructor maps -0.5 < v < 0 to +1, unlike ap_fixed<W,W>."""
        m = _TYPE.fullmatch(str(text).replace(" ", ""))
        if not m or (m.group(6) and not integers):
            raise ConfigError(
                f"precision '{text}' is not an ap_fixed<W,I[,Q,O]> or ap_ufixed<...>"
                + ("" if integers else "; for integers use ap_fixed<W,W>")
            )
        if m.group(6):
            width, integer, extra = int(m.group(6)), int(m.group(6)), []
        else:
            width, integer = int(m.group(3)), int(m.group(4))
            extra = [e for e in m.group(5).split(",") if e]
        q = extra[0] if len(extra) > 0 else "AP_TRN"
        o = extra[1] if len(extra) > 1 else "AP_WRAP"
        if q.removeprefix("AP_") not in ROUNDING or not q.startswith("AP_"):
            raise ConfigError(
                f"precision '{text}': quantization mode {q} is not one of "
                + ", ".join(f"AP_{r}" for r in ROUNDING)
            )
        if o.removeprefix("AP_") not in OVERFLOW or not o.startswith("AP_"):
            raise ConfigError(
                f"precision '{text}': overflow mode {o} is not one of "
                + ", ".join(f"AP_{v}" for v in OVERFLOW)
            )
        if len(extra) > 2 and extra[2] != "0":
            raise ConfigError(f"precision '{text}': saturation bits (N) other than 0 are not supported")
        if len(extra) > 3 or width < 1:
            raise ConfigError(f"precision '{text}' is not a valid ap_fixed type")
        return cls(width, integer, m.group(1) == "", q[3:], o[3:])

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    @property
    def v_min(self) -> int:
        """The smallest code the type's bits hold (a SAT_SYM conversion never gives it: see `bounds`)."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def v_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def bounds(self) -> Bounds:
        if self.signed:
            hi = 2.0 ** (self.width - 1) - 1
            lo = -hi if self.overflow == "SAT_SYM" else -(2.0 ** (self.width - 1))
            return Bounds(lo, hi)
        return Bounds(0.0, 2.0**self.width - 1)

    @property
    def cpp_modes(self) -> tuple[str, str]:
        return f"AP_{self.rounding}", f"AP_{self.overflow}"

    @property
    def short(self) -> str:
        """ap_fixed<W,I> without rounding or overflow modes (they do not change what the bits mean)."""
        return f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}>"

    def __str__(self) -> str:
        """The C++ spelling; the default modes (AP_TRN, AP_WRAP) left out, as C++ reads them."""
        if (self.rounding, self.overflow) == ("TRN", "WRAP"):
            return self.short
        return self.short[:-1] + ",{},{}>".format(*self.cpp_modes)

    # int64 codes: conifer's BDTs (l1ml/emulate/bdt_fixed.py) and deploy's thresholds

    def into_range(self, v: np.ndarray) -> np.ndarray:
        """int64 codes already at this type's LSB -> in range, by the overflow mode."""
        lo, hi = self.v_min, self.v_max
        if v.size and v.min() >= lo and v.max() <= hi:  # the common case, at a fraction of the cost
            return v
        if self.overflow == "WRAP":
            return (v - lo) % (1 << self.width) + lo
        if self.overflow == "SAT":
            return np.clip(v, lo, hi)
        if self.overflow == "SAT_SYM":
            return np.clip(v, -hi if self.signed else lo, hi)
        return np.where((v < lo) | (v > hi), 0, v)  # SAT_ZERO

    def to_int(self, x) -> np.ndarray:
        """float64 values -> int64 codes V (value = V * lsb), as `(T) double` does in C++. For types up to
        62 bits; values whose codes reach 2**62 are refused as nonsense inputs."""
        x = np.asarray(x, dtype=np.float64)
        scaled = np.ldexp(x, self.frac)  # exact: a power-of-two scale
        biggest = np.abs(scaled).max(initial=0.0)
        if not biggest < 2.0**62:  # also true for NaN, in the same pass
            if np.isnan(biggest):
                raise DataError("NaN input: a fixed-point type has no NaN; clean the inputs before emulation")
            raise DataError(f"values up to {np.abs(x).max():g} are far outside {self}; check the inputs")
        fl = np.floor(scaled)
        if self.rounding == "TRN":
            return self.into_range(fl.astype(np.int64))
        rem = scaled - fl  # exact, in [0, 1)
        q = self.rounding
        if q == "TRN_ZERO":
            v = np.where((x < 0) & (rem > 0), fl + 1, fl)
        else:
            up = rem > 0.5
            half = rem == 0.5
            if q == "RND":  # half towards +inf
                tie_up = half
            elif q == "RND_ZERO":
                tie_up = half & (x < 0)
            elif q == "RND_INF":  # half away from zero
                tie_up = half & (x > 0)
            elif q == "RND_MIN_INF":
                tie_up = np.zeros_like(half)
            else:  # RND_CONV: half to even
                tie_up = half & (np.mod(fl, 2) == 1)
            v = np.where(up | tie_up, fl + 1, fl)
        return self.into_range(v.astype(np.int64))

    def quantize(self, x) -> np.ndarray:
        """float64 values -> float64 values representable in this type."""
        return np.ldexp(self.to_int(x).astype(np.float64), -self.frac)

    def to_bits(self, values, what: str) -> np.ndarray:
        """Values already on this type's grid -> their int64 codes; refuses a value off the grid."""
        v = np.asarray(values, np.float64)
        codes = v * 2.0**self.frac
        r = np.round(codes)
        if not np.array_equal(codes, r):
            i = int(np.argmax(codes != r))
            raise L1mlError(f"{what}: value {v.ravel()[i]!r} is not a multiple of the LSB of {self}")
        return r.astype(np.int64)


_AC_TYPE = re.compile(r"ac_(fixed<(\d+),(-?\d+),(true|false)((?:,\w+)*)|int<(\d+),(true|false))>")


def lsb_of(precision: str) -> float:
    """The LSB of a type as the firmware's C++ spells it: ap_fixed<W,I,...>, ap_ufixed, ap_int, ap_uint
    (Vivado/Vitis), or ac_fixed<W,I,S,...> and ac_int<W,S> (Catapult, Quartus, oneAPI), e.g.
    'ap_fixed<18,8>' -> 2**-10, 'ac_fixed<22,14,true>' -> 2**-8, 'ac_int<8,false>' -> 1."""
    text = str(precision).replace(" ", "")
    m = _AC_TYPE.match(text)
    if m:
        if m.group(6):
            return 1.0
        return 2.0 ** -(int(m.group(2)) - int(m.group(3)))
    m = _TYPE.match(text)
    if m:
        if m.group(6):
            return 1.0
        return 2.0 ** -(int(m.group(3)) - int(m.group(4)))
    raise ConfigError(
        f"cannot read an LSB from precision '{precision}': not an ap_fixed/ap_ufixed/ap_int/ap_uint, "
        "ac_fixed or ac_int type"
    )


def from_hls(precision, where: str) -> FixedType:
    """An hls4ml precision type (FixedPrecisionType or IntegerPrecisionType) as a FixedType.

    `where` names the layer and variable, for the refusal message.
    """
    kind = type(precision).__name__
    # Backends wrap these in subclasses (APFixedPrecisionType...): judge by the hls4ml base class.
    bases = {c.__name__ for c in type(precision).__mro__}
    if not bases & {"FixedPrecisionType", "IntegerPrecisionType"}:
        raise UnsupportedError(f"{where}: precision {precision} ({kind}) is not an ap_fixed/ap_int type")
    if getattr(precision, "saturation_bits", 0):
        raise UnsupportedError(f"{where}: precision {precision} uses saturation bits, not emulated")
    rounding = str(precision.rounding_mode).replace("AP_", "").upper()
    overflow = str(precision.saturation_mode).replace("AP_", "").upper()
    if rounding not in ROUNDING or overflow not in OVERFLOW:
        raise UnsupportedError(f"{where}: precision {precision}: unknown mode {rounding}/{overflow}")
    width, integer = written_width(precision), int(precision.integer)
    # A type wider than float64's 53 bits is fine as long as the codes it actually holds stay below 2**53;
    # each layer checks that from its bounds (check_exact).
    return FixedType(width, integer, bool(precision.signed), rounding, overflow)


def is_ac(precision) -> bool:
    """True for a precision that hls4ml writes as ac_fixed/ac_int (its AC definitions)."""
    return any(c.__name__.startswith("AC") for c in type(precision).__mro__)


def written_width(precision) -> int:
    """The width the C++ declares for an hls4ml precision (ac_fixed backends write some types wider:
    see l1ml/firmware/backends/acfixed.py)."""
    width = int(precision.width)
    if is_ac(precision) and width == 1 and "Fixed" in type(precision).__name__:
        return 2  # hls4ml's ACFixedPrecisionDefinition: at least two bits, integer bits unchanged
    return width


def quantize(q: np.ndarray, shift: int, mode: str, inplace: bool = False) -> np.ndarray:
    """Drop `shift` > 0 fractional bits of codes `q` with ap_fixed rounding `mode`."""
    # exact: a power-of-two scaling of an integer below 2**53
    x = np.multiply(q, 2.0**-shift, out=q if inplace else None)
    return round_scaled(x, mode)


def round_scaled(x: np.ndarray, mode: str) -> np.ndarray:
    """Round real codes `x` (an array this function may overwrite) to integers with an ap_fixed mode."""
    if mode == "TRN":
        return np.floor(x, out=x)
    if mode == "RND":  # ties towards +inf
        x += 0.5
        return np.floor(x, out=x)
    if mode == "RND_CONV":  # ties to even; numpy's rint does exactly that
        return np.rint(x, out=x)
    if mode == "RND_MIN_INF":  # ties towards -inf
        x -= 0.5
        return np.ceil(x, out=x)
    if mode == "TRN_ZERO":
        return np.trunc(x, out=x)
    if mode == "RND_ZERO":  # ties towards zero
        return np.where(x >= 0, np.ceil(x - 0.5), np.floor(x + 0.5))
    if mode == "RND_INF":  # ties away from zero
        return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))
    raise UnsupportedError(f"rounding mode {mode} not emulated")


def clamp(x: np.ndarray, lo: float | None, hi: float | None, out: np.ndarray | None = None) -> np.ndarray:
    """np.clip(x, lo, hi, out=out) (either limit may be None), the same values: numpy 1.26's clip costs
    about twice a maximum plus a minimum (measured 40 against 24 ns per 32 values)."""
    y = x
    if lo is not None:
        y = np.maximum(y, lo, out=out)
        out = y
    if hi is not None:
        y = np.minimum(y, hi, out=out)
    return y if y is not x or out is not None else y.copy()


def quantized_bounds(b: Bounds, shift: int) -> Bounds:
    s = 2.0**-shift
    return Bounds(math.floor(b.lo * s), math.ceil(b.hi * s))


def overflow(q: np.ndarray, t: FixedType) -> np.ndarray:
    """Bring codes into `t`'s range with its overflow mode."""
    tb = t.bounds
    if t.overflow == "WRAP":
        m = 2.0**t.width
        # q - m*floor((q - lo)/m): exact for |q| < 2**53, and also above (then q is a multiple of m or of
        # its own ulp, and the difference is a small multiple of that ulp).
        off = q - tb.lo
        off *= 1.0 / m
        np.floor(off, out=off)
        off *= m
        return q - off
    if t.overflow in ("SAT", "SAT_SYM"):
        return clamp(q, tb.lo, tb.hi)
    if t.overflow == "SAT_ZERO":
        return np.where((q < tb.lo) | (q > tb.hi), 0.0, q)
    raise UnsupportedError(f"overflow mode {t.overflow} not emulated")


# Overflow counting (explore): while `count_overflows()` is open, every cast whose bounds allow an overflow
# adds how many values left the target type's range to the open counter, under the current layer's name.
# Off (None), a cast pays one context-variable read, and only where an overflow is possible at all.
_COUNTER: ContextVar[dict | None] = ContextVar("l1ml_overflow_counter", default=None)
_LAYER: ContextVar[str] = ContextVar("l1ml_overflow_layer", default="?")

OVERFLOW_WORDS = {"WRAP": "wrapped", "SAT": "saturated", "SAT_SYM": "saturated", "SAT_ZERO": "zeroed"}


@contextmanager
def count_overflows(counter: dict | None = None):
    """Count values brought into range by an overflow mode, per layer: {layer: {"wrapped": n, ...}}.
    Counts add across the batches run inside the block; the dict is yielded (and may be passed in)."""
    counter = {} if counter is None else counter
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)


@contextmanager
def in_layer(name: str):
    """Name the layer whose casts follow (the emulator wraps each op's run in it while counting)."""
    token = _LAYER.set(name)
    try:
        yield
    finally:
        _LAYER.reset(token)


def counting() -> bool:
    return _COUNTER.get() is not None


def _tally(codes: np.ndarray, t: FixedType) -> None:
    """Add the values of integer `codes` (already rounded to t's LSB) outside t's range."""
    counter = _COUNTER.get()
    if counter is None:
        return
    tb = t.bounds
    n = int(np.count_nonzero((codes < tb.lo) | (codes > tb.hi)))
    if n:
        per = counter.setdefault(_LAYER.get(), {})
        word = OVERFLOW_WORDS.get(t.overflow, t.overflow.lower())
        per[word] = per.get(word, 0) + n


def cast(
    q: np.ndarray, frac: int, b: Bounds, t: FixedType, inplace: bool = False, lo_clip: float | None = None
) -> tuple[np.ndarray, Bounds]:
    """ap_fixed conversion of codes `q` (with `frac` fractional bits, codes within `b`) to type `t`.

    Steps whose effect is provably nil for every code in `b` are skipped: that is where the speed comes
    from, and it is exact because it is decided from the bounds, not from the data. `inplace` lets the
    cast overwrite `q`. `lo_clip=0.0` clamps from below first (a ReLU folded into the cast); zero is the
    only clamp allowed, being the same at every scale.
    """
    if lo_clip not in (None, 0.0):
        raise ValueError("cast: lo_clip must be None or 0.0")
    tb = t.bounds
    shift = frac - t.frac
    if lo_clip is not None:
        b = Bounds(max(b.lo, lo_clip), max(b.hi, lo_clip))
    if shift > 0:
        mode = "TRN" if (t.rounding == "TRN_ZERO" and b.lo >= 0) else t.rounding
        qb = quantized_bounds(b, shift)
        if t.overflow in ("SAT", "SAT_SYM") and not qb.within(tb) or lo_clip is not None:
            # Rounding to integers is monotone, so clamping at the integer limits before rounding gives
            # the same codes as rounding first and saturating after; it saves a pass.
            if not qb.within(tb) and _COUNTER.get() is not None:
                r = round_scaled(np.multiply(q, 2.0**-shift), mode)
                _tally(r if lo_clip is None else np.maximum(r, lo_clip, out=r), t)
            x = np.multiply(q, 2.0**-shift, out=q if inplace else None)
            lo = tb.lo if t.overflow in ("SAT", "SAT_SYM") and qb.lo < tb.lo else None
            hi = tb.hi if t.overflow in ("SAT", "SAT_SYM") and qb.hi > tb.hi else None
            if lo_clip is not None:
                lo = lo_clip if lo is None else max(lo, lo_clip)
            clamp(x, lo, hi, out=x)
            x = round_scaled(x, mode)
            nb = Bounds(qb.lo if lo is None else max(qb.lo, lo), qb.hi if hi is None else min(qb.hi, hi))
            if nb.within(tb):
                return x, nb
            return overflow(x, t), tb
        q = quantize(q, shift, mode, inplace)
        b = qb
    else:
        if lo_clip is not None:
            q = np.maximum(q, lo_clip, out=q if inplace else None)
            inplace = True
        if shift < 0:
            q = np.multiply(q, 2.0**-shift, out=q if inplace else None)
            b = b.scaled(-shift)
    if b.within(tb):
        return q, b
    _tally(q, t)
    if t.overflow in ("SAT", "SAT_SYM"):
        return clamp(q, tb.lo, tb.hi, out=q if inplace else None), Bounds(max(b.lo, tb.lo), min(b.hi, tb.hi))
    return overflow(q, t), tb


def check_exact(b: Bounds, where: str) -> None:
    """Refuse when an intermediate could reach 2**53, where float64 stops being exact."""
    if b.maxabs >= EXACT_LIMIT:
        raise UnsupportedError(
            f"{where}: intermediate integer codes reach 2**{math.log2(b.maxabs):.1f}, beyond the "
            f"2**{EXACT_BITS} float64 holds exactly; the batch emulator cannot reproduce this layer"
        )


def from_real(x: np.ndarray, t: FixedType) -> np.ndarray:
    """Codes of `t` for real inputs, as ap_fixed's constructor from double converts them."""
    q = np.multiply(x, 2.0**t.frac, dtype=np.float64)  # exact: power-of-two scaling of a double
    if t.rounding in ("TRN", "RND_CONV", "TRN_ZERO"):
        # floor, rint and trunc are exact on every double, whole or not, small or huge.
        q = round_scaled(q, t.rounding)
    else:
        whole = np.floor(q)
        fractional = whole != q
        if fractional.any():
            # Whole codes are already exact (even above 2**53); only the others, all below 2**52, round.
            frac_part = q - whole
            q = np.where(fractional, _round_real(whole, frac_part, t.rounding), q)
    lo, hi = q.min(), q.max()  # NaN and infinities propagate into these, so one check covers them
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise NonFiniteInput("inputs hold NaN or infinite values; the firmware takes fixed-point numbers")
    if lo < t.bounds.lo or hi > t.bounds.hi:
        _tally(q, t)
        return overflow(q, t)
    return q


def _round_real(whole: np.ndarray, frac_part: np.ndarray, mode: str) -> np.ndarray:
    """Round floor `whole` + `frac_part` (0 <= frac_part < 1) with an ap_fixed rounding mode."""
    neg = (whole + frac_part) < 0
    half = frac_part == 0.5
    above = frac_part > 0.5
    if mode == "TRN":
        up = np.zeros_like(half)
    elif mode == "TRN_ZERO":
        up = neg & (frac_part > 0)
    elif mode == "RND":
        up = half | above
    elif mode == "RND_MIN_INF":
        up = above
    elif mode == "RND_ZERO":
        up = above | (half & neg)
    elif mode == "RND_INF":
        up = above | (half & ~neg)
    elif mode == "RND_CONV":
        up = above | (half & (np.mod(whole, 2) == 1))
    else:
        raise UnsupportedError(f"rounding mode {mode} not emulated")
    return whole + up


def to_real(q: np.ndarray, frac: int) -> np.ndarray:
    return q * 2.0**-frac

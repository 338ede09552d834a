"""The ``hardware`` validation: a board's outputs against the bit-exact emulator's, code by code.

The ``hwtest`` queue step (l1ml/synth/hwtest.py) programs the board and reads its words back into
``board_outputs.hex``; then, still inside the job, ``python -m l1ml.validate.hardware HWTEST_DIR`` runs
:func:`compare_board`. The vectors are the testbench data `l1ml convert` writes (tb_data/: the project's
first background events as the firmware receives them, and the emulator's outputs for them). The result is
a validation of kind ``hardware`` (hardware.json, l1ml.validate.verdict.Validation) and junit.xml; any
differing bit fails it, naming the first differing event and output.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from l1ml.errors import L1mlError

WORD_BITS = 32


class HwtestError(L1mlError):
    """The hwtest step cannot be planned or its board's outputs cannot be read; the message says why."""


# ---- the fixed-point words the board takes and gives -------------------------------------------------


def parse_type(text: str):
    """'ap_fixed<18,8,AP_RND>' / 'ap_ufixed<...>' / 'ap_int<W>' -> l1ml.fixed.FixedType."""
    from l1ml.errors import ConfigError
    from l1ml.fixed import FixedType

    try:
        t = FixedType.parse(text, integers=True)
    except ConfigError as exc:
        raise HwtestError(str(exc)) from None
    if not 1 <= t.width <= 64:
        raise HwtestError(f"precision {text!r}: width 1..64 only")
    return t


def lanes(t) -> int:
    """32-bit words one value of type t takes."""
    return math.ceil(t.width / WORD_BITS)


def to_words(code: int, t) -> list[str]:
    """A code as its lane's hex words, low word first (two's complement over the lane)."""
    n = lanes(t)
    lane = int(code) & ((1 << (WORD_BITS * n)) - 1)
    return [f"{(lane >> (WORD_BITS * i)) & 0xFFFFFFFF:08X}" for i in range(n)]


def from_words(words: list[str], t) -> int:
    """The code of type t in a lane's words (low word first): its low W bits, sign-extended if signed."""
    lane = sum(int(w, 16) << (WORD_BITS * i) for i, w in enumerate(words))
    code = lane & ((1 << t.width) - 1)
    if t.signed and code >> (t.width - 1):
        code -= 1 << t.width
    return code


def _codes(values, t, what: str) -> list[int]:
    """Codes of values the emulator wrote exactly (dyadic, %.17g): anything else is not its output."""
    out = []
    for v in values:
        scaled = float(v) * 2.0**t.frac
        if not scaled.is_integer():
            raise HwtestError(f"{what}: {v!r} is not a value of {t} (the emulator's outputs are exact)")
        out.append(int(scaled))
    return out


# ---- the vectors ---------------------------------------------------------------------------------------


def vectors(src: Path) -> dict:
    """Inputs and expected outputs from the firmware's tb_data, as lists of codes per event, with their
    types: {"inputs": [[int]], "expected": [[int]], "input_type": str, "outputs": [{name,size,precision}]}."""
    import numpy as np

    manifest_path = src / "manifest.json"
    if not manifest_path.is_file():
        raise HwtestError(
            "no manifest.json in the job's files; submit a firmware version `l1ml convert` wrote"
        )
    man = json.loads(manifest_path.read_text())
    tb = next(
        (src / d / "tb_data" for d in ("hls4ml", "conifer_hls") if (src / d / "tb_data").is_dir()), None
    )
    want = ("tb_input_features.dat", "tb_output_predictions.dat")
    if tb is None or not all((tb / f).is_file() for f in want):
        raise HwtestError(
            "no testbench vectors (hls4ml/ or conifer_hls/ tb_data/tb_input_features.dat and "
            "tb_output_predictions.dat) in the job's files; `l1ml convert` writes them from the project's "
            "background events when the emulator can reproduce the firmware"
        )
    x = np.atleast_2d(np.loadtxt(tb / want[0], dtype=np.float64))
    y = np.atleast_2d(np.loadtxt(tb / want[1], dtype=np.float64))
    if man.get("outputs"):  # an hls4ml network: one entry per output tensor, concatenated per event
        input_type = man["input_precision"]
        outputs = [
            {"name": o["name"], "size": int(o["size"]), "precision": o["precision"]} for o in man["outputs"]
        ]
    elif man.get("precision"):  # a conifer BDT: inputs and scores in the one precision
        input_type = man["precision"]
        outputs = [{"name": "score", "size": y.shape[1], "precision": man["precision"]}]
    else:
        raise HwtestError("manifest.json names no output types (outputs, or a BDT's precision)")
    if len(x) != len(y) or y.shape[1] != sum(o["size"] for o in outputs):
        raise HwtestError(
            f"tb_data holds {len(x)} input and {len(y)} output rows of {y.shape[1]} values; the manifest's "
            f"outputs have {sum(o['size'] for o in outputs)}"
        )
    from l1ml.fixed import from_real

    t_in = parse_type(input_type)
    inputs = from_real(x, t_in).astype(np.int64).tolist()  # ap_fixed's own conversion of the tb inputs
    expected = []
    for row in y:
        codes, at = [], 0
        for o in outputs:
            codes += _codes(row[at : at + o["size"]], parse_type(o["precision"]), o["name"])
            at += o["size"]
        expected.append(codes)
    return {"inputs": inputs, "expected": expected, "input_type": input_type, "outputs": outputs}


def value_types(outputs: list[dict]) -> list:
    return [parse_type(o["precision"]) for o in outputs for _ in range(o["size"])]


def _value_names(outputs: list[dict]) -> list[str]:
    return [f"{o['name']}[{i}]" for o in outputs for i in range(o["size"])]


def hex_lines(rows: list[list[int]], types: list) -> str:
    return "".join(
        " ".join(w for c, t in zip(r, types, strict=True) for w in to_words(c, t)) + "\n" for r in rows
    )


def compare_board(src: Path, hdir: Path) -> dict:
    """The board's outputs against the emulator's, code by code; writes hardware.json and junit.xml.
    Returns the validation's dict (with "first_mismatch": str | None)."""
    from l1ml.compare import compare
    from l1ml.fixed import lsb_of
    from l1ml.validate.reports import junit_xml
    from l1ml.validate.verdict import Validation

    vec = vectors(src)
    meta = json.loads((hdir / "device.json").read_text())
    types = value_types(vec["outputs"])
    names = _value_names(vec["outputs"])
    words = [lanes(t) for t in types]
    path = hdir / "board_outputs.hex"
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()] if path.is_file() else []
    n = len(vec["expected"])
    first = None
    if len(rows) != n:
        first = f"the board returned {len(rows)} events of {n} (board_outputs.hex)"
    got: list[list[int]] = []
    for e, row in enumerate(rows[:n]):
        if len(row) != sum(words):
            first = first or f"event {e}: the board returned {len(row)} words, want {sum(words)}"
            got.append([0] * len(types))
            continue
        codes, at = [], 0
        for t, k in zip(types, words, strict=True):
            codes.append(from_words(row[at : at + k], t))
            at += k
        got.append(codes)
        if first is None:
            for i, (g, w) in enumerate(zip(codes, vec["expected"][e], strict=True)):
                if g != w:
                    first = (
                        f"event {e}, output {names[i]}: board {g} ({g * 2.0 ** -types[i].frac:.17g}), "
                        f"emulator {w} ({w * 2.0 ** -types[i].frac:.17g}) in {types[i]}"
                    )
                    break
    comparisons, at = [], 0
    for o in vec["outputs"]:
        t = types[at]
        sw = [[v * 2.0**-t.frac for v in r[at : at + o["size"]]] for r in vec["expected"][: len(got)]]
        fw = [[v * 2.0**-t.frac for v in r[at : at + o["size"]]] for r in got]
        if got:
            comparisons.append(compare(f"{o['name']} (board vs emulator)", sw, fw, lsb_of(o["precision"]), 0))
        at += o["size"]
    v = Validation(
        project=meta.get("project") or "",
        version=meta.get("model") or "",
        kind="hardware",
        comparisons=comparisons,
        flips={},
        threshold=None,
        events={"parity": n, "board": len(rows)},
        passed=first is None,  # the codes decide: a float64 view of a wide type could hide a bit
        details={
            "board": meta.get("board"),
            "device": meta.get("device"),
            "job": meta.get("job"),
            "vectors": "tb_data (l1ml convert: background events, bit-exact emulator outputs)",
            "first_mismatch": first,
        },
    )
    out = {**v.to_dict(), "first_mismatch": first}
    (hdir / "hardware.json").write_text(json.dumps(out, indent=1) + "\n")
    (hdir / "junit.xml").write_text(junit_xml(v))
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m l1ml.validate.hardware HWTEST_DIR`: compare, write hardware.json; exit 1 on any difference."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m l1ml.validate.hardware HWTEST_DIR", file=sys.stderr)
        return 2
    hdir = Path(args[0]).resolve()
    try:
        result = compare_board(hdir.parent, hdir)
    except L1mlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result["first_mismatch"]:
        print(
            f"hwtest FAILED: the board differs from the emulator: {result['first_mismatch']}", file=sys.stderr
        )
        return 1
    print(
        f"hwtest passed: {result['events']['parity']} events bit-identical to the emulator on {result['details']['board']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Named fixes of hls4ml 1.3 bugs, applied to a project hls4ml has just written (before anything compiles
it). Each fix applies only where its bug's pattern is present, and refuses in one line when the file no
longer looks as the fix expects (a newer hls4ml: look again rather than patch blindly).

Plain Python with no imports beyond the standard library, so the main environment's tests can run it on
text without Keras 3."""

import re
from pathlib import Path

CODE_GEN = Path("firmware") / "nnet_utils" / "nnet_code_gen.h"
# hls4ml 1.3, VivadoWriter.write_generated_code: with the `namespace=` option it renames `namespace nnet`
# to the project's namespace in nnet_code_gen.h, where the distributed-arithmetic strategy writes its
# dense_da_* functions. Those call nnet::bit_shift (nnet_function_stubs.h) unqualified, which is then no
# longer found: g++ says "'bit_shift' was not declared in this scope; did you mean 'nnet::bit_shift'?".
# The fix brings that one function into the renamed namespace; the arithmetic is unchanged.
DA_BIT_SHIFT = "hls4ml 1.3 namespace rename leaves bit_shift unqualified in nnet_code_gen.h"
USING = "using nnet::bit_shift;  // l1ml: " + DA_BIT_SHIFT


class Unpatchable(Exception):
    """The header no longer looks as the fix expects."""


def qualify_bit_shift(text: str, namespace: str | None) -> tuple[str, bool]:
    """nnet_code_gen.h's text with the fix applied where it is needed: (text, applied)."""
    if not namespace or namespace == "nnet" or not re.search(r"(?<![\w:])bit_shift\s*<", text):
        return text, False  # no rename, or no unqualified call (Latency code): nothing to fix
    if USING in text:
        return text, False  # already fixed (a second write of the same project)
    opening = re.compile(rf"^namespace {re.escape(namespace)} {{[ \t]*$", re.M)
    found = opening.findall(text)
    if not found and re.search(r"^namespace nnet {", text, re.M):
        return text, False  # the generated code stayed in nnet, where bit_shift is found
    if len(found) != 1:
        raise Unpatchable(
            f"{CODE_GEN}: expected hls4ml 1.3's one renamed `namespace {namespace} {{` (found {len(found)}); "
            "this hls4ml writes the header differently, so l1ml's fix for unqualified bit_shift does not apply"
        )
    return opening.sub(lambda m: f"{m.group(0)}\n{USING}", text, count=1), True


def fix_project(prj: str, namespace: str | None) -> list[str]:
    """Apply every fix the written project at `prj` needs; returns the names of those applied."""
    path = Path(prj) / CODE_GEN
    if not path.is_file():
        return []
    text, applied = qualify_bit_shift(path.read_text(), namespace)
    if not applied:
        return []
    path.write_text(text)
    return [DA_BIT_SHIFT]

"""The symbol audit of an emulator library: the incidents it rules out are co-loaded libraries binding to
each other's symbols (cmssw #44435, #49632, #51263: AXOL1TL firing on every event).

A library passes when
- its dynamic symbol table defines exactly `create_model` and `destroy_model` with default visibility,
  and nothing else (no weight, layer, template instantiation or typeinfo another library could bind to);
- its full symbol table (when not stripped) holds no other GLOBAL, WEAK or UNIQUE definition: hidden
  symbols become LOCAL at link time, so a global one is a weight or layer left visible;
- it imports nothing that opens files (fopen, open, std::ifstream...): weights are compiled in.
Read with readelf (binutils), which comes with g++.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound

FACTORIES = ("create_model", "destroy_model")
# Symbols that would mean reading files at run time.
FILE_IMPORTS = re.compile(
    r"^(fopen|fopen64|freopen|open|open64|openat|openat64|__open_2|__open64_2|mmap|mmap64|opendir|"
    r"_ZNSt14basic_ifstream.*|_ZNSt13basic_fstream.*|_ZNSt13basic_filebuf.*open.*)(@.*)?$"
)
_ROW = re.compile(
    r"^\s*\d+:\s+[0-9a-fA-F]+\s+\S+\s+(?P<type>\S+)\s+(?P<bind>\S+)\s+(?P<vis>\S+)\s+(?P<ndx>\S+)\s+(?P<name>\S+)"
)


class AuditFailed(L1mlError):
    """The library exports or leaves global something other than the two factories."""


@dataclass
class Audit:
    library: str
    exported: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    file_imports: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {
            "library": self.library,
            "passed": self.passed,
            "exported": self.exported,
            "violations": self.violations,
            "tool": "readelf",
        }


def _readelf(args: list[str], lib: Path) -> list[dict]:
    if shutil.which("readelf") is None:
        raise ToolNotFound("readelf (binutils) is needed for the symbol audit; install binutils")
    r = subprocess.run(["readelf", "--wide", *args, str(lib)], capture_output=True, text=True)
    if r.returncode != 0:
        raise L1mlError(f"readelf could not read {lib}: {r.stderr.strip()}")
    rows = []
    for line in r.stdout.splitlines():
        m = _ROW.match(line)
        if m:
            d = m.groupdict()
            d["name"] = d["name"].split("@")[0]
            rows.append(d)
    return rows


def _demangle(names: list[str]) -> dict[str, str]:
    if not names or shutil.which("c++filt") is None:
        return {n: n for n in names}
    r = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    out = r.stdout.splitlines()
    return dict(zip(names, out, strict=False)) if r.returncode == 0 and len(out) == len(names) else {n: n for n in names}


def audit(lib: Path) -> Audit:
    """Audit a built library (raises nothing for a bad library: look at .passed and .violations)."""
    lib = Path(lib)
    if not lib.is_file():
        raise L1mlError(f"no library at {lib}")
    a = Audit(library=lib.name)
    bad: list[tuple[str, str]] = []
    dyn = _readelf(["--dyn-syms"], lib)
    for s in dyn:
        defined = s["ndx"] != "UND"
        if defined and s["bind"] in ("GLOBAL", "WEAK", "UNIQUE") and s["vis"] in ("DEFAULT", "PROTECTED"):
            if s["name"] in FACTORIES:
                a.exported.append(s["name"])
            else:
                bad.append((s["name"], f"exported {s['type'].lower()} ({s['bind'].lower()})"))
        elif not defined and FILE_IMPORTS.match(s["name"]):
            a.file_imports.append(s["name"])
    for f in FACTORIES:
        if f not in a.exported:
            a.violations.append(f"{f} is not exported")
    seen = {n for n, _ in bad}
    for s in _readelf(["--syms"], lib):
        if (
            s["ndx"] != "UND"
            and s["bind"] in ("GLOBAL", "WEAK", "UNIQUE")
            and s["vis"] in ("DEFAULT", "PROTECTED")
            and s["type"] in ("OBJECT", "FUNC", "TLS", "GNU_IFUNC")
            and s["name"] not in FACTORIES
            and s["name"] not in seen
        ):
            bad.append((s["name"], f"global {s['type'].lower()} ({s['bind'].lower()}) in the symbol table"))
            seen.add(s["name"])
    # Data first (weights, tables), then code, then typeinfo/vtables: the message shows the first few.
    bad.sort(key=lambda b: (not b[1].startswith(("exported object", "global object")), b[0].startswith("_ZT")))
    names = _demangle([n for n, _ in bad] + a.file_imports)
    a.violations += [f"{names[n]}: {why}" for n, why in bad]
    a.violations += [f"{names[n]}: imported, but the library must read no files at run time" for n in a.file_imports]
    return a


def require(lib: Path) -> Audit:
    """audit(), raising AuditFailed with the first offending symbols."""
    a = audit(lib)
    if not a.passed:
        shown = "; ".join(a.violations[:5])
        more = f" (and {len(a.violations) - 5} more)" if len(a.violations) > 5 else ""
        raise AuditFailed(f"symbol audit of {lib.name} failed: {shown}{more}")
    return a

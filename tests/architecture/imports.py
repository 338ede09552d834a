"""The import graph of l1ml/, read from each module's `ast`, and the layer table of docs/architecture.md.

An edge A -> B means A's code imports B (at module level or inside a function: a lazy import is still a
dependency). `from l1ml.x import name` counts as importing the module `l1ml.x.name` when that is a module,
else `l1ml.x` itself. Strings are not imports: the queue's step table names its providers by module path
on purpose (see l1ml/plan.py), so the queue never depends on them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "l1ml"
TABLE = REPO / "docs" / "architecture.md"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _known(name: str, modules: dict[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the l1ml modules it imports."""
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                full = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                full = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
            else:
                continue
            for f in full:
                t = _known(f, modules) if f.split(".")[0] == "l1ml" else None
                if t and t != name:
                    targets.add(t)
        out[name] = targets
    return out


def layer_table(text: str | None = None) -> dict[str, int]:
    """The 'layer | modules | holds' table: `cli/` -> 10, `project.py` -> 3 ..., keyed by the top-level
    name under l1ml/ (folder or module)."""
    text = TABLE.read_text() if text is None else text
    layers = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if not m:
            continue
        for entry in re.findall(r"`([^`]+)`", m.group(2)):
            top = entry.strip("/").split("/")[0].removesuffix(".py")
            layers.setdefault(top, int(m.group(1)))
    return layers


def room(module: str) -> str:
    """The top-level folder or module under l1ml/ that a module sits in ('l1ml' for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "l1ml"


def upward(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """Imports from one room into another that is not on a strictly lower layer, and modules in no layer."""
    found = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            a, b = room(src), room(dst)
            if a == b or dst == "l1ml":
                continue
            missing = [r for r in (a, b) if r not in layers and r != "l1ml"]
            if missing:
                found.append(f"{src} -> {dst}: {', '.join(missing)} is in no layer of {TABLE.name}")
            elif layers.get(b, 0) >= layers.get(a, 0):
                found.append(f"{src} (layer {layers[a]}) -> {dst} (layer {layers[b]})")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found

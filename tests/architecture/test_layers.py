"""The layering of docs/architecture.md holds: no import cycle inside l1ml/, nothing imports a higher layer."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import imports  # noqa: E402


def test_no_import_cycles():
    found = imports.cycles(imports.edges(imports.module_names()))
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_upward_imports():
    found = imports.upward(imports.edges(imports.module_names()), imports.layer_table())
    assert found == [], "imports against the layer order:\n" + "\n".join(found)


def test_every_room_has_a_layer():
    layers = imports.layer_table()
    rooms = {imports.room(m) for m in imports.module_names()} - {"l1ml"}
    assert sorted(rooms - set(layers)) == []


# The check itself must be able to fail: each of these small trees breaks one rule.
def _tree(tmp_path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        p = tmp_path / "l1ml" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return imports.module_names(tmp_path / "l1ml")


def test_check_finds_a_cycle_through_a_lazy_import(tmp_path):
    mods = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "data/__init__.py": "",
            "data/io.py": "from l1ml.data.stream import read\n",
            "data/stream.py": "def read():\n    from l1ml.data import io\n",
        },
    )
    assert imports.cycles(imports.edges(mods)) == [["l1ml.data.io", "l1ml.data.stream"]]


def test_check_finds_an_upward_and_a_same_layer_import(tmp_path):
    mods = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "project.py": "from l1ml.synth.job import STEPS\n",
            "synth/__init__.py": "",
            "synth/job.py": "STEPS = []\n",
            "run/__init__.py": "",
            "run/chain.py": "from ..deploy import core\n",
            "deploy/__init__.py": "",
            "deploy/core.py": "",
        },
    )
    table = "| 9 | `run/`, `deploy/` | x |\n| 8 | `synth/` | x |\n| 3 | `project.py` | x |\n"
    found = imports.upward(imports.edges(mods), imports.layer_table(table))
    assert found == [
        "l1ml.project (layer 3) -> l1ml.synth.job (layer 8)",
        "l1ml.run.chain (layer 9) -> l1ml.deploy.core (layer 9)",
    ]


def test_table_reads_the_documented_layers():
    layers = imports.layer_table()
    assert layers["cli"] == 10 and layers["project"] == 3 and layers["errors"] == 1 and layers["fixed"] == 2

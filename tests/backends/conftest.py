"""tests/backends imports helpers by name: backends_helpers.py here, fake_tools.py from tests/vendor,
synth_helpers.py from tests/synth. The queue's `home` and `procs` fixtures are tests/conftest.py's."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for d in (HERE, HERE.parent / "vendor", HERE.parent / "synth"):
    sys.path.insert(0, str(d))

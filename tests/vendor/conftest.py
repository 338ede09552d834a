"""The vendor-flow tests share tests/synth's helper module (synth_helpers.py) by path; the queue's `home`
and `procs` fixtures are tests/conftest.py's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth"))

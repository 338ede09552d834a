"""The hwtest tests share tests/synth's helper module by path; the fake hardware manager is
tests/vendor/fake_tools.py. The queue's `home` and `procs` fixtures are tests/conftest.py's."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "synth"))
sys.path.insert(0, str(TESTS / "vendor"))

"""tests/report: the browser helper is report_browser.py; version fixtures come from tests/lifecycle."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lifecycle"))

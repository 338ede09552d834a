"""tests/backends imports its helpers by name (backends_helpers.py), as tests/synth does."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

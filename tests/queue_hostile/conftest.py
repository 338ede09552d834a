import sys
from pathlib import Path

# The hardening helpers (script_project, synth helpers) are shared with tests/synth_hardening.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth_hardening"))

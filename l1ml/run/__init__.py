"""`l1ml run`: the chain from event files to a report as content-addressed, resumable steps.

Each step is keyed by a hash of its inputs (l1ml/run/keys.py) and, when it succeeds, leaves a record
(build/run/records/<step>.json) holding that key and its result. A step whose key matches its record, and
whose outputs are still there, is skipped. The record is written last, so a step stopped midway (error,
Ctrl-C) has no record and runs again next time.
"""

from l1ml.run.chain import STEPS, RunResult, StepFailed, run_chain

__all__ = ["STEPS", "RunResult", "StepFailed", "run_chain"]

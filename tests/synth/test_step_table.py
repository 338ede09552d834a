"""The queue's step table (l1ml/plan.py): every step has a provider, the table's modules each expose one
Step, the CLI's --step help lists every step, and the failed-validation rule the CLI and `l1ml run` share."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from l1ml import plan
from l1ml.errors import L1mlError


def test_every_provider_exposes_one_step_and_every_step_is_planned_by_one():
    steps = plan.providers()
    assert [type(s) for s in steps] == [plan.Step] * len(plan.PROVIDERS)
    assert len({s.name for s in steps}) == len(steps)
    empty = Path("/nonexistent-job-tree")
    for name in plan.STEPS:  # for any tree: the Vitis/Vivado provider is the HLS steps' fallback
        assert plan.provider(name, empty) in steps
    with pytest.raises(L1mlError, match="valid steps: csim, csynth"):
        plan.provider("bake", empty)


def test_artifacts_come_from_the_providers():
    assert plan.artifacts("emulate")[-1] == "**/counts.json"
    assert "**/*.bit" in plan.artifacts("vsynth") and "**/impl/ip/*.zip" in plan.artifacts("vsynth")
    assert "hwtest/hardware.json" in plan.artifacts("hwtest")
    assert plan.artifacts("csim") == plan.REPORTS


def test_step_help_lists_every_step():
    from typer.main import get_command

    from l1ml.cli.synth import app

    submit = get_command(app).commands["submit"]
    helps = [p.help for p in submit.params if p.name == "step"]
    assert helps == [plan.steps_help()]
    assert all(s in helps[0] for s in plan.STEPS)


def test_failed_validation_refuses_vendor_steps_only(tmp_path):
    from l1ml.validate.gate import refuse_failed_validation

    fw = tmp_path / "build" / "firmware" / "v1"
    fw.mkdir(parents=True)
    (fw / "manifest.json").write_text("{}")
    report = tmp_path / "build" / "validation" / "v1" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"passed": False}))
    os.utime(fw / "manifest.json", (1, 1))  # the report is newer than the firmware
    project = SimpleNamespace(
        name="p",
        build_dir=tmp_path / "build",
        firmware_dir=lambda v=None: fw,
        model_dir=lambda v=None: tmp_path / "models" / "v1",
    )
    refuse_failed_validation(project, "v1", "csim")  # not a vendor step
    with pytest.raises(L1mlError, match="last validation of p v1 failed"):
        refuse_failed_validation(project, "v1", "vsynth")
    os.utime(report, (0, 0))  # older than the firmware: an earlier conversion's
    refuse_failed_validation(project, "v1", "vsynth")

"""The runner: key each step, skip it when its record matches, otherwise run it and record the result."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

from l1ml import layout, manifest
from l1ml.errors import ConfigError, L1mlError
from l1ml.progress import or_silent
from l1ml.run.keys import FileHashes, digest
from l1ml.run.steps import STEPS as STEP_LIST
from l1ml.run.steps import Context, StepFailed

STEPS = tuple(s.name for s in STEP_LIST)


@dataclass
class StepOutcome:
    step: str
    status: str  # ran, skipped, failed, not run
    key: str = ""
    seconds: float = 0.0
    result: dict = field(default_factory=dict)
    error: str = ""
    # The step met bad input (a project, board or event file at fault): exit code 2, as every command
    # gives for it; a step that ran and failed (not bit-exact, a queue job failed, a library's error) is 1.
    bad_input: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RunResult:
    project: str
    steps: list[StepOutcome]

    @property
    def version(self) -> str | None:
        for s in self.steps:
            if s.step == "train" and s.result:
                return s.result.get("version")
        return None

    @property
    def failed(self) -> StepOutcome | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def to_dict(self) -> dict:
        return {
            "project": self.project,
            "version": self.version,
            "ok": self.failed is None,
            "steps": [s.to_dict() for s in self.steps],
        }


def _check_step(name: str | None, what: str) -> None:
    if name is not None and name not in STEPS:
        raise ConfigError(f"{what} '{name}' is not a step; steps: {', '.join(STEPS)}")


def run_chain(
    project,
    until: str | None = None,
    start: str | None = None,
    settings=None,
    progress=None,
    on_step=None,
    toolchain: dict | None = None,
    deployer=None,
) -> RunResult:
    """Run the chain up to `until` (inclusive). `start` forces that step and those after it to run, and
    takes the steps before it from their records. `on_step(outcome)` is called as each step ends.
    `deployer` (l1ml/deploy/step.py) does the deploy step's work; without it that step deploys nothing.
    A failing step ends the chain: its outcome is 'failed' and the rest 'not run'; nothing is raised."""
    from l1ml.lifecycle.fingerprint import toolchain as fingerprint

    _check_step(until, "--until")
    _check_step(start, "--from")
    rep = or_silent(progress)
    hashes = FileHashes(layout.run_dir(project) / "file-hashes.json")
    ctx = Context(project, hashes, toolchain or fingerprint(), settings, deployer=deployer)
    last = STEPS.index(until) if until else len(STEPS) - 1
    first = STEPS.index(start) if start else 0
    outcomes: list[StepOutcome] = []
    stop = False
    for i, step in enumerate(STEP_LIST[: last + 1]):
        if stop:
            outcomes.append(StepOutcome(step.name, "not run"))
            continue
        out = _one(ctx, step, forced=i >= first and start is not None, from_record=i < first, rep=rep)
        hashes.save()
        outcomes.append(out)
        if on_step:
            on_step(out)
        stop = out.status == "failed"
    return RunResult(project.name, outcomes)


def _one(ctx: Context, step, forced: bool, from_record: bool, rep) -> StepOutcome:
    project = ctx.project
    rec = layout.read_record(project, step.name)
    if from_record:
        if rec is None:
            return StepOutcome(step.name, "failed", error=f"step {step.name} has no result yet; --from needs it: run without --from first")
        ctx.results[step.name], ctx.keys[step.name] = rec["result"], rec["key"]
        return StepOutcome(step.name, "skipped", rec["key"], 0.0, rec["result"])
    t0 = time.monotonic()
    try:
        key = _key(ctx, step)
        if not forced and rec and rec.get("key") == key and all(p.exists() for p in step.outputs(ctx, rec["result"])):
            ctx.results[step.name], ctx.keys[step.name] = rec["result"], key
            return StepOutcome(step.name, "skipped", key, time.monotonic() - t0, rec["result"])
        # The record goes first: a step stopped midway must not leave its old record to vouch for it.
        layout.record_file(project, step.name).unlink(missing_ok=True)
        result = step.work(ctx, rep)
        if step.rekey_after:
            key = _key(ctx, step)
        ctx.results[step.name], ctx.keys[step.name] = result, key
        seconds = time.monotonic() - t0
        f = layout.record_file(project, step.name)
        f.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_json(
            f, {"step": step.name, "key": key, "result": result, "finished": manifest.now(), "seconds": seconds}
        )
        # A step that declined its work (deploy refusing a version) says "skipped", with its reason.
        return StepOutcome(step.name, "skipped" if result.get("refused") else "ran", key, seconds, result)
    except L1mlError as exc:
        return StepOutcome(
            step.name, "failed", seconds=time.monotonic() - t0, error=f"step {step.name} failed: {exc}",
            bad_input=not isinstance(exc, StepFailed),
        )  # fmt: skip
    except Exception as exc:  # a library's own error (hls4ml, conifer, TF): one line here, the traceback logged
        log = layout.log_file(project, step.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        first = str(exc).splitlines()[0] if str(exc) else ""
        return StepOutcome(
            step.name, "failed", seconds=time.monotonic() - t0,
            error=f"step {step.name} failed: {type(exc).__name__}: {first} (traceback in {log})",
        )  # fmt: skip


def _key(ctx: Context, step) -> str:
    missing = [d for d in step.after if d not in ctx.keys]
    if missing:
        raise StepFailed(f"needs the result of {', '.join(missing)}")
    return digest({"step": step.name, "inputs": step.inputs(ctx), "after": {d: ctx.keys[d] for d in step.after}})


__all__ = ["STEPS", "RunResult", "StepFailed", "StepOutcome", "run_chain"]

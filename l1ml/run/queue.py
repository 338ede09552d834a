"""The synth step of `l1ml run`: submit the project's queue steps, wait for them, fetch their results,
and check a csim testbench's outputs against the emulator's expected outputs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from l1ml.errors import L1mlError


def submit_and_wait(project, version: str, settings, progress, poll: float = 0.5) -> list[dict]:
    """One job per step in [synth] steps. A local queue (no server) gets a worker in this process that
    runs until these jobs are done; a server's own workers run them. Returns one dict per job."""
    import os

    from l1ml.layout import synth_dir, variant_of
    from l1ml.synth.client import make_client, package
    from l1ml.synth.job import TERMINAL, parse_duration, parse_memory
    from l1ml.validate.gate import refuse_failed_validation

    for step in project.synth.steps:  # the rule `l1ml synth submit` applies, before anything is queued
        refuse_failed_validation(project, version, step)
    client = make_client(settings)
    ids = {}
    for step in project.synth.steps:
        archive, params = package(project, version, step, None, None, check_tools=True)
        try:
            ids[step] = client.submit(archive, params)["id"]
        finally:
            os.unlink(archive)
    progress.task("queue jobs", len(ids))

    def finished() -> bool:
        return all(client.get(i)["state"] in TERMINAL for i in ids.values())

    if not settings.server:
        from l1ml.synth.worker import Worker

        Worker(settings, parse_memory("8G"), 0, 0.1).run(until=finished)
    else:
        deadline = time.monotonic() + parse_duration(project.synth.timeout) + 600
        while not finished():
            if time.monotonic() > deadline:
                raise L1mlError(f"queue jobs {sorted(ids.values())} on {settings.server} did not finish in time")
            time.sleep(poll)
    out = synth_dir(project, version)
    jobs = []
    for step, job_id in ids.items():
        j = client.get(job_id)
        progress.advance("queue jobs")
        rec = {"step": step, "id": job_id, "state": j["state"], "server": settings.server or str(settings.home)}
        rec["seconds"] = round((j.get("ended_at") or 0) - (j.get("started_at") or 0), 1)
        rec["peak_memory"] = j.get("peak_memory")
        rec["variant"] = variant_of(project.firmware_dir(version))  # the firmware the job was packed from
        if j["state"] == "succeeded":
            tmp = out / f".{step}-{job_id}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            got = client.fetch(job_id, tmp)
            dest = out / step
            shutil.rmtree(dest, ignore_errors=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            got.rename(dest)
            from l1ml.manifest import write_json

            write_json(dest / "variant.json", {"version": version, "variant": rec["variant"], "job": job_id})
            shutil.rmtree(tmp, ignore_errors=True)
            rec["results"] = str(dest)
            if step == "csim":
                rec["csim_check"] = csim_check(project, version, dest / "files")
        jobs.append(rec)
    return jobs


def csim_check(project, version: str, files: Path) -> dict:
    """The testbench's printed outputs against the emulator's expected outputs that `convert` wrote."""
    import numpy as np

    sub = "hls4ml" if (files / "hls4ml").is_dir() else "conifer_hls"
    got = np.array((files / sub / "tb_data" / "csim_results.log").read_text().split(), float)
    want = np.loadtxt(project.firmware_dir(version) / sub / "tb_data" / "tb_output_predictions.dat").ravel()
    if got.shape != want.shape:
        return {"same": False, "how": f"{got.size} values printed, {want.size} expected", "values": int(want.size)}
    # Both testbenches print exact values (the queued csim of an hls4ml project runs a copy of its
    # testbench printing at full precision: l1ml/firmware/hls_steps.py), so the check is bit for bit.
    same = bool(np.array_equal(got, want))
    return {"same": same, "how": "identical", "values": int(want.size)}

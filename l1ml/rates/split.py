"""Split emulation: a list of files emulated as one queue job per file (or per chunk of events), on the
queue's local worker or on Slurm, and the jobs' score counts merged into exactly the single run's.

A job's archive holds what it needs and nothing else: emulate_job.json (the input files by absolute path,
on a filesystem the workers see, their format and [data.inputs] mapping, and the entry ranges), the model
manifest, preprocessing.json, the deployed network (deploy.h5) with its hls4ml project, or the BDT's
conifer_model.json. The step (``emulate``; this module's STEP, named in l1ml/plan.py's table) runs
``python -m l1ml.rates.split emulate_job.json``, which writes counts.json; the queue returns it.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from l1ml.emulate.stream import ScoreCounts
from l1ml.errors import DataError, L1mlError
from l1ml.plan import Plan, Step

JOB_FILE = "emulate_job.json"
COUNTS_FILE = "counts.json"
_SKIP = shutil.ignore_patterns("*.so", "*.o", "*_prj", "build", "*.tar.gz", "__pycache__")


def plan_ranges(counts: list[int], per: str | int) -> list[list[list[int]]]:
    """Jobs as lists of [file index, first entry, stop]: one job per file, or per `per` events."""
    if per == "file":
        return [[[i, 0, n]] for i, n in enumerate(counts)]
    size = int(per)
    if size < 1:
        raise L1mlError(f"events per job must be at least 1, got {per}")
    return [[[i, s, min(s + size, n)]] for i, n in enumerate(counts) for s in range(0, n, size)]


def emulate_ranges(engine, pre, source, ranges, chunk: int = 65536, threads: bool = True) -> ScoreCounts:
    """Score counts of the given entry ranges of `source` (the single-process path uses all of them)."""
    from l1ml.emulate.nn_project import emulate_source

    def chunks():
        for i, start, stop in ranges:
            yield from source.iter_file(i, chunk, start, stop)

    n = sum(stop - start for _, start, stop in ranges)
    _, counts = emulate_source(engine, pre, source, None, n=n, chunks=chunks(), threads=threads)
    return counts


def write_job(project, version: str | None, source, ranges, dest: Path) -> Path:
    """A job directory for `ranges` of `source` with the model version's firmware; returns it."""
    from l1ml.project import read_json

    model_dir = project.model_dir(version)
    fw_dir = project.firmware_dir(model_dir.name)
    man = read_json(model_dir / "manifest.json")
    if man.get("kind") == "hgq2_ae":  # its engine is the C simulation, compiled into this machine's cache
        raise L1mlError(
            "split rate jobs do not run HGQ2 firmware yet; run `l1ml rate` without --jobs (docs/hgq2.md)"
        )
    dest.mkdir(parents=True)
    shutil.copy2(model_dir / man.get("preprocessing_file", "preprocessing.json"), dest / "preprocessing.json")
    man = {**man, "preprocessing_file": "preprocessing.json"}
    if man.get("kind") == "bdt":
        shutil.copy2(fw_dir / "conifer_model.json", dest / "conifer_model.json")
    else:
        if not (fw_dir / "hls4ml").is_dir():
            raise L1mlError(
                f"no hls4ml project in {fw_dir}; run `l1ml convert --model {model_dir.name}` first"
            )
        shutil.copytree(fw_dir / "hls4ml", dest / "hls4ml", ignore=_SKIP)
        shutil.copy2(model_dir / man["deploy_file"], dest / "deploy.h5")
        man["deploy_file"] = "deploy.h5"
    (dest / "manifest.json").write_text(json.dumps(man, indent=1))
    job = {
        "project": project.name,
        "model_version": model_dir.name,
        "files": [str(Path(f).resolve()) for f in source.files],
        "format": source.format,
        "key": source.key,
        "inputs": {k: v for k, v in (project.data.inputs or {}).items()},
        "ranges": ranges,
    }
    (dest / JOB_FILE).write_text(json.dumps(job, indent=1))
    return dest


def run_job(job_file: Path) -> ScoreCounts:
    """What a queue job runs: emulate its ranges, write counts.json beside the job file."""
    from l1ml.data.l1ntuple import NtupleMap
    from l1ml.data.stream import Source
    from l1ml.emulate.nn_project import load_engine

    job_file = Path(job_file)
    d = job_file.parent
    try:
        job = json.loads(job_file.read_text())
        files, fmt, ranges = job["files"], job["format"], job["ranges"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise L1mlError(f"{job_file}: not an emulation job description ({exc})") from None
    engine, pre, _, _ = load_engine(None, directory=d)  # write_job put preprocessing_file in the manifest
    mapping = NtupleMap.from_inputs(job.get("inputs"), f"{job_file} inputs") if fmt == "l1ntuple" else None
    source = Source([Path(f) for f in files], fmt, job.get("key", "Particles"), mapping)
    counts = emulate_ranges(engine, pre, source, ranges)
    counts.save(d / COUNTS_FILE)
    return counts


def plan_emulate(step: str, src: Path, tools: dict | None = None) -> Plan:
    """The queue's plan for an emulate job: this Python running this module on the job's description."""
    if not (src / JOB_FILE).is_file():
        raise L1mlError(f"no {JOB_FILE} in the job's files; submit emulate jobs with `l1ml rate --jobs`")
    return Plan("emulate", [{"argv": [sys.executable, "-m", "l1ml.rates.split", JOB_FILE], "cwd": "."}])


def submit(
    client, project, version, source, per, memory: str = "2G", timeout: str | None = None
) -> list[dict]:
    """One queue job per file or chunk; returns the submitted jobs as the client describes them."""
    from l1ml.synth import archive
    from l1ml.synth.job import parse_duration, parse_memory
    from l1ml.synth.params import SubmitParams

    ranges = plan_ranges(source.counts(), per)
    version = project.model_dir(version).name
    out = []
    with tempfile.TemporaryDirectory(prefix="l1ml-split-") as tmp:
        for k, job_ranges in enumerate(ranges):
            d = write_job(project, version, source, job_ranges, Path(tmp) / f"job{k}")
            arc = Path(tmp) / f"job{k}.tar.gz"
            archive.pack(d, arc)
            out.append(
                client.submit(
                    arc,
                    SubmitParams(
                        step="emulate",
                        memory=parse_memory(memory),
                        timeout=parse_duration(timeout or project.synth.timeout),
                        project=project.name,
                        model=version,
                        board=project.firmware.board,
                    ),
                )
            )
    return out


STEP = Step(
    "emulate",
    lambda step, src: step == "emulate",
    plan_emulate,
    artifacts={"emulate": ("**/" + COUNTS_FILE,)},
)


def collect(client, job_ids: list[int], out_dir: Path) -> ScoreCounts:
    """Fetch each finished job's counts.json and merge them; a job that did not succeed is an error."""
    total = ScoreCounts()
    for jid in job_ids:
        info = client.get(jid)
        if info.get("state") != "succeeded":
            raise L1mlError(
                f"emulation job {jid} ended {info.get('state')}: {info.get('reason') or 'see l1ml synth logs'}"
            )
        got = client.fetch(jid, out_dir / str(jid))
        hits = sorted(Path(got).rglob(COUNTS_FILE))
        if not hits:
            raise DataError(f"emulation job {jid}: its results hold no {COUNTS_FILE}")
        total = total.merge(ScoreCounts.load(hits[0]))
    return total


if __name__ == "__main__":  # the queue step's command
    from l1ml.errors import L1mlError as _E

    try:
        c = run_job(Path(sys.argv[1]))
    except _E as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"emulated {c.events} events; counts in {COUNTS_FILE}")

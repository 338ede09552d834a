"""Packing a finished run's results, in a child process of the worker:

    python -m l1ml.synth.pack SPEC.json

Whatever the job left (a symlink loop, a tree 1,100 levels deep, a 3 GiB sparse file) is read here, not in
the worker's main loop: a crash or a stall costs this one job its results, never the worker, and the worker
kills the packer at ``pack_timeout``. The packer drops links that leave the run's tree, summarises the
reports, asks the step's ``explain`` hook, and writes ``result.tar.gz`` through a temporary name of its own
attempt (two attempts never share one). Files over ``max_result_file`` bytes are left out, and named in the
summary. Its verdict (the outcome, possibly explained, and the job directory's size) goes to
``attempt<N>.packed.json`` beside the run's directory.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

from l1ml.synth import tree


def drop_escaping_links(src: Path) -> int:
    """Delete every symlink under src whose target leaves src (the job may have made any link it liked,
    loops included); returns how many. Bounded and iterative (l1ml.synth.tree)."""
    real = os.path.realpath(src)
    dropped = 0
    for path, st in tree.entries(src):
        if stat.S_ISLNK(st.st_mode) and not tree.inside(path, real):
            try:
                os.unlink(path)
                dropped += 1
            except OSError:
                pass
    return dropped


def _matches(rel: str, pattern: str) -> bool:
    """pathlib-style glob: '**/' matches any number of directories, also none."""
    if pattern.startswith("**/"):
        rest = pattern[3:]
        parts = rel.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), rest) for i in range(len(parts)))
    return fnmatch.fnmatchcase(rel, pattern)


def artifacts_in(src: Path, patterns: tuple[str, ...]) -> list[tuple[str, int]]:
    """(relative path, size) of the regular files under src that match a pattern; no link followed."""
    out = []
    base = os.fspath(src)
    for path, st in tree.entries(src):
        if stat.S_ISREG(st.st_mode):
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            if any(_matches(rel, p) for p in patterns):
                out.append((rel, st.st_size))
    return sorted(out)


def write_result(
    jdir: Path, src: Path, log: Path, summary: dict, patterns, attempt: int, max_file: int
) -> None:
    """summary.json, the log, the reports and the artifacts, in one tar.gz written atomically."""
    left_out = []
    files = []
    for rel, size in artifacts_in(src, tuple(patterns)) if src.is_dir() else []:
        (left_out if size > max_file else files).append(rel)
    if left_out:
        summary["left_out"] = {"over_bytes": max_file, "files": left_out[:100]}
    (jdir / "summary.json").write_text(json.dumps(summary, indent=2))
    tmp = jdir / f"result.tar.gz.attempt{attempt}.{os.getpid()}.tmp"  # never shared between attempts
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
        tar.add(jdir / "summary.json", "summary.json")
        if log.is_file() and not log.is_symlink():
            with open(log, "rb") as fh:  # a job that floods its log gets its last max_file bytes packed
                info = tar.gettarinfo(fileobj=fh, arcname="job.log")
                if info.size > max_file > 0:
                    fh.seek(info.size - max_file)
                    info.size = max_file
                tar.addfile(info, fh)
        for rel in files:
            p = src / rel
            try:  # opened without following a link the job may have swapped in since the walk
                f = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            with os.fdopen(f, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode) or st.st_size > max_file:
                    continue
                info = tar.gettarinfo(fileobj=fh, arcname="files/" + rel)
                tar.addfile(info, fh)
    os.replace(tmp, jdir / "result.tar.gz")
    for left in jdir.glob("result.tar.gz.attempt*.tmp"):  # of packers killed with an earlier worker
        pid = left.name.split(".")[-2]
        if pid.isdigit() and not _alive(int(pid)):
            left.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pack(spec: dict) -> dict:
    from l1ml.errors import L1mlError
    from l1ml.firmware.vendor_reports import board_resources
    from l1ml.plan import artifacts, provider, summarize
    from l1ml.synth.dispatch import Outcome
    from l1ml.synth.job import Job

    job = Job.from_dict(spec["job"])
    out = Outcome(**spec["outcome"])
    src, jdir = Path(spec["src"]), Path(spec["jdir"])
    if src.is_dir():
        drop_escaping_links(src)  # before anything reads a file the job left
    try:
        step = provider(job.step, src)
    except (L1mlError, OSError):  # the run left a tree no provider reads: no hook to ask
        step = None
    if step is not None and step.explain:  # e.g. a board's mismatch names its event and output
        try:
            out = step.explain(src, job, out)
        except Exception:  # noqa: BLE001 - the hook reads the job's files; the outcome stands without it
            pass
    try:
        summary = summarize(src, job.step, board_resources(job.board))
    except Exception as exc:  # noqa: BLE001 - a report we cannot read must not lose the job's outcome
        summary = {"step": job.step, "error": f"could not parse the reports: {exc}"}
    summary.update(
        state=out.state,
        exit_code=out.exit_code,
        reason=out.reason,
        peak_memory=out.peak_memory,
        commands=job.commands,
        limits=spec.get("limits", {}),
    )
    verdict = {"outcome": [out.state, out.exit_code, out.reason, out.peak_memory]}
    try:
        write_result(
            jdir, src, Path(spec["log"]), summary, artifacts(job.step), job.attempts, int(spec["max_file"])
        )
    except OSError as exc:  # e.g. a full disk: the outcome is still recorded
        verdict["error"] = f"could not write its results: {exc}"
    verdict["disk"] = tree.size(jdir)
    return verdict


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    verdict = pack(spec)
    dest = Path(spec["verdict"])
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(verdict))
    os.replace(tmp, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())

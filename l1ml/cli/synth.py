"""`l1ml synth ...`: submit firmware projects to the synthesis queue, watch them, fetch their results, and
run the queue's server and workers. The library is l1ml.synth; this file parses options and renders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from l1ml.cli._common import MODEL_OPT, PROJECT_OPT, console, load
from l1ml.plan import steps_help

app = typer.Typer(help="Queue synthesis and simulation jobs on a build host.", no_args_is_help=True)
token_app = typer.Typer(help="Per-user API tokens for `l1ml synth serve`.", no_args_is_help=True)
app.add_typer(token_app, name="token")

SERVER_OPT = typer.Option(
    None, "--server", help="Queue server URL; default: config file, else the local queue."
)
TOKEN_OPT = typer.Option(None, "--token", help="API token for --server (or L1ML_SYNTH_TOKEN, or config).")
JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts and CI.")
SHOWN = (
    "id",
    "user",
    "step",
    "state",
    "where",
    "memory",
    "peak_memory",
    "priority",
    "submitted_at",
    "started_at",
    "ended_at",
    "exit_code",
    "reason",
    "attempts",
    "project",
    "model",
    "board",
    "worker",
    "commands",
    "device",
)


def _client(server, token):
    from l1ml.synth.client import make_client
    from l1ml.synth.settings import load_settings

    return make_client(load_settings(server=server, token=token))


def _public(job: dict) -> dict:
    return {k: job.get(k) for k in SHOWN}


def _time(t) -> str:
    if t is None:
        return "-"
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _table(jobs: list[dict]):
    from rich.table import Table

    from l1ml.synth.job import format_memory

    colours = {
        "succeeded": "green",
        "failed": "red",
        "oom": "red",
        "timeout": "red",
        "cancelled": "yellow",
        "running": "cyan",
    }
    t = Table(
        "id", "user", "step", "state", "where", "memory", "peak", "prio", "started", "ended", "exit", "reason"
    )
    for j in jobs:
        st = j["state"]
        t.add_row(
            str(j["id"]),
            j["user"],
            j["step"],
            f"[{colours.get(st, 'white')}]{st}[/]",
            j.get("where") or "",
            format_memory(j["memory"]),
            format_memory(j["peak_memory"]),
            str(j["priority"]),
            "-" if st == "queued" else _time(j["started_at"]),  # handed to a batch system, not started
            _time(j["ended_at"]),
            "-" if j["exit_code"] is None else str(j["exit_code"]),
            j["reason"] or "",
        )
    return t


@app.command()
def submit(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    step: str = typer.Option(..., "--step", "-s", help=steps_help()),
    memory: str = typer.Option(None, "--memory", help="Declared memory, e.g. 32G; default from the project."),
    timeout: str = typer.Option(None, "--timeout", help="e.g. 6h; default from the project."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first (users: -10..10)."),
    server: str = SERVER_OPT,
    token: str = TOKEN_OPT,
    as_json: bool = JSON_OPT,
    force: bool = typer.Option(
        False, "--force", help="Submit a vendor step even though the firmware's last validation failed."
    ),
    board: str = typer.Option(
        None, "--board", help="Board name (default: the project's); hwtest waits for a worker with one free."
    ),
    bitstream: Path = typer.Option(None, "--bitstream", help="hwtest: the bitstream (*.bit) to program."),
    from_job: int = typer.Option(
        None, "--from-job", help="hwtest: program the bitstream of this vsynth job."
    ),
) -> None:
    """Package the project's generated firmware and queue one step of it; prints the job id."""
    import os
    import shutil
    from dataclasses import replace

    from l1ml.plan import check_step
    from l1ml.synth.client import package
    from l1ml.synth.job import format_memory
    from l1ml.synth.params import check_memory
    from l1ml.validate.gate import refuse_failed_validation

    check_step(step)
    if memory is not None:
        check_memory(memory)
    proj = load(project)
    if not force:
        refuse_failed_validation(proj, model, step)
    client = _client(server, token)
    staged = _hwtest_bitstream(client, step, bitstream, from_job)
    try:
        extra = {"hwtest/bitstream": staged} if staged else None
        archive, params = package(
            proj, model, step, memory, timeout, check_tools=client.local, extra=extra, board=board
        )
    finally:
        if staged:
            shutil.rmtree(staged, ignore_errors=True)
    try:
        job = client.submit(archive, replace(params, priority=priority))
    finally:
        os.unlink(archive)
    if as_json:
        print(json.dumps(_public(job)))
    else:
        console().print(
            f"job [bold]{job['id']}[/]: {step} of {params.project} {params.model}, "
            f"{format_memory(job['memory'])}, queued"
        )


def _hwtest_bitstream(client, step: str, bitstream: Path | None, from_job: int | None) -> Path | None:
    """The staged bitstream directory a hwtest job carries (the caller deletes it); None for other steps."""
    import tempfile

    from l1ml.errors import L1mlError
    from l1ml.synth import hwtest
    from l1ml.synth.boards import BOARD_STEPS

    if step not in BOARD_STEPS:
        if bitstream or from_job:
            raise L1mlError("--bitstream and --from-job are for --step hwtest")
        return None
    if (bitstream is None) == (from_job is None):
        raise L1mlError("--step hwtest programs a bitstream: give --bitstream FILE or --from-job VSYNTH_JOB")
    if bitstream is not None:
        return hwtest.stage_bitstream(bitstream)
    with tempfile.TemporaryDirectory(prefix="l1ml-vsynth-") as d:
        return hwtest.stage_bitstream(hwtest.bitstream_from_job(client, from_job, Path(d)))


@app.command()
def status(
    job_id: int = typer.Argument(..., metavar="JOB"),
    server: str = SERVER_OPT,
    token: str = TOKEN_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """One job's state, memory, times, exit code and reason."""
    job = _client(server, token).get(job_id)
    if as_json:
        print(json.dumps(_public(job)))
        return
    c = console()
    c.print(_table([job]))
    for cmd in job.get("commands") or []:
        import shlex

        c.print(f"  [dim]({cmd['cwd']})[/] {shlex.join(cmd['argv'])}", soft_wrap=True)


@app.command("list")
def list_jobs(
    all_users: bool = typer.Option(False, "--all", help="Every user's jobs (admin tokens)."),
    server: str = SERVER_OPT,
    token: str = TOKEN_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Your jobs, newest first."""
    jobs = _client(server, token).list(all_users)
    if as_json:
        print(json.dumps([_public(j) for j in jobs]))
    else:
        console().print(_table(jobs))


@app.command()
def logs(
    job_id: int = typer.Argument(..., metavar="JOB"),
    follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
    server: str = SERVER_OPT,
    token: str = TOKEN_OPT,
) -> None:
    """The job's log: the recorded commands and their output."""
    from l1ml.synth.client import follow

    client = _client(server, token)

    def write(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

    if follow_:
        follow(client, job_id, write)
    else:
        write(client.log(job_id, 0)[0])


@app.command()
def cancel(
    job_id: int = typer.Argument(..., metavar="JOB"), server: str = SERVER_OPT, token: str = TOKEN_OPT
) -> None:
    """Cancel a job: at once if queued; a running one has its whole process family killed."""
    job = _client(server, token).cancel(job_id)
    msg = {"cancelled": "cancelled", "running": "cancel requested; its worker stops it"}.get(
        job["state"], f"already {job['state']}"
    )
    console().print(f"job {job_id}: {msg}")


@app.command()
def fetch(
    job_id: int = typer.Argument(..., metavar="JOB"),
    out: Path = typer.Option(..., "--out", "-o", help="Directory; results go to OUT/job-JOB/."),
    server: str = SERVER_OPT,
    token: str = TOKEN_OPT,
) -> None:
    """Download a finished job's summary.json, log, reports and artifacts."""
    dest = _client(server, token).fetch(job_id, out)
    console().print(f"job {job_id}: results in {dest}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8765, "--port"),
    isolation: str = typer.Option(
        "", "--isolation", help="'none': serve several users although jobs would run without bubblewrap."
    ),
) -> None:
    """Serve the queue over HTTP (per-user tokens) and its status page at /; run `l1ml synth worker` beside it."""
    from l1ml.synth.server import isolation_mode
    from l1ml.synth.server import serve as run_server
    from l1ml.synth.settings import load_settings
    from l1ml.synth.store import Store

    settings = load_settings()
    mode = isolation_mode(settings, Store(settings.db, lease=settings.lease), isolation)
    console(stderr=True).print(f"serving {settings.db} on http://{host}:{port}; isolation: {mode}")
    run_server(settings, host, port, mode)


@app.command()
def worker(
    memory_budget: str = typer.Option(
        ..., "--memory-budget", help="Memory this worker may hand out, e.g. 64G."
    ),
    max_jobs: int = typer.Option(0, "--max-jobs", help="At most this many jobs at once (0: memory decides)."),
    poll: float = typer.Option(0.2, "--poll", help="Seconds between scheduling rounds."),
    lease: float = typer.Option(None, "--lease", help="Seconds a claim lives without heartbeat."),
    drain: bool = typer.Option(
        False, "--drain", help="Exit once no queued job fits and none runs (for CI and scripts)."
    ),
    board: list[str] = typer.Option(
        [], "--board", help="An attached board, NAME=DEVICE (e.g. vu9p=xilinx_tcf/Digilent/1234); repeatable."
    ),
) -> None:
    """Run queued jobs on this machine within a memory budget, until SIGTERM or Ctrl-C (or --drain)."""
    import logging

    from l1ml.synth.job import format_memory, parse_memory
    from l1ml.synth.settings import load_settings
    from l1ml.synth.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from l1ml.synth.boards import parse_boards

    boards = parse_boards(board)
    settings = load_settings(lease=lease)
    w = Worker(settings, parse_memory(memory_budget), max_jobs, poll, boards=boards, reap_strays=True)
    attached = "".join(f", board {n}={d}" for n, d in boards)
    console(stderr=True).print(
        f"worker {w.id}: budget {format_memory(w.budget)}{attached}, queue {settings.db}; {w.describe()}"
    )
    w.run(until=w.drained if drain else None)


@app.command()
def gc(
    upload_age: float = typer.Option(
        3600, "--upload-age", help="Also delete uploads older than this (s), even if locked."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Delete what retention allows: archives of finished jobs, results past keep_days (or fetched, with
    delete_fetched), uploads left by crashes. Workers also do this at start."""
    from l1ml.synth import gc as retention
    from l1ml.synth.settings import load_settings
    from l1ml.synth.store import Store

    settings = load_settings()
    store = Store(settings.db, lease=settings.lease, max_attempts=settings.max_attempts)
    freed = retention.collect(settings, store, upload_age=upload_age)
    if as_json:
        print(json.dumps(freed))
    else:
        console().print(
            f"purged {freed['purged_jobs']} job(s); deleted {freed['archives']} archive(s), "
            f"{freed['uploads']} stale upload(s), {freed['temp_files']} temp file(s); {freed['bytes']} bytes freed"
        )


@token_app.command("create")
def token_create(
    user: str = typer.Argument(...),
    admin: bool = typer.Option(False, "--admin", help="May see and cancel every user's jobs."),
) -> None:
    """Create a token for USER on this host's queue; it is shown once and stored hashed."""
    from l1ml.synth.settings import load_settings
    from l1ml.synth.store import Store

    tok = Store(load_settings().db).create_token(user, "admin" if admin else "user")
    print(tok)


@token_app.command("revoke")
def token_revoke(user: str = typer.Argument(...)) -> None:
    """Delete every token of USER."""
    from l1ml.synth.settings import load_settings
    from l1ml.synth.store import Store

    n = Store(load_settings().db).revoke_tokens(user)
    console().print(f"revoked {n} token(s) of {user}")


def _main() -> None:
    """`python -m l1ml.cli.synth`: the same app and error handling as `l1ml synth`, without loading the
    other command groups."""
    from l1ml.cli._common import run_app

    run_app(app, prog_name="l1ml synth")


if __name__ == "__main__":
    _main()

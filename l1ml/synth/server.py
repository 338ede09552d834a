"""The HTTP API over the queue (FastAPI). Every call carries `Authorization: Bearer <token>`; tokens are
stored hashed. A user sees and cancels only their own jobs; the admin role sees and cancels all."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response

from l1ml.errors import L1mlError
from l1ml.synth import archive, gc
from l1ml.synth.client import read_log
from l1ml.synth.job import Job
from l1ml.synth.params import USER_PRIORITY, BadParameter, SubmitParams, check_job_id, check_offset
from l1ml.synth.settings import Settings
from l1ml.synth.store import QuotaExceeded, Store
from l1ml.synth.worker import log_path, result_path

CHUNK_TIMEOUT = 30.0  # seconds an upload may pause between chunks


def create_app(settings: Settings, isolation: str = "") -> FastAPI:
    store = Store(settings.db, lease=settings.lease, max_attempts=settings.max_attempts)
    limits = archive.Limits(settings.max_members, settings.max_unpacked, settings.max_unpacked)
    gc.uploads(settings)  # what a crashed server (or client) left half-uploaded
    app = FastAPI(title="l1ml synthesis queue")

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 lists pydantic internals; one line naming the parameter is what a client needs.
        msgs = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()]
        return JSONResponse({"detail": "bad parameter " + "; ".join(msgs)[:500]}, status_code=400)

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def who(authorization: str | None = Header(None)) -> tuple[str, str]:
        scheme, _, token = (authorization or "").partition(" ")
        found = store.authenticate(token) if scheme.lower() == "bearer" and token else None
        if found is None:
            raise HTTPException(401, "missing or unknown token")
        return found

    def visible(job_id: int, caller: tuple[str, str]) -> Job:
        check_job_id(job_id)
        job = store.get(job_id)
        if job is None or (caller[1] != "admin" and job.user != caller[0]):
            raise HTTPException(404, f"no job {job_id} for user {caller[0]}")
        return job

    @app.get("/health")
    def health() -> dict:
        return {"ok": True, "isolation": isolation}

    from l1ml.synth import page

    page.add_routes(app, store, settings, isolation)

    @app.post("/jobs")
    async def submit(request: Request, caller=Depends(who)) -> dict:
        # Every parameter is checked before a byte of the upload is stored, and the job is committed last.
        params = SubmitParams.from_query(dict(request.query_params))
        if caller[1] != "admin" and not USER_PRIORITY[0] <= params.priority <= USER_PRIORITY[1]:
            raise HTTPException(400, f"priority must be between {USER_PRIORITY[0]} and {USER_PRIORITY[1]}")
        if params.key:  # a retry of a submission already made: the original job, without a second upload
            found = await run_in_threadpool(store.find_key, caller[0], params.key)
            if found is not None:
                return store.describe([found])[0]
        settings.archives.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp, lock = gc.staging(settings.archives)  # locked while in progress
        size = 0
        # The quota counts the upload as it arrives: a stalled or endless upload holds no more than the
        # user has left. Each chunk must come within CHUNK_TIMEOUT, the whole within upload_timeout.
        room = settings.max_user_bytes - await run_in_threadpool(store.usage, caller[0])
        started = time.monotonic()
        try:
            with os.fdopen(fd, "wb") as out:
                chunks = request.stream().__aiter__()
                while True:
                    left = settings.upload_timeout - (time.monotonic() - started)
                    if left <= 0:
                        raise HTTPException(408, f"upload took longer than {settings.upload_timeout:.0f}s")
                    try:
                        chunk = await asyncio.wait_for(chunks.__anext__(), min(CHUNK_TIMEOUT, left))
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise HTTPException(408, "upload stalled; send the archive without pauses") from None
                    size += len(chunk)
                    if size > settings.max_upload:
                        raise HTTPException(
                            413, f"archive is over the {settings.max_upload}-byte upload limit"
                        )
                    if size > room:
                        raise HTTPException(
                            413, f"upload is over {caller[0]}'s quota of {settings.max_user_bytes} bytes"
                        )
                    out.write(chunk)
            try:
                members = await run_in_threadpool(archive.check, Path(tmp), limits)
            except archive.TooLarge as exc:
                raise HTTPException(413, f"archive rejected: {exc}") from None
            except L1mlError as exc:
                raise HTTPException(400, f"archive rejected: {exc}") from None
            try:
                job = await run_in_threadpool(
                    lambda: store.submit(
                        caller[0],
                        params,
                        archive=Path(tmp),
                        archives_dir=settings.archives,
                        unpacked=archive.unpacked_size(members),
                        quota=settings.max_user_bytes,
                    )
                )
            except QuotaExceeded as exc:
                raise HTTPException(413, str(exc)) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
            os.close(lock)
        return store.describe([job])[0]

    @app.get("/jobs")
    def list_jobs(all: int = 0, caller=Depends(who)) -> list[dict]:
        user = None if (all and caller[1] == "admin") else caller[0]
        return store.describe(store.list(user))

    @app.get("/jobs/{job_id}")
    def get_job(job_id: int, caller=Depends(who)) -> dict:
        return store.describe([visible(job_id, caller)])[0]

    @app.post("/jobs/{job_id}/cancel")
    def cancel(job_id: int, caller=Depends(who)) -> dict:
        visible(job_id, caller)
        return store.request_cancel(job_id).to_dict()

    @app.get("/jobs/{job_id}/log")
    def log(job_id: int, offset: int = 0, caller=Depends(who)) -> Response:
        job = visible(job_id, caller)
        data, nxt, done = read_log(log_path(settings, job_id), check_offset(offset), job.finished)
        return Response(
            data,
            media_type="text/plain",
            headers={"X-Next-Offset": str(nxt), "X-Finished": "1" if done else "0"},
        )

    @app.get("/jobs/{job_id}/result")
    def result(job_id: int, caller=Depends(who)):
        job = visible(job_id, caller)
        path = result_path(settings, job_id)
        if not job.finished or not path.is_file():
            raise HTTPException(
                409, f"job {job_id} is {job.state}; its results are there once it has finished"
            )
        store.mark_fetched(job_id)
        return FileResponse(path, media_type="application/gzip", filename=f"job-{job_id}.tar.gz")

    return app


def isolation_mode(settings: Settings, store: Store, forced: str = "") -> str:
    """How jobs of this queue are isolated, for the server to state. A queue that several users share
    refuses to serve without bubblewrap unless the admin said `--isolation none`."""
    from l1ml.errors import ConfigError
    from l1ml.synth import sandbox

    iso = sandbox.probe(settings.sandbox)
    if iso.mode == "none" and forced != "none" and len(store.users()) > 1:
        raise ConfigError(
            f"this queue has {len(store.users())} users but its jobs would run unisolated ({iso.detail}); "
            "install bubblewrap, or start the server with --isolation none to accept that"
        )
    return f"{iso.mode} ({iso.detail})"


def serve(settings: Settings, host: str, port: int, mode: str) -> None:
    """Serve until stopped; `mode` is isolation_mode's answer, stated on /health and the status page."""
    import uvicorn

    from l1ml.synth import http_guard

    soft = http_guard.raise_fd_limit()
    limit = http_guard.connection_limit(settings.max_connections, soft)
    http_guard.quiet_logs()
    config = uvicorn.Config(
        create_app(settings, mode),
        host=host,
        port=port,
        log_level="warning",
        http=http_guard.guarded_protocol(limit, settings.header_timeout),
        timeout_keep_alive=5,
    )
    uvicorn.Server(config).run()

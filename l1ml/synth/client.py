"""Clients of the queue: LocalClient over the SQLite store, HttpClient over the server's API. Both have the
same methods and return plain dicts, so the CLI code does not care which one it has."""

from __future__ import annotations

import getpass
import math
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound
from l1ml.plan import check_step, provider
from l1ml.synth import archive, gc
from l1ml.synth.job import parse_duration, parse_memory
from l1ml.synth.params import SubmitParams, new_key
from l1ml.synth.settings import Settings

GiB = 1024**3
RETRY_STATUS = (502, 503, 504)  # a proxy in front of a restarting server


def derived_memory(step: str, firmware: Path) -> int:
    """A default for --memory from the size of the firmware sources (weights dominate): HLS tools need
    roughly 8 GB plus 2 GB per MB of source; compiling and simulating locally needs far less."""
    size_mb = sum(p.stat().st_size for p in firmware.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    if step in ("csim", "rtlsim", "hwtest"):  # hwtest: the hardware manager, not an HLS tool
        return int(min(16, 2 + math.ceil(size_mb)) * GiB)
    want = 8 + 2 * size_mb
    return int(min(128, 4 * math.ceil(want / 4)) * GiB)  # whole 4 GB steps


def package(
    project,
    model: str | None,
    step: str,
    memory: str | None,
    timeout: str | None,
    check_tools: bool,
    extra: dict[str, Path] | None = None,
    board: str | None = None,
) -> tuple[Path, SubmitParams]:
    """Pack the firmware of a project's model version for a step; returns (archive, its parameters).
    `extra`: more directories to pack (archive prefix -> directory), e.g. hwtest's bitstream; `board`:
    the board the job asks for, if not the project's."""
    check_step(step)
    fw = project.firmware_dir(model)
    if not fw.is_dir():
        raise L1mlError(f"no firmware at {fw}; run `l1ml convert --project {project.path}` first")
    step_of = provider(step, fw)
    try:
        if step_of.check:  # e.g. planned on the worker that holds the board; what it can be is checked here
            step_of.check(step, fw)
        else:
            step_of.plan(step, fw, None)  # the project must have what the step needs
    except ToolNotFound:
        if check_tools:
            raise
    mem = parse_memory(memory or project.synth.memory or derived_memory(step, fw))
    params = SubmitParams(  # checked before anything is packed
        step=step,
        memory=mem,
        timeout=parse_duration(timeout or project.synth.timeout),
        project=project.name,
        model=_model_label(fw),
        board=board or project.firmware.board,
    )
    fd, tmp = tempfile.mkstemp(prefix="l1ml-submit-", suffix=".tar.gz")
    os.close(fd)
    carried = step_of.pack(step, fw) if step_of.pack else {}  # e.g. headers a conifer csim needs
    archive.pack(fw, Path(tmp), {**carried, **(extra or {})})
    return Path(tmp), params


def _model_label(fw: Path) -> str:
    """The job's model label: the version, and the firmware variant where there is one (vN+<id>)."""
    from l1ml.layout import variant_of

    v = variant_of(fw)
    return f"{fw.parent.name}+{v}" if v else fw.name


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        return f"uid{os.getuid()}"


def _limits(settings: Settings) -> archive.Limits:
    return archive.Limits(settings.max_members, settings.max_unpacked, settings.max_unpacked)


class LocalClient:
    """The embedded queue: this user's SQLite store; `l1ml synth worker` runs it on this machine."""

    local = True

    def __init__(self, settings: Settings, user: str | None = None):
        from l1ml.synth.store import Store

        self.settings = settings
        self.store = Store(settings.db, lease=settings.lease, max_attempts=settings.max_attempts)
        self.user = user or _login()

    def submit(self, archive_path: Path, params: SubmitParams) -> dict:
        params.check_priority_for("user")  # the local queue has no admins: -10..10 for everyone
        members = archive.check(archive_path, _limits(self.settings))
        self.settings.archives.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Copy next to the store first, so the move inside the submit transaction is a rename.
        fd, staged, lock = gc.staging(self.settings.archives)
        try:
            with os.fdopen(fd, "wb") as out, open(archive_path, "rb") as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            job = self.store.submit(
                self.user,
                params,
                archive=Path(staged),
                archives_dir=self.settings.archives,
                unpacked=archive.unpacked_size(members),
                quota=self.settings.max_user_bytes,
            )
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
            os.close(lock)
        return self.store.describe([job])[0]

    def _job(self, job_id: int):
        job = self.store.get(job_id)
        if job is None or job.user != self.user:
            raise L1mlError(f"no job {job_id} for user {self.user}")
        return job

    def get(self, job_id: int) -> dict:
        return self.store.describe([self._job(job_id)])[0]

    def list(self, all_users: bool = False) -> list[dict]:
        return self.store.describe(self.store.list(None if all_users else self.user))

    def cancel(self, job_id: int) -> dict:
        self._job(job_id)
        return self.store.request_cancel(job_id).to_dict()

    def log(self, job_id: int, offset: int = 0) -> tuple[bytes, int, bool]:
        from l1ml.synth.worker import log_path

        job = self._job(job_id)
        return read_log(log_path(self.settings, job_id), offset, job.finished)

    def fetch(self, job_id: int, out: Path) -> Path:
        from l1ml.synth.worker import result_path

        job = self._job(job_id)
        path = result_path(self.settings, job_id)
        if not job.finished or not path.is_file():
            raise L1mlError(f"job {job_id} is {job.state}; its results are there once it has finished")
        dest = unpack_result(path, out, job_id)
        self.store.mark_fetched(job_id)
        return dest


def read_log(path: Path, offset: int, finished: bool, limit: int = 1 << 20) -> tuple[bytes, int, bool]:
    if not path.is_file():
        return b"", offset, finished
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(limit)
    return data, offset + len(data), finished and len(data) < limit


def unpack_result(path: Path, out: Path, job_id: int) -> Path:
    dest = out / f"job-{job_id}"
    if dest.exists() and any(dest.iterdir()):
        raise L1mlError(f"{dest} already exists and is not empty")
    archive.extract(path, dest)
    return dest


class HttpClient:
    """The build host's HTTP API, with this user's token."""

    local = False

    def __init__(self, url: str, token: str, timeout: float = 60.0, retry_for: float = 120.0):
        import httpx

        if not token:
            raise L1mlError(
                f"no token for {url}; ask the build host's admin for one (`l1ml synth token create "
                f"USER`) and pass --token or set L1ML_SYNTH_TOKEN"
            )
        self.url = url.rstrip("/")
        self.retry_for = retry_for  # seconds a submission keeps retrying an unreachable server
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def _call(self, method: str, path: str, **kw):
        import httpx

        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise L1mlError(f"cannot reach the synthesis server at {self.url}: {exc}") from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise L1mlError(f"server said {r.status_code}: {detail}")
        return r

    def submit(self, archive_path: Path, params: SubmitParams) -> dict:
        """`params` without a key get one here, kept across the retries below."""
        if not params.key:
            params = replace(params, key=new_key())
        return self._retrying(
            lambda: self._post_archive(archive_path, params.to_dict()), f"submitting {archive_path.name}"
        )

    def _post_archive(self, archive_path: Path, params: dict):
        import httpx

        with open(archive_path, "rb") as f:
            r = self.http.request(
                "POST", "/jobs", params=params, content=f, headers={"Content-Type": "application/gzip"}
            )
        if r.status_code in RETRY_STATUS:
            raise httpx.TransportError(f"server answered {r.status_code}")
        return r

    def _retrying(self, call, what: str) -> dict:
        """Repeat `call` while the server is unreachable or restarting. Safe for a submission because its
        key stays the same across the tries: the server answers a repeat with the job made the first time."""
        import httpx

        delay, deadline = 0.2, time.time() + self.retry_for
        while True:
            try:
                r = call()
                break
            except httpx.HTTPError as exc:
                if time.time() + delay > deadline:
                    raise L1mlError(
                        f"cannot reach the synthesis server at {self.url} ({what}): {exc}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise L1mlError(f"server said {r.status_code}: {detail}")
        return r.json()

    def get(self, job_id: int) -> dict:
        return self._call("GET", f"/jobs/{job_id}").json()

    def list(self, all_users: bool = False) -> list[dict]:
        return self._call("GET", "/jobs", params={"all": int(all_users)}).json()

    def cancel(self, job_id: int) -> dict:
        return self._call("POST", f"/jobs/{job_id}/cancel").json()

    def log(self, job_id: int, offset: int = 0) -> tuple[bytes, int, bool]:
        r = self._call("GET", f"/jobs/{job_id}/log", params={"offset": offset})
        return r.content, int(r.headers["X-Next-Offset"]), r.headers["X-Finished"] == "1"

    def fetch(self, job_id: int, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, suffix=".tar.gz")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self._call("GET", f"/jobs/{job_id}/result").content)
            return unpack_result(Path(tmp), out, job_id)
        finally:
            os.unlink(tmp)


def make_client(settings: Settings):
    if settings.server:
        return HttpClient(settings.server, settings.token)
    return LocalClient(settings)


def follow(client, job_id: int, write, poll: float = 0.5) -> None:
    """Write the log as it grows, until the job has finished and the log is read to its end."""
    offset = 0
    while True:
        data, offset, done = client.log(job_id, offset)
        if data:
            write(data)
        if done:
            return
        if not data:
            time.sleep(poll)

"""Property-based fuzzing (Hypothesis) of the HTTP API and the archive checker: no 500, no traceback,
nothing written outside the job's place. A short run in CI; the long one is marked extended."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import urllib.parse
from pathlib import Path

import httpx
import pytest
from hardening_helpers import synth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1ml.errors import L1mlError
from l1ml.synth.archive import extract

# --- archives ---------------------------------------------------------------------------------------------

_SEG = st.sampled_from(["a", "b", "..", ".", "", "d"])
_PATH = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "/"]),
    st.lists(_SEG, min_size=1, max_size=4),
)
_MEMBER = st.tuples(_PATH, st.sampled_from(["file", "dir", "sym", "sym", "link", "fifo"]), _PATH)


def _build(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, kind, target in members:
            info = tarfile.TarInfo(name or ".")
            if kind == "file":
                info.size = 3
                tar.addfile(info, io.BytesIO(b"abc"))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE}.get(
                kind, tarfile.FIFOTYPE
            )
            info.linkname = target if kind in ("sym", "link") else ""
            tar.addfile(info)
    return buf.getvalue()


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def _archive_property(members) -> None:
    with tempfile.TemporaryDirectory() as box:
        box = Path(box).resolve()
        arc, dest = box / "a.tar.gz", box / "tree" / "dest"
        arc.write_bytes(_build(members))
        try:
            extract(arc, dest)
        except L1mlError:
            pass  # refused with a message; anything else is a failure of the property
        assert sorted(p.name for p in box.iterdir()) in (["a.tar.gz"], ["a.tar.gz", "tree"])
        assert not (box / "tree").exists() or [p.name for p in (box / "tree").iterdir()] == ["dest"]
        for p in dest.rglob("*") if dest.exists() else ():
            assert _inside(p, dest), f"{p} resolves to {os.path.realpath(p)}, outside the tree"


def _fuzz_archives(n: int) -> None:
    @settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_MEMBER, min_size=1, max_size=6))
    def prop(members):
        _archive_property(members)

    prop()


def test_fuzz_archive_checker():
    _fuzz_archives(150)


@pytest.mark.extended
def test_fuzz_archive_checker_long():
    _fuzz_archives(5000)


# --- HTTP API ---------------------------------------------------------------------------------------------

_VALUE = st.one_of(
    st.text(max_size=40),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e30", "0", "-1", "csim", "vu9p", "/abs/path", "\x00", "1.5"]),
)
_KEYS = st.sampled_from(
    ["step", "memory", "timeout", "priority", "project", "model", "board", "key", "offset", "all", "x"]
)
_ID = st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(min_size=1, max_size=12))
_REQUEST = st.tuples(
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["/jobs", "/jobs/{}", "/jobs/{}/log", "/jobs/{}/cancel", "/jobs/{}/result", "/health"]),
    _ID,
    st.dictionaries(_KEYS, _VALUE, max_size=6),
    st.one_of(st.binary(max_size=200), st.just(b"tar")),
)


def _fuzz_http(url: str, token: str, n: int, archive: bytes) -> None:
    h = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_REQUEST)
    def prop(req):
        method, template, job_id, params, body = req
        path = template.format(urllib.parse.quote(job_id, safe=""))
        try:
            r = httpx.request(method, url + path, params=params, content=archive if body == b"tar" else body, headers=h, timeout=30)  # fmt: skip
        except httpx.InvalidURL:
            return  # the client would not send it
        assert r.status_code < 500, (method, path, params, r.status_code, r.text[:300])
        assert "Traceback" not in r.text

    prop()


def _check_home(home: Path) -> None:
    s = synth.settings()
    assert not list(s.archives.glob("*.upload"))  # no upload left behind
    for p in home.rglob("*"):  # nothing but the store, the archives of accepted jobs, and the work area
        rel = p.relative_to(home).as_posix()
        assert rel.startswith(("queue.db", "archives", "work")), rel
        if rel.startswith("archives/"):
            assert p.name[: -len(".tar.gz")].isdigit(), rel


def _http_run(home, tmp_path, procs, n: int) -> None:
    from test_params import tiny_archive

    tok = synth.cli("token", "create", "fuzzer").stdout.strip()
    url = procs.server(synth.free_port())
    _fuzz_http(url, tok, n, tiny_archive())
    _check_home(home)


def test_fuzz_http_api(home, tmp_path, procs):
    _http_run(home, tmp_path, procs, 25)


@pytest.mark.extended
def test_fuzz_http_api_long(home, tmp_path, procs):
    _http_run(home, tmp_path, procs, 3000)

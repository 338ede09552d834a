"""Disk is bounded: an archive that unpacks past its limit is a 413, a user past their quota a 413, a
malformed one a 400; finished jobs' archives, old results and crashed uploads are deleted by
`l1ml synth gc` and at worker start; symlink chains are resolved within the tree or refused."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from hardening_helpers import synth
from test_params import GOOD, tiny_archive

from l1ml.synth import gc
from l1ml.synth.archive import UnsafeArchive, check, extract


def test_unpacked_size_and_user_quota_are_413(home, tmp_path, procs):
    (tmp_path / "synth.toml").write_text("max_unpacked = 1048576\nmax_user_bytes = 3000000\n")
    tok = synth.cli("token", "create", "dana").stdout.strip()
    url = procs.server(synth.free_port())
    h = {"Authorization": f"Bearer {tok}"}
    bomb = tiny_archive(8 * 1024**2)  # 8 MiB of zeros in a few KB
    assert len(bomb) < 100_000
    r = httpx.post(url + "/jobs", params=GOOD, content=bomb, headers=h, timeout=30)
    assert r.status_code == 413 and "over 1048576" in r.json()["detail"]
    r = httpx.post(url + "/jobs", params=GOOD, content=b"not a tar", headers=h, timeout=30)
    assert r.status_code == 400 and "not a readable tar" in r.json()["detail"]
    ids = []
    for _ in range(3):  # 0.9 MB each against a 3 MB quota: three fit, a fourth does not
        r = httpx.post(url + "/jobs", params=GOOD, content=tiny_archive(900_000), headers=h, timeout=30)
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    r = httpx.post(url + "/jobs", params=GOOD, content=tiny_archive(900_000), headers=h, timeout=30)
    assert r.status_code == 413 and "quota" in r.json()["detail"]
    other = synth.cli("token", "create", "erin").stdout.strip()  # the quota is per user
    r = httpx.post(url + "/jobs", params=GOOD, content=tiny_archive(900_000), headers={"Authorization": f"Bearer {other}"}, timeout=30)  # fmt: skip
    assert r.status_code == 200
    httpx.post(url + f"/jobs/{ids[0]}/cancel", headers=h, timeout=30)  # a cancelled job frees its share
    r = httpx.post(url + "/jobs", params=GOOD, content=tiny_archive(900_000), headers=h, timeout=30)
    assert r.status_code == 200, r.text


def test_gc_deletes_what_retention_allows(home, tmp_path, procs):
    s = synth.settings()
    j = synth.submit_local(synth.make_project(tmp_path))["id"]
    procs.worker("1G")
    assert synth.wait_state(j).state == "succeeded"
    procs.stop()
    (tmp_path / "synth.toml").write_text("keep_days = 0.00001\n")  # about a second
    stale = s.archives / "crash1.upload"  # what a killed server leaves: nobody holds its lock
    stale.write_bytes(b"x" * 1000)
    fd, fresh, lock = gc.staging(s.archives)  # an upload in progress, as the server stages one
    os.close(fd)
    fresh = Path(fresh)
    (s.work / str(j) / "result.tar.gz.tmp").write_bytes(b"half")
    time.sleep(1.5)
    freed = json.loads(synth.cli("gc", "--json").stdout)
    assert freed["purged_jobs"] == 1 and freed["uploads"] == 1 and freed["archives"] == 1
    assert not (s.work / str(j)).exists() and not stale.exists() and fresh.exists()
    assert not (s.archives / f"{j}.tar.gz").exists()
    assert synth.job(j).state == "succeeded"  # the record stays
    r = synth.cli("fetch", str(j), "--out", str(tmp_path / "o"), check=False)
    assert r.returncode == 2 and "results are there once" in r.stderr + r.stdout  # one line, no traceback
    # Once its process lets go (a crash releases the lock), a worker cleans it at start.
    os.close(lock)
    synth.cli("worker", "--memory-budget", "1G", "--drain")
    assert not fresh.exists()


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, arg
                tar.addfile(info)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(arg)
                tar.addfile(info, io.BytesIO(arg))
    return path


@pytest.mark.parametrize(
    "members",
    [
        [("a", "sym", "."), ("root", "sym", "a/../..")],  # the chain from the adversarial run
        [("a", "sym", "."), ("up", "sym", "a/..")],  # lexically "." but really the parent of the tree
        [("d/", "dir", None), ("d/x", "sym", "../y"), ("y", "sym", "d/x/..")],  # a loop through two links
        [("l", "sym", "l")],
        [("a", "sym", "")],  # found by the long Hypothesis run: os.symlink('') raised past the checker
        [("b/a", "file", b"x"), ("b", "sym", "a")],  # these two as well: a name both a directory and a link
        [("a/a", "file", b"x"), ("a", "file", b"x")],  # ... or a file
        [("d/", "dir", None), ("d/deep", "sym", "."), ("out", "sym", "d/deep/deep/../../..")],
    ],
)
def test_symlink_chains_that_leave_the_tree_are_refused(tmp_path, members):
    arc = _tar(tmp_path / "a.tar.gz", members)
    with pytest.raises(UnsafeArchive):
        check(arc)
    assert not (tmp_path / "out").exists()


def test_symlink_chains_inside_the_tree_pass_and_extract(tmp_path):
    arc = _tar(
        tmp_path / "a.tar.gz",
        [
            ("d/", "dir", None),
            ("d/f", "file", b"hi"),
            ("a", "sym", "d"),
            ("b", "sym", "a/f"),
            ("c", "sym", "a/../d"),
        ],
    )
    extract(arc, tmp_path / "out")
    assert (tmp_path / "out" / "b").read_text() == "hi" and (tmp_path / "out" / "c" / "f").read_text() == "hi"

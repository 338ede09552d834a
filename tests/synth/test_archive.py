"""Uploaded archives: every malicious member is refused before anything is written."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from l1ml.synth.archive import Limits, UnsafeArchive, check, extract, pack


def _tar(path: Path, members: list[tuple]) -> Path:
    """members: (name, type, payload) with type 'file', 'dir', 'sym', 'hard', 'chr', 'fifo'."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


BAD = {
    "absolute": [("/etc/evil", "file", "x")],
    "dotdot": [("a/../../evil", "file", "x")],
    "dotdot_plain": [("../evil", "file", "x")],
    "symlink_absolute": [("link", "sym", "/etc/passwd")],
    "symlink_escapes": [("a/link", "sym", "../../outside")],
    "hardlink": [("f", "file", "x"), ("h", "hard", "/etc/passwd")],
    "device": [("null", "chr", None)],
    "fifo": [("pipe", "fifo", None)],
    "duplicate": [("f", "file", "x"), ("f", "file", "y")],
    "backslash": [("a\\..\\..\\evil", "file", "x")],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malicious_archives_are_rejected_before_extraction(tmp_path, case):
    arc = _tar(tmp_path / "a.tar.gz", BAD[case])
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive):
        extract(arc, dest)
    assert not dest.exists() or not any(dest.iterdir())  # nothing written at all
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_symlink_chain_cannot_be_written_through(tmp_path):
    # Each link looks harmless on its own (sub/l -> .. is the root), but sub/l/x -> .. would point above
    # the root once sub/l is followed; and a file written through sub/l lands outside its directory.
    arc = _tar(
        tmp_path / "a.tar.gz", [("sub/", "dir", None), ("sub/l", "sym", ".."), ("sub/l/x", "sym", "..")]
    )
    # The check refuses it before anything is written: sub/l is a link and a parent, and sub/l/x leaves.
    with pytest.raises(UnsafeArchive, match="leads out of the tree|also a directory"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out" / "x").exists()


def test_member_size_and_count_limits(tmp_path):
    big = _tar(tmp_path / "big.tar.gz", [("f", "file", b"0" * 5000)])
    with pytest.raises(UnsafeArchive, match="bytes"):
        check(big, Limits(max_member_size=4096))
    many = _tar(tmp_path / "many.tar.gz", [(f"f{i}", "file", "x") for i in range(20)])
    with pytest.raises(UnsafeArchive, match="more than 10 members"):
        check(many, Limits(max_members=10))
    total = _tar(tmp_path / "total.tar.gz", [(f"f{i}", "file", b"0" * 1000) for i in range(5)])
    with pytest.raises(UnsafeArchive, match="unpacks to more than"):
        check(total, Limits(max_total=3000))


def test_not_a_tar_or_truncated(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"not a tar at all")
    with pytest.raises(UnsafeArchive, match="not a readable tar"):
        check(tmp_path / "x.tar.gz")
    good = _tar(tmp_path / "g.tar.gz", [("f", "file", os.urandom(100_000))])
    (tmp_path / "t.tar.gz").write_bytes(good.read_bytes()[:50_000])
    with pytest.raises(UnsafeArchive, match="not a readable tar"):
        check(tmp_path / "t.tar.gz")


def test_pack_and_extract_round_trip_with_an_inner_link(tmp_path):
    src = tmp_path / "fw"
    (src / "hls4ml" / "firmware").mkdir(parents=True)
    (src / "hls4ml" / "firmware" / "a.h").write_text("int a;\n")
    (src / "hls4ml" / "run.sh").write_text("echo\n")
    (src / "hls4ml" / "run.sh").chmod(0o4755)  # setuid must not survive
    (src / "hls4ml" / "alias.h").symlink_to("firmware/a.h")
    (src / "hls4ml" / "myproject_prj").mkdir()  # an earlier build: left out
    (src / "hls4ml" / "myproject_prj" / "big.log").write_text("x")
    arc = tmp_path / "fw.tar.gz"
    assert pack(src, arc) == 3
    out = tmp_path / "out"
    extract(arc, out)
    assert (out / "hls4ml" / "alias.h").read_text() == "int a;\n"
    assert (out / "hls4ml" / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert not (out / "hls4ml" / "myproject_prj").exists()


def test_pack_refuses_links_leaving_the_project(tmp_path):
    from l1ml.errors import L1mlError

    src = tmp_path / "fw"
    src.mkdir()
    (src / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(L1mlError, match="links outside"):
        pack(src, tmp_path / "x.tar.gz")

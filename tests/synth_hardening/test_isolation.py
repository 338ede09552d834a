"""Job isolation, end to end with a real worker: a submitted job tries to read and write the store, read
the tokens, read and plant files in another job's directory, and smuggle another job's results out
through symlinks. Each attempt fails. Also: the store and results are not readable by other accounts."""

from __future__ import annotations

import stat
import tarfile

import pytest
from hardening_helpers import script_project, synth

from l1ml.synth import sandbox

pytestmark = pytest.mark.skipif(
    sandbox.probe().mode != "bwrap", reason="bubblewrap sandbox not usable on this host"
)

ATTACK = r"""
set +e
try() {{ name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name OPEN" >> attack.log; else echo "$name BLOCKED" >> attack.log; fi; }}
try read-store grep -qa "SQLite format 3" {db}
try write-store python3 -c "import sqlite3; c = sqlite3.connect('{db}'); c.execute(\"INSERT INTO tokens VALUES ('x', 'mallory', 'admin', 0)\"); c.commit()"
try read-archives test -s {archive}
try read-config-token grep -q {token} {config}
try env-token grep -qs {token} /proc/self/environ
try any-process-environ grep -qs {token} /proc/[0-9]*/environ
try store-via-proc-root grep -qa "SQLite format 3" /proc/1/root{db}
try read-other-result test -s {victim_result}
try write-other-dir touch {victim_dir}/planted
try write-other-result sh -c 'echo x >> {victim_result}'
touch {home}/planted  # may land in the sandbox's private /tmp; checked from the host below
ln -s {victim_result} stolen.log
ln -s {victim_dir} victimdir
ln -s {db} queue.log
exit 0
"""


def test_a_job_cannot_reach_the_store_tokens_or_other_jobs(home, tmp_path, procs, monkeypatch):
    from l1ml.synth.store import Store

    s = synth.settings()
    store = Store(s.db)
    admin = store.create_token("root", "admin")
    (tmp_path / "synth.toml").write_text(f'token = "{admin}"\n')
    monkeypatch.setenv("L1ML_SYNTH_TOKEN", admin)  # in the worker's environment too
    victim = synth.submit_local(synth.make_project(tmp_path, "victim"))["id"]
    log = tmp_path / "worker.log"
    procs.worker("1G", log=log)
    assert synth.wait_state(victim).state == "succeeded"
    victim_result = s.work / str(victim) / "result.tar.gz"
    before = victim_result.read_bytes()
    tokens_before = store._conn().execute("SELECT COUNT(*) FROM tokens").fetchone()[0]

    script = ATTACK.format(
        db=s.db,
        archive=s.archives / f"{victim}.tar.gz",
        token=admin,
        config=tmp_path / "synth.toml",
        victim_result=victim_result,
        victim_dir=s.work / str(victim),
        home=s.home,
    )
    (s.archives / f"{victim}.tar.gz").write_bytes(b"x" * 100)  # present, so a read would find it
    attacker = synth.submit_local(script_project(tmp_path, "attacker", script))["id"]
    j = synth.wait_state(attacker)
    assert j.state == "succeeded", (j.reason, (s.work / str(attacker) / "job.log").read_text())
    assert "isolation: bwrap" in log.read_text()

    out = tmp_path / "out"
    synth.cli("fetch", str(attacker), "--out", str(out))
    report = (out / f"job-{attacker}" / "files" / "hls4ml" / "attack.log").read_text().splitlines()
    assert len(report) == 10, report
    assert [x for x in report if not x.endswith(" BLOCKED")] == [], report

    # And from the host: nothing changed where the job was not allowed to write.
    assert store._conn().execute("SELECT COUNT(*) FROM tokens").fetchone()[0] == tokens_before
    assert not store._conn().execute("SELECT 1 FROM tokens WHERE user='mallory'").fetchone()
    assert victim_result.read_bytes() == before
    assert not (s.work / str(victim) / "planted").exists() and not (s.home / "planted").exists()
    # The links the job left were neither followed nor packed into its results.
    with tarfile.open(s.work / str(attacker) / "result.tar.gz") as tar:
        names = tar.getnames()
    assert not [n for n in names if "stolen" in n or "victimdir" in n or "queue.log" in n], names
    assert "files/hls4ml/attack.log" in names


def test_store_and_results_are_private(home, tmp_path, procs):
    s = synth.settings()
    j = synth.submit_local(synth.make_project(tmp_path))["id"]
    procs.worker("1G")
    assert synth.wait_state(j).state == "succeeded"
    for path, mode in [
        (s.home, 0o700),
        (s.db, 0o600),
        (s.archives, 0o700),
        (s.work, 0o700),
        (s.work / str(j), 0o700),
        (s.work / str(j) / "result.tar.gz", 0o600),
    ]:
        got = stat.S_IMODE(path.stat().st_mode)
        assert got & 0o077 == 0 and got & mode == got, f"{path}: {oct(got)}"


def test_without_the_sandbox_the_worker_says_so_and_the_attack_gets_through(home, tmp_path, procs):
    """The fallback is reported at start, and the probe above is not vacuous: unsandboxed, it reads the
    store."""
    s = synth.settings()
    (tmp_path / "synth.toml").write_text('sandbox = "none"\n')
    script = ATTACK.format(
        db=s.db, archive="/nonexistent", token="l1ml_none", config="/nonexistent", victim_result="/nonexistent",
        victim_dir="/nonexistent", home=s.home,
    )  # fmt: skip
    attacker = synth.submit_local(script_project(tmp_path, "attacker", script))["id"]
    log = tmp_path / "worker.log"
    procs.worker("1G", log=log)
    assert synth.wait_state(attacker).state == "succeeded"
    assert "isolation: none" in log.read_text() and "unisolated" in log.read_text()
    report = (s.work / str(attacker) / "attempt1" / "src" / "hls4ml" / "attack.log").read_text()
    assert "read-store OPEN" in report and "write-store OPEN" in report


def test_the_interpreter_stays_visible_when_its_home_is_hidden(tmp_path):
    """l1ml's own steps run `python -m l1ml...`; a Python installed under a hidden place (pyenv in the
    worker's home, as on CI) must still run in the sandbox, read-only, while the rest stays hidden."""
    import subprocess
    import sys
    from pathlib import Path

    if sandbox.probe().mode != "bwrap":
        pytest.skip("bubblewrap does not work here")
    real = Path(sys.base_prefix).resolve()
    hide = [real.parent, tmp_path / "secret"]  # the directory holding the installation, and another
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "token").write_text("x")
    (tmp_path / "job" / "src").mkdir(parents=True)
    argv = [
        sys.executable,
        "-c",
        f"import l1ml, os; print(os.path.exists({str(tmp_path / 'secret' / 'token')!r}))",
    ]
    cmd = sandbox.wrap(argv, tmp_path / "job", hide)
    assert ["--ro-bind", str(real), str(real)] == cmd[cmd.index(str(real)) - 1 : cmd.index(str(real)) + 2]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"  # the interpreter runs; the hidden file stays hidden


def test_a_venv_and_clone_under_tmp_stay_visible(tmp_path):
    """The sandbox mounts an empty /tmp. A clone made in /tmp with its venv there (CI's fresh-clone check
    does this) must still run l1ml's own step commands: the venv and l1ml's package are bound back,
    read-only. Before that, every `python -m l1ml...` step of such a clone exited 127."""
    import shutil
    import subprocess
    import sys
    import sysconfig
    from pathlib import Path

    import l1ml

    if sandbox.probe().mode != "bwrap":
        pytest.skip("bubblewrap does not work here")
    assert str(tmp_path).startswith("/tmp/") or pytest.skip("pytest's tmp_path is not under /tmp here")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    clone = tmp_path / "clone"
    shutil.copytree(Path(l1ml.__file__).parent, clone / "l1ml", ignore=shutil.ignore_patterns("__pycache__"))
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # l1ml from the copy in /tmp; its dependencies from the running venv (outside /tmp, visible anyway)
    (Path(site) / "l1ml_test.pth").write_text(f"{clone}\n{sysconfig.get_paths()['purelib']}\n")
    (tmp_path / "job" / "src").mkdir(parents=True)
    driver = (
        "import subprocess, sys\n"
        "from l1ml.synth import sandbox\n"
        "argv = [sys.executable, '-c', 'import sys; import l1ml; print(l1ml.__file__); print(sys.prefix)']\n"
        f"r = subprocess.run(sandbox.wrap(argv, __import__('pathlib').Path({str(tmp_path / 'job')!r}), []),"
        " capture_output=True, text=True)\n"
        "print(r.returncode); print(r.stdout, end=''); print(r.stderr, file=sys.stderr)\n"
    )
    r = subprocess.run([str(py), "-c", driver], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    code, *lines = r.stdout.splitlines()
    assert code == "0", r.stdout + r.stderr  # 127 when the venv's python is hidden by the sandbox's /tmp
    where, prefix = lines
    assert where.startswith(str(clone / "l1ml")) and prefix == str(venv)

import os
import subprocess
import sys

import pytest


# Extended: 6 min of a CI worker (361 s in this stop's fresh-clone run), and CI's second command runs
# `./dev.sh demo` at its defaults right after the tests, which proves the same chain at full size.
@pytest.mark.slow
@pytest.mark.extended
def test_demo_runs_the_whole_chain(tmp_path):
    """`l1ml demo`, the README's main job, end to end on a small sample: every step must really pass.
    A relative --out, as the default is, must work throughout (queue jobs run in their own cwd)."""
    env = {**os.environ, "COLUMNS": "200", "L1ML_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("L1ML_SYNTH_WORK", None)
    r = subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "demo", "--out", "demo", "--events", "5000",
         "--epochs", "1", "--validate-events", "60"],
        capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    out = r.stdout
    assert out.count("PASS") == 2 and "FAIL" not in out
    assert out.count("identical: True") == 2  # both csims bit for bit (issue 30)
    assert "demo finished" in out
    for name in ("dense_ae", "bdt"):
        d = tmp_path / "demo" / name / "build"
        assert (d / "models" / "v1" / "metrics.json").is_file()
        assert (d / "validation" / "v1" / "junit.xml").is_file()
        assert (d / "report" / "v1" / "report.html").is_file()  # the demo is `l1ml run`: data to report

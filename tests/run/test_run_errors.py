"""Bad input met by a step of `l1ml run` is what it is through any other command: exit code 2 and the
message once, on one line (issue 30)."""

from __future__ import annotations

from run_helpers import l1ml, run_json, statuses


def _project(tmp, example="dense_ae", **over):
    from _projects import make_project

    return make_project(tmp, example, **over)


def _shown(r, json_out: bool) -> str:
    """What a person reads: with --json, stdout is the JSON document (which keeps each step's error)."""
    return r.stderr if json_out else r.stdout + r.stderr


def _error_lines(r, json_out: bool = True) -> list[str]:
    return [ln for ln in _shown(r, json_out).splitlines() if "error:" in ln or "Traceback" in ln]


def test_truncated_event_file_is_exit_2_once(tmp_path):
    proj = _project(tmp_path, **{"data.generate_events": 3000})
    r, _ = run_json(proj, tmp_path, "--until", "data")
    assert r.returncode == 0, r.stderr
    bkg = proj / "build/data/background.h5"
    data = bkg.read_bytes()
    bkg.write_bytes(data[: len(data) // 2])
    for extra in ([], ["--json"]):
        r = l1ml(["run", "--project", proj, "--until", "data", *extra], tmp_path)
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        lines = _error_lines(r, bool(extra))
        assert len(lines) == 1 and "background.h5" in lines[0], r.stdout + r.stderr
        # The step's own line says it failed, without repeating the message.
        assert sum("background.h5" in ln for ln in _shown(r, bool(extra)).splitlines()) == 1


def test_unknown_board_is_exit_2_once(tmp_path):
    proj = _project(tmp_path, "bdt", **{"data.generate_events": 2000, "firmware.board": "nosuchboard"})
    r, doc = run_json(proj, tmp_path, "--until", "convert")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert statuses(doc)["convert"] == "failed"
    lines = _error_lines(r)
    assert len(lines) == 1 and "nosuchboard" in lines[0], r.stderr

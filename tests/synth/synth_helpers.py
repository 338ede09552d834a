"""Helpers for the synthesis-queue tests: tiny firmware projects with real testbenches (C++ for csim, VHDL
for rtlsim), real worker/server processes, the CLI, and waiting for job states. A uniquely named module:
"conftest" is a name every test directory has (the fixtures are in tests/synth/conftest.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "l1ml.cli.synth"]


def wait_for(pred, timeout: float = 30.0, every: float = 0.05, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settings():
    from l1ml.synth.settings import load_settings

    return load_settings()


TESTBENCH = r"""
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>
#include <unistd.h>
#include "firmware/myproject.h"
#include "firmware/parameters.h"

int main() {
    if (MARK[0]) { FILE* m = fopen(MARK, "a"); fprintf(m, "start %d\n", (int)getpid()); fclose(m); }
    std::ifstream fin("tb_data/tb_input_features.dat");
    std::ofstream fout("tb_data/csim_results.log");
    float x;
    while (fin >> x) fout << myproject(x) << "\n";
    if (ALLOC_MB > 0) {
        size_t n = (size_t)ALLOC_MB << 20;
        volatile char* p = (char*)malloc(n);
        for (size_t i = 0; i < n; i += 4096) p[i] = 1;  // touch every page so it counts in RSS
    }
    usleep((useconds_t)SLEEP_MS * 1000);
    if (MARK[0]) { FILE* m = fopen(MARK, "a"); fprintf(m, "end %d\n", (int)getpid()); fclose(m); }
    printf("testbench done\n");
    return EXIT_CODE;
}
"""


def make_project(
    root: Path,
    name: str = "tiny",
    sleep_ms: int = 0,
    alloc_mb: int = 0,
    exit_code: int = 0,
    mark: str = "",
    vhdl: bool = False,
    board: str = "vu9p",
) -> Path:
    """projects/<name>/ with firmware v1 laid out as `l1ml convert` writes it (hls4ml/, conifer_vhdl/)."""
    prj = root / name
    prj.mkdir(parents=True)
    (prj / "project.toml").write_text(f'name = "{name}"\n[firmware]\nboard = "{board}"\n')
    fw = prj / "build" / "firmware" / "v1"
    hls = fw / "hls4ml"
    (hls / "firmware").mkdir(parents=True)
    (hls / "tb_data").mkdir()
    (hls / "myproject_test.cpp").write_text(TESTBENCH)
    (hls / "firmware" / "myproject.h").write_text("#pragma once\nfloat myproject(float x);\n")
    (hls / "firmware" / "myproject.cpp").write_text(
        '#include "myproject.h"\nfloat myproject(float x) { return 2 * x + 1; }\n'
    )
    (hls / "firmware" / "parameters.h").write_text(
        f"#pragma once\n#define SLEEP_MS {sleep_ms}\n#define ALLOC_MB {alloc_mb}\n"
        f'#define EXIT_CODE {exit_code}\n#define MARK "{mark}"\n'
    )
    (hls / "tb_data" / "tb_input_features.dat").write_text("1 2 3\n4 5 6\n")
    (hls / "build_prj.tcl").write_text("# hls4ml's build script; run by vitis-run or vivado_hls\n")
    (hls / "project.tcl").write_text('set project_name "myproject"\nset backend "vitis"\n')
    (fw / "manifest.json").write_text('{"kind": "dense_ae"}\n')
    if vhdl:
        make_vhdl(fw / "conifer_vhdl")
    return prj


def make_vhdl(d: Path, fail: bool = False) -> None:
    """A conifer-like VHDL project: a package and entity in library BDT, a testbench in xil_defaultlib."""
    (d / "firmware").mkdir(parents=True)
    (d / "firmware" / "Constants.vhd").write_text(
        textwrap.dedent("""\
        package Constants is
          constant nFeatures : integer := 4;
        end package;
        """)
    )
    (d / "firmware" / "BDTTop.vhd").write_text(
        textwrap.dedent("""\
        library ieee; use ieee.numeric_std.all;
        library work; use work.Constants.all;
        entity BDTTop is
          port (x : in integer; y : out integer);
        end entity;
        architecture rtl of BDTTop is
        begin
          y <= 2 * x + nFeatures;
        end architecture;
        """)
    )
    expect = 999 if fail else 10
    (d / "firmware" / "BDTTestbench.vhd").write_text(
        textwrap.dedent(f"""\
        library BDT;
        entity testbench is end entity;
        architecture sim of testbench is
          signal x, y : integer := 0;
        begin
          uut : entity BDT.BDTTop port map (x => x, y => y);
          process begin
            x <= 3; wait for 10 ns;
            assert y = {expect} report "BDT output mismatch" severity failure;
            report "testbench passed";
            wait;
          end process;
        end architecture;
        """)
    )
    (d / "ghdl_compile.sh").write_text(
        textwrap.dedent("""\
        ghdl -a --std=08 --work=BDT ./firmware/Constants.vhd
        ghdl -a --std=08 --work=BDT ./firmware/BDTTop.vhd

        ghdl -a --std=08 --work=xil_defaultlib ./firmware/BDTTestbench.vhd

        ghdl -e --std=08 --work=xil_defaultlib testbench
        """)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """Services started by a test; stop() ends them and anything they left running."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, log: Path | None = None) -> subprocess.Popen:
        out = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen([*CLI, *args], stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        self.procs.append(p)
        return p

    def worker(self, budget: str = "1G", *extra: str, log: Path | None = None) -> subprocess.Popen:
        return self.start(
            "worker", "--memory-budget", budget, "--poll", "0.05", "--lease", "2", *extra, log=log
        )

    def server(self, port: int, log: Path | None = None) -> str:
        import httpx

        p = self.start("serve", "--port", str(port), log=log)
        url = f"http://127.0.0.1:{port}"

        def up():
            if p.poll() is not None:
                raise AssertionError(f"server exited with {p.returncode}")
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, 0.1, "the server to answer")
        return url

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def kill_under(home: Path) -> None:
    """Nothing a test started may outlive it: job processes run with their cwd under the queue home."""
    import psutil

    for p in psutil.process_iter():
        try:
            if p.cwd().startswith(str(home)):
                p.kill()
        except psutil.Error:
            pass


# Every variable that points the queue, or a step's tool, somewhere outside a test's own home.
QUEUE_ENV = (
    "L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN", "L1ML_SYNTH_SANDBOX",
    "L1ML_VITIS_RUN", "L1ML_VITIS_HLS", "L1ML_VIVADO_HLS", "L1ML_VIVADO", "L1ML_VIVADO_LAB",
    "L1ML_CATAPULT", "L1ML_SHLS",
)  # fmt: skip


def queue_home(tmp_path: Path, monkeypatch) -> Path:
    """The body of every queue test directory's `home` fixture: an isolated queue home and settings file
    (absent unless the test writes it), and none of the outside queue or tool variables."""
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))
    for var in QUEUE_ENV:
        monkeypatch.delenv(var, raising=False)
    return h


def stopped_procs(home: Path):
    """The body of every `procs` fixture (`yield from stopped_procs(home)`): the worker and server
    processes a test starts, always stopped, and any job process left under the home killed."""
    ps = Procs()
    try:
        yield ps
    finally:
        ps.stop()
        kill_under(home)


def cli(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def submit_local(
    project: Path,
    step: str = "csim",
    memory: str = "200M",
    timeout: str = "60s",
    priority: int = 0,
    max_attempts: int | None = None,
) -> dict:
    """Submit in-process through the same packaging and client the CLI uses."""
    import dataclasses
    import os as _os

    from l1ml.project import load_project
    from l1ml.synth.client import LocalClient, package

    arc, params = package(load_project(project), "v1", step, memory, timeout, check_tools=True)
    try:
        client = LocalClient(settings())
        if max_attempts is not None:
            client.store.max_attempts = max_attempts
        return client.submit(arc, dataclasses.replace(params, priority=priority))
    finally:
        _os.unlink(arc)


def job(job_id: int):
    from l1ml.synth.store import Store

    return Store(settings().db).get(job_id)


def wait_state(job_id: int, states=("succeeded", "failed", "oom", "timeout", "cancelled"), timeout=60.0):
    return wait_for(
        lambda: (j := job(job_id)) and j.state in states and j,
        timeout,
        0.05,
        f"job {job_id} to reach {states}",
    )

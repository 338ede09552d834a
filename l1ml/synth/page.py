"""The queue's read-only status page, served by `synth serve` at ``/``: what people on a shared host look at
before they submit. Without a token it shows the queue (who waits, for how much memory, and why), the
running jobs with their memory, the limits every run is held to, the isolation mode and the workers; no
project or model names. With a token (typed into the page; kept in the URL's fragment, which the browser
never sends, and passed as an Authorization header) it also lists that user's own jobs, from /jobs.
"""

from __future__ import annotations

import html
import time

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from l1ml.synth.job import QUEUED, RUNNING, format_memory

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
th { background: #eee; }
.note { color: #666; font-size: 0.85em; }
"""

SCRIPT = """
async function mine() {
  const m = location.hash.match(/token=([^&]+)/);
  const box = document.getElementById('mine');
  if (!m) { box.textContent = 'Enter your token to see your own jobs.'; return; }
  const r = await fetch('/jobs', {headers: {Authorization: 'Bearer ' + decodeURIComponent(m[1])}});
  if (!r.ok) { box.textContent = 'token not accepted (' + r.status + ')'; return; }
  const jobs = await r.json();
  const t = document.createElement('table');
  t.id = 'mine-table';
  const head = t.insertRow();
  for (const h of ['id', 'step', 'state', 'memory', 'peak', 'reason']) {
    const th = document.createElement('th'); th.textContent = h; head.appendChild(th);
  }
  for (const j of jobs) {
    const row = t.insertRow();
    for (const v of [j.id, j.step, j.state, j.memory, j.peak_memory ?? '-', j.reason || j.where || '']) {
      row.insertCell().textContent = String(v);
    }
  }
  box.replaceChildren(t);
}
function useToken(ev) {
  ev.preventDefault();
  location.hash = 'token=' + encodeURIComponent(document.getElementById('token').value);
  mine();
}
window.addEventListener('load', mine);
"""


def _table(tid: str, head: list[str], rows: list[list], empty: str) -> str:
    if not rows:
        return f'<p id="{tid}" class="note">{html.escape(empty)}</p>'
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table id="{tid}"><tr>{th}</tr>{body}</table>'


def render(store, settings, isolation: str) -> str:
    jobs = store.describe(store.list(states=(QUEUED, RUNNING), limit=500))
    queued = [j for j in jobs if j["state"] == QUEUED]
    running = [j for j in jobs if j["state"] == RUNNING]
    now = time.time()
    q_rows = [
        [j["id"], j["user"], j["step"], format_memory(j["memory"]), j["priority"],
         f"{(now - j['submitted_at']) / 60:.0f} min", j["reason"] or j["where"]]
        for j in queued
    ]  # fmt: skip
    r_rows = [
        [j["id"], j["user"], j["step"], format_memory(j["memory"]), format_memory(j["peak_memory"]),
         j["where"], f"{(now - (j['started_at'] or now)) / 60:.0f} min"]
        for j in running
    ]  # fmt: skip
    limits = [
        ["processes per run", settings.max_pids],
        [
            "disk per run (directory and log)",
            format_memory(min(settings.max_job_disk, settings.max_user_bytes)),
        ],
        ["/tmp and /dev/shm in the sandbox (each, counted as memory)", format_memory(settings.tmpfs_size)],
        ["CPU time per run", f"{settings.max_cpu_time / 3600:.0f} h"],
        ["memory", "as declared at submit; measured as PSS plus the run's tmpfs"],
        ["quota per user", format_memory(settings.max_user_bytes)],
        ["upload", format_memory(settings.max_upload)],
        ["network inside a run", "yes" if settings.sandbox_network else "none"],
    ]
    workers = [
        [w["id"], format_memory(w["budget"]), f"{now - w['seen_at']:.0f} s ago"]
        for w in store.workers()
        if now - w["seen_at"] < 10 * settings.lease
    ]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>l1ml synthesis queue</title><style>{STYLE}</style></head>
<body>
<h1>l1ml synthesis queue</h1>
<p id="isolation">isolation: {html.escape(isolation)}</p>
<h2>Queue ({len(queued)})</h2>
{_table("queue", ["id", "user", "step", "memory", "priority", "waiting", "why it waits"], q_rows, "nothing queued")}
<h2>Running ({len(running)})</h2>
{_table("running", ["id", "user", "step", "memory", "peak", "where", "for"], r_rows, "nothing running")}
<h2>Limits every run is held to</h2>
{_table("limits", ["limit", "value"], limits, "")}
<h2>Workers</h2>
{_table("workers", ["worker", "budget", "seen"], workers, "no worker alive")}
<h2>Your jobs</h2>
<form onsubmit="useToken(event)"><input id="token" type="password" placeholder="token" size="50">
<button type="submit">show</button></form>
<div id="mine"></div>
<p class="note">Read-only; refreshed when you reload. Generated {html.escape(time.ctime(now))}.</p>
<script>{SCRIPT}</script>
</body></html>"""


def add_routes(app: FastAPI, store, settings, isolation: str) -> None:
    @app.get("/", response_class=HTMLResponse)
    def status_page() -> HTMLResponse:
        return HTMLResponse(render(store, settings, isolation), headers={"Cache-Control": "no-store"})

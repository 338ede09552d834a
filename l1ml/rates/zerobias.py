"""Rates from ZeroBias events: every event streamed through the firmware emulation, the exact score
counts kept, and rates read off them.

A ZeroBias event is one random colliding bunch crossing, so the fraction f of them above a threshold
times the colliding-bunch rate (project.colliding_rate_hz: n_bunches x 11.245 kHz) is the L1 rate. With
k of N events above, the statistical uncertainty is the binomial sqrt(k (1 - k/N)) / N on f, and the
Clopper-Pearson 68% interval is given beside it; with k = 0 only an upper limit exists, and the 68% CL one
(1.148 / N, Poisson) is given. A rate resting on fewer than [trigger] min_events_above events is flagged.

The deployed threshold is the trigger record's (l1ml/models/threshold.py): its real form is exactly
threshold_int * 2**-frac, so comparing the exact emulator scores with it counts the very events the
library's integer comparison does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from l1ml.emulate.stream import ScoreCounts
from l1ml.models.threshold import binomial_interval

UPPER_68_ZERO = -math.log(1 - 0.6827)  # Poisson 68.27% CL upper limit on the mean for 0 observed: 1.148


@dataclass
class RateRow:
    label: str
    threshold: float
    events_above: int
    fraction: float
    rate_khz: float
    rate_err_khz: float
    rate_upper_khz: float | None  # the 68% CL upper limit when no event is above
    rate_low_khz: float = 0.0  # Clopper-Pearson 68% interval
    rate_high_khz: float = 0.0
    enough: bool = True  # at least [trigger] min_events_above events above
    threshold_int: int | None = None  # the firmware's integer, for the deployed threshold

    def to_dict(self) -> dict:
        return asdict(self)


def rate_row(
    counts: ScoreCounts, threshold: float, colliding_rate_hz: float, label: str, minimum: int = 0,
    threshold_int: int | None = None,
) -> RateRow:
    n, k = counts.events, counts.above(threshold)
    f = k / n
    err = math.sqrt(k * (1 - f)) / n
    to_khz = colliding_rate_hz / 1e3
    upper = UPPER_68_ZERO / n * to_khz if k == 0 else None
    lo, hi = binomial_interval(k, n)
    return RateRow(
        label, float(threshold), k, f, f * to_khz, err * to_khz, upper, lo * to_khz, hi * to_khz, k >= minimum,
        threshold_int,
    )


@dataclass
class RateReport:
    project: str
    model_version: str
    files: list[str]
    events: int
    colliding_rate_hz: float
    rows: list[RateRow]
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rows"] = [r.to_dict() for r in self.rows]
        return d


def deployed(project, version: str) -> tuple[float | None, int | None, str]:
    """The threshold the firmware is deployed with: (real, integer, where from). The trigger record's
    for the target rate; before the rate step has run, the model manifest's (training's), said so."""
    from l1ml.models import threshold
    from l1ml.project import read_json

    rec = threshold.read(project, version)
    if rec is not None:
        e = threshold.target(rec)
        return e["threshold"], e["threshold_int"], "deployed threshold (trigger record)"
    man = read_json(project.model_dir(version) / "manifest.json")
    return man.get("threshold"), None, "deployed threshold (model manifest: no trigger record, run `l1ml run`)"


def report(project, version: str, counts: ScoreCounts, files, deployed_at, seconds: float = 0.0):
    """The rate at the model's deployed threshold (`deployed_at`: deployed()'s triple, or a bare real),
    and the threshold this sample would give for the project's target rate (for comparison only)."""
    hz = project.colliding_rate_hz
    m = project.trigger.min_events_above
    if not isinstance(deployed_at, tuple):
        deployed_at = (deployed_at, None, "deployed threshold (model manifest)")
    value, t_int, label = deployed_at
    rows = []
    if value is not None:
        rows.append(rate_row(counts, value, hz, label, m, t_int))
    t = counts.threshold_for(project.trigger_fpr)
    rows.append(rate_row(counts, t, hz, f"threshold for {project.trigger.rate_khz:g} kHz on this sample", m))
    return RateReport(project.name, version, [str(f) for f in files], counts.events, hz, rows, seconds)


def measure(
    project, version: str | None = None, spec=None, progress=None, threads: bool = True, workers: int = 0
):
    """Stream [data] rate_sample (or `spec`: a glob or list) through the firmware emulation:
    (RateReport, ScoreCounts). `workers`: processes reading and computing (0: chosen by emulate_source)."""
    import time

    from l1ml.data.stream import auto_source, project_source
    from l1ml.emulate.nn_project import emulate_source, load_engine
    from l1ml.progress import or_silent

    rep = or_silent(progress)
    source = project_source(project, which="rate_sample") if spec is None else auto_source(spec, project)
    n = sum(source.counts())
    rep.task("load model", None)
    engine, pre, man, version = load_engine(project, version)
    rep.advance("load model")
    at = deployed(project, version)
    t0 = time.perf_counter()
    _, counts = emulate_source(
        engine, pre, source, None, n=n, progress=rep, threads=threads, processes=workers
    )
    r = report(project, version, counts, source.files, at, time.perf_counter() - t0)
    return r, counts


def save(r: RateReport, counts: ScoreCounts, out_dir: Path) -> None:
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    counts.save(out_dir / "counts.json")
    tmp = out_dir / "rates.json.partial"
    tmp.write_text(json.dumps(r.to_dict(), indent=1))
    tmp.replace(out_dir / "rates.json")

"""Example projects shrunk for tests, pointed at generated data."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The example networks with fewer units, same layers: the g++ compile of a generated firmware grows with its
# unrolled multiplications (the 57-32-16-8 dense AE's C simulation took 89 s under load, 57-8-4-3 45 s), and
# the tests that convert examples prove behaviour, not size. The full-size examples run in `./dev.sh demo`.
SMALL = {
    "dense_ae": {"model.hidden": [8, 4], "model.latent": 3},
    "cnn_ae": {"model.filters": [2, 4], "model.hidden": [8], "model.latent": 4},
    "vae_encoder": {"model.hidden": [8, 4]},
}


def make_project(tmp: Path, example: str, **overrides) -> Path:
    """A copy of an example project with smaller settings: overrides are 'section.key' = TOML value text."""
    import tomllib

    src = REPO / "projects" / example / "project.toml"
    doc = tomllib.loads(src.read_text())
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        doc.setdefault(section, {})[key] = value
    d = tmp / example
    d.mkdir(parents=True, exist_ok=True)
    (d / "project.toml").write_text(_dump_toml(doc))
    return d


def _dump_toml(doc: dict) -> str:
    import json

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(v)

    lines = [f"{k} = {val(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def project_on_data(tmp: Path, example: str, data: Path, **overrides) -> Path:
    """An example project pointed at already generated files."""
    from l1ml.data.generate import SIGNALS

    overrides.setdefault("data.synthetic", False)
    overrides.setdefault("data.rate_sample", "")  # an example's generated rate sample: the given background instead
    overrides["data.background"] = str(data / "background.h5")
    overrides["data.signals"] = {s: str(data / f"{s}.h5") for s in SIGNALS}
    return make_project(tmp, example, **overrides)

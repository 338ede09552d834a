"""The explore grid: a YAML file in hls4ml's config vocabulary where a list (or a range) is an axis.

    Model:
      Strategy: Latency                  # or [Latency, Resource]
      ReuseFactor: [1, 4]
    LayerName:
      enc_1_dense:
        Precision: ap_fixed<8..16/4,6>   # ap_fixed<8,6>, ap_fixed<12,6>, ap_fixed<16,6>
    LayerType:
      Dense:
        Precision:
          accum: [ap_fixed<24,12>, ap_fixed<32,16>]
    Input:                               # the input layer, by role: its name need not be known
      Precision: ap_fixed<19,13>
    Score:                               # the layer computing the score (the firmware's last output)
      Precision: [ap_fixed<24,12>, ap_fixed<32,16>]

Every combination of the axes is a point. `W..V/S` (step S, default 1) in either argument of an
ap_fixed/ap_ufixed/ap_int type is a range. A point is an hls4ml config override (what a project's
hls_configs/*.yml holds), so each becomes one firmware variant.

For an HGQ2 model (kind hgq2_ae) only `Model: Strategy` (Latency or distributed_arithmetic) and
`Model: ReuseFactor` are axes: HGQ2 learns every precision and hls4ml's bit-exact pass sets the types,
so there is no precision to override (hgq2_points).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from l1ml.errors import ConfigError

TOP_KEYS = ("Model", "LayerName", "LayerType", "Input", "Score")
MODEL_KEYS = ("Strategy", "ReuseFactor", "Precision")
STRATEGIES = ("Latency", "Resource")
# hls4ml 1.3's strategies for an HGQ2 model as l1ml converts it (the worker, envs/keras3): Resource is left
# out, never having been converted and checked bit for bit here
HGQ2_STRATEGIES = ("Latency", "distributed_arithmetic")
MAX_POINTS = 4096
_RANGE = re.compile(r"^(\d+)\.\.(\d+)(?:/(\d+))?$")
_TYPE = re.compile(r"^(ap_u?fixed|ap_u?int|u?fixed|u?int)<([^>]*)>$")


@dataclass
class Point:
    """One grid point: hls4ml overrides plus the Model-level strategy and reuse."""

    overrides: dict
    strategy: str | None = None
    reuse_factor: int | None = None
    axes: dict = field(default_factory=dict)  # axis path -> value, what distinguishes this point

    @property
    def name(self) -> str:
        if not self.axes:
            return "as converted"
        return ", ".join(f"{_short(k)}={v}" for k, v in self.axes.items())


def _short(path: str) -> str:
    parts = [p for p in path.split(".") if p not in ("LayerName", "Precision", "Model")]
    return ".".join(parts) or path


def expand_type(text: str, where: str) -> list[str]:
    """'ap_fixed<8..16/4,6>' -> the listed types; a plain type -> itself."""
    m = _TYPE.match(text.replace(" ", ""))
    if not m or ".." not in text:
        return [text]
    args = m.group(2).split(",")
    choices = []
    for a in args:
        r = _RANGE.match(a)
        if r:
            lo, hi, step = int(r.group(1)), int(r.group(2)), int(r.group(3) or 1)
            if hi < lo or step < 1:
                raise ConfigError(f"{where}: range '{a}' must go up (lo..hi/step with hi >= lo, step >= 1)")
            choices.append([str(v) for v in range(lo, hi + 1, step)])
        else:
            choices.append([a])
    return [f"{m.group(1)}<{','.join(c)}>" for c in itertools.product(*choices)]


def _axes(node, path: str, where: str) -> list[tuple[str, list]]:
    """Every list (or ranged type) in the tree: (dotted path, its values)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _axes(v, f"{path}.{k}" if path else str(k), where)
    elif isinstance(node, list):
        if not node:
            raise ConfigError(f"{where}: '{path}' is an empty list; an axis needs at least one value")
        vals = []
        for v in node:
            if isinstance(v, dict | list):
                raise ConfigError(f"{where}: '{path}' lists tables or lists; an axis holds plain values")
            if isinstance(v, str) and v.count("<") != v.count(">"):
                raise ConfigError(
                    f"{where}: '{path}' holds {v!r}: in a [a, b] list YAML splits ap_fixed<W,I> at its comma; "
                    "quote each type ('ap_fixed<16,6>') or write the list one item per line"
                )
            vals += expand_type(v, f"{where}: '{path}'") if isinstance(v, str) else [v]
        out.append((path, vals))
    elif isinstance(node, str) and ".." in node:
        out.append((path, expand_type(node, f"{where}: '{path}'")))
    return out


def _set(tree: dict, path: str, value) -> None:
    keys = path.split(".")
    node = tree
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def load_grid(path: Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file {path} not found")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a table with keys {', '.join(TOP_KEYS)}")
    bad = set(doc) - set(TOP_KEYS)
    if bad:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(map(str, bad)))}; valid: {', '.join(TOP_KEYS)}")
    bad = set(doc.get("Model") or {}) - set(MODEL_KEYS)
    if bad:
        raise ConfigError(f"{path}: Model key(s) {', '.join(sorted(bad))} cannot be explored; valid: {', '.join(MODEL_KEYS)}")
    return doc


def hgq2_points(doc: dict, where: str) -> list[Point]:
    """The points of a grid for an HGQ2 model: Model.Strategy and Model.ReuseFactor only, one line naming
    what else the grid holds."""
    model_keys = set(doc.get("Model") or {}) - {"Strategy", "ReuseFactor"}
    other = sorted(set(doc) - {"Model"}) + [f"Model.{k}" for k in sorted(model_keys)]
    if other:
        raise ConfigError(
            f"{where}: an HGQ2 model (kind hgq2_ae) explores Model.Strategy ({', '.join(HGQ2_STRATEGIES)}) and "
            f"Model.ReuseFactor only; HGQ2 learns the precisions, so {', '.join(other)} cannot be set"
        )
    return points(doc, where, "", "", HGQ2_STRATEGIES)


def points(
    doc: dict, where: str, input_layer: str, score_layer: str, strategies: tuple[str, ...] = STRATEGIES
) -> list[Point]:
    """Every combination of the grid's axes, as hls4ml overrides ready for `make_config`."""
    import copy

    axes = _axes(doc, "", where)
    n = 1
    for _, vals in axes:
        n *= len(vals)
    if n > MAX_POINTS:
        raise ConfigError(f"{where}: the grid has {n} points; at most {MAX_POINTS}")
    out = []
    for combo in itertools.product(*[vals for _, vals in axes]):
        tree = copy.deepcopy(doc)
        chosen = {}
        for (path, _), v in zip(axes, combo, strict=True):
            _set(tree, path, v)
            if len(dict(axes)[path]) > 1:
                chosen[path] = v
        model = tree.pop("Model", None) or {}
        strategy = model.pop("Strategy", None)
        if strategy is not None and strategy not in strategies:
            raise ConfigError(f"{where}: Model.Strategy '{strategy}' is not one of {', '.join(strategies)}")
        reuse = model.pop("ReuseFactor", None)
        if reuse is not None and (isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1):
            raise ConfigError(f"{where}: Model.ReuseFactor must be a whole number >= 1, got {reuse!r}")
        over: dict = {}
        if model:
            over["Model"] = model
        names = dict(tree.pop("LayerName", None) or {})
        for role, layer in (("Input", input_layer), ("Score", score_layer)):
            if role in tree:
                cfg = tree.pop(role) or {}
                if layer in names:
                    raise ConfigError(f"{where}: layer '{layer}' is set both as {role} and under LayerName")
                names[layer] = cfg
        if names:
            over["LayerName"] = names
        if tree.get("LayerType"):
            over["LayerType"] = tree["LayerType"]
        out.append(Point(over, strategy, reuse, chosen))
    return out

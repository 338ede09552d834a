"""The wrap-around hazard of a network's input and score types (issue 26, the HGQ-style overflow).

An anomaly trigger sees out-of-range events by design. Where a type wraps (AP_WRAP, ap_fixed's default
overflow mode), a value beyond its range becomes a small, normal-looking one: an event that should fire
the trigger looks like background. Parity tests cannot see it, since the emulator wraps exactly as the
firmware does. So `convert` runs the emulator with overflow counting (l1ml.fixed.count_overflows) on the
project's background events and on events at the corners of the hardware range, and records which of
the input and score layers, being AP_WRAP types, wrapped there.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_EVENTS = 5000  # enough to see a range; the emulator takes well under a second for them
EXTREME_EVENTS = 64


def hardware_extremes(pre, n: int = EXTREME_EVENTS, seed: int = 26) -> np.ndarray:
    """Events at and inside the hardware range's corners (every object at the largest pT, eta and phi at
    either end; then uniform draws over the whole range), preprocessed as the firmware receives them."""
    from l1ml.data import units

    lo, hi = units.HW_MIN.astype(np.float64), units.HW_MAX.astype(np.float64)
    corners = [hi, np.where(np.arange(lo.size) % 3 == 0, hi, lo)]  # pT max, eta/phi at both ends
    rng = np.random.default_rng(seed)
    draws = np.round(rng.uniform(lo, hi, size=(max(n - len(corners), 0), lo.size)))
    hw = np.vstack([np.array(corners), draws])[:n]
    return pre.apply(hw)


def wrap_hazard(hls_model, samples: dict[str, np.ndarray], score_layer: str) -> dict:
    """{"layers": {layer: its type}, "wrapped": {sample: {layer: values wrapped}}} for the input and score
    layers whose result type wraps (AP_WRAP); `samples` are network inputs as the firmware takes them."""
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.fixed import count_overflows, from_hls

    layers = {}
    graph = list(hls_model.get_layers())
    for layer in (graph[0], next((x for x in graph if x.name == score_layer), None)):
        if layer is None:
            continue
        t = from_hls(layer.get_output_variable().type.precision, f"layer {layer.name} result")
        if t.overflow == "WRAP":
            layers[layer.name] = str(t)
    wrapped: dict[str, dict[str, int]] = {}
    if layers:
        emu = NNEmulator(hls_model)
        for name, x in samples.items():
            with count_overflows() as counts:
                emu(np.asarray(x, np.float64).reshape(len(x), -1))
            hits = {k: int(c.get("wrapped", 0)) for k, c in counts.items() if k in layers and c.get("wrapped")}
            if hits:
                wrapped[name] = hits
    return {"layers": layers, "wrapped": wrapped}


def warnings(hazard: dict) -> list[str]:
    """One line per wrapping layer and sample, for `convert` to print."""
    out = []
    for sample, hits in (hazard.get("wrapped") or {}).items():
        for layer, n in hits.items():
            out.append(
                f"layer '{layer}' ({hazard['layers'][layer]}, AP_WRAP) wrapped {n:,} values on the {sample} "
                "events: an out-of-range event becomes a small, normal-looking value there. Give it a "
                "saturating type (AP_SAT) or a wider one ([firmware] hls_config)"
            )
    return out

"""The project's events as validation takes them."""

from __future__ import annotations

import numpy as np


def samples_hw(project, events: int) -> dict[str, np.ndarray]:
    """{sample: (N, 57) hardware units}, background first."""
    from l1ml.data import units
    from l1ml.data.samples import load_project_samples

    return {name: units.to_hardware(p) for name, p in load_project_samples(project, events).items()}

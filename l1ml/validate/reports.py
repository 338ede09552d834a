"""Validation reports: report.json, junit.xml and differences.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l1ml.validate.verdict import Validation


def write_reports(v: Validation, out_dir: Path, junit: Path | None = None) -> dict[str, str]:
    """report.json, junit.xml and differences.png in out_dir (junit may go elsewhere)."""
    from l1ml.manifest import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "junit": junit or out_dir / "junit.xml",
        "png": out_dir / "differences.png",
    }
    write_json(paths["json"], v.to_dict())
    paths["junit"].parent.mkdir(parents=True, exist_ok=True)
    paths["junit"].write_text(junit_xml(v))
    plot_differences(v, paths["png"])
    v.reports = {k: str(p) for k, p in paths.items()}
    return v.reports


def junit_xml(v: Validation) -> str:
    """One testcase per check of v.cases() (what v.passed is made of, so the file and the exit code
    agree), plus the informative comparisons as testcases that always pass, numbers in system-out."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name=f"l1ml-validate.{v.project}.{v.version}")
    cases = 0
    failures = 0

    def case(name: str, ok: bool, message: str, out: str = "") -> None:
        nonlocal cases, failures
        cases += 1
        tc = ET.SubElement(suite, "testcase", classname=f"{v.project}.{v.version}.{v.kind}", name=name)
        if not ok:
            failures += 1
            f = ET.SubElement(tc, "failure", message=message)
            f.text = message
        if out:
            ET.SubElement(tc, "system-out").text = out

    for c in v.cases():
        case(c.name, c.ok, c.message, c.out)
    for c in v.quantization:
        case(
            f"quantization {c.name}",
            True,
            "",
            f"max |diff| {c.max_diff:g}, {100 * c.frac_identical:.2f}% identical",
        )
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def plot_differences(v: Validation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bitexact = {k: d for k, d in v.diffs.items() if "quantization" not in k}
    quant = {k: d for k, d in v.diffs.items() if "quantization" in k}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    if bitexact:
        for k, d in bitexact.items():
            d = d[np.isfinite(d)]
            lim = max(1.0, float(np.abs(d).max()) if d.size else 1.0)
            ax.hist(d, bins=np.linspace(-lim, lim, 41), histtype="step", label=f"{k}", log=True)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "see report.json (BDT comparisons)", ha="center", transform=ax.transAxes)
    ax.set_xlabel("firmware - software [LSB of the output type]")
    ax.set_ylabel("values")
    status = "PASS" if v.passed else "FAIL"
    where = f", diverges at {v.divergence.layer}" if v.divergence else ""
    ax.set_title(f"{v.project} {v.version}: bit-exactness {status}{where}", fontsize=10)
    ax = axes[1]
    for k, d in quant.items():
        ax.hist(d[np.isfinite(d)], bins=60, histtype="step", label=k, log=True)
    if quant:
        ax.legend()
    ax.set_xlabel("firmware - float model [relative to the largest value]")
    ax.set_title("quantization error (informative)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

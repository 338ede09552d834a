"""`l1ml report`: one self-contained HTML page per model version (figures embedded as PNG), rendered with
Jinja2 from what the other steps wrote. It reads results; the only arithmetic is drawing the curves."""

from l1ml.report.build import build_report

__all__ = ["build_report"]

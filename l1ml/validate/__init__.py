"""Software against firmware: `validate` is the entry point; see l1ml.validate.core."""

from l1ml.validate.core import Divergence, Validation, default_report_dir, samples_hw, validate
from l1ml.validate.reports import junit_xml, plot_differences, write_reports

__all__ = [
    "Divergence", "Validation", "default_report_dir", "junit_xml", "plot_differences", "samples_hw",
    "validate", "write_reports",
]

"""Software against firmware: `validate` is the entry point; see l1ml.validate.model."""

from l1ml.validate.model import default_report_dir, validate
from l1ml.validate.reports import junit_xml, plot_differences, write_reports
from l1ml.validate.samples import samples_hw
from l1ml.validate.verdict import Divergence, Validation

__all__ = [
    "Divergence", "Validation", "default_report_dir", "junit_xml", "plot_differences", "samples_hw",
    "validate", "write_reports",
]

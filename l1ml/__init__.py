"""l1ml: from training to firmware for CMS Level-1 trigger machine learning."""

__version__ = "0.1.0"

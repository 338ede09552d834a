"""Errors a user can act on.

Library code raises these with a message that names the file, key or value at fault; the CLI prints the
message without a traceback and exits non-zero. Anything else that escapes is a bug in l1ml.
"""


class L1mlError(Exception):
    """Base class for errors whose message is meant for the user."""


class ConfigError(L1mlError):
    """A project, board or settings file is wrong."""


class DataError(L1mlError):
    """An event file is missing, malformed or holds values it should not."""


class ToolNotFound(L1mlError):
    """An external tool (vitis_hls, vivado, ghdl, sbatch...) is not installed or not on PATH."""


class UnsupportedError(L1mlError):
    """The firmware does something the batch emulator cannot reproduce bit for bit."""


class ConversionError(L1mlError):
    """The network cannot be converted to firmware that computes what the software computes."""

"""Errors caused by the user's input. Each message names the problem and the fix; the command
line prints them without a traceback (anything else is a bug and keeps its traceback)."""


class UserError(Exception):
    """Base of the errors a user can fix by changing the command, config, data or workdir."""


class ConfigError(UserError, ValueError):
    """A config field with a value that cannot work (unknown name, bad sweep, bad shape)."""


class DataError(UserError, ValueError):
    """A dataset that cannot be found or read."""


class CheckpointError(UserError, RuntimeError):
    """A workdir or checkpoint that does not fit this run."""


class NonFiniteLossError(UserError, FloatingPointError):
    """Training produced NaN or Inf; the last good checkpoint is kept."""


class PopulationTooLargeError(UserError, MemoryError):
    """A population that would not fit in device memory, found before compiling it."""

"""Errors that name what went wrong and where, so a learner can fix the input, not debug the library."""


class SegeduError(Exception):
    """Base class of every error segedu raises on purpose."""


class DataError(SegeduError, ValueError):
    """A data set, image or mask is missing, unreadable or inconsistent. The message names the file."""


class CheckpointError(SegeduError, ValueError):
    """A checkpoint is missing, corrupt, or was written for another model."""


class DownloadError(SegeduError, RuntimeError):
    """A download failed, its content did not verify, or its archive was unsafe to extract."""


class InputError(SegeduError, ValueError):
    """An argument, option, size or tensor is of the wrong kind or out of range (a model's width, a too-small image,
    NaN logits). The message names it, what was given and what is accepted."""

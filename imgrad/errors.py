"""Exceptions raised by imgrad.

Each subclasses the built-in exception a caller would already catch, so
``except ValueError`` keeps working while ``except imgrad.PipelineError``
can single out imgrad's own checks.
"""

from __future__ import annotations

__all__ = ["ImageReadError", "ImageWriteError", "PipelineError"]


class PipelineError(ValueError):
    """A pipeline that cannot run: unknown step, bad parameter, missing plane.

    Raised when the pipeline is built, never halfway through a dataset.
    """


class ImageReadError(OSError):
    """An image file that cannot be read: missing, empty, corrupt, unsupported.

    The message always starts with the path.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep pickling (process pools, Dask) working
        return type(self), (self.path, self.reason)


class ImageWriteError(OSError):
    """An image that cannot be written to the requested path or format."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)

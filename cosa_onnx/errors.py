"""The error hierarchy. Every error a user can cause says what is wrong and what to do."""

from __future__ import annotations


class CosaError(Exception):
    """Base class of every error this tool raises on purpose."""

    exit_code = 1


class UserInputError(CosaError):
    """Bad input from the user (model, spec, options): exit code 2."""

    exit_code = 2


class ModelLoadError(UserInputError):
    """The ONNX file cannot be read or is not a valid model."""


class ShapeError(UserInputError):
    """A layer's shape is unknown or invalid (bind dynamic dims with --batch / --input-shape)."""


class SpecError(UserInputError):
    """A hardware spec is malformed or inconsistent."""


class InfeasibleError(UserInputError):
    """A layer cannot be mapped onto the architecture (names the layer and the level)."""


class ScheduleError(CosaError):
    """A schedule is invalid (an internal error when the scheduler produced it)."""

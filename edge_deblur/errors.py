"""Exceptions raised by edge-deblur, and `parsed` for option values. The CLI turns any `EdgeDeblurError` into one
line and exit code 2."""


class EdgeDeblurError(Exception):
    """Base class for errors caused by user input (files, options, data); never by a bug."""


class ImageError(EdgeDeblurError):
    """An image file that cannot be read or written, or an array that is not an image."""


class DataError(EdgeDeblurError):
    """A dataset folder that is missing, empty, mislaid out or has no usable pairs."""


class ModelError(EdgeDeblurError):
    """A model file or name that cannot be used: unknown name, corrupt or foreign file, wrong signature."""


class TrainingError(EdgeDeblurError):
    """Training stopped for a reason the user must act on (e.g. the loss became NaN)."""


def parsed(parse, value, prefix: str = ""):
    """`parse(value)` for a user's option value; the parser's ValueError becomes an `EdgeDeblurError` (one line,
    `prefix` + its message), e.g. `parsed(parse_views, 3, "--")` -> "--views must be one of 1, 2, 4, 8, got 3"."""
    try:
        return parse(value)
    except ValueError as e:
        raise EdgeDeblurError(f"{prefix}{e}") from None

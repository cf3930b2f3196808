"""How every command ends when something goes wrong: one-line errors (exit 2), a missing training extra, Ctrl-C
(130) and SIGTERM (143) without TensorFlow's slow interpreter shutdown; and `--version`."""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import typer

from edge_deblur.errors import EdgeDeblurError

TRAIN_EXTRA = {"tensorflow": "TensorFlow", "keras": "Keras", "cv2": "OpenCV", "skimage": "scikit-image",
               "matplotlib": "matplotlib"}  # what `pip install 'edge-deblur[train]'` adds to the core install
COMMAND_STATE = {"verbose": False}  # set by the command line's main callback (--verbose)


def _print_version(value: bool) -> None:
    if value:
        from edge_deblur import __version__

        typer.echo(f"edge-deblur {__version__}")
        raise typer.Exit()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C (see `_terminated`)."""


def _terminated(signum, frame) -> None:
    """SIGTERM unwinds like Ctrl-C: temporary files are removed and atomic writes finish or vanish."""
    raise _Terminated


def _user_errors(fn):
    """Run a command with start-up chatter filtered (unless --verbose); turn `EdgeDeblurError` and a missing
    training extra into one line on stderr and exit code 2, Ctrl-C into exit code 130."""
    command = fn.__name__.removesuffix("_cmd").replace("_", " ")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from edge_deblur._quiet import filtered

        try:
            with contextlib.nullcontext() if COMMAND_STATE["verbose"] else filtered():
                return fn(*args, **kwargs)
        except EdgeDeblurError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except ImportError as e:
            missing = (e.name or "").split(".")[0]
            if missing not in TRAIN_EXTRA:
                raise
            typer.echo(f"error: `edge-deblur {command}` needs {TRAIN_EXTRA[missing]}, which the core install does "
                       "not include: pip install 'edge-deblur[train]'", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as e:
            terminated = isinstance(e, _Terminated)
            typer.echo("terminated" if terminated else "interrupted", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            # files are written atomically and temporary ones removed while the interrupt unwound; skip the
            # interpreter shutdown, which takes TensorFlow 5-10 s after an interrupted export
            os._exit(143 if terminated else 130)  # 128 + SIGTERM / SIGINT, as a shell reports them

    return wrapper


def _needs_training_extra(fn):
    """Check before any work that the `[train]` extra is installed (see `_user_errors` for the message)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import importlib.util

        for module in TRAIN_EXTRA:
            if importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(f"No module named '{module}'", name=module)
        return fn(*args, **kwargs)

    return wrapper

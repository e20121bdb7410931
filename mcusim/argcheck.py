"""Checks of command-line values, done before anything is simulated.

Every value a user types is checked here, at the edge: numbers (argparse ``type=``
functions: a bad value is a one-line usage error, exit status 2), output paths (writable,
not a directory, a plot format matplotlib knows) and input files (readable, of bounded
size). A run never starts with a value that would only fail after the work was done.
"""

from __future__ import annotations

import argparse
import math
import os
import stat

from mcusim.errors import UserError

# An input file (UART bytes) is read whole into memory: at most this many bytes.
MAX_INPUT_FILE_BYTES = 16 << 20


# --------------------------------------------------------------------------- numbers

def _number(text: str, kind):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{'an integer' if kind is int else 'a number'} expected, got {text!r}") from None
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"a finite number expected, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """An integer >= 1 (counts, cycle limits, intervals)."""
    v = _number(text, int)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (warm-up counts)."""
    v = _number(text, int)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def positive_float(text: str) -> float:
    """A finite number > 0 (clocks in MHz, wall-clock limits in seconds)."""
    v = _number(text, float)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return v


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (0 often meaning 'off', as the option's help says)."""
    v = _number(text, float)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return v


# --------------------------------------------------------------------------- output paths

def check_writable(path: str | os.PathLike, option: str) -> None:
    """Refuse an output path that could not be written, before the run: a directory, a
    missing or non-directory parent, no permission. An existing file is opened for append
    (nothing written); a new one is created and removed again."""
    p = os.fspath(path)
    if not p:
        raise UserError(f"{option}: empty path")
    if os.path.isdir(p):
        raise UserError(f"{option} {p}: is a directory (give a file name)")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise UserError(f"{option} {p}: directory {parent} does not exist")
    try:
        if os.path.exists(p):
            with open(p, "ab"):
                pass
        else:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.close(fd)
            os.unlink(p)
    except OSError as e:
        raise UserError(f"{option} {p}: cannot write: {e.strerror}") from None


def plot_formats() -> dict[str, str]:
    """File extensions matplotlib can write (without a figure)."""
    from matplotlib.backend_bases import FigureCanvasBase
    return FigureCanvasBase.get_supported_filetypes()


def check_plot_path(path: str | os.PathLike, option: str) -> None:
    """A writable path whose extension is a format matplotlib writes (png, pdf, svg...)."""
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower().lstrip(".")
    known = plot_formats()
    if ext not in known:
        raise UserError(f"{option} {p}: unknown plot format "
                        f"{'.' + ext if ext else '(no extension)'} "
                        f"(use one of: {', '.join(sorted(known))})")
    check_writable(p, option)


# --------------------------------------------------------------------------- input files

def read_bounded(path: str | os.PathLike, option: str,
                 limit: int = MAX_INPUT_FILE_BYTES) -> bytes:
    """The bytes of an input file, refused (one line) when it is unreadable or larger than
    ``limit`` (devices and pipes such as /dev/zero are read up to the limit, no further)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise UserError(f"{option} {p}: is a directory")
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise UserError(f"{option} {p}: is a directory") from None
    except OSError as e:
        raise UserError(f"{option} {p}: cannot read: {e.strerror}") from None
    if len(data) > limit:
        raise UserError(f"{option} {p}: more than {limit >> 20} MiB (input files are read "
                        "whole into memory)")
    return data


def unescape(text: str, option: str) -> bytes:
    r"""Backslash escapes as in Python byte strings (\n, \r, \t, \xNN, \\); one line for a
    bad escape."""
    try:
        return text.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError as e:
        raise UserError(f"{option}: bad escape in {text!r}: {e.reason} "
                        r"(use \n, \r, \t, \xNN or \\)") from None
    except UnicodeEncodeError:
        raise UserError(rf"{option}: {text!r} names a character above \xff "
                        "(give bytes: \\xNN escapes)") from None

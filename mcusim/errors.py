"""Errors a user can cause (bad input) end the run with one line and exit status 2."""


class UserError(Exception):
    """Bad input or usage: reported as one line, exit status 2."""

    exit_status = 2

"""The one domain error of the `fevergate` CLI and its exit codes (docs/CLI.md).

Handlers raise `FevergateError(message, exit_code)` for every expected failure; `cli.main`
prints `fevergate: <message>` on stderr and exits with the code, without a traceback.
"""

from __future__ import annotations

__all__ = [
    "FevergateError",
    "EXIT_OK",
    "EXIT_DATA",
    "EXIT_USAGE",
    "EXIT_NO_PORT",
    "EXIT_PORT_BUSY",
    "EXIT_GARBAGE",
    "EXIT_FILE",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_DATA = 1  # bad frames or data problems found (where a command says so)
EXIT_USAGE = 2  # bad arguments (argparse's own code), or a command that is not installed
EXIT_NO_PORT = 3  # the port is missing, cannot be opened (permission), or went away
EXIT_PORT_BUSY = 4  # another program has the port open
EXIT_GARBAGE = 5  # bytes arrive but no valid frame: wrong baud rate or not a fevergate port
EXIT_FILE = 6  # a file (capture, database, output) cannot be read or written
EXIT_INTERRUPTED = 130  # Ctrl-C


class FevergateError(Exception):
    """An expected failure: a one-line message for the user and the process exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_DATA) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message

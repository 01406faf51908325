"""How the command fails: one exception carrying the message and the exit status.

Exit status: 0 done; 1 refused (the API answered an error, e.g. ``card_not_found`` or
``forbidden``, or a stock file has rejected rows and nothing was written); 2 unusable input
(arguments, number, file, configuration, credentials); 3 the service or AWS could not be reached
or failed (nothing is half-done: the same command can be run again).

Messages never contain a card number, a PIN or a secret: they name lines, card ids and last 4.
"""

from __future__ import annotations

from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3


class CliError(Exception):
    def __init__(self, message: str, status: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiError(CliError):
    """The operator API answered an error envelope (``{"error_code", "message"}``)."""

    def __init__(self, http_status: int, error_code: str, message: str) -> None:
        status = EXIT_UNAVAILABLE if http_status >= 500 or http_status == 429 else EXIT_REFUSED
        super().__init__(message, status)
        self.http_status = http_status
        self.error_code = error_code

    @property
    def envelope(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "message": self.message}

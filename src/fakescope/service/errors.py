"""The one error type of the service: an HTTP status and a message the caller can act on."""

from __future__ import annotations


class ApiError(Exception):
    """Answered as ``{"error": message, "status": status}`` with that status (and ``headers``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

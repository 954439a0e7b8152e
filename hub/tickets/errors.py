"""Why a ticket action was refused, with the HTTP status the API answers (the CLI prints the message)."""

from __future__ import annotations


class TicketError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(TicketError):
    status = 404


class Forbidden(TicketError):
    status = 403


class Conflict(TicketError):
    """An illegal state transition, a full agent, a closed 48-hour window: the reason says which."""

    status = 409

"""Domain errors; each carries the code and HTTP status of DESIGN.md's error shape."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import exc as sa_exc

# What the database raises when it cannot serve a request in time (see Unavailable): a bug raises
# something else (ProgrammingError, IntegrityError, ...) and stays a 500.
DATABASE_OUTAGES = (sa_exc.TimeoutError, sa_exc.OperationalError)
# Seconds a client is asked to wait before trying a request refused as `unavailable` again.
RETRY_AFTER_S = 5


class ServiceError(Exception):
    """A request the service refuses; nothing was written."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict | None = None, *, audited: bool = False):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.audited = audited  # the service already wrote the audit row for this refusal

    def to_dict(self) -> dict:
        """The `error` object of the API and socket acknowledgements."""
        error = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return error


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthenticated(ServiceError):
    status, code = 401, "unauthenticated"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class AtCapacity(ServiceError):
    status, code = 409, "at_capacity"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class ValidationFailed(ServiceError):
    status, code = 422, "validation_error"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"


class Unavailable(ServiceError):
    """Not now, try again shortly (503, with Retry-After): the database could not serve the request
    in time (DATABASE_OUTAGES), or the connections set aside for downloads are all in use."""

    status, code = 503, "unavailable"


class InternalError(ServiceError):
    status, code = 500, "internal_error"


def database_unavailable() -> Unavailable:
    """The refusal for a request that met one of DATABASE_OUTAGES, in the caller's language."""
    return Unavailable(_("The server is busy or its database is not answering; try again in a moment."))

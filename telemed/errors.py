"""Domain errors; each carries the code and HTTP status of DESIGN.md's error shape."""
from __future__ import annotations


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


class InternalError(ServiceError):
    status, code = 500, "internal_error"

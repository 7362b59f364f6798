"""API errors as the real server reports them: a Status object with code, reason, message and details."""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body

    # -- the errors the fake raises ----------------------------------------------------------------

    @staticmethod
    def _details(rt, name) -> dict:
        details = {"name": name, "kind": rt.plural} if name else {"kind": rt.plural}
        if rt.group:
            details["group"] = rt.group
        return details

    @classmethod
    def not_found(cls, rt, name: str) -> "ApiError":
        return cls(404, "NotFound", f'{rt.key} "{name}" not found', cls._details(rt, name))

    @classmethod
    def already_exists(cls, rt, name: str) -> "ApiError":
        return cls(409, "AlreadyExists", f'{rt.key} "{name}" already exists', cls._details(rt, name))

    @classmethod
    def conflict(cls, rt, name: str, why: str) -> "ApiError":
        return cls(409, "Conflict", f'Operation cannot be fulfilled on {rt.key} "{name}": {why}',
                   cls._details(rt, name))

    @classmethod
    def apply_conflict(cls, rt, name: str, conflicts: list[tuple[str, str]]) -> "ApiError":
        lines = [f'conflict with "{manager}": {path}' for manager, path in conflicts]
        noun = "conflict" if len(conflicts) == 1 else "conflicts"
        message = f"Apply failed with {len(conflicts)} {noun}: " + "\n".join(lines)
        details = cls._details(rt, name)
        details["causes"] = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": p}
                             for m, p in conflicts]
        return cls(409, "Conflict", message, details)

    @classmethod
    def invalid(cls, rt, name: str, causes: list[dict]) -> "ApiError":
        """422: causes are {"field", "reason", "message"} (message without the field prefix)."""
        summary = ", ".join(f'{c["field"]}: {c["message"]}' for c in causes)
        qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        details = cls._details(rt, name)
        details["kind"] = rt.kind
        details["causes"] = [{"reason": c["reason"], "message": c["message"], "field": c["field"]} for c in causes]
        if len(causes) > 1:
            summary = "[" + summary + "]"
        return cls(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)

    @classmethod
    def bad_request(cls, message: str) -> "ApiError":
        return cls(400, "BadRequest", message)

    @classmethod
    def forbidden(cls, message: str, rt=None, name: str = "") -> "ApiError":
        return cls(403, "Forbidden", message, cls._details(rt, name) if rt else None)

    @classmethod
    def method_not_allowed(cls, message: str = "the server does not allow this method on the requested resource"):
        return cls(405, "MethodNotAllowed", message, {})

    @classmethod
    def unsupported_media_type(cls, content_type: str, accepted: list[str]) -> "ApiError":
        return cls(415, "UnsupportedMediaType",
                   f"the body of the request was in an unknown format - accepted media types include: "
                   f"{', '.join(accepted)}", {})

    @classmethod
    def gone(cls, message: str) -> "ApiError":
        return cls(410, "Expired", message)

    @classmethod
    def resource_not_found(cls) -> "ApiError":
        return cls(404, "NotFound", "the server could not find the requested resource",
                   {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def field_error(field: str, reason: str, message: str) -> dict:
    """One cause of a 422 Invalid error; reason is the Go field-error type name."""
    return {"field": field, "reason": reason, "message": message}


def required(field: str, detail: str = "") -> dict:
    return field_error(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid_value(field: str, value, detail: str) -> dict:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return field_error(field, "FieldValueInvalid", f"Invalid value: {shown}: {detail}")


def unsupported(field: str, value, supported: list[str]) -> dict:
    options = ", ".join(f'"{s}"' for s in supported)
    return field_error(field, "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: {options}')


def forbidden(field: str, detail: str) -> dict:
    return field_error(field, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(field: str, limit: int) -> dict:
    return field_error(field, "FieldValueTooLong", f"Too long: must have at most {limit} bytes")

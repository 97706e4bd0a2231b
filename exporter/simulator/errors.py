"""The vendor's error catalogue and the exception the simulator raises to answer with one.

Every error leaves the simulator as the vendor body
``{"RequestId", "HostId", "Code", "Message", "Recommend"}`` with the vendor's HTTP status, so a
client under test sees exactly what the real service would send.
"""

from __future__ import annotations

import json
import uuid


class ErrorAnswer(Exception):
    """An error answer: vendor code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_body(error: ErrorAnswer, request_id: str, host_id: str = "vpc.aliyuncs.com") -> bytes:
    recommend = (
        f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Vpc&requestId={request_id}"
    )
    return json.dumps(
        {
            "RequestId": request_id,
            "HostId": host_id,
            "Code": error.code,
            "Message": error.message,
            "Recommend": recommend,
        }
    ).encode()


# Common errors of the VPC API: code -> (HTTP status, message).
COMMON: dict[str, tuple[int, str]] = {
    "Throttling": (400, "Request was denied due to request throttling."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "Throttling.Api": (400, "Request was denied due to api flow control."),
    "ServiceUnavailable": (
        503,
        "The request has failed due to a temporary failure of the server.",
    ),
    "InternalError": (
        500,
        "The request processing has failed due to some unknown error, exception or failure.",
    ),
    "Forbidden.RAM": (
        403,
        "User not authorized to operate on the specified resource, "
        "or this API doesn't support RAM.",
    ),
}


def common(code: str, status: int | None = None) -> ErrorAnswer:
    default_status, message = COMMON[code]
    return ErrorAnswer(code, message, status or default_status)


def missing_parameter(name: str) -> ErrorAnswer:
    return ErrorAnswer(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def invalid_parameter(name: str, value: str) -> ErrorAnswer:
    """Malformed common parameters (PageSize, PageNumber, booleans...): one line naming it."""
    return ErrorAnswer(
        "InvalidParameter",
        f'The specified parameter "{name}" is not valid: {value[:64]!r}.',
    )


def not_found() -> ErrorAnswer:
    return ErrorAnswer(
        "InvalidPhysicalConnectionId.NotFound",
        "The PhysicalConnectionId provided does not exist in our records.",
        404,
    )


def not_allowed_in_state() -> ErrorAnswer:
    return ErrorAnswer("Forbidden.NotAllowedInState", "The request does not allow in this state.")

"""A small signed client for Alibaba Cloud RPC APIs (the VPC API today): one shared aiohttp
session, V3 signatures, a per-account rate limit and retries that never block the event loop.

Not the official SDK at run time: that opens a session per call and sleeps in the event loop on
retries. Every attempt is reported to an observer so self-metrics stay outside. The API product
(version, default endpoint, whether a 200 answer can still be an error) is a setting, so the
same client serves other products of the same RPC style.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from exporter.credentials import CredentialSource
from exporter.logs import redact
from exporter.region_ids import endpoint_host
from exporter.signing import canonical_query, sign_v3_headers

log = logging.getLogger(__name__)

API_VERSION = "2016-04-28"
_RETRYABLE_CODES = frozenset(
    {"ServiceUnavailable", "InternalError", "SignatureNonceUsed", "InvalidResponse"}
)

#: Every value the ``code`` of an attempt (the ``code`` label of
#: ``expressconnect_api_requests_total``) can take, by kind. The API's own codes are kept only
#: when they look like codes, so the label's cardinality is not the API's to choose.
CODE_LABEL_VALUES: dict[str, str] = {
    "Success": "the attempt got a successful answer",
    "<API code>": "the API's error Code as is, e.g. Throttling.User, Forbidden.RAM, "
    "InvalidRegionId.NotFound (only codes of 1-64 characters from A-Z a-z 0-9 . _ -)",
    "Invalid": "the API's error Code was not code-shaped (or echoed a secret); the error "
    "message shows it, escaped",
    "HTTP<status>": "an error status whose body has no Code, e.g. HTTP502",
    "InvalidResponse": "a successful status whose body is not a JSON object",
    "Unsuccessful": 'a 200 answer with "Success": false and no Code (products whose '
    "answers carry a Success field only)",
    "Timeout": "no complete answer within api.request_timeout",
    "ResponseTooLarge": "the answer was larger than api.max_response_bytes (not retried)",
    "<transport error class>": "the aiohttp exception class of an exchange that failed once "
    "connected, e.g. ServerDisconnectedError, ClientOSError, ClientPayloadError (a connection "
    "that never opened, ClientConnectorError and its kind, is no API request and not counted)",
    "Cancelled": "the attempt was under way when its pass was cancelled (a pass timeout, a "
    "stop): the request may have reached the API, and counts against its quota",
}
CANCELLED = "Cancelled"
INVALID_CODE = "Invalid"
_CODE_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_MESSAGE = 300


# (account, region_id, action, code, seconds) for every attempt, success or not.
RequestObserver = Callable[[str, str, str, str, float], None]


def code_label(code: str) -> str:
    """``code`` if it is safe as a label value (code-shaped, no secret in it), else "Invalid"."""
    if _CODE_SHAPE.fullmatch(code) and redact(code) == code:
        return code
    return INVALID_CODE


class ApiError(Exception):
    """A request that failed for good; ``code`` is a ``CODE_LABEL_VALUES`` value.

    The message is built redacted (registered secrets and STS tokens, secret-named fields) and
    on one line, so whatever shows ``str(error)`` (a log line, the status page) shows the same
    safe text. A code that is not code-shaped becomes "Invalid" and is quoted in the message.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        action: str,
        http_status: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        reached: bool = True,
    ) -> None:
        label = code_label(code)
        if label != code:
            message = f"(code {json.dumps(redact(code)[:100])}) {message}"  # redact, then cut
        one_line = redact(" ".join(message.split()))
        if len(one_line) > _MAX_MESSAGE:
            one_line = one_line[: _MAX_MESSAGE - 3] + "..."
        super().__init__(f"{action}: {label}: {one_line}" if one_line else f"{action}: {label}")
        self.code = label
        self.action = action
        self.http_status = http_status
        self.request_id = request_id
        self.retryable = retryable
        #: False when no connection was made: the API never saw the request.
        self.reached = reached


def is_retryable(code: str, http_status: int | None) -> bool:
    """Throttling*, temporary server failures, any 5xx, reused nonces and bodies cut short;
    never auth or parameter errors."""
    if code.startswith("Throttling") or code in _RETRYABLE_CODES:
        return True
    if code.isascii() and code.isdigit() and 500 <= int(code) <= 599:
        return True  # a 5xx status given as the Code of an HTTP 200 body (CloudMonitor)
    return http_status is not None and http_status >= 500


@dataclass(frozen=True, slots=True)
class ClientSettings:
    endpoint: str | None
    request_timeout: float
    retries: int
    max_requests_per_second: float
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    #: The API product: its version, its endpoint host for a region when ``endpoint`` is not
    #: set, and whether a 200 answer with ``"Success": false`` or a ``Code`` other than "200"
    #: is an error (products such as CloudMonitor answer errors that way).
    api_version: str = API_VERSION
    default_host: Callable[[str], str] = endpoint_host
    success_field: bool = False
    #: ``api.max_response_bytes``: an answer larger than this fails the attempt, unread.
    max_response_bytes: int = 16 * 1024 * 1024


#: Bodies at least this large are decoded in a worker thread. ``json.loads`` holds the GIL, so
#: this only shortens the loop's stall (measured: a 16 MiB page stalls it ~0.06 s instead of
#: ~0.14 s); what bounds it is ``api.max_response_bytes``.
DECODE_OFF_LOOP_BYTES = 256 * 1024


class RateLimiter:
    """Token bucket (burst 1 by default) shared by every region of one account.

    Callers queue in order; only the one at the head sleeps, until the bucket has a token for
    it, and a slot is booked only when it is granted. So a caller cancelled while it waits (a
    pass that timed out) books nothing and delays nobody: reserving slots ahead, as a simpler
    limiter would, leaves the cancelled callers' slots booked and the account runs far below its
    limit. Waiting is an asyncio sleep, so the loop keeps serving scrapes meanwhile.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._burst = max(1, burst)
        self._interval = 1.0
        self.set_rate(rate)
        self._last = -math.inf  # the (theoretical) time of the last granted slot
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    def set_rate(self, rate: float) -> None:
        """Change the rate in place (a reload): the next slot is computed with it; a caller
        already asleep finishes its current wait first."""
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate

    async def acquire(self) -> None:
        """Return when this caller may send one request."""
        me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(me)
        try:
            if self._waiters[0] is not me:
                await me  # woken by the caller ahead when it leaves the head of the queue
            while (delay := self._grant()) > 0:
                await self._sleep(delay)
        finally:
            was_head = self._waiters[0] is me
            self._waiters.remove(me)
            if was_head and self._waiters and not self._waiters[0].done():
                self._waiters[0].set_result(None)

    def _grant(self) -> float:
        """Book the next slot if it has come (0.0), else how long until it comes."""
        now = self._clock()
        slot = max(self._last + self._interval, now - (self._burst - 1) * self._interval)
        if slot > now:
            return slot - now
        self._last = slot
        return 0.0


class Limiters:
    """One ``RateLimiter`` per account, kept across configuration reloads.

    A reload builds new clients while passes in flight keep using the old ones; if each
    generation had its own limiter, every reload would add another full rate for the account.
    Keyed by whatever names the budget: use one registry per API product (each has its own
    limit).
    """

    def __init__(self) -> None:
        self._limiters: dict[str, RateLimiter] = {}

    def get(self, account: str, rate: float) -> RateLimiter:
        """The account's limiter (created on first use), its rate set to ``rate``."""
        limiter = self._limiters.get(account)
        if limiter is None:
            limiter = self._limiters[account] = RateLimiter(rate)
        elif limiter.rate != rate:
            limiter.set_rate(rate)
        return limiter

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the limiters of accounts not in ``keep`` (they left the configuration)."""
        kept = set(keep)
        for account in [a for a in self._limiters if a not in kept]:
            del self._limiters[account]


def endpoint_url(
    template: str | None, region_id: str, default_host: Callable[[str], str] = endpoint_host
) -> URL:
    """The API URL for a region: the configured override (``{region_id}`` filled) or the real
    one, ``https://`` and the product's host for the region."""
    if template is None:
        return URL(f"https://{default_host(region_id)}/")
    text = template.replace("{region_id}", region_id)
    if "/" not in text.partition("://")[2]:
        text += "/"
    return URL(text)


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccountClient:
    """RPC calls for one account (own credentials and rate limit) over the shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account: str,
        credentials: CredentialSource,
        settings: ClientSettings,
        observer: RequestObserver | None = None,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._session = session
        self.account = account
        self._credentials = credentials
        self._settings = settings
        #: Shared across reloads when given (``Limiters.get``), else this client's own.
        self.limiter = limiter or RateLimiter(settings.max_requests_per_second)
        self._observer = observer
        self._rng = rng or random.Random()

    async def call(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """The decoded JSON body of a successful call (every field kept), or ``ApiError``."""
        settings = self._settings
        attempt = 0
        while True:
            await self.limiter.acquire()
            started = time.monotonic()
            try:
                body = await self._attempt(action, region_id, params)
            except asyncio.CancelledError:
                # Counted: the API may have the request (what its quota counts) whether or not
                # its answer is awaited any more.
                self._observe(region_id, action, CANCELLED, time.monotonic() - started)
                raise
            except ApiError as error:
                if error.reached:  # a connection that never opened is no API request
                    self._observe(region_id, action, error.code, time.monotonic() - started)
                if not error.retryable or attempt >= settings.retries:
                    raise
                log.info(
                    "retrying API request",
                    extra={
                        "account": self.account,
                        "region_id": region_id,
                        "action": action,
                        "code": error.code,
                        "attempt": attempt + 1,
                    },
                )
            else:
                self._observe(region_id, action, "Success", time.monotonic() - started)
                return body
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential with equal jitter: half fixed, half random, capped."""
        ceiling = min(self._settings.backoff_cap, self._settings.backoff_base * 2.0**attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _observe(self, region_id: str, action: str, code: str, seconds: float) -> None:
        if self._observer is not None:
            self._observer(self.account, region_id, action, code, seconds)

    async def _attempt(
        self, action: str, region_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        settings = self._settings
        credential = await self._credentials.get()
        base = endpoint_url(settings.endpoint, region_id, settings.default_host)
        query = canonical_query(params)
        url = URL(f"{base}?{query}" if query else str(base), encoded=True)
        host = base.raw_host or ""
        if base.explicit_port:
            host = f"{host}:{base.port}"
        headers = sign_v3_headers(
            access_key_id=credential.access_key_id,
            secret=credential.access_key_secret,
            method="POST",
            host=host,
            path=base.raw_path or "/",
            action=action,
            version=settings.api_version,
            params=params,
            date=_utc_now(),
            nonce=uuid.uuid4().hex,  # fresh per attempt: a retry after SignatureNonceUsed needs it
            security_token=credential.security_token,
        )
        timeout = aiohttp.ClientTimeout(total=settings.request_timeout)
        try:
            async with self._session.post(url, headers=headers, timeout=timeout) as response:
                raw = await read_capped(response, settings.max_response_bytes, action)
                status = response.status
        except TimeoutError:
            where = f"{base.raw_host}:{base.port}"
            message = f"no answer from {where} within {settings.request_timeout:g}s"
            raise ApiError("Timeout", message, action=action, retryable=True) from None
        except aiohttp.ClientError as error:
            raise _transport_error(action, base, error) from None
        if len(raw) >= DECODE_OFF_LOOP_BYTES:
            return await asyncio.to_thread(
                _decode, action, status, raw, success_field=settings.success_field
            )
        return _decode(action, status, raw, success_field=settings.success_field)


#: Bytes read from an answer at a time.
READ_CHUNK = 64 * 1024


async def read_capped(response: aiohttp.ClientResponse, cap: int, action: str) -> bytes:
    """The whole body, or ``ApiError`` as soon as it is known to exceed ``cap`` bytes (from
    Content-Length before reading, else while reading): never more than ``cap`` is held."""
    declared = response.content_length
    if declared is not None and declared > cap:
        raise _too_large(action, cap)
    body = bytearray()
    async for data in response.content.iter_chunked(READ_CHUNK):
        body += data
        if len(body) > cap:
            raise _too_large(action, cap)
    return bytes(body)


def _too_large(action: str, cap: int) -> ApiError:
    # Not retried: the same request gets the same answer.
    message = f"answer larger than api.max_response_bytes ({cap} bytes)"
    return ApiError("ResponseTooLarge", message, action=action)


def _transport_error(action: str, base: URL, error: aiohttp.ClientError) -> ApiError:
    """Name the peer and the operating system's reason, not just the exception class."""
    name = type(error).__name__
    if isinstance(error, aiohttp.ClientConnectorError):  # no connection: the API saw nothing
        reason = _os_reason(error.os_error)
        text = f"cannot connect to {error.host}:{error.port} ({reason})"
        return ApiError(name, text, action=action, retryable=True, reached=False)
    detail = str(error) or "connection failed"
    text = f"{base.raw_host}:{base.port}: {detail}"
    return ApiError(name, text, action=action, retryable=True)


def _os_reason(error: OSError) -> str:
    """The errno's text ("Connection refused"), which asyncio's own message hides."""
    if isinstance(error.errno, int) and error.errno > 0:
        return os.strerror(error.errno)
    return str(error.strerror or error) or type(error).__name__


# A JSON escape \uD800..\uDFFF (any case): only then can the decoded body hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]|\x00")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub_surrogates(value: Any) -> Any:
    """Every string (keys too) with unpaired surrogates replaced by U+FFFD.

    JSON may escape half a surrogate pair; Python decodes it into a string that cannot be
    encoded, and the pass that later writes it (a label, a log line, the state file) dies.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub_surrogates(k): _scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_surrogates(v) for v in value]
    return value


def _decode(action: str, status: int, raw: bytes, *, success_field: bool = False) -> dict[str, Any]:
    """The body of a successful answer, or the ``ApiError`` the answer stands for."""
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        body = None
    if not isinstance(body, dict):
        code = f"HTTP{status}" if status >= 300 else "InvalidResponse"
        raise ApiError(
            code,
            "response is not a JSON object",
            action=action,
            http_status=status,
            retryable=is_retryable(code, status),
        )
    # Lone surrogates come as \uD8xx escapes, or as raw bytes json decodes with surrogatepass
    # (UTF-8 ED A0..BF, or a UTF-16/32 body, which has NULs): they must not reach a label or a
    # log line. Other bodies, Chinese names included, are not walked.
    if _SURROGATE_ESCAPE.search(raw) or _RAW_SURROGATE.search(raw):
        body = _scrub_surrogates(body)
    if status >= 300:
        raise _answer_error(action, status, body, str(body.get("Code") or f"HTTP{status}"))
    if success_field:
        _check_success(action, status, body)
    return body


def _check_success(action: str, status: int, body: dict[str, Any]) -> None:
    """An HTTP 200 answer of an API that reports errors in its body (CloudMonitor): an error
    when ``Success`` is false (a bool, or the text) or ``Code`` is not 200; and only the
    documented success shape, ``Success`` true or ``Code`` 200, is a success (``{}`` is not)."""
    answer_code = body.get("Code")
    success = str(body.get("Success")).lower()
    code_ok = answer_code in ("200", 200)
    if success == "false" or answer_code not in (None, "", "200", 200):
        code = "Unsuccessful" if answer_code in (None, "", "200", 200) else str(answer_code)
        raise _answer_error(action, status, body, code)
    if success != "true" and not code_ok:
        raise ApiError(
            "InvalidResponse",
            "answer without Success or Code",
            action=action,
            http_status=status,
            retryable=True,
        )


def _answer_error(action: str, status: int, body: dict[str, Any], code: str) -> ApiError:
    request_id = body.get("RequestId")
    return ApiError(
        code,
        str(body.get("Message") or ""),
        action=action,
        http_status=status,
        request_id=request_id if isinstance(request_id, str) else None,
        retryable=is_retryable(code, status),
    )

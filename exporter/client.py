"""A small signed client for the VPC API: one shared aiohttp session, V3 signatures, a per-account
rate limit and retries that never block the event loop.

Not the official SDK at run time: it opens a session per call and sleeps in the loop on retries
(see the facts sheet). Every attempt is reported to an observer so self-metrics stay outside.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
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
from exporter.regions import endpoint_host
from exporter.signing import canonical_query, sign_v3_headers

log = logging.getLogger(__name__)

API_VERSION = "2016-04-28"
_RETRYABLE_CODES = frozenset(
    {"ServiceUnavailable", "InternalError", "SignatureNonceUsed", "InvalidResponse"}
)


# (account, region_id, action, code, seconds) for every attempt, success or not.
RequestObserver = Callable[[str, str, str, str, float], None]


class ApiError(Exception):
    """A request that failed for good; ``code`` is the API's code or a transport error class.

    The message is the API's own (trimmed to one line); it never contains credentials.
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
    ) -> None:
        one_line = " ".join(message.split())[:300]
        super().__init__(f"{action}: {code}: {one_line}" if one_line else f"{action}: {code}")
        self.code = code
        self.action = action
        self.http_status = http_status
        self.request_id = request_id
        self.retryable = retryable


def is_retryable(code: str, http_status: int | None) -> bool:
    """Throttling*, temporary server failures, any 5xx, reused nonces and bodies cut short;
    never auth or parameter errors."""
    if code.startswith("Throttling") or code in _RETRYABLE_CODES:
        return True
    return http_status is not None and http_status >= 500


@dataclass(frozen=True, slots=True)
class ClientSettings:
    endpoint: str | None
    request_timeout: float
    retries: int
    max_requests_per_second: float
    backoff_base: float = 0.2
    backoff_cap: float = 10.0


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


def endpoint_url(template: str | None, region_id: str) -> URL:
    """The API URL for a region: the configured override (``{region_id}`` filled) or the real."""
    if template is None:
        return URL(f"https://{endpoint_host(region_id)}/")
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
            except ApiError as error:
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
        credential = await self._credentials.get()
        base = endpoint_url(self._settings.endpoint, region_id)
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
            action=action,
            version=API_VERSION,
            params=params,
            date=_utc_now(),
            nonce=uuid.uuid4().hex,  # fresh per attempt: a retry after SignatureNonceUsed needs it
            security_token=credential.security_token,
        )
        timeout = aiohttp.ClientTimeout(total=self._settings.request_timeout)
        try:
            async with self._session.post(url, headers=headers, timeout=timeout) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            raise ApiError("Timeout", "request timed out", action=action, retryable=True) from None
        except aiohttp.ClientError as error:
            raise ApiError(
                type(error).__name__, "transport error", action=action, retryable=True
            ) from None
        return _decode(action, status, raw)


def _decode(action: str, status: int, raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
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
    if status >= 300:
        code = str(body.get("Code") or f"HTTP{status}")
        raise ApiError(
            code,
            str(body.get("Message") or ""),
            action=action,
            http_status=status,
            request_id=body.get("RequestId"),
            retryable=is_retryable(code, status),
        )
    return body

"""A stand-in for the running exporter behind `exporter.server.build_app`, and a tiny server
process around it (`python -m tests.deploy.fake_backend`) for tests that need their own process,
e.g. one with a low open-file limit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter import server


@dataclass
class FakeExposition:
    body: bytes

    def parts(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, ...]:
        return (self.body,)

    def size(self, *, openmetrics: bool, gzipped: bool) -> int:
        return len(self.body)


@dataclass
class FakeBackend:
    """What `server.Backend` asks for; `body` is served as the pre-rendered exposition."""

    body: bytes = b"# TYPE expressconnect_up gauge\nexpressconnect_up 1\n"
    is_ready: bool = True
    version: str = "test"
    reloads: list[str] = field(default_factory=list)

    def exposition(self) -> Any:
        return FakeExposition(self.body)

    def live_block(self, *, openmetrics: bool, gzipped: bool) -> bytes:
        return b"# EOF\n" if openmetrics else b""

    def region_statuses(self) -> Sequence[Any]:
        return []

    def discovery_errors(self) -> dict[str, str]:
        return {}

    def ready(self) -> bool:
        return self.is_ready

    async def reload(self) -> tuple[bool, str]:
        self.reloads.append("reload")
        return True, "configuration reloaded"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _serve(port: int, spare_fds: int) -> None:
    loop = asyncio.get_running_loop()
    original = loop.call_exception_handler

    def reporting(context: dict[str, Any]) -> None:
        print("LOOP-REPORT", flush=True)  # each report asyncio makes, for the test to count
        original(context)

    loop.call_exception_handler = reporting  # type: ignore[method-assign]
    # As the exporter does: `listen` also installs the accept-error handler.
    await server.listen(server.build_app(FakeBackend(), "/metrics"), ("127.0.0.1", port))
    limit = _open_fds() + spare_fds
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    )
    print("LISTENING", flush=True)
    await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spare-fds", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(message)s")
    asyncio.run(_serve(args.port, args.spare_fds))


if __name__ == "__main__":
    main()

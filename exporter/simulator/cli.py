"""``expressconnect-exporter simulate``: run the simulator until SIGTERM/SIGINT.

``exporter.cli`` dispatches the subcommand here (``add_arguments`` and ``run``); bad arguments get
a one-line error on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from exporter.region_ids import REGION_IDS
from exporter.simulator.accounts import (
    DEFAULT_ACCESS_KEY_ID,
    AccountsFileError,
    load_accounts,
)
from exporter.simulator.lines.fleet import DEFAULT_REGIONS
from exporter.simulator.scenario import ScenarioError
from exporter.simulator.server import Simulator

DEFAULT_LISTEN = "127.0.0.1:18080"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT to serve on (default {DEFAULT_LISTEN})"
    )
    parser.add_argument("--seed", type=int, default=0, help="fleet generator seed (default 0)")
    parser.add_argument(
        "--connections",
        type=int,
        default=40,
        help="connections per account, spread over --regions (default 40)",
    )
    parser.add_argument(
        "--regions",
        default=",".join(DEFAULT_REGIONS),
        help=f"comma-separated region IDs (default {','.join(DEFAULT_REGIONS)})",
    )
    parser.add_argument("--scenario", help="YAML scenario to run from start")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second for the lifecycle clock (default 1)",
    )
    parser.add_argument("--accounts-file", help="YAML file of accounts (default: one account)")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=0.0,
        help="requests/s per (account, region, action) before Throttling.User (default off)",
    )
    parser.add_argument(
        "--cms-scope",
        choices=("global", "regional"),
        default="global",
        help="CloudMonitor endpoints answer every region's VBRs (global, default) or only "
        "their own region's (regional)",
    )
    parser.add_argument(
        "--no-lifecycle", action="store_true", help="keep statuses still (no provider progress)"
    )


def _fail(message: str) -> int:
    print(f"simulate: error: {message}", file=sys.stderr, flush=True)
    return 2


def run(args: argparse.Namespace) -> int:
    host, sep, port_text = str(args.listen).rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        return _fail(f"--listen: expected HOST:PORT, got {args.listen!r}")
    regions = [r.strip() for r in str(args.regions).split(",") if r.strip()]
    unknown = [r for r in regions if r not in REGION_IDS]
    if not regions or unknown:
        return _fail(f"--regions: unknown region(s) {', '.join(unknown) or '(none given)'}")
    if args.connections < 0:
        return _fail("--connections: must be >= 0")
    if args.time_scale <= 0:
        return _fail("--time-scale: must be > 0")
    accounts = None
    if args.accounts_file:
        try:
            accounts = load_accounts(args.accounts_file)
        except AccountsFileError as exc:
            return _fail(str(exc))
    try:
        sim = Simulator(
            seed=args.seed,
            connections=args.connections,
            regions=regions,
            accounts=accounts,
            time_scale=args.time_scale,
            scenario=args.scenario,
            lifecycle=not args.no_lifecycle,
        )
    except (ScenarioError, ValueError) as exc:
        return _fail(str(exc))
    sim.cms_settings({"scope": args.cms_scope})
    if args.rate_limit > 0:
        sim.add_rate_limit({"rate": args.rate_limit})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(_serve(sim, host, int(port_text)))
    except OSError as exc:
        return _fail(f"cannot listen on {args.listen}: {exc.strerror or exc}")
    return 0


async def _serve(sim: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim.serve(host, port) as url:
        print(f"Express Connect API simulator listening on {url}/", flush=True)
        print(
            f"  {len(sim.store)} connections, regions {','.join(sim.regions)}, "
            f"time scale {sim.clock.time_scale:g}; control plane {url}/_sim/",
            flush=True,
        )
        for account in sim.accounts:
            if account.access_key_id == DEFAULT_ACCESS_KEY_ID:
                # Built-in, documented demo credentials: printing them is the point.
                print(
                    f"  account {account.name}: AccessKey ID {account.access_key_id}"
                    f"  AccessKey secret {account.access_key_secret}",
                    flush=True,
                )
                for sts in account.sts:
                    print(
                        f"    STS: AccessKey ID {sts.access_key_id}  secret "
                        f"{sts.access_key_secret}  security token {sts.security_token}",
                        flush=True,
                    )
            else:
                print(f"  account {account.name}: AccessKey ID {account.access_key_id}", flush=True)
        await stop.wait()
    print("simulator stopped", flush=True)

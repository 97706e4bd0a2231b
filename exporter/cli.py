"""``expressconnect-exporter`` / ``python -m exporter``: daemon, ``--check-config``, ``--once``,
and the ``demo`` and ``simulate`` subcommands.

Every failure ends as one line on stderr and an exit status (2 for configuration and usage
errors, 1 for the rest); a traceback only with ``--log.level debug``. Heavy modules (the
exporter core, the simulator) are imported only by the command that needs them, so
``--check-config`` stays quick and cannot fail on something it does not use.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from exporter import __version__
from exporter.config import Config, ConfigError, load_config

PROG = "expressconnect-exporter"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("logfmt", "json")


class UsageError(Exception):
    """Bad command-line arguments (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage: the caller prints one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Prometheus exporter for Alibaba Cloud Express Connect physical connections.",
    )
    parser.add_argument(
        "--config.file",
        "--config",
        dest="config",
        type=Path,
        metavar="FILE",
        help="YAML configuration file (--config is an alias)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration, print a summary and exit (status 2 if invalid)",
    )
    mode.add_argument(
        "--once",
        action="store_true",
        help="refresh every region once, print the exposition to stdout and exit"
        " (status 1 if any region failed)",
    )
    _add_server_flags(parser)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")

    commands = parser.add_subparsers(dest="command", metavar="{demo,simulate}")
    demo = commands.add_parser(
        "demo",
        help="run the simulator and the exporter against it, print the URLs to open",
        description="Start the API simulator with a demo fleet and the exporter against it.",
    )
    from exporter.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    # The simulator's own parser is built only when `simulate` is chosen (see _simulate):
    # its options are left to parse_known_args here, and --help is passed through.
    commands.add_parser(
        "simulate", add_help=False, help="run the VPC API simulator (see simulate --help)"
    )
    return parser


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    """Prometheus-style flags beside the YAML keys they override (the flag wins)."""
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help="address to listen on (overrides web.listen_address)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="TLS and basic-auth configuration (Prometheus exporter-toolkit format)",
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        metavar="PATH",
        help="path of the metrics endpoint (overrides web.telemetry_path)",
    )
    parser.add_argument(
        "--metric-allowlist",
        dest="metric_allowlist",
        type=_pattern_list,
        metavar="PATTERNS",
        help="comma-separated regular expressions of metric families to export, matched"
        " against the whole name (overrides metrics.allow; empty: every family)",
    )
    parser.add_argument(
        "--metric-denylist",
        dest="metric_denylist",
        type=_pattern_list,
        metavar="PATTERNS",
        help="comma-separated regular expressions of metric families not to export"
        " (overrides metrics.deny); the exporter's own health families are always exported",
    )
    parser.add_argument(
        "--log.level", dest="log_level", choices=LOG_LEVELS, help="overrides log.level"
    )
    parser.add_argument(
        "--log.format", dest="log_format", choices=LOG_FORMATS, help="overrides log.format"
    )


def _pattern_list(value: str) -> list[str]:
    """``a,b`` → ``["a", "b"]`` as kube-state-metrics splits its lists (a pattern holding a
    comma, such as ``x{1,2}``, goes in the YAML key instead); ``""`` is an empty list."""
    return [part.strip() for part in value.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--log.level=debug" in args or any(
        a == "--log.level" and b == "debug" for a, b in itertools.pairwise(args)
    )
    try:
        return _run(args)
    except SystemExit as exc:  # --help, --version and the subcommands' own exits
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    except (UsageError, ConfigError) as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if _is_config_error(exc):
            _fail(str(exc))
            return EXIT_CONFIG
        _fail(f"{PROG}: error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _is_config_error(exc: BaseException) -> bool:
    """A web config error (``--web.config.file``) is a configuration error too.

    Imported here, not at the top: the web config module pulls in aiohttp and bcrypt, which
    ``--check-config`` without a web config does not need.
    """
    from exporter.webconfig import WebConfigError

    return isinstance(exc, WebConfigError)


def _fail(message: str) -> None:
    """Print each line of ``message`` (a config error may list several problems) as one line."""
    lines = (" ".join(line.split()) for line in message.splitlines())
    print("\n".join(line for line in lines if line), file=sys.stderr, flush=True)


def _run(argv: list[str]) -> int:
    parser = build_parser()
    ns, extras = parser.parse_known_args(argv)
    if ns.command == "simulate":
        return _simulate(extras)
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if ns.command == "demo":
        from exporter import demo

        return demo.run(ns)
    if ns.config is None:
        parser.error(f"--config FILE is required (or try: {PROG} demo)")

    loader = functools.partial(
        load_config,
        ns.config,
        listen_address=ns.listen_address,
        telemetry_path=ns.telemetry_path,
        log_level=ns.log_level,
        log_format=ns.log_format,
        metric_allowlist=ns.metric_allowlist,
        metric_denylist=ns.metric_denylist,
    )
    config = loader()
    if ns.check_config:
        if ns.web_config_file is not None:
            from exporter.webconfig import load_web_config

            load_web_config(ns.web_config_file)
        print(f"config OK: {summary(config)}", flush=True)
        return EXIT_OK

    from exporter.logs import setup_logging

    setup_logging(config.log.level, config.log.format)
    if ns.once:
        return _once(config)
    from exporter.daemon import run_daemon

    return asyncio.run(run_daemon(loader, web_config_file=ns.web_config_file))


def _once(config: Config) -> int:
    from exporter.daemon import run_once

    body, ok = asyncio.run(run_once(config))
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return EXIT_OK if ok else EXIT_FAILED


def _simulate(argv: list[str]) -> int:
    from exporter.simulator.cli import add_arguments, run

    parser = _Parser(prog=f"{PROG} simulate", description="Alibaba Cloud VPC API simulator.")
    add_arguments(parser)
    status: int = run(parser.parse_args(argv))
    return status


def summary(config: Config) -> str:
    """``2 accounts, 5 regions`` (+ a note for accounts with ``regions: all``)."""

    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    text = f"{count(len(config.accounts), 'account')}, {count(config.region_count(), 'region')}"
    discovered = [a.name for a in config.accounts if a.regions == "all"]
    if discovered:
        text += f" (+ all regions of {', '.join(discovered)}, discovered at start)"
    return text

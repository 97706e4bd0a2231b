"""``python -m exporter.simulator``: the ``simulate`` subcommand on its own."""

import argparse

from exporter.simulator.cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m exporter.simulator")
add_arguments(parser)
raise SystemExit(run(parser.parse_args()))

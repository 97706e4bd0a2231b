"""A faithful simulator of the Alibaba Cloud VPC API for Express Connect physical connections
and the VBRs and BGP peers on them.

``Simulator`` holds the state; ``Simulator.serve()`` serves it in the running event loop and
``SimulatorThread`` in a thread of its own. See README.md in this package.
"""

from exporter.simulator.accounts import Account, StsCredential, load_accounts
from exporter.simulator.faults import FaultSpec, RateLimitSpec
from exporter.simulator.server import Simulator, SimulatorThread
from exporter.simulator.vbr.methods import VbrInfo

__all__ = [
    "Account",
    "FaultSpec",
    "RateLimitSpec",
    "Simulator",
    "SimulatorThread",
    "StsCredential",
    "VbrInfo",
    "load_accounts",
]

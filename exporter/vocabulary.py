"""The documented enumerations of the APIs this project reads, defined once.

The exporter exports these values as state sets; the simulator imports them to build its fleet
and to answer filters. Where the API spells a value in two ways, the exporter's spelling is the
canonical one here and ``wire_status`` gives the one the API sends.
"""

from __future__ import annotations

# DescribePhysicalConnections ---------------------------------------------------------------

STATUSES: tuple[str, ...] = (
    "Initial",
    "Approved",
    "Allocating",
    "Allocated",
    "Confirmed",
    "Enabled",
    "Rejected",
    "Canceled",
    "AllocationFailed",
    "Terminating",
    "Terminated",
)
ALLOCATION_FAILED = "AllocationFailed"
# The API writes this one status with a space in its responses and its filters.
ALLOCATION_FAILED_WIRE = "Allocation Failed"
BUSINESS_STATUSES: tuple[str, ...] = ("Normal", "FinancialLocked", "SecurityLocked")
LOA_STATUSES: tuple[str, ...] = (
    "Applying",
    "Accept",
    "Available",
    "Rejected",
    "Completing",
    "Complete",
    "Deleted",
)
FILTER_KEYS: tuple[str, ...] = (
    "PhysicalConnectionId",
    "AccessPointId",
    "Type",
    "LineOperator",
    "Spec",
    "Status",
    "Name",
    "ProductType",
)
MAX_FILTER_KEYS = 5


def canonical_status(value: str) -> str:
    """A physical connection status as the exporter exports it (``AllocationFailed``)."""
    return ALLOCATION_FAILED if value == ALLOCATION_FAILED_WIRE else value


def wire_status(value: str) -> str:
    """A physical connection status as the API sends it (``Allocation Failed``)."""
    return ALLOCATION_FAILED_WIRE if value == ALLOCATION_FAILED else value


# DescribeVirtualBorderRouters --------------------------------------------------------------

# Lower-case, as this action spells them.
VBR_STATUSES: tuple[str, ...] = (
    "unconfirmed",
    "active",
    "terminating",
    "terminated",
    "recovering",
    "deleting",
)
# Spelled exactly as documented (``eccId`` and ``type`` start lower-case).
VBR_FILTER_KEYS: tuple[str, ...] = (
    "PhysicalConnectionId",
    "VbrId",
    "Status",
    "Name",
    "AccessPointId",
    "eccId",
    "type",
)

# DescribeBgpPeers --------------------------------------------------------------------------

BGP_PEER_STATUSES: tuple[str, ...] = ("Pending", "Available", "Modifying", "Deleting", "Deleted")
BGP_STATUSES: tuple[str, ...] = ("Idle", "Connect", "Active", "Established", "Down")
# An empty BgpStatus (seen in old samples) is exported as this state.
BGP_STATUS_UNKNOWN = "Unknown"
IP_VERSIONS: tuple[str, ...] = ("ipv4", "ipv6")

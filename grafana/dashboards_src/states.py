"""The exporter's state sets as the dashboards colour and draw them.

The states come from ``exporter.vocabulary``, in the exporter's order. A line's current state is
encoded as a number (position + 1; 0 for a value the exporter did not know) so that a state
timeline can draw it; the code mappings here turn the numbers back into names and colours.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from exporter.vocabulary import (
    BGP_PEER_STATUSES,
    BGP_STATUS_UNKNOWN,
    BGP_STATUSES,
    BUSINESS_STATUSES,
    STATUSES,
    VBR_STATUSES,
)
from grafana.dashboards_src.panels import color_cell, value_map

STATUS_COLORS = {
    "Initial": "blue",
    "Approved": "light-blue",
    "Allocating": "purple",
    "Allocated": "light-purple",
    "Confirmed": "yellow",
    "Enabled": "green",
    "Rejected": "red",
    "Canceled": "dark-orange",
    "AllocationFailed": "dark-red",
    "Terminating": "orange",
    "Terminated": "#8e8e8e",
}
BUSINESS_COLORS = {"Normal": "green", "FinancialLocked": "orange", "SecurityLocked": "red"}
# Business-status codes live above the status codes so one panel can map both.
BUSINESS_CODE_BASE = 100
UNKNOWN_COLOR = "#c4162a"
VBR_STATUS_COLORS = {
    "unconfirmed": "yellow",
    "active": "green",
    "terminating": "orange",
    "terminated": "#8e8e8e",
    "recovering": "light-blue",
    "deleting": "dark-orange",
}
# Session states, the exporter's "Unknown" (an empty BgpStatus) included; only Established
# carries routes.
BGP_STATES: tuple[str, ...] = (*BGP_STATUSES, BGP_STATUS_UNKNOWN)
BGP_COLORS = {
    "Idle": "purple",
    "Connect": "yellow",
    "Active": "orange",
    "Established": "green",
    "Down": "red",
    BGP_STATUS_UNKNOWN: "dark-red",
}
BGP_PEER_STATUS_COLORS = {
    "Pending": "yellow",
    "Available": "green",
    "Modifying": "blue",
    "Deleting": "orange",
    "Deleted": "#8e8e8e",
}
ESTABLISHED = "Established"


def status_text_mapping() -> model.ValueMap:
    """Colours for status / business-status *label values* (table cells)."""
    entries = {s: (s, STATUS_COLORS[s]) for s in STATUSES}
    entries.update({b: (b, BUSINESS_COLORS[b]) for b in BUSINESS_STATUSES})
    return value_map(entries)


def status_code_mapping() -> model.ValueMap:
    """Texts and colours for the numeric codes of :func:`state_code`."""
    entries = {"0": ("Unknown status", UNKNOWN_COLOR)}
    entries.update({str(i + 1): (s, STATUS_COLORS[s]) for i, s in enumerate(STATUSES)})
    entries[str(BUSINESS_CODE_BASE)] = ("Unknown business status", UNKNOWN_COLOR)
    entries.update(
        {
            str(BUSINESS_CODE_BASE + i + 1): (b, BUSINESS_COLORS[b])
            for i, b in enumerate(BUSINESS_STATUSES)
        }
    )
    return value_map(entries)


def vbr_text_mapping() -> model.ValueMap:
    """Colours for VBR status, BGP session state and BGP peer status *label values*."""
    entries = {s: (s, VBR_STATUS_COLORS[s]) for s in VBR_STATUSES}
    entries.update({s: (s, BGP_COLORS[s]) for s in BGP_STATES})
    entries.update({s: (s, BGP_PEER_STATUS_COLORS[s]) for s in BGP_PEER_STATUSES})
    return value_map(entries)


def bgp_code_mapping() -> model.ValueMap:
    """Texts and colours for the BGP session-state codes of :func:`state_code`."""
    entries = {"0": ("Unexpected state", UNKNOWN_COLOR)}
    entries.update({str(i + 1): (s, BGP_COLORS[s]) for i, s in enumerate(BGP_STATES)})
    return value_map(entries)


def vbr_cell() -> list[model.DynamicConfigValue]:
    """A table cell coloured by VBR status, BGP session state or BGP peer status."""
    return color_cell(vbr_text_mapping())


def status_cell() -> list[model.DynamicConfigValue]:
    """A table cell coloured by a line's status or business status."""
    return color_cell(status_text_mapping())

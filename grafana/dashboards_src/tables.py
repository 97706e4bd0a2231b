"""Tables of lines: one row per physical connection, its name and ID with a link to its detail
dashboard, and the column names every such table uses."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table

from grafana.dashboards_src.board import DATASOURCE, connection_link
from grafana.dashboards_src.panels import instant, organize, prop
from grafana.dashboards_src.queries import SEL, with_name

# Column titles of the labels of a line's series (Value #D-#F: the Lines table's own queries).
COLUMN_NAMES = {
    "name": "Name",
    "physical_connection_id": "ID",
    "account": "Account",
    "region_id": "Region",
    "access_point_id": "Access point",
    "line_operator": "Operator",
    "circuit_code": "Circuit code",
    "port_type": "Port type",
    "port_number": "Port",
    "status": "Status",
    "business_status": "Business status",
    "Value #D": "Bandwidth",
    "Value #E": "Expiry date",
    "Value #F": "Days left",
}


# Column titles of a BGP session's labels, and of how long it has been in its state.
PEER_COLUMNS = {
    "vbr_id": "VBR",
    "bgp_peer_id": "BGP peer",
    "bgp_group_id": "BGP group",
    "peer_ip_address": "Peer IP",
    "peer_asn": "Peer ASN",
    "local_asn": "Local ASN",
    "ip_version": "IP version",
    "enable_bfd": "BFD",
    "bgp_status": "Session state",
    "Value": "In state for",
}


def line_table(
    title: str,
    description: str,
    expr: str,
    rename: dict[str, str],
    order: list[str],
    *,
    hide_value: bool = False,
    named: bool = False,
) -> table.Panel:
    """A table of lines (one row per series of ``expr``) with their name and a detail link;
    ``named``: ``expr`` carries the ``name`` label already."""
    exclude = ["Time", "Value"] if hide_value else ["Time"]
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(instant(expr if named else with_name(expr, SEL)))
        .with_transformation(organize(exclude, {**COLUMN_NAMES, **rename}, order))
        .override_by_name("ID", [prop("links", [connection_link()])])
        .height(8)
        .span(12)
    )

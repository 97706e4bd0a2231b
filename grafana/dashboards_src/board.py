"""What every dashboard of the set shares: its identity, the common header, the links between
the dashboards, and the template variables.

A dashboard module declares one :class:`Board`; the registry (this package's ``__init__``) lists
them, and the generator adds to each the links to all of them, so a new dashboard appears in
the others' link bar without an edit here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from grafana.dashboards_src.metrics import REGION_UP

TAG = "expressconnect"
# The dashboards other dashboards link to with a data link (by uid, which never changes).
FLEET_UID = "expressconnect-fleet"
CONNECTION_UID = "expressconnect-connection"
RESILIENCE_UID = "expressconnect-resilience"

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")


@dataclass(frozen=True)
class Board:
    """One dashboard: the file it is written to, its stable uid and title, its entry in the
    link bar, and the function that builds it (without the link bar)."""

    file: str
    uid: str
    title: str
    nav_title: str
    nav_tooltip: str
    build: Callable[[], dash.Dashboard]

    @property
    def slug(self) -> str:
        """The URL slug Grafana derives from the title."""
        return slug(self.title)


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


Variable = cogbuilder.Builder[model.VariableModel]


def new_dashboard(
    board: Board,
    description: str,
    since: str,
    *extra: Variable,
    before: Sequence[Variable] = (),
) -> dash.Dashboard:
    """The settings every dashboard of the set has, and its variables in this order: the data
    source, ``before``, the account and region every dashboard narrows by, then ``extra``."""
    d = (
        dash.Dashboard(board.title)
        .uid(board.uid)
        .description(description)
        .tags([TAG])
        .editable()
        .time(since, "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )
    for variable in (datasource_variable(), *before, account_variable(), region_variable(), *extra):
        d = d.with_variable(variable)
    return d


def link(board: Board) -> dash.DashboardLink:
    """A link to another dashboard of the set that keeps the time range and the variables."""
    return (
        dash.DashboardLink(board.nav_title)
        .type(model.DashboardLinkType.LINK)
        .url(f"/d/{board.uid}/{board.slug}")
        .tooltip(board.nav_tooltip)
        .icon("dashboard")
        .include_vars(True)
        .keep_time(True)
    )


def nav_links(boards: Sequence[Board]) -> list[cogbuilder.Builder[model.DashboardLink]]:
    """The link bar of every dashboard: all the dashboards of the set, in registry order."""
    return [link(board) for board in boards]


def fleet_link() -> dash.DashboardLink:
    """Panel link back to the overview, narrowed to the same account and region."""
    return dash.DashboardLink("Back to the fleet overview").url(
        f"/d/{FLEET_UID}/expressconnect-fleet-overview"
        "?${account:queryparam}&${region:queryparam}&${datasource:queryparam}&${__url_time_range}"
    )


def resilience_link() -> dash.DashboardLink:
    """Panel link from a line to its redundant pair's resilience view (the same line selected)."""
    return dash.DashboardLink("Open the pair's resilience view").url(
        f"/d/{RESILIENCE_UID}/expressconnect-resilience?${{connection:queryparam}}"
        "&${account:queryparam}&${region:queryparam}&${datasource:queryparam}&${__url_time_range}"
    )


def connection_link() -> dict[str, object]:
    """Data link from a connection id cell to the detail dashboard for that connection."""
    return {
        "title": "Open connection detail",
        "url": f"/d/{CONNECTION_UID}/expressconnect-connection-detail"
        "?var-connection=${__value.raw}&${datasource:queryparam}&${__url_time_range}",
    }


# --- variables --------------------------------------------------------------------------------


def datasource_variable() -> dash.DatasourceVariable:
    return (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("Prometheus that scrapes the ExpressConnect exporter")
    )


def label_variable(
    name: str, label: str, query_text: str, *, multi: bool = True, description: str = ""
) -> dash.QueryVariable:
    var = (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query({"query": query_text, "refId": f"{name}-query", "qryType": 1})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(multi)
    )
    if multi:
        all_option = model.VariableOption(selected=True, text=["All"], value=["$__all"])
        var = var.include_all(True).all_value(".*").current(all_option)
    return var


def account_variable() -> dash.QueryVariable:
    return label_variable(
        "account",
        "Account",
        f"label_values({REGION_UP}, account)",
        description="The exporter's configured account name",
    )


def region_variable() -> dash.QueryVariable:
    return label_variable(
        "region",
        "Region",
        f'label_values({REGION_UP}{{account=~"$account"}}, region_id)',
        description="Alibaba Cloud region id",
    )

"""The dashboards' PromQL: selections by the dashboard variables, state codes, and the joins
from VBR, BGP and traffic series to their line.

The label sets and the VBR-to-line join are the ones the alert rules use
(:mod:`promql.fragments`); what is here is the dashboards' own.
"""

from __future__ import annotations

from collections.abc import Sequence
from textwrap import indent

from grafana.dashboards_src.metrics import (
    BANDWIDTH,
    BGP_INFO,
    BGP_STATUS,
    DROPPED,
    HEALTH_LOSS,
    INFO,
    STATUS,
    TRAFFIC,
    VBR_INFO,
)
from promql.fragments import (
    LINE_ID,
    LINE_KEY,
    PEER_KEY,
    VBR_KEY,
    copy_label,
    group_left,
    on_vbr_line,
)

# The series of the accounts and regions the dashboard variables select.
SEL = 'account=~"$account", region_id=~"$region"'
# The series of the line the ``connection`` variable selects.
ONE = f'physical_connection_id="$connection", {SEL}'
# The only BGP session state that carries routes.
ESTABLISHED = "Established"
# Health-check loss from which a line counts as losing probes (1 %): CloudMonitor reports small
# fractions of a percent on healthy VBRs.
PROBE_LOSS = 0.01


# --- states and names -------------------------------------------------------------------------


def state_code(
    metric: str, label: str, states: Sequence[str], selector: str, base: int, key: str = LINE_KEY
) -> str:
    """One series per object (``key``) whose value encodes the state that is currently 1.

    A state set has one series per state; a timeline needs one series per line. Each known state
    contributes ``base + position + 1``; any other value of the label (the exporter keeps unknown
    states as their own series) contributes ``base``.
    """
    terms = [
        f'({metric}{{{selector}, {label}="{state}"}} == 1) * {base + i + 1}'
        for i, state in enumerate(states)
    ]
    terms.append(f'({metric}{{{selector}, {label}!~"{"|".join(states)}"}} == 1) * {base}')
    return f"max by ({key}) (\n  " + "\n  or ".join(terms) + "\n)"


def with_labels(expr: str, on: str, labels: str, right: str) -> str:
    """``expr`` with ``labels`` copied from ``right``: one series of value 1 per ``on``."""
    return f"(\n{expr}\n)\n" + group_left(on, labels, right, spaced=True)


def only_where(expr: str, on: str, right: str) -> str:
    """``expr`` only where ``right`` has a series with the same ``on`` labels."""
    return f"(\n{expr}\n)\nand on ({on})\n{right}"


def with_name(expr: str, selector: str) -> str:
    """Attach the line's ``name`` label (from the info metric) to a per-connection series."""
    return with_labels(expr, LINE_KEY, "name", f"max by ({LINE_KEY}, name) ({INFO}{{{selector}}})")


# --- VBR / BGP PromQL helpers -----------------------------------------------------------------


def vbr_line(selector: str) -> str:
    """Each VBR's line: one series per VBR carrying ``physical_connection_id``.

    BGP series know their VBR only; this is the bridge a query joins through (``group_left``) to
    reach the physical connection.
    """
    return f"max by ({VBR_KEY}, {LINE_ID}) ({VBR_INFO}{{{selector}}})"


def on_line(expr: str, selector: str) -> str:
    """``expr`` (VBR or BGP series) with its line's ``physical_connection_id`` attached."""
    return f"(\n{expr}\n)\n" + on_vbr_line(vbr_line(selector), spaced=True)


def of_connection(expr: str, connection_selector: str) -> str:
    """Keep only the VBR or BGP series of the line(s) ``connection_selector`` selects."""
    return only_where(expr, VBR_KEY, f"{VBR_INFO}{{{connection_selector}}}")


def established_per_line(selector: str) -> str:
    """Per line, how many of its BGP sessions are Established (absent: the line has no VBR)."""
    return (
        f"sum by ({LINE_KEY}) (\n"
        + on_line(f'{BGP_STATUS}{{{selector}, bgp_status="{ESTABLISHED}"}}', selector)
        + "\n)"
    )


def sessions_per_line(selector: str) -> str:
    """Per line, how many BGP sessions its VBRs have (absent: none)."""
    return f"count by ({LINE_KEY}) (\n" + on_line(f"{BGP_INFO}{{{selector}}}", selector) + "\n)"


def enabled_lines(selector: str) -> str:
    return f'max by ({LINE_KEY}) ({STATUS}{{{selector}, status="Enabled"}} == 1)'


def enabled_without_established(selector: str) -> str:
    """Enabled lines none of whose BGP sessions is Established; the value is how many sessions
    the line has (0: no VBR or no peer configured on it)."""
    return (
        f"(\n{sessions_per_line(selector)}\nor on ({LINE_KEY})\n0 * {enabled_lines(selector)}\n)\n"
        f"and on ({LINE_KEY})\n{enabled_lines(selector)}\n"
        f"unless on ({LINE_KEY})\n({established_per_line(selector)} > 0)"
    )


def pairs_at_risk(selector: str) -> str:
    """Enabled lines without an Established session whose redundant partner has none either.

    The partner is named by ``redundant_physical_connection_id``; an Established session on it is
    found by renaming its line id to that label. Each line of a pair at risk is one row.
    """
    partner_up = (
        f"label_replace(\n({established_per_line(selector)} > 0),\n"
        f"{copy_label('redundant_physical_connection_id', LINE_ID)}\n)"
    )
    return (
        f"max by ({LINE_KEY}, name, redundant_physical_connection_id) (\n"
        f'  {INFO}{{{selector}, redundant_physical_connection_id!=""}}\n)\n'
        f"and on ({LINE_KEY})\n{enabled_lines(selector)}\n"
        f"unless on ({LINE_KEY})\n({established_per_line(selector)} > 0)\n"
        f"unless on (account, redundant_physical_connection_id)\n{partner_up}"
    )


# --- traffic PromQL helpers ------------------------------------------------------------------


def per_line(metric: str, line_selector: str, by: str = "direction", how: str = "sum") -> str:
    """Per line (and ``by``), ``how`` over its VBRs' series of a CloudMonitor metric.

    Traffic series know their VBR only: each is joined to its line through the VBR info's
    ``physical_connection_id``, and ``line_selector`` (on that info) chooses the lines.
    """
    labels = f"{LINE_KEY}, {by}" if by else LINE_KEY
    join = on_vbr_line(vbr_line(line_selector), spaced=True)
    return f"{how} by ({labels}) (\n  {metric}{{{SEL}}}\n{indent(join, '  ')}\n)"


def utilisation(line_selector: str) -> str:
    """Per line and direction: its VBRs' summed traffic over the line's bandwidth (1 = full).

    A ratio of two byte rates, so no conversion to bits is needed."""
    return (
        f"{per_line(TRAFFIC, line_selector)}\n/ on ({LINE_KEY}) group_left ()\n"
        f"(max by ({LINE_KEY}) ({BANDWIDTH}{{{line_selector}}}) > 0)"
    )


def peak_utilisation(line_selector: str) -> str:
    """Per line, the utilisation of its busier direction."""
    return f"max by ({LINE_KEY}) (\n{utilisation(line_selector)}\n)"


def dropping_lines(selector: str) -> str:
    """Per line and direction, the packets its VBRs drop per second, where any are dropped."""
    return f"{per_line(DROPPED, selector)}\n> 0"


def lossy_lines(selector: str) -> str:
    """Per line, the worst health-check loss of its VBRs, where it reaches ``PROBE_LOSS``."""
    return f"{per_line(HEALTH_LOSS, selector, by='', how='max')}\n>= {PROBE_LOSS}"


def vbr_series(metric: str, one: str, by: str = "") -> str:
    """One series per VBR of the selected line (``by``: extra labels to keep)."""
    labels = f"{VBR_KEY}, {by}" if by else VBR_KEY
    return of_connection(f"max by ({labels}) ({metric}{{{SEL}}})", one)


def peer_series(metric: str, connection: str, by: str = "") -> str:
    """One series per BGP session of the selected line (``by``: extra labels to keep)."""
    labels = f"{PEER_KEY}, {by}" if by else PEER_KEY
    return of_connection(f"max by ({labels}) ({metric}{{{SEL}}})", connection)


def with_peer_ip(expr: str) -> str:
    """Attach the session's ``peer_ip_address`` (from the peer info metric) for legends."""
    info = f"max by ({PEER_KEY}, peer_ip_address) ({BGP_INFO}{{{SEL}}})"
    return with_labels(expr, PEER_KEY, "peer_ip_address", info)

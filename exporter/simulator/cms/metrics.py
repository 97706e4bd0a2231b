"""Synthetic CloudMonitor metrics of VBRs (namespace ``acs_physical_connection``).

Every value is a pure function of (seed, VBR ID, metric, timestamp, period) plus the VBR's
state and any override, so two simulators with the same seed answer the same numbers and a
test can compute what the API will say. Traffic follows a daily curve as a share of the
line's bandwidth, split between the line's VBRs so that a line left alone never saturates
(only overrides do), packets are bits over an average packet size, drops appear only near
saturation, and health-check metrics exist only for VBRs with a health check configured.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace
from typing import Any

NAMESPACE = "acs_physical_connection"
RATE_IN = "RateInFromIDCToVpc"
RATE_OUT = "RateOutFromVpcToIDC"
PKGS_IN = "PkgsInFromIDCToVpc"
PKGS_OUT = "PkgsOutFromVpcToIDC"
DROP_IN = "PkgsDropInFromIDCToVpc"
DROP_OUT = "PkgsDropOutFromVpcToIDC"
BYTES_OUT = "BytesOutFromVpcToIDC"
LATENCY = "VbrHealthyCheckLatency"
LOSS = "VbrHealthyCheckLossRate"
# metric -> (unit, description) as DescribeMetricMetaList lists them.
METRICS: dict[str, tuple[str, str]] = {
    RATE_IN: ("bit/s", "Inbound rate, IDC to VPC"),
    RATE_OUT: ("bit/s", "Outbound rate, VPC to IDC"),
    PKGS_IN: ("packet/s", "Inbound packets, IDC to VPC"),
    PKGS_OUT: ("packet/s", "Outbound packets, VPC to IDC"),
    DROP_IN: ("packet/s", "Dropped inbound packets, IDC to VPC"),
    DROP_OUT: ("packet/s", "Dropped outbound packets, VPC to IDC"),
    BYTES_OUT: ("Bytes", "Outbound bytes, VPC to IDC"),
    LATENCY: ("μs", "VBR health check latency"),
    LOSS: ("%", "VBR health check packet loss rate"),
}
# Names seen in the wild but never documented: accepted, answered with no data.
NO_DATA_METRICS = frozenset({"VbrHealthyCheckLossPercent", "PkgsRateLimitDropOutFromVpcToVbr"})
HEALTH_METRICS = frozenset({LATENCY, LOSS})
DROP_START = 0.90  # utilisation from which a line starts dropping packets
_DAY = 86400.0
_CHINA_OFFSET = 8 * 3600.0  # the daily curve peaks in the afternoon, China time


@dataclass(frozen=True)
class Profile:
    """A VBR's traffic personality, drawn once from (seed, VBR ID)."""

    peak_in: float  # share of bandwidth at the daily peak
    peak_out: float
    trough: float  # night traffic as a share of the peak
    phase_hours: float
    packet_in: float  # average packet size, bytes
    packet_out: float
    latency_us: float  # health-check round trip on an idle line
    loss_percent: float


def profile(seed: int, vbr_id: str) -> Profile:
    rng = random.Random(f"{seed}:{vbr_id}:cms")
    return Profile(
        peak_in=rng.uniform(0.15, 0.75),
        peak_out=rng.uniform(0.10, 0.60),
        trough=rng.uniform(0.15, 0.40),
        phase_hours=rng.uniform(-2.0, 2.0),
        packet_in=rng.uniform(400.0, 1100.0),
        packet_out=rng.uniform(500.0, 1200.0),
        latency_us=rng.uniform(800.0, 30000.0),
        loss_percent=rng.choice((0.0, 0.0, 0.0, 0.01, 0.05)),
    )


@dataclass(frozen=True)
class Override:
    """Values a test or scenario forces on a VBR (None: the synthetic value).

    Utilisation is a percentage of the bandwidth per direction; ``drops_*`` are packets per
    second; ``loss`` a percentage; ``latency_us`` microseconds; ``no_data`` hides every point
    (past ones too, while it is in force: CloudMonitor has nothing for the VBR).
    """

    utilisation_in: float | None = None
    utilisation_out: float | None = None
    drops_in: float | None = None
    drops_out: float | None = None
    loss: float | None = None
    latency_us: float | None = None
    no_data: bool = False

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v is not False}


_PERCENT_KEYS = ("utilisation_in", "utilisation_out", "loss")
OVERRIDE_KEYS: tuple[str, ...] = (
    "utilisation",
    "utilisation_in",
    "utilisation_out",
    "drops",
    "drops_in",
    "drops_out",
    "loss",
    "latency_us",
    "no_data",
)


def merged_override(base: Override, changes: dict[str, Any]) -> Override:
    """``base`` with ``changes`` applied (``utilisation``/``drops`` set both directions; a
    ``None`` value removes that override). ValueError names the first bad key or value."""
    expanded: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in OVERRIDE_KEYS:
            raise ValueError(f"unknown metric override {key!r} (one of {', '.join(OVERRIDE_KEYS)})")
        if key in ("utilisation", "drops"):
            expanded.setdefault(f"{key}_in", value)
            expanded.setdefault(f"{key}_out", value)
        else:
            expanded[key] = value
    checked = {key: _checked(key, value) for key, value in expanded.items()}
    return replace(base, **checked)


def _checked(key: str, value: Any) -> Any:
    if key == "no_data":
        if value is None:
            return False
        if not isinstance(value, bool):
            raise ValueError(f"no_data: must be true or false, got {value!r}")
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{key}: must be a number, got {value!r}")
    high = 100.0 if key in _PERCENT_KEYS else 1e12
    if not 0 <= value <= high:
        raise ValueError(f"{key}: must be in 0..{high:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class VbrState:
    """What the metrics depend on besides the profile: whether traffic flows, the bandwidth
    (bit/s), whether a health check is configured, and the VBR's part of its line.

    ``line_share`` is 1 / the number of VBRs on the VBR's line: the VBRs of one line share its
    bandwidth, so their synthetic figures together stay under it (a line saturates only by an
    override or a scenario step, never by itself).
    """

    carries_traffic: bool
    bandwidth_bps: float
    health_check: bool
    line_share: float = 1.0


def _noise(vbr_id: str, what: str, timestamp_ms: int, spread: float) -> float:
    """A deterministic factor in [1 - spread, 1 + spread] (no process-random hashing)."""
    digest = hashlib.blake2b(f"{vbr_id}|{what}|{timestamp_ms}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2.0**64
    return 1.0 - spread + 2.0 * spread * fraction


def _daily(p: Profile, peak: float, timestamp_ms: int, period: int) -> float:
    """Share of the bandwidth in use at the middle of the period."""
    middle = timestamp_ms / 1000.0 + period / 2.0 + _CHINA_OFFSET
    hours = (middle % _DAY) / 3600.0 - p.phase_hours
    wave = 0.5 - 0.5 * math.cos(2.0 * math.pi * (hours - 2.0) / 24.0)  # low 02:00, high 14:00
    return peak * (p.trough + (1.0 - p.trough) * wave)


def utilisation(
    vbr_id: str,
    p: Profile,
    o: Override,
    inbound: bool,
    timestamp_ms: int,
    period: int,
    line_share: float = 1.0,
) -> float:
    """Share (0..1) of the bandwidth in use in one direction.

    The synthetic figure is the VBR's daily curve scaled by its part of the line
    (``line_share``): at most 75 % + 5 % noise of the line for all its VBRs together, below
    the 80 % at which a line counts as busy. An override is a share of the whole bandwidth, so
    97 % saturates a line whatever else runs on it."""
    forced = o.utilisation_in if inbound else o.utilisation_out
    if forced is not None:
        return forced / 100.0
    peak = p.peak_in if inbound else p.peak_out
    share = _daily(p, peak, timestamp_ms, period) * _noise(
        vbr_id, "in" if inbound else "out", timestamp_ms, 0.05
    )
    return min(share * line_share, 1.0)


def _drops(packets: float, share: float) -> float:
    """Dropped packets/s: none below 90 % utilisation, then up to 2 % of the packets."""
    if share < DROP_START:
        return 0.0
    return packets * 0.02 * (share - DROP_START) / (1.0 - DROP_START)


def sample(
    seed: int,
    vbr_id: str,
    state: VbrState,
    o: Override,
    metric: str,
    timestamp_ms: int,
    period: int,
) -> float | None:
    """The value of ``metric`` for the period starting at ``timestamp_ms``; None: no point."""
    if metric in NO_DATA_METRICS:  # (``no_data`` is the caller's: it hides the past too)
        return None
    p = profile(seed, vbr_id)
    if metric in HEALTH_METRICS:
        return _health(vbr_id, p, state, o, metric, timestamp_ms, period)
    if not state.carries_traffic:
        return 0.0
    inbound = metric in (RATE_IN, PKGS_IN, DROP_IN)
    share = utilisation(vbr_id, p, o, inbound, timestamp_ms, period, state.line_share)
    bits = share * state.bandwidth_bps
    if metric in (RATE_IN, RATE_OUT):
        return float(round(bits))
    if metric == BYTES_OUT:
        return float(round(bits / 8.0))
    packets = bits / 8.0 / (p.packet_in if inbound else p.packet_out)
    if metric in (PKGS_IN, PKGS_OUT):
        return float(round(packets))
    forced = o.drops_in if inbound else o.drops_out
    return float(round(forced if forced is not None else _drops(packets, share)))


def _health(
    vbr_id: str, p: Profile, state: VbrState, o: Override, metric: str, ts: int, period: int
) -> float | None:
    """Latency (μs) and loss (%) of the health check; a VBR without traffic loses every
    probe and has no latency; queues on a saturated line add latency and loss."""
    if not state.health_check:
        return None
    if metric == LOSS and o.loss is not None:
        return o.loss
    if metric == LATENCY and o.latency_us is not None:
        return o.latency_us
    if not state.carries_traffic:
        return 100.0 if metric == LOSS else None
    busiest = max(
        utilisation(vbr_id, p, o, inbound, ts, period, state.line_share)
        for inbound in (True, False)
    )
    congestion = max(0.0, busiest - DROP_START) / (1.0 - DROP_START)
    if metric == LOSS:
        return round(min(100.0, p.loss_percent + 5.0 * congestion**2), 2)
    jitter = _noise(vbr_id, "latency", ts, 0.03)
    return round(p.latency_us * jitter + 20000.0 * congestion, 1)

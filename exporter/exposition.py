"""The exposition: rendered chunks → the bytes ``/metrics`` sends, assembled once per refresh.

Every (metric family, region, collector) gets its own chunk of sample lines, plain and gzipped.
A scrape writes, family by family, the family's HELP/TYPE header followed by each region's
chunk, then the small live block (self-metrics). So each header appears once however many
regions there are, and a gzipped scrape is a concatenation of gzip members prepared in advance
(concatenated members are one valid stream): no byte is compressed twice.

Static families are gauges in both formats and their sample lines are byte-identical in text
0.0.4 and OpenMetrics; only ``_info`` headers differ (OpenMetrics ``info``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from exporter.durations import format_duration

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_GZIP_LEVEL = 6
_COALESCE_BELOW = 32 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Sample lines of one family for one region, and the same bytes as one gzip member."""

    plain: bytes
    gzipped: bytes


def chunk(lines: Sequence[str]) -> Chunk:
    plain = "".join(lines).encode()
    return Chunk(plain, gzip.compress(plain, _GZIP_LEVEL, mtime=0) if plain else b"")


@dataclass(frozen=True, slots=True)
class Block:
    """Everything one (account, region, collector) contributes to ``/metrics``, per family."""

    key: tuple[str, str, str]
    chunks: Mapping[str, Chunk]


@dataclass(frozen=True, slots=True)
class Header:
    """What the HELP/TYPE lines of one family are made of."""

    name: str
    help: str
    kind: str  # gauge, info, stateset or counter


def _help_line(name: str, text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {escaped}\n"


def render_headers(
    headers: Sequence[Header], interval_seconds: float
) -> dict[str, tuple[bytes, bytes]]:
    """Family → (text 0.0.4 header, OpenMetrics header); HELP notes the data is cached."""
    note = f" Cached: refreshed every {format_duration(interval_seconds)} per account and region."
    out: dict[str, tuple[bytes, bytes]] = {}
    for header in headers:
        wire = "counter" if header.kind == "counter" else "gauge"
        text = _help_line(header.name, header.help + note) + f"# TYPE {header.name} {wire}\n"
        om = text
        if header.kind == "info":
            base = header.name.removesuffix("_info")
            om = _help_line(base, header.help + note) + f"# TYPE {base} info\n"
        out[header.name] = (text.encode(), om.encode())
    return out


def _coalesce(parts: Iterable[bytes]) -> tuple[bytes, ...]:
    """Merge runs of small parts so a scrape makes few writes; big parts are passed by reference."""
    out: list[bytes] = []
    pending: list[bytes] = []
    pending_size = 0
    for part in parts:
        if not part:
            continue
        if len(part) >= _COALESCE_BELOW:
            if pending:
                out.append(b"".join(pending))
                pending, pending_size = [], 0
            out.append(part)
            continue
        pending.append(part)
        pending_size += len(part)
        if pending_size >= _COALESCE_BELOW:
            out.append(b"".join(pending))
            pending, pending_size = [], 0
    if pending:
        out.append(b"".join(pending))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Exposition:
    """The static part of ``/metrics`` in four encodings, as lists of byte parts."""

    text: tuple[bytes, ...]
    text_gzip: tuple[bytes, ...]
    openmetrics: tuple[bytes, ...]
    openmetrics_gzip: tuple[bytes, ...]

    def parts(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, ...]:
        if openmetrics:
            return self.openmetrics_gzip if gzipped else self.openmetrics
        return self.text_gzip if gzipped else self.text


def build_exposition(
    blocks: Iterable[Block],
    order: Sequence[str],
    headers: Mapping[str, tuple[bytes, bytes]],
) -> Exposition:
    """Families in ``order``, each followed by its blocks' chunks sorted by (account, region).

    Cheap: parts are shared, not copied; only the headers are compressed here (they are tiny).
    """
    ordered = sorted(blocks, key=lambda block: block.key)
    gz_headers = {
        family: tuple(gzip.compress(h, _GZIP_LEVEL, mtime=0) for h in pair)
        for family, pair in headers.items()
    }

    def parts(variant: int, gzipped: bool) -> Iterator[bytes]:
        for family in order:
            chunks = [block.chunks[family] for block in ordered if family in block.chunks]
            if not chunks:
                continue
            yield (gz_headers if gzipped else headers)[family][variant]
            for part in chunks:
                yield part.gzipped if gzipped else part.plain

    return Exposition(
        text=_coalesce(parts(0, False)),
        text_gzip=_coalesce(parts(0, True)),
        openmetrics=_coalesce(parts(1, False)),
        openmetrics_gzip=_coalesce(parts(1, True)),
    )

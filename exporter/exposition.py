"""The exposition: rendered chunks → the bytes ``/metrics`` sends, assembled once per refresh.

Every (metric family, region, collector) gets its own chunk of sample lines, kept as one gzip
member and its plain length. A scrape writes, family by family, the family's HELP/TYPE header
followed by each region's chunk, then the small live block (self-metrics). So each header
appears once however many regions there are, and a gzipped scrape is a concatenation of gzip
members prepared in advance (concatenated members are one valid stream): no byte is compressed
twice. Prometheus always asks for gzip; a scrape that does not gets the members inflated one by
one as they are streamed (in a worker thread, ``exporter.server``), so the process never holds
the plain text (about 14 times larger).

Static families are gauges in both formats and their sample lines are byte-identical in text
0.0.4 and OpenMetrics; only ``_info`` headers differ (OpenMetrics ``info``), so the two gzipped
variants share every part but those headers.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from exporter.durations import format_duration

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_GZIP_LEVEL = 6
_COALESCE_BELOW = 32 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # exactly one gzip member, header and trailer checked


def inflate(member: bytes) -> bytes:
    """The plain bytes of one gzip member (``b""`` for none)."""
    return zlib.decompress(member, _GZIP_WBITS) if member else b""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Sample lines of one family for one region as one gzip member, and their plain length.

    Only the member is kept: the plain text is inflated from it when a scrape wants it.
    """

    gzipped: bytes
    size: int

    @property
    def plain(self) -> bytes:
        return inflate(self.gzipped)


def chunk(lines: Sequence[str]) -> Chunk:
    plain = "".join(lines).encode()
    return Chunk(gzip.compress(plain, _GZIP_LEVEL, mtime=0) if plain else b"", len(plain))


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


def _coalesced(parts: Iterable[bytes]) -> Iterator[bytes]:
    """Merge runs of small parts so a scrape makes few writes; big parts are passed by reference."""
    pending: list[bytes] = []
    pending_size = 0
    for part in parts:
        if not part:
            continue
        if len(part) >= _COALESCE_BELOW:
            if pending:
                yield b"".join(pending)
                pending, pending_size = [], 0
            yield part
            continue
        pending.append(part)
        pending_size += len(part)
        if pending_size >= _COALESCE_BELOW:
            yield b"".join(pending)
            pending, pending_size = [], 0
    if pending:
        yield b"".join(pending)


# A run of small gzip parts joined into one, by the parts it joined.
RunCache = dict[tuple[bytes, ...], bytes]


class _GzipParts:
    """Both gzipped variants built from (text 0.0.4 part, OpenMetrics part) pairs.

    Parts equal in both variants are coalesced into runs shared by both; a part that differs
    (an ``info`` header) is never merged, so no run is joined twice. A run joined for the
    previous exposition from the same parts is reused: a publish after one region's pass joins
    only the runs holding that region's chunks.
    """

    def __init__(self, previous: RunCache) -> None:
        self.previous = previous
        self.runs: RunCache = {}
        self.text: list[bytes] = []
        self.openmetrics: list[bytes] = []
        self._pending: list[bytes] = []
        self._pending_size = 0

    def add(self, text: bytes, openmetrics: bytes) -> None:
        if not text and not openmetrics:
            return
        if text != openmetrics or len(text) >= _COALESCE_BELOW:
            self.flush()
            self._emit(text, openmetrics)
            return
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size >= _COALESCE_BELOW:
            self.flush()

    def flush(self) -> None:
        pending = tuple(self._pending)
        if len(pending) == 1:
            self._emit(pending[0], pending[0])
        elif pending:
            run = self.previous.get(pending) or self.runs.get(pending) or b"".join(pending)
            self.runs[pending] = run
            self._emit(run, run)
        self._pending.clear()
        self._pending_size = 0

    def _emit(self, text: bytes, openmetrics: bytes) -> None:
        self.text.append(text)
        self.openmetrics.append(openmetrics)


# Per family: its (text 0.0.4, OpenMetrics) headers and its chunks in (account, region) order.
Section = tuple[tuple[bytes, bytes], tuple[Chunk, ...]]


@dataclass(frozen=True, slots=True)
class Exposition:
    """The static part of ``/metrics``: both gzipped variants as byte parts, and the sections
    the plain variants are inflated from."""

    sections: tuple[Section, ...]
    text_gzip: tuple[bytes, ...]
    openmetrics_gzip: tuple[bytes, ...]
    text_size: int
    openmetrics_size: int
    # The runs the gzipped parts joined, for the next exposition to reuse.
    runs: RunCache = field(default_factory=dict, compare=False, repr=False)

    def parts(self, *, openmetrics: bool, gzipped: bool) -> Iterable[bytes]:
        """The bytes to send, in order (plain: inflated lazily, so iterate once per scrape)."""
        if gzipped:
            return self.openmetrics_gzip if openmetrics else self.text_gzip
        return _coalesced(self._plain(1 if openmetrics else 0))

    def size(self, *, openmetrics: bool, gzipped: bool) -> int:
        """How many bytes ``parts`` yields (the Content-Length, known before inflating)."""
        if gzipped:
            return sum(map(len, self.parts(openmetrics=openmetrics, gzipped=True)))
        return self.openmetrics_size if openmetrics else self.text_size

    def _plain(self, variant: int) -> Iterator[bytes]:
        for headers, chunks in self.sections:
            yield headers[variant]
            for part in chunks:
                yield inflate(part.gzipped)


def build_exposition(
    blocks: Iterable[Block],
    order: Sequence[str],
    headers: Mapping[str, tuple[bytes, bytes]],
    previous: Exposition | None = None,
) -> Exposition:
    """Families in ``order``, each followed by its blocks' chunks sorted by (account, region).

    Cheap: chunks are shared, not copied; only the headers are compressed here (they are tiny),
    and only runs of small gzip parts that changed since ``previous`` are joined.
    """
    ordered = sorted(blocks, key=lambda block: block.key)
    sections: list[Section] = []
    gzipped = _GzipParts(previous.runs if previous is not None else {})
    sizes = [0, 0]
    for family in order:
        chunks = tuple(block.chunks[family] for block in ordered if family in block.chunks)
        if not chunks:
            continue
        pair = headers[family]
        sections.append((pair, chunks))
        text_gz, om_gz = (gzip.compress(h, _GZIP_LEVEL, mtime=0) for h in pair)
        gzipped.add(text_gz, om_gz)
        for part in chunks:
            gzipped.add(part.gzipped, part.gzipped)
        gzipped.flush()  # runs end with their family: a changed chunk cannot shift later runs
        body = sum(part.size for part in chunks)
        sizes[0] += len(pair[0]) + body
        sizes[1] += len(pair[1]) + body
    gzipped.flush()
    return Exposition(
        tuple(sections),
        tuple(gzipped.text),
        tuple(gzipped.openmetrics),
        sizes[0],
        sizes[1],
        gzipped.runs,
    )

"""The exposition holds each byte once: gzip members only, runs shared by both variants and
reused across publishes, plain text inflated per scrape."""

from __future__ import annotations

import gzip

from exporter.exposition import Block, Chunk, Header, build_exposition, chunk, render_headers

HEADERS = [
    Header("demo_info", "Descriptive labels.", "info"),
    Header("demo_up", "Whether it is up.", "gauge"),
]
ORDER = [header.name for header in HEADERS]


def block(region: str, lines: int = 3) -> Block:
    info = [f'demo_info{{region_id="{region}",n="{i}"}} 1\n' for i in range(lines)]
    up = [f'demo_up{{region_id="{region}",n="{i}"}} {i % 2}\n' for i in range(lines)]
    return Block(("acct", region, "c"), {"demo_info": chunk(info), "demo_up": chunk(up)})


def test_a_chunk_keeps_only_its_gzip_member() -> None:
    found = chunk(['a{x="1"} 1\n', 'a{x="2"} 2\n'])
    assert Chunk.__slots__ == ("gzipped", "size")  # type: ignore[attr-defined]
    assert found.size == len(found.plain) == 22
    assert gzip.decompress(found.gzipped) == found.plain


def test_gzipped_variants_share_every_part_but_the_info_headers() -> None:
    headers = render_headers(HEADERS, 60.0)
    exposition = build_exposition([block(f"r{i}") for i in range(5)], ORDER, headers)
    pairs = list(zip(exposition.text_gzip, exposition.openmetrics_gzip, strict=True))
    different = [text for text, om in pairs if text is not om]
    assert [gzip.decompress(part) for part in different] == [headers["demo_info"][0]]
    for openmetrics in (False, True):
        plain = b"".join(exposition.parts(openmetrics=openmetrics, gzipped=False))
        zipped = b"".join(exposition.parts(openmetrics=openmetrics, gzipped=True))
        assert gzip.decompress(zipped) == plain
        assert exposition.size(openmetrics=openmetrics, gzipped=False) == len(plain)
        assert exposition.size(openmetrics=openmetrics, gzipped=True) == len(zipped)


def test_a_publish_joins_only_the_runs_that_changed() -> None:
    headers = render_headers(HEADERS, 60.0)
    blocks = {f"r{i:02}": block(f"r{i:02}", 2000) for i in range(12)}
    first = build_exposition(blocks.values(), ORDER, headers)
    runs = [part for part in first.text_gzip if len(part) > 1000]
    assert len(runs) >= 4  # more than one run per family
    blocks["r01"] = block("r01", 2001)  # in the first run of each family
    second = build_exposition(blocks.values(), ORDER, headers, first)
    old = {id(part) for part in first.text_gzip}
    new = [part for part in second.text_gzip if len(part) > 1000 and id(part) not in old]
    assert len(new) == 2
    assert len(second.runs) == len(first.runs)

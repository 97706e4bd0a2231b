"""The runbooks served at ``/runbooks``: the packaged copy is docs/runbooks.md, every alert of the
shipped rules has its section there, and the status page's runbook links land on a section of
the page the exporter serves over real HTTP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import yaml

from exporter import runbookpage, statuspage
from tests.deploy.fake_backend import FakeBackend
from tests.exporter.test_server import serve

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "config" / "alerts").glob("*.yml"))
NOW = 1_767_225_600.0


class Ids(HTMLParser):
    """Every element id of a page, and whether the markup nests properly."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(value for name, value in attrs if name == "id" and value)
        if tag not in ("meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, tag


def ids(page: str) -> set[str]:
    parser = Ids()
    parser.feed(page)
    assert parser.open == [], parser.open
    return parser.ids


def alerts() -> set[str]:
    return {
        rule["alert"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_the_packaged_runbooks_are_the_docs() -> None:
    packaged = ROOT / "exporter" / "data" / "runbooks.md"
    assert packaged.read_bytes() == (ROOT / "docs" / "runbooks.md").read_bytes()


def test_every_shipped_alert_has_its_section_on_the_page() -> None:
    found = ids(runbookpage.page())
    names = alerts()
    assert len(names) > 30
    missing = {name for name in names if runbookpage.anchor(name) not in found}
    assert not missing


def test_markdown_blocks() -> None:
    page = runbookpage.render(
        "# Title: one\nText with `a<b` and **bold** and [a link](x.md#y).\n\n"
        "```sh\n# a shell comment, not a heading\necho '<hi>'\n\nnext\n```\n"
        "- one\n- two\n  continued\n\n| A | B |\n|---|---|\n| `1` | 2 |\n"
    )
    assert "<h1 id='title-one'>Title: one</h1>" in page
    assert "<code>a&lt;b</code>" in page and "<strong>bold</strong>" in page
    assert "<a href='x.md#y'>a link</a>" in page
    assert (
        "<pre><code># a shell comment, not a heading\necho &#x27;&lt;hi&gt;&#x27;\n\nnext" in page
    )
    assert "<ul><li>one</li><li>two continued</li></ul>" in page
    assert "<table><tr><th>A</th><th>B</th></tr><tr><td><code>1</code></td><td>2</td></tr>" in page
    assert not re.search(r"<h\d id='a-shell", page)


async def test_status_page_links_land_on_sections_the_exporter_serves() -> None:
    linked = {alert for _, _, alert in statuspage.STATES.values() if alert}
    linked |= {a for p in statuspage.problems([], NOW) for a in p.alerts}
    assert len(linked) == 8
    async with serve(FakeBackend()) as port, aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{port}/"
        for alert in sorted(linked):
            url = urljoin(base, statuspage.runbook(alert))
            path, _, fragment = url.partition("#")
            async with session.get(path) as response:
                assert response.status == 200, url
                assert response.content_type == "text/html"
                assert fragment in ids(await response.text()), url

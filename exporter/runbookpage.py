"""The runbooks, served by the exporter itself at ``/runbooks``.

The status page links each problem to its alert's runbook section. A link into the source tree
(``docs/runbooks.md``) is a 404 on the exporter's port, and on-call opens the status page when
other tools are down, so the exporter carries the runbooks (``exporter/data/runbooks.md`` is
``docs/runbooks.md``; the wheel takes the file's content) and renders them here: headings with
the anchors a Markdown viewer gives them, code blocks, lists, tables and paragraphs. Plain HTML
and no dependency: the point is that the page opens, not that it is pretty.
"""

from __future__ import annotations

import functools
import html
import re
from importlib import resources

PATH = "/runbooks"
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """The anchor a Markdown viewer gives a heading: lower case, punctuation dropped, spaces as
    hyphens (``## ExpressConnectBgpSessionDown`` -> ``expressconnectbgpsessiondown``)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _inline(text: str) -> str:
    """Code spans, bold and links; everything else escaped."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        code, bold, label, href = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        else:
            out.append(f"<a href='{html.escape(href)}'>{html.escape(label)}</a>")
        last = match.end()
    return "".join(out) + html.escape(text[last:])


def _table(rows: list[str]) -> str:
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    body = [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]
    head = "".join(f"<th>{_inline(c)}</th>" for c in cells[0])
    rest = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{head}</tr>{rest}</table>"


def _blocks(lines: list[str]) -> list[list[str]]:
    """Lines grouped into blocks: a fenced code block whole, else runs of non-blank lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            if fenced and current:  # a fence opens: what came before is its own block
                blocks.append(current)
                current = []
            current.append(line)
            if not fenced:  # a fence closes its block
                blocks.append(current)
                current = []
        elif fenced or line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _block_html(block: list[str]) -> str:
    first = block[0]
    if first.startswith("```"):
        code = "\n".join(line for line in block[1:] if not line.startswith("```"))
        return f"<pre><code>{html.escape(code)}</code></pre>"
    if len(block) == 1 and (heading := _HEADING.match(first)):
        level, text = len(heading.group(1)), heading.group(2)
        return f"<h{level} id='{anchor(text)}'>{_inline(text)}</h{level}>"
    if first.startswith("|"):
        return _table(block)
    if re.match(r"^([-*]|\d+\.) ", first):
        items: list[str] = []
        for line in block:
            if re.match(r"^([-*]|\d+\.) ", line):
                items.append(line.split(" ", 1)[1])
            elif items:
                items[-1] += " " + line.strip()
        return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>"
    return f"<p>{_inline(' '.join(line.strip() for line in block))}</p>"


def render(markdown: str) -> str:
    """The whole page. A heading always stands alone, even without a blank line around it."""
    lines: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        lines.extend(["", line, ""] if not fenced and _HEADING.match(line) else [line])
    body = "\n".join(_block_html(block) for block in _blocks(lines))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>Runbooks: expressconnect alerts</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem}"
        "pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .4rem}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )


@functools.cache
def page() -> str:
    """The packaged runbooks, rendered once (they change only with the exporter)."""
    text = resources.files("exporter").joinpath("data/runbooks.md").read_text(encoding="utf-8")
    return render(text)

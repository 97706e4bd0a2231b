#!/usr/bin/env python3
"""Print the Debian archive URI that apt on this machine is configured with.

The image proof builds its stand-in base image with debootstrap from the mirror apt already
uses, so the repository never names a mirror of its own: the URI comes only from apt's source
lists, in both of their formats (one-line ``deb [options] URI SUITE COMPONENTS...`` in
``sources.list`` and ``sources.list.d/*.list``; deb822 stanzas in ``sources.list.d/*.sources``).
It is written to stdout for the calling script only, which never echoes it.

With no usable source: one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# debootstrap fetches over these; apt-only methods (cdrom:, mirror+http:, tor+http:) it cannot.
SCHEMES = ("http://", "https://", "ftp://", "file:")
# Suites a Debian archive mirror carries next to one another: a mirror apt uses for one of these
# also serves the suite the stand-in is made of.
DEBIAN_SUITES = frozenset(
    {
        "bullseye",
        "bookworm",
        "trixie",
        "forky",
        "sid",
        "oldoldstable",
        "oldstable",
        "stable",
        "testing",
        "unstable",
    }
)


@dataclass(frozen=True)
class Source:
    """One `deb` source: where it points, which suites and components, whose key signs it."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str

    def is_debian_archive(self) -> bool:
        """Debian's archive has a `main` component and is signed by Debian's archive keyring
        (named by Signed-By or, without one, trusted from apt's default keyrings); a third-party
        repository for the same codename (a vendor's `bookworm main`) has a keyring of its own."""
        return "main" in self.components and (
            not self.signed_by or "debian" in Path(self.signed_by).name.lower()
        )


def one_line_sources(text: str) -> Iterator[Source]:
    """`deb` lines of the one-line format; options in brackets may hold spaces."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        rest, options = words[1:], ""
        if rest[0].startswith("["):
            end = next((i for i, word in enumerate(rest) if word.endswith("]")), len(rest) - 1)
            options, rest = " ".join(rest[: end + 1]).strip("[] "), rest[end + 1 :]
        if len(rest) >= 2:
            signed_by = dict(o.split("=", 1) for o in options.split() if "=" in o).get("signed-by")
            yield Source((rest[0],), (rest[1],), tuple(rest[2:]), signed_by or "")


def deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    """Stanzas as {lower-case field: value}; continuation lines joined, comments dropped."""
    fields: dict[str, str] = {}
    last = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t" and last:
            fields[last] += " " + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            last = name.strip().lower()
            fields[last] = value.strip()


def deb822_sources(text: str) -> Iterator[Source]:
    """Enabled stanzas whose Types include `deb`."""
    for fields in deb822_stanzas(text):
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() in ("no", "false", "0"):
            continue
        yield Source(
            uris=tuple(fields.get("uris", "").split()),
            suites=tuple(fields.get("suites", "").split()),
            components=tuple(fields.get("components", "").split()),
            signed_by=fields.get("signed-by", ""),
        )


def configured_sources(apt_dir: Path) -> Iterator[Source]:
    """Sources in the order apt reads them: sources.list, then sources.list.d by name.

    Only `*.list` and `*.sources` count, as for apt itself (a `*.list.disabled` is not read)."""
    main = apt_dir / "sources.list"
    if main.is_file():
        yield from one_line_sources(main.read_text(errors="replace"))
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.iterdir()) if parts.is_dir() else []:
        if path.suffix == ".list" and path.is_file():
            yield from one_line_sources(path.read_text(errors="replace"))
        elif path.suffix == ".sources" and path.is_file():
            yield from deb822_sources(path.read_text(errors="replace"))


def find_mirror(apt_dir: Path, suite: str) -> str | None:
    """The first usable URI of Debian's archive for `suite`, else for another Debian release."""
    sources = [source for source in configured_sources(apt_dir) if source.is_debian_archive()]
    for wanted in ({suite}, DEBIAN_SUITES):
        for source in sources:
            if wanted.intersection(source.suites):
                usable = [uri for uri in source.uris if uri.startswith(SCHEMES)]
                if usable:
                    return usable[0]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm", help="Debian suite to be built")
    parser.add_argument("--apt-dir", type=Path, default=Path("/etc/apt"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        mirror = find_mirror(args.apt_dir, args.suite)
    except OSError as exc:
        print(f"debian_mirror: cannot read apt's source lists: {exc}", file=sys.stderr)
        return 1
    if mirror is None:
        print(
            f"debian_mirror: no enabled deb source for Debian {args.suite} in apt's configuration "
            f"({args.apt_dir}/sources.list, {args.apt_dir}/sources.list.d/*.list and *.sources)",
            file=sys.stderr,
        )
        return 1
    print(mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main())

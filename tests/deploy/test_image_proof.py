"""scripts/debian_mirror.py finds the Debian mirror in apt's own configuration (both formats),
and no file in the repository names a package registry's host."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "debian_mirror.py"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# Spelled with escaped dots and brackets so this file itself names none of them.
REGISTRY_HOSTS = re.compile(
    r"(?i)debian\.org|p[y]pi\.org|p[y]pi\.python\.org|python[h]osted\.org|npm[j]s\.(org|com)"
    r"|yarnpkg\.com|(archive|security|ports)\.ubuntu\.com|crates\.io|proxy\.golang\.org"
    r"|rubygems\.org|repo1?\.maven\.org"
)


def run(apt_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--apt-dir", str(apt_dir), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_deb822_main_archive_not_security_or_disabled(tmp_path: Path) -> None:
    root = apt_dir(
        tmp_path,
        {
            "sources.list.d/debian.sources": f"""Types: deb
URIs: http://mirror-security.test/debian-security
Suites: bookworm-security
Components: main
Signed-By: {KEYRING}

# a comment between stanzas
Types: deb-src deb
Enabled: no
URIs: http://mirror-disabled.test/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror-main.test/debian
  http://mirror-second.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: {KEYRING}
""",
        },
    )
    result = run(root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "http://mirror-main.test/debian\n"


def test_one_line_format_with_bracketed_options(tmp_path: Path) -> None:
    root = apt_dir(
        tmp_path,
        {
            "sources.list": "# deb http://commented.test/debian bookworm main\n"
            "deb-src http://src-only.test/debian bookworm main\n"
            "deb http://mirror-security.test/debian-security bookworm-security main\n"
            f"deb [ arch=amd64 signed-by={KEYRING} ] http://mirror-one-line.test/debian "
            "bookworm main contrib\n",
        },
    )
    result = run(root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "http://mirror-one-line.test/debian\n"


def test_sources_list_before_parts_and_only_list_and_sources_files(tmp_path: Path) -> None:
    root = apt_dir(
        tmp_path,
        {
            "sources.list.d/a-vendor.list": "deb [signed-by=/etc/apt/keyrings/vendor.gpg] "
            "http://vendor.test/apt bookworm main\n",
            "sources.list.d/b-tool.list": "deb http://tool.test/linux/debian bookworm stable\n",
            "sources.list.d/c.list.disabled": "deb http://disabled.test/debian bookworm main\n",
            "sources.list.d/d.list": "deb http://mirror-part.test/debian bookworm main\n",
        },
    )
    assert run(root).stdout == "http://mirror-part.test/debian\n"
    (root / "sources.list").write_text("deb http://mirror-first.test/debian bookworm main\n")
    assert run(root).stdout == "http://mirror-first.test/debian\n"


def test_another_debian_release_serves_the_suite(tmp_path: Path) -> None:
    """On a trixie host the same archive mirror also carries bookworm."""
    root = apt_dir(
        tmp_path,
        {"sources.list": "deb http://mirror-trixie.test/debian trixie main\n"},
    )
    assert run(root).stdout == "http://mirror-trixie.test/debian\n"


def test_no_source_is_one_line_error(tmp_path: Path) -> None:
    root = apt_dir(
        tmp_path,
        {
            "sources.list.d/ubuntu.list": "deb http://ubuntu-mirror.test/ubuntu jammy main\n",
            "sources.list.d/cd.list": "deb cdrom:[Debian 12]/ bookworm main\n",
        },
    )
    result = run(root)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "no enabled deb source for Debian bookworm" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_apt_directory_is_one_line_error(tmp_path: Path) -> None:
    result = run(tmp_path / "nowhere")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1


def test_image_proof_takes_the_mirror_only_from_apt() -> None:
    """No fallback address and no override: the URI is used, never printed."""
    text = (ROOT / "scripts" / "image-proof.sh").read_text()
    assert "scripts/debian_mirror.py" in text
    assert "DEBIAN_MIRROR" not in text
    assert 'with debootstrap from the configured Debian mirror"' in text
    assert not re.search(r"(step|echo|printf)[^\n]*\$\{?mirror", text)


def test_no_file_names_a_package_registry_host() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    hits = []
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().decode(errors="replace").splitlines(), 1):
            match = REGISTRY_HOSTS.search(line)
            if match:
                hits.append(f"{name}:{number}: {match.group(0)}")
    assert hits == []


def test_the_host_pattern_does_catch_a_registry_host() -> None:
    host = ".".join(["deb", "debian", "org"])
    assert REGISTRY_HOSTS.search(f"from http://{host}/debian")
    assert REGISTRY_HOSTS.search("https://" + ".".join(["files", "python" + "hosted", "org"]))
    assert REGISTRY_HOSTS.search("index-url = https://" + ".".join(["py" + "pi", "org"]))
    assert not REGISTRY_HOSTS.search("from the configured Debian mirror")

"""Ingest without a network: telling URLs from paths, and which addresses a URL may never reach."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from reelstep.errors import DownloadFailed, InvalidInput, SourceRefused
from reelstep.models import Source
from reelstep.steps import ingest
from reelstep.steps.ingest import checked_addresses, fetch_source, parse_source, safe_file_name


def _fetch(url: str, tmp_path: Path, trusted_hosts: tuple[str, ...] = ()) -> Path:
    return fetch_source(
        Source(kind="url", location=url),
        tmp_path,
        max_bytes=1000,
        timeout=1.0,
        connect_timeout=0.5,
        max_redirects=2,
        trusted_hosts=trusted_hosts,
    )


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names resolve from this table only; IP literals and legacy numeric forms go to the real resolver,
    which parses them without any lookup."""
    table: dict[str, list[str]] = {}
    real = ingest.resolve_host

    def fake(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        if all(c in "0123456789abcdefx.:" for c in host.lower()):
            return real(host, port)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(ingest, "resolve_host", fake)
    return table


# ----------------------------------------------------------------------------- parse_source


@pytest.mark.parametrize(
    "value",
    [
        "http://example.com/clip.mp4",
        "https://example.com/a?b=c",
        "HTTPS://Example.com/x",
        "http://[2001:db8::1]/",
    ],
)
def test_http_urls_are_url_sources(value: str) -> None:
    assert parse_source(value) == Source(kind="url", location=value)


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("ftp://example.com/clip.mp4", "ftp"),
        ("file:///etc/passwd", "file"),
        ("gopher://example.com:70/_x", "gopher"),
        ("gopher:x", "gopher"),
        ("data:video/mp4;base64,AAAA", "data"),
        ("javascript:alert(1)", "javascript"),
        ("S3://bucket/key", "s3"),
    ],
)
def test_other_schemes_are_refused_by_name(value: str, scheme: str) -> None:
    with pytest.raises(SourceRefused, match=f"'{scheme}'"):
        parse_source(value)


def test_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_source("clip.mp4") == Source(kind="path", location=str(tmp_path / "clip.mp4"))
    assert parse_source("a/../b/clip.mp4").location == str(tmp_path / "b" / "clip.mp4")
    assert parse_source("./odd:name.mp4").location == str(tmp_path / "odd:name.mp4")
    assert parse_source("/srv/in.mov").location == "/srv/in.mov"


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_source("~/clip.mp4").location == str(tmp_path / "clip.mp4")


def test_a_drive_letter_is_not_a_scheme() -> None:
    assert parse_source("C:\\clips\\a.mp4").kind == "path"


def test_blank_input_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        parse_source("  ")


@pytest.mark.parametrize("value", ["http://", "https:///path", "http://0177.0.0.1/"])
def test_malformed_urls_are_refused(value: str) -> None:
    with pytest.raises(SourceRefused):
        parse_source(value)


# ----------------------------------------------------------------------------- address policy


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://127.0.0.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
        ("http://192.0.2.1/", "private"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("https://127.0.0.1:8443/", "loopback"),
    ],
)
def test_non_public_addresses_are_refused(
    url: str, reason: str, resolver: dict[str, list[str]], tmp_path: Path
) -> None:
    with pytest.raises(SourceRefused, match=reason) as caught:
        _fetch(url, tmp_path)
    assert "refused host" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_name_is_refused_if_any_of_its_addresses_is_private(resolver: dict[str, list[str]]) -> None:
    resolver["mixed.example"] = ["93.184.216.34", "2606:2800:220:1::1", "10.0.0.7"]
    with pytest.raises(SourceRefused, match=r"mixed\.example.*10\.0\.0\.7.*private"):
        checked_addresses("http://mixed.example/clip.mp4")


def test_a_public_name_gives_all_its_addresses(resolver: dict[str, list[str]]) -> None:
    resolver["cdn.example"] = ["93.184.216.34", "2606:2800:220:1::1"]
    assert checked_addresses("https://cdn.example/clip.mp4") == ["93.184.216.34", "2606:2800:220:1::1"]


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata"])
def test_metadata_names_are_refused_before_any_lookup(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError("resolved a metadata name")

    monkeypatch.setattr(ingest, "resolve_host", no_lookup)
    with pytest.raises(SourceRefused, match="metadata"):
        checked_addresses(f"http://{host}/computeMetadata/v1/")


def test_a_name_resolving_to_metadata_is_refused(resolver: dict[str, list[str]]) -> None:
    resolver["evil.example"] = ["169.254.169.254"]
    with pytest.raises(SourceRefused, match="cloud metadata"):
        checked_addresses("http://evil.example/")


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/"])
def test_fetch_refuses_other_schemes(url: str, tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match="scheme"):
        _fetch(url, tmp_path)


def test_an_unresolvable_host_is_a_download_failure_naming_it(
    resolver: dict[str, list[str]], tmp_path: Path
) -> None:
    with pytest.raises(DownloadFailed, match=r"cannot resolve host nowhere\.invalid"):
        _fetch("http://nowhere.invalid/clip.mp4", tmp_path)


# ----------------------------------------------------------------------------- trusted hosts


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("http://127.0.0.1:8080/x", "127.0.0.1"),
        ("http://[::1]/x", "::1"),
        ("http://[::1]/x", "[0:0::1]"),
        ("http://media.internal./x", "Media.Internal"),
    ],
)
def test_trusted_hosts_are_exempt(url: str, trusted: str, resolver: dict[str, list[str]]) -> None:
    resolver["media.internal."] = ["10.0.0.5"]
    assert checked_addresses(url, [trusted])


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("http://localhost/x", "127.0.0.1"),
        ("http://127.0.0.2/x", "127.0.0.1"),
        ("http://2130706433/x", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]/x", "127.0.0.1"),
        ("http://other.internal/x", "media.internal"),
    ],
)
def test_trust_is_an_exact_match(url: str, trusted: str, resolver: dict[str, list[str]]) -> None:
    resolver["localhost"] = ["127.0.0.1"]
    resolver["other.internal"] = ["10.0.0.6"]
    with pytest.raises(SourceRefused):
        checked_addresses(url, [trusted])


# ----------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("..", "input"),
        ("", "input"),
        ("...", "input"),
        (".bashrc", "bashrc"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("a\\b.mov", "a_b.mov"),
        ("bad\x00name\n.mp4", "bad_name_.mp4"),
        ("über clip.webm", "über clip.webm"),
    ],
)
def test_safe_file_names(name: str, expected: str) -> None:
    assert safe_file_name(name) == expected


def test_long_names_keep_their_extension() -> None:
    name = safe_file_name("x" * 400 + ".mp4")
    assert name.endswith(".mp4")
    assert len(name.encode()) <= 200
    assert os.sep not in name

"""Ingest: bring the input (a local path or an http(s) URL) into a local file, refusing what is unsafe.

A job's source is user input and this step runs inside the deployment's network, so a URL must not be a
way to reach private services or the cloud metadata endpoint (SSRF). Each hop's host is resolved once,
every address is checked, and the connection goes to a checked address with the original name kept in
the Host header and TLS SNI, so a DNS answer that changes between check and connect (rebinding) cannot
slip a private address in. Redirects are followed by hand so every hop gets the same checks.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import os
import re
import shutil
import socket
import stat
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import httpx

from reelstep.errors import (
    DownloadFailed,
    InvalidInput,
    MediaTooLarge,
    SourceNotFound,
    SourceRefused,
    UnsupportedMedia,
)
from reelstep.models import Source
from reelstep.progress import ProgressFn, ignore_progress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Two or more letters, so a Windows drive (C:\clip.mp4) still reads as a path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_FETCHED_SCHEMES = frozenset({"http", "https"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
_METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_MAX_NAME_BYTES = 200
_MAX_SUFFIX_BYTES = 16
# The built-in table only (not the host's /etc/mime.types), so a download gets the same name everywhere;
# it lacks a few media types, which come first.
_MIME = mimetypes.MimeTypes()
_MEDIA_SUFFIXES = {
    "video/x-matroska": ".mkv",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mp4": ".m4a",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "video/ogg": ".ogv",
}


def parse_source(value: str) -> Source:
    """Tell a URL from a path, refusing other schemes here so a bad input fails at intake, not in a worker.

    A path whose first component contains a colon ("clip:1.mp4") reads as a scheme; write "./clip:1.mp4".
    """
    if not value.strip():
        raise InvalidInput("the input is empty: give a file path or an http(s) URL")
    match = _SCHEME.match(value)
    if match is None:
        return Source(kind="path", location=os.path.abspath(os.path.expanduser(value)))
    _parse_url(value)
    return Source(kind="url", location=value)


def fetch_source(
    source: Source,
    dest_dir: Path,
    *,
    max_bytes: int,
    timeout: float,
    connect_timeout: float,
    max_redirects: int,
    trusted_hosts: Sequence[str] = (),
    progress: ProgressFn = ignore_progress,
) -> Path:
    """Copy or download the source into ``dest_dir`` and return the file written there.

    ``timeout`` bounds a whole download (all hops); ``trusted_hosts`` are exempt from the address checks.
    No retries here: the state machine retries the step.
    """
    if source.kind == "blob":
        raise InvalidInput("a blob source is copied from the blob store, not fetched")
    dest_dir.mkdir(parents=True, exist_ok=True)
    if source.kind == "path":
        return _copy_path(Path(source.location), dest_dir, max_bytes=max_bytes, progress=progress)
    return _download(
        source.location,
        dest_dir,
        max_bytes=max_bytes,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_redirects=max_redirects,
        trusted_hosts=trusted_hosts,
        progress=progress,
    )


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order; a seam tests replace to stay off the network.

    IP literals, including legacy forms such as "2130706433" or "0x7f.1", come back as plain addresses.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(url: str | httpx.URL, trusted_hosts: Sequence[str] = ()) -> list[str]:
    """Resolve the URL's host once and return its addresses, refusing the URL if any one is not public.

    Every address is checked, not just the first, since the connection may go to any of them.
    """
    url = _parse_url(url) if isinstance(url, str) else url
    if url.scheme not in _FETCHED_SCHEMES:
        raise SourceRefused(f"refused URL scheme {url.scheme!r}: only http and https are fetched")
    host = url.host
    if not host:
        raise SourceRefused("refused URL without a host")
    trusted = _is_trusted(host, trusted_hosts)
    if not trusted and _normal_host(host) in _METADATA_HOSTS:
        raise SourceRefused(f"refused host {host}: it is a cloud metadata service")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = resolve_host(url.raw_host.decode("ascii"), port)
    except OSError as exc:
        raise DownloadFailed(f"cannot resolve host {host}: {exc.strerror or exc}") from exc
    if not addresses:
        raise DownloadFailed(f"cannot resolve host {host}: no addresses")
    if not trusted:
        for address in addresses:
            reason = _refusal_reason(ipaddress.ip_address(address))
            if reason is not None:
                raise SourceRefused(f"refused host {host}: it resolves to {address}, a {reason} address")
    return addresses


def check_input_size(size: int, max_bytes: int, where: str) -> None:
    """Refuse an empty input, or one over the size limit, before any byte of it is copied."""
    if size == 0:
        raise UnsupportedMedia(f"input is empty: {where}")
    if size > max_bytes:
        raise _too_large(_mb(size), max_bytes, where)


def safe_file_name(name: str, fallback: str = "input") -> str:
    """A single, harmless file name: no separators or control characters, no leading dots, bounded length.

    The name ends up in a blob key and a scratch path, so it must never climb out of its folder.
    """
    cleaned = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    if not cleaned:
        return fallback
    if len(cleaned.encode()) <= _MAX_NAME_BYTES:
        return cleaned
    stem, suffix = os.path.splitext(cleaned)
    if len(suffix.encode()) > _MAX_SUFFIX_BYTES:
        stem, suffix = cleaned, ""
    stem = stem.encode()[: _MAX_NAME_BYTES - len(suffix.encode())].decode(errors="ignore").rstrip(" .")
    return (stem or fallback) + suffix


# ----------------------------------------------------------------------------- local paths


def _copy_path(path: Path, dest_dir: Path, *, max_bytes: int, progress: ProgressFn) -> Path:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SourceNotFound(f"no such file: {path}") from None
    except OSError as exc:
        raise SourceNotFound(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceNotFound(f"not a file but a directory: {path}")
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or device would block the copy or never end.
        raise SourceNotFound(f"not a regular file: {path}")
    check_input_size(info.st_size, max_bytes, str(path))
    try:
        # Opened first so that an unreadable source is told apart from a failure to write the copy.
        with path.open("rb"):
            pass
    except OSError as exc:
        raise SourceNotFound(f"cannot read {path}: {exc.strerror or exc}") from None
    dest = dest_dir / safe_file_name(path.name)
    progress(0.0, f"copying {_mb(info.st_size)}")
    shutil.copyfile(path, dest)
    progress(1.0, f"copied {_mb(info.st_size)}")
    return dest


# ----------------------------------------------------------------------------- URLs


def _download(
    location: str,
    dest_dir: Path,
    *,
    max_bytes: int,
    timeout: float,
    connect_timeout: float,
    max_redirects: int,
    trusted_hosts: Sequence[str],
    progress: ProgressFn,
) -> Path:
    deadline = time.monotonic() + timeout
    url = _parse_url(location)
    tls = httpx.create_ssl_context()
    try:
        for _ in range(max_redirects + 1):
            addresses = checked_addresses(url, trusted_hosts)
            # One client per hop: a pooled TLS connection verified for one name must not carry another's.
            # trust_env=False: a proxy from the environment would connect on our behalf, unchecked.
            with (
                httpx.Client(verify=tls, trust_env=False, follow_redirects=False) as client,
                closing(_send(client, url, addresses, deadline, timeout, connect_timeout)) as response,
            ):
                location_header = response.headers.get("location")
                if response.status_code in _REDIRECT_STATUSES and location_header:
                    url = _redirect_target(url, location_header)
                    continue
                return _save(response, url, dest_dir, max_bytes, deadline, timeout, progress)
    except httpx.TimeoutException as exc:
        raise _timed_out(timeout) from exc
    except httpx.RequestError as exc:
        raise DownloadFailed(f"download from {url.host} failed: {exc}") from exc
    raise DownloadFailed(f"more than {max_redirects} redirects, the last from {url.host}")


def _send(
    client: httpx.Client,
    url: httpx.URL,
    addresses: list[str],
    deadline: float,
    timeout: float,
    connect_timeout: float,
) -> httpx.Response:
    """Send the GET to each checked address in turn (a dual-stack host may have one family unreachable)."""
    failure: httpx.TransportError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(timeout)
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers={"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"},
            extensions={"sni_hostname": url.raw_host.decode("ascii")},
            # Each read may wait as long as was left when the request went out, and the deadline is
            # checked at every chunk, so a stall or a trickle overruns it by less than that.
            timeout=httpx.Timeout(remaining, connect=min(connect_timeout, remaining)),
        )
        try:
            return client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc
    if time.monotonic() >= deadline:
        raise _timed_out(timeout)
    raise DownloadFailed(f"could not connect to {url.host}: {failure}")


def _redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    try:
        return url.join(location)
    except httpx.InvalidURL as exc:
        raise SourceRefused(f"refused redirect from {url.host}: {exc}") from exc


def _save(
    response: httpx.Response,
    url: httpx.URL,
    dest_dir: Path,
    max_bytes: int,
    deadline: float,
    timeout: float,
    progress: ProgressFn,
) -> Path:
    """Stream the body to disk, stopping at the size limit or the deadline; no partial file survives."""
    if not response.is_success:
        raise DownloadFailed(f"HTTP {response.status_code} from {url.host}")
    declared = _content_length(response)
    if declared is not None and declared > max_bytes:
        raise _too_large(_mb(declared), max_bytes, url.host)
    dest = dest_dir / _url_file_name(url, response.headers.get("content-type"))
    written = 0
    reported = 0.0
    try:
        with dest.open("wb") as out:
            # No chunk size: each network read comes through at once, so the checks below run promptly.
            for chunk in response.iter_bytes():
                written += len(chunk)
                if written > max_bytes:
                    raise _too_large(f"more than {_mb(written)}", max_bytes, url.host)
                if time.monotonic() > deadline:
                    raise _timed_out(timeout)
                out.write(chunk)
                if declared:
                    fraction = min(written / declared, 1.0)
                    if fraction - reported >= 0.01:
                        progress(fraction, f"downloaded {_mb(written)} of {_mb(declared)}")
                        reported = fraction
        if written == 0:
            raise UnsupportedMedia(f"input is empty: {url.host} sent no bytes")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    progress(1.0, f"downloaded {_mb(written)}")
    return dest


def _url_file_name(url: httpx.URL, content_type: str | None) -> str:
    name = safe_file_name(url.path.rsplit("/", 1)[-1])
    if Path(name).suffix or not content_type:
        return name
    media_type = content_type.split(";", 1)[0].strip().lower()
    suffix = _MEDIA_SUFFIXES.get(media_type) or _MIME.guess_extension(media_type)
    return name + suffix if suffix else name


def _content_length(response: httpx.Response) -> int | None:
    """The declared body size, or None where it is absent or nonsense (the running count still applies)."""
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _parse_url(value: str) -> httpx.URL:
    match = _SCHEME.match(value)
    scheme = match.group(1).lower() if match else ""
    if scheme not in _FETCHED_SCHEMES:
        raise SourceRefused(f"refused URL scheme {scheme!r}: only http and https are fetched")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise SourceRefused(f"refused invalid URL: {exc}") from exc
    if not url.host:
        raise SourceRefused("refused URL without a host")
    return url


# ----------------------------------------------------------------------------- address policy


def _refusal_reason(ip: IPAddress) -> str | None:
    """Why this address must not be fetched from, or None for an ordinary public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = _refusal_reason(embedded)
            return f"{inner} (embedded in IPv6)" if inner else None
    checks: tuple[tuple[bool, str], ...] = (
        (ip in _METADATA_ADDRESSES, "cloud metadata"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "shared (CGNAT)"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "non-public"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _normal_host(host: str) -> str:
    """One spelling per host: lower case, no brackets or trailing dot, IP literals in canonical form."""
    name = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _is_trusted(host: str, trusted_hosts: Sequence[str]) -> bool:
    """Exact name or IP match only: trusting 127.0.0.1 does not trust "localhost"."""
    name = _normal_host(host)
    return any(_normal_host(entry) == name for entry in trusted_hosts)


def _timed_out(timeout: float) -> DownloadFailed:
    return DownloadFailed(f"download did not finish within {timeout:g} s")


def _too_large(size: str, max_bytes: int, where: str) -> MediaTooLarge:
    return MediaTooLarge(f"input is {size}, over the {_mb(max_bytes)} limit: {where}")


def _mb(size: int) -> str:
    megabytes = size / 1_000_000
    return f"{megabytes:.1f} MB" if megabytes >= 1 else f"{megabytes:.3g} MB"

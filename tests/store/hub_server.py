"""A local stand-in for the Hugging Face hub, on 127.0.0.1, with switchable faults.

It speaks what huggingface_hub's `get_hf_file_metadata` and `http_get` use (read from
huggingface_hub 2.x `file_download.py`): HEAD and GET of `/{repo}/resolve/{revision}/{file}`
answering ETag, X-Linked-Etag, X-Linked-Size, X-Repo-Commit and Content-Length, GET with
`Range: bytes=N-` answered 206 with Content-Range, and errors carrying X-Error-Code as the
hub sends them (`GatedRepo`, `EntryNotFound`, `RepoNotFound`). With `redirect`, resolve
answers 302 to `/lfs/{sha256}` as the hub does for LFS files. Single-file downloads make no
`/api/...` calls; any request to another path is logged and answered 404, so a test can
assert that none happened.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_LFS = re.compile(r"^/lfs/(?P<sha>[0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CHUNK = 256 * 1024


@dataclass
class Faults:
    """What goes wrong. Counters (`cuts`, `stalls`) are used up as faults happen."""

    cut_at: int | None = None  # drop the connection once the file offset reaches this
    cuts: int = 1
    stall_at: int | None = None  # stop sending at this offset for stall_seconds, then close
    stall_seconds: float = 0.0
    stalls: int = 1
    corrupt: bool = False  # serve the right size and headers with one byte flipped
    gated: frozenset[str] = frozenset()  # repos that need one of `tokens`
    tokens: frozenset[str] = frozenset()
    announced_size: int | None = None  # lie about the size in HEAD (free-space tests)
    bytes_per_second: int | None = None  # throttle bodies
    redirect: bool = False  # resolve -> 302 <cdn>/lfs/<sha256>, as the hub does for LFS
    cdn_denials: int = 0  # resumed (Range) GETs on the CDN answered 403: an expired signature


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    status: int
    range_start: int | None
    body_bytes: int
    authorized: bool = False


@dataclass(frozen=True)
class HostedFile:
    path: Path
    size: int
    sha256: str


@dataclass
class FakeHub:
    url: str  # the hub
    cdn_url: str  # where LFS redirects go: another port, so another host to the client
    files: dict[tuple[str, str], HostedFile]
    faults: Faults = field(default_factory=Faults)
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, served: Served) -> None:
        with self.lock:
            self.log.append(served)

    def gets(self) -> list[Served]:
        """GETs of model files (huggingface_hub's own /api/... calls left out)."""
        with self.lock:
            return [s for s in self.log if s.method == "GET" and "/api/" not in s.path]

    def wait_for_gets(self, count: int, timeout: float = 10.0) -> list[Served]:
        """The GETs, once count of them finished (a stalled response logs when it ends)."""
        deadline = time.monotonic() + timeout
        while len(self.gets()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.gets()

    def heads(self) -> list[Served]:
        with self.lock:
            return [s for s in self.log if s.method == "HEAD"]

    def body_bytes(self) -> int:
        return sum(s.body_bytes for s in self.gets())

    def by_sha(self, sha: str) -> HostedFile | None:
        return next((f for f in self.files.values() if f.sha256 == sha), None)


def host(path: Path) -> HostedFile:
    data = hashlib.sha256(path.read_bytes()).hexdigest()
    return HostedFile(path, path.stat().st_size, data)


@contextmanager
def serve(files: dict[tuple[str, str], HostedFile]) -> Iterator[FakeHub]:
    """Run a FakeHub (and its CDN) serving files keyed by (repo, filename) until the block ends."""
    hub = FakeHub(url="", cdn_url="", files=dict(files))
    handler = type("Handler", (_Handler,), {"hub": hub})
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    hub.url, hub.cdn_url = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    try:
        yield hub
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        path = unquote(self.path)
        resolve = _RESOLVE.match(path)
        lfs = _LFS.match(path)
        if resolve:
            self._resolve(resolve["repo"], resolve["file"], head)
        elif lfs and (hosted := self.hub.by_sha(lfs["sha"])) is not None:
            if self.hub.faults.cdn_denials > 0 and self._range_start() and not head:
                self.hub.faults.cdn_denials -= 1
                self._error(403, None, "Request has expired", head)
                return
            self._content(hosted, head)
        else:
            self._error(404, "RepoNotFound", "Repository not found", head)

    def _resolve(self, repo: str, filename: str, head: bool) -> None:
        faults = self.hub.faults
        if repo in faults.gated:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in faults.tokens:
                status = 403 if token else 401
                self._error(status, "GatedRepo", f"Access to model {repo} is restricted", head)
                return
        hosted = self.hub.files.get((repo, filename))
        if hosted is None:
            known = any(r == repo for r, _ in self.hub.files)
            code = "EntryNotFound" if known else "RepoNotFound"
            self._error(404, code, "Entry not found" if known else "Repository not found", head)
            return
        if faults.redirect:
            # Logged before answering (here and for errors and HEADs), so that a client that
            # has its answer always finds the request in the log.
            self.hub.record(Served(self.command, self.path, 302, None, 0, self._authorized()))
            self.send_response(302)
            self.send_header("Location", f"{self.hub.cdn_url}/lfs/{hosted.sha256}")
            self._hub_headers(hosted)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._content(hosted, head)

    def _hub_headers(self, hosted: HostedFile) -> None:
        size = self.hub.faults.announced_size or hosted.size
        self.send_header("ETag", f'"{hosted.sha256}"')
        self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("X-Repo-Commit", COMMIT)

    def _content(self, hosted: HostedFile, head: bool) -> None:
        start = self._range_start()
        if start is not None and start >= hosted.size:
            self._error(416, None, "Range Not Satisfiable", head)
            return
        status = 206 if start else 200
        if head:
            self.hub.record(Served(self.command, self.path, status, start, 0, self._authorized()))
        self.send_response(status)
        self._hub_headers(hosted)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        offset = start or 0
        self.send_header("Content-Length", str(hosted.size - offset))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{hosted.size - 1}/{hosted.size}")
        self.end_headers()
        if not head:
            sent = self._body(hosted, offset)
            self.hub.record(
                Served(self.command, self.path, status, start, sent, self._authorized())
            )

    def _authorized(self) -> bool:
        return "Authorization" in self.headers

    def _range_start(self) -> int | None:
        match = _RANGE.match(self.headers.get("Range", ""))
        return int(match[1]) if match else None

    def _body(self, hosted: HostedFile, offset: int) -> int:
        faults = self.hub.faults
        sent = 0
        with hosted.path.open("rb") as fh:
            fh.seek(offset)
            while block := fh.read(_CHUNK):
                end = offset + sent + len(block)
                if faults.cut_at is not None and faults.cuts > 0 and end > faults.cut_at:
                    faults.cuts -= 1
                    sent += self._send(block[: max(0, faults.cut_at - offset - sent)])
                    self._drop()
                    return sent
                if faults.stall_at is not None and faults.stalls > 0 and end > faults.stall_at:
                    faults.stalls -= 1
                    sent += self._send(block[: max(0, faults.stall_at - offset - sent)])
                    time.sleep(faults.stall_seconds)
                    self._drop()
                    return sent
                if faults.corrupt and offset + sent <= hosted.size // 2 < end:
                    flip = hosted.size // 2 - offset - sent
                    block = block[:flip] + bytes([block[flip] ^ 0xFF]) + block[flip + 1 :]
                try:
                    sent += self._send(block)
                except OSError:  # the client went away
                    return sent
                if faults.bytes_per_second:
                    time.sleep(len(block) / faults.bytes_per_second)
        return sent

    def _send(self, data: bytes) -> int:
        self.wfile.write(data)
        self.wfile.flush()
        return len(data)

    def _drop(self) -> None:
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, status: int, code: str | None, message: str, head: bool) -> None:
        body = b"" if head else message.encode()
        self.hub.record(Served(self.command, self.path, status, None, 0, self._authorized()))
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def main() -> None:
    """`python -m tests.store.hub_server REPO FILE PATH`: serve one file until killed.

    Prints the URL on the first line of stdout. Used by benchmarks/store_throughput.py so
    that the server does not share a process (and a GIL) with the client it measures.
    """
    import sys

    repo, filename, path = sys.argv[1:4]
    with serve({(repo, filename): host(Path(path))}) as hub:
        print(hub.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()

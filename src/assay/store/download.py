"""`assay pull`: fetch a catalog variant from the Hugging Face hub into assay's cache.

The HTTP work is huggingface_hub's: `get_hf_file_metadata` (HEAD: ETag, X-Repo-Commit,
X-Linked-Size, redirects, HF_TOKEN, gated and offline errors) and `http_get` (streamed GET
with a read timeout, Range resume and its own retries). Around them assay keeps:

- one partial file per variant, `<file>.incomplete`, with the ETag it belongs to, so a
  pull that was interrupted (Ctrl-C, crash, network down) resumes with a Range request;
- retries with exponential backoff once huggingface_hub's own retries give up;
- a file lock, so concurrent pulls of one variant download it once;
- a free-space check, a sha256 check (the catalog's hash, else the hub's LFS hash), and an
  atomic rename into place: a file in the cache is always complete and verified.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout
from pydantic import BaseModel, ValidationError

from assay.catalog import HubSource, Resolved
from assay.config import Settings
from assay.errors import AssayError, DownloadError
from assay.store.hub_errors import describe_hub_error, is_transient
from assay.store.integrity import atomic_write_text, is_verified, sha256_file, write_verified
from assay.store.locate import cached_file, model_path
from assay.store.records import StoreRecord, now, read_record, write_record
from assay.store.safety import check_repo_file, check_repo_id, check_revision, contained
from assay.units import format_bytes
from assay.version import version

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts after huggingface_hub's own retries fail; the waits double up to max_wait."""

    attempts: int = 4
    first_wait: float = 2.0
    max_wait: float = 30.0

    def wait(self, attempt: int) -> float:
        return float(min(self.max_wait, self.first_wait * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class PullOptions:
    endpoint: str | None = None  # None: huggingface_hub's, i.e. HF_ENDPOINT or the hub
    offline: bool | None = None  # None: HF_HUB_OFFLINE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # A tqdm-like class (update(n), context manager) for huggingface_hub to report bytes to.
    progress: Any = None
    notify: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)


@dataclass(frozen=True)
class PullResult:
    name: str
    path: Path
    size: int
    sha256: str | None
    already_cached: bool
    verified_against: str | None = None  # "the catalog", "the hub's LFS hash", or None
    downloaded: int = 0  # bytes fetched by this pull
    resumed_from: int = 0
    seconds: float = 0.0
    commit: str | None = None


@dataclass(frozen=True)
class _Remote:
    url: str
    headers: dict[str, str]
    etag: str
    commit: str
    size: int | None
    signed: bool  # url is off the hub (a CDN): it carries its own signature, not the token


class _PartialState(BaseModel):
    """Beside `<file>.incomplete`: which remote file its bytes belong to."""

    etag: str
    size: int | None


def pull(settings: Settings, resolved: Resolved, options: PullOptions | None = None) -> PullResult:
    """Make resolved's file available locally, downloading it when needed."""
    options = options or PullOptions()
    entry, variant = resolved.entry, resolved.variant
    source = variant.location
    if not isinstance(source, HubSource):
        return _local_only(settings, resolved)
    if source.file is None:
        raise AssayError(f"'{resolved.name}' names a repo but no file in the catalog")
    check_repo_id(source.repo)
    check_repo_file(source.file)
    check_revision(source.revision)
    target = cached_file(settings, entry, variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    contained(settings.models_dir, target.parent)
    with _locked(target, resolved.name, options):
        found = _already_cached(target, resolved, options)
        if found is not None:
            return found
        if _offline(options):
            raise DownloadError(
                f"'{resolved.name}' is not in the cache and HF_HUB_OFFLINE is set; "
                "unset it to download the model"
            )
        return _download(target, resolved, options)


def _hub(resolved: Resolved) -> HubSource:
    """The hub source of a variant that pull is downloading (checked in pull)."""
    source = resolved.variant.location
    assert isinstance(source, HubSource)
    return source


def _local_only(settings: Settings, resolved: Resolved) -> PullResult:
    """Bundled, imported and quantized variants: nothing to download, only to find."""
    path = model_path(settings, resolved.entry, resolved.variant)
    if path == Path():  # an upstream, a fake, an adapter without weights: no file at all
        return PullResult(resolved.name, path, 0, None, already_cached=True)
    size = path.stat().st_size
    return PullResult(resolved.name, path, size, resolved.variant.sha256, already_cached=True)


@contextmanager
def _locked(target: Path, name: str, options: PullOptions) -> Iterator[None]:
    lock = FileLock(str(target) + ".lock")
    try:
        lock.acquire(timeout=0.2)
    except Timeout:
        options.say(f"another pull of {name} is running; waiting for it to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _already_cached(target: Path, resolved: Resolved, options: PullOptions) -> PullResult | None:
    """A result when target is there and matches its reference hash; a corrupt copy is removed."""
    if not target.is_file():
        return None
    record = read_record(target.parent)
    reference = resolved.variant.sha256 or (record.sha256 if record else None)
    size = target.stat().st_size
    commit = record.commit if record else None
    if is_verified(target, reference):
        return PullResult(resolved.name, target, size, reference, True, commit=commit)
    if reference is None:
        return PullResult(resolved.name, target, size, None, True, commit=commit)
    options.say(f"checking the sha256 of the cached {target.name}")
    digest = sha256_file(target)
    if digest == reference:
        write_verified(target, digest)
        return PullResult(resolved.name, target, size, digest, True, commit=commit)
    options.say(f"the cached {target.name} is corrupt (sha256 {digest[:12]}…); downloading again")
    target.unlink()
    return None


def _offline(options: PullOptions) -> bool:
    if options.offline is not None:
        return options.offline
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def _download(target: Path, resolved: Resolved, options: PullOptions) -> PullResult:
    variant, source = resolved.variant, _hub(resolved)
    remote = _resolve_remote(resolved, options)
    expected = variant.sha256 or _lfs_sha256(remote.etag)
    size = remote.size if remote.size is not None else variant.size_bytes
    partial = target.with_name(target.name + ".incomplete")
    resumed_from = _reusable_partial(partial, remote)
    if size is not None:
        _check_free_space(target.parent, size - resumed_from, resolved.name)
    if resumed_from:
        options.say(f"resuming {target.name} from {format_bytes(resumed_from)}")
    started = time.perf_counter()
    _fetch(remote, partial, size, resolved, options)
    seconds = time.perf_counter() - started
    got = partial.stat().st_size
    options.say(f"verifying the sha256 of {target.name}")
    digest = sha256_file(partial)
    if expected is not None and digest != expected:
        _discard(partial)
        raise DownloadError(
            f"the download of {resolved.name} has sha256 {digest[:12]}…, expected "
            f"{expected[:12]}…; the file was deleted and nothing entered the cache"
        )
    os.replace(partial, target)
    _state_path(partial).unlink(missing_ok=True)
    if expected is not None:
        write_verified(target, digest)
    record = StoreRecord(
        kind="pulled",
        file=target.name,
        size=got,
        sha256=digest,
        created=now(),
        repo=source.repo,
        revision=source.revision,
        commit=remote.commit,
        quantization=variant.quantization,
    )
    write_record(target.parent, record)
    against = None
    if expected is not None:
        against = "the catalog" if variant.sha256 else "the hub's LFS hash"
    return PullResult(
        name=resolved.name,
        path=target,
        size=got,
        sha256=digest,
        already_cached=False,
        verified_against=against,
        downloaded=got - resumed_from,
        resumed_from=resumed_from,
        seconds=seconds,
        commit=remote.commit,
    )


def _resolve_remote(resolved: Resolved, options: PullOptions) -> _Remote:
    """HEAD the file on the hub: where to GET it, its ETag, commit and size."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    source = _hub(resolved)
    assert source.file is not None
    url = hf_hub_url(source.repo, source.file, revision=source.revision, endpoint=options.endpoint)
    options.say(f"looking up {source.repo}/{source.file} on {urlsplit(url).netloc}")
    try:
        meta = get_hf_file_metadata(
            url,
            timeout=constants.HF_HUB_ETAG_TIMEOUT,
            endpoint=options.endpoint,
            retry_on_errors=True,
            library_name="assay",
            library_version=version(),
        )
    except Exception as exc:
        raise DownloadError(describe_hub_error(exc, resolved, options.endpoint)) from None
    if meta.etag is None or meta.commit_hash is None:
        raise DownloadError(
            f"{urlsplit(url).netloc} answered without an ETag or X-Repo-Commit header; "
            "it does not look like a Hugging Face hub (check HF_ENDPOINT)"
        )
    headers = build_hf_headers(library_name="assay", library_version=version())
    headers["Accept-Encoding"] = "identity"
    signed = urlsplit(meta.location).netloc != urlsplit(url).netloc
    if signed:
        headers.pop("authorization", None)  # the token stays with the hub
    return _Remote(meta.location, headers, meta.etag, meta.commit_hash, meta.size, signed)


def _lfs_sha256(etag: str) -> str | None:
    """The hub's ETag for an LFS file (every GGUF on it) is the file's sha256."""
    return etag if _SHA256.match(etag) else None


def _state_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def _reusable_partial(partial: Path, remote: _Remote) -> int:
    """Bytes of an earlier partial download of this same remote file; 0 after discarding others."""
    state_path = _state_path(partial)
    state = None
    with suppress(OSError, ValidationError):
        state = _PartialState.model_validate_json(state_path.read_text("utf-8"))
    size = partial.stat().st_size if partial.is_file() else 0
    fits = remote.size is None or size <= remote.size
    if state is None or state.etag != remote.etag or not fits:
        _discard(partial)
        size = 0
    fresh = _PartialState(etag=remote.etag, size=remote.size)
    atomic_write_text(state_path, fresh.model_dump_json())
    return size


def _discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)
    _state_path(partial).unlink(missing_ok=True)


def _check_free_space(folder: Path, needed: int, name: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space for {name}: needs {format_bytes(needed)}, "
            f"{format_bytes(free)} free in {folder}"
        )


def _fetch(
    remote: _Remote, partial: Path, size: int | None, resolved: Resolved, options: PullOptions
) -> None:
    """GET into partial, resuming from its end; retried with backoff on transient failures.

    A signed CDN URL that stops being accepted (401/403 off the hub: it expired during a
    long download) is fetched again with a fresh HEAD, and the download carries on.
    """
    from huggingface_hub.file_download import http_get

    policy = options.retry
    for attempt in range(1, policy.attempts + 1):
        offset = _size(partial)
        try:
            with partial.open("ab") as fh:
                http_get(
                    remote.url,
                    fh,
                    resume_size=offset,
                    headers=remote.headers,
                    expected_size=size,
                    displayed_filename=partial.name.removesuffix(".incomplete"),
                    tqdm_class=options.progress,
                )
            return
        except Exception as exc:
            expired = remote.signed and _status(exc) in (401, 403)
            if not (expired or is_transient(exc)):
                raise DownloadError(_fetch_failure(exc, resolved.name, partial)) from None
            if attempt == policy.attempts:
                raise DownloadError(
                    f"the download of {resolved.name} failed {attempt} times ({_short(exc)}); "
                    f"run 'assay pull {resolved.name}' again to resume from "
                    f"{format_bytes(_size(partial))}"
                ) from None
            wait = policy.wait(attempt)
            options.say(f"{_short(exc)}; retrying in {wait:.0f} s")
            time.sleep(wait)
            if expired:
                remote = _resolve_remote(resolved, options)
                _reusable_partial(partial, remote)  # a new version on the hub starts over


def _status(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _fetch_failure(exc: BaseException, name: str, partial: Path) -> str:
    kept = _size(partial)
    resume = (
        f"; the {format_bytes(kept)} downloaded so far are kept for 'assay pull {name}'"
        if kept
        else ""
    )
    status = _status(exc)
    if status is not None:
        return f"the download of {name} failed: the server answered HTTP {status}{resume}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot write {partial}: {exc.strerror}{resume}"
    return f"the download of {name} failed: {_short(exc)}{resume}"


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

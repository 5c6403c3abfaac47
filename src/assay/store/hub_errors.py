"""huggingface_hub's exceptions, sorted into retry-or-not and told to the user in one line."""

from __future__ import annotations

from assay.catalog import HubSource, Resolved

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """A dropped or stalled connection, a busy server, or a short body: worth retrying."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return False
    if isinstance(exc, HfHubHTTPError):
        return exc.response.status_code in _RETRY_STATUS
    if isinstance(exc, httpx2.TransportError):
        return True
    # http_get's "Consistency check failed" (fewer bytes than announced) has no errno;
    # a disk error (ENOSPC, EACCES) has one and is not retried.
    return isinstance(exc, OSError) and exc.errno is None


def describe_hub_error(exc: BaseException, resolved: Resolved, endpoint: str | None) -> str:
    """One line saying what went wrong reaching the file on the hub, and what to do."""
    import httpx2
    from huggingface_hub import constants, get_token
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    variant, source = resolved.variant, resolved.variant.location
    assert isinstance(source, HubSource)
    hub = (endpoint or constants.ENDPOINT).rstrip("/")
    repo = f"{hub}/{source.repo}"
    status = exc.response.status_code if isinstance(exc, HfHubHTTPError) else None
    if isinstance(exc, OfflineModeIsEnabled):
        return (
            f"'{resolved.name}' is not in the cache and HF_HUB_OFFLINE is set; "
            "unset it to download the model"
        )
    if isinstance(exc, GatedRepoError) or (status in (401, 403) and variant.gated):
        return _gated(resolved, repo, token_set=get_token() is not None)
    if isinstance(exc, RevisionNotFoundError):
        return f"revision '{source.revision}' of {repo} does not exist"
    if isinstance(exc, RemoteEntryNotFoundError):
        return f"{repo} has no file '{source.file}' at revision '{source.revision}'"
    if isinstance(exc, RepositoryNotFoundError):
        return (
            f"{repo} was not found (HTTP {status}); if it is private or gated, set HF_TOKEN "
            "to a token of an account that can read it"
        )
    if status in (401, 403):
        return _gated(resolved, repo, token_set=get_token() is not None)
    if status is not None:
        return f"{hub} answered HTTP {status} for {source.repo}/{source.file}; try again later"
    if isinstance(exc, httpx2.TransportError):
        return (
            f"cannot reach {hub} ({type(exc).__name__}); check the connection, "
            "or set HF_HUB_OFFLINE=1 to use cached models only"
        )
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"cannot fetch {resolved.name} from {repo}: {first}"


def _gated(resolved: Resolved, repo: str, *, token_set: bool) -> str:
    if token_set:
        return (
            f"{repo} is gated and refused the token in HF_TOKEN: accept the model's licence "
            f"at {repo} with that account (or check the token), then pull '{resolved.name}' again"
        )
    return (
        f"{repo} is gated: set HF_TOKEN to a Hugging Face access token and accept the "
        f"model's licence at {repo}, then pull '{resolved.name}' again"
    )

"""Fetching input files from the Hugging Face Hub into ``resources/``, verified and atomically.

:func:`download_file` wraps :func:`huggingface_hub.hf_hub_download`: the file lands in the Hub
cache first (so a rerun, or a second workflow on the same machine, does not download it again),
then is copied to its place under ``resources/`` through :func:`ebteff.io.atomic_output`, so a
failed or interrupted download never leaves a file that Snakemake could take for a result.

What it adds to the client:

- a sha256 pin: a file whose digest differs is refused with :class:`ChecksumError`, nothing is
  written, and the cached copy is evicted;
- an integrity check of the cache itself: an LFS file's ETag *is* its sha256, so a cached blob
  that no longer matches its own name is evicted and fetched again;
- retries with exponential backoff on network errors and transient HTTP statuses only: a missing
  repository, revision or file fails at once with :class:`HubNotFoundError`;
- one log line saying what was fetched, from where, how big, its sha256 and whether it came from
  the cache.

Endpoint. ``huggingface_hub`` reads ``HF_ENDPOINT`` once, when it is first imported. This module
imports it lazily, inside the functions, *and* passes the endpoint read from the environment at
call time to every request, so an ``HF_ENDPOINT`` set by the caller (a mirror, or the loopback
server of the tests) is honoured even when something imported ``huggingface_hub`` earlier.
Other ``HF_*`` variables (``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ...) keep the
client's import-time semantics.

Tokens are passed in by the caller and handed to the client; they are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

from .io import atomic_output, sha256sum

logger = logging.getLogger(__name__)

#: HTTP statuses worth another attempt: timeouts, rate limits, and the Hub or its CDN being down.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

#: Upper bound of one backoff sleep, in seconds.
MAX_BACKOFF = 60.0

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ChecksumError(ValueError):
    """The downloaded file is not the one the configuration pinned."""


class HubDownloadError(OSError):
    """The Hub could not deliver the file (after the allowed retries, or for a lasting reason)."""


class HubNotFoundError(HubDownloadError, FileNotFoundError):
    """The repository, revision or file does not exist, or is not visible with this token."""


class _CorruptCacheError(OSError):
    """A cached blob no longer matches its own sha256 ETag; evicted, so worth a retry."""


def download_file(
    repo_id: str,
    filename: str,
    dest: str | os.PathLike,
    *,
    repo_type: str = "dataset",
    revision: str = "main",
    sha256: str | None = None,
    retries: int = 3,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
    backoff: float = 1.0,
) -> Path:
    """Download ``filename`` of a Hub repository to ``dest`` and return ``dest``.

    ``sha256`` (64 hex digits) pins the content: a mismatch raises :class:`ChecksumError` and
    leaves nothing at ``dest``. ``retries`` is the number of further attempts after the first
    one, separated by ``backoff * 2**k`` seconds; only network errors and transient HTTP statuses
    are retried (``huggingface_hub`` itself already retries a failed metadata request for about
    23 s before an attempt counts as failed). ``cache_dir`` defaults to the Hub cache
    (``HF_HUB_CACHE``, under ``HF_HOME``). ``token`` None lets ``huggingface_hub`` fall back to
    its own lookup (``HF_TOKEN``, then the token stored by ``hf auth login``).

    A failed call never touches ``dest``: a file already there stays as it was (Snakemake removes
    a job's outputs before running it, so under a rule there is none).
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    expected = _normalise_pin(sha256)
    dest = Path(dest)
    what = _describe(repo_type, repo_id, filename, revision)
    endpoint = endpoint_from_environment()

    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return _download_once(
                repo_id,
                filename,
                dest,
                repo_type=repo_type,
                revision=revision,
                expected=expected,
                cache_dir=cache_dir,
                token=token,
                endpoint=endpoint,
            )
        except ChecksumError:
            raise  # the same bytes would come back: retrying only delays the message
        except Exception as exc:
            not_found = _not_found_message(exc, repo_type, repo_id, filename, revision, endpoint)
            if not_found is not None:
                raise HubNotFoundError(not_found) from exc
            if not _is_transient(exc):
                refused = _refused_message(exc, what, endpoint)
                if refused is not None:
                    raise HubDownloadError(refused) from exc
                raise
            if attempt == attempts:
                raise HubDownloadError(
                    f"gave up downloading {what} after {attempts} attempt(s); last error: "
                    f"{type(exc).__name__}: {_first_line(exc)}"
                ) from exc
            delay = min(MAX_BACKOFF, backoff * 2 ** (attempt - 1))
            logger.warning(
                "attempt %d/%d at %s failed (%s: %s); retrying in %.1f s",
                attempt,
                attempts,
                what,
                type(exc).__name__,
                _first_line(exc),
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _download_once(
    repo_id: str,
    filename: str,
    dest: Path,
    *,
    repo_type: str,
    revision: str,
    expected: str | None,
    cache_dir: str | os.PathLike | None,
    token: str | None,
    endpoint: str | None,
) -> Path:
    """One attempt: fetch into the cache, check, copy to ``dest``; raise on any problem."""
    # Imported here, not at module level: see the module docstring (HF_ENDPOINT at import).
    from huggingface_hub import constants, hf_hub_download, hf_hub_url
    from huggingface_hub.file_download import repo_folder_name

    cache = Path(cache_dir or constants.HF_HUB_CACHE).expanduser().resolve()
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    blobs_before = _blob_names(storage)

    pointer = Path(
        hf_hub_download(
            repo_id,
            filename,
            repo_type=repo_type,
            revision=revision,
            cache_dir=cache,
            token=token,
            endpoint=endpoint,
        )
    )
    blob = pointer.resolve()
    commit = _commit_of(pointer, storage)
    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=commit, endpoint=endpoint)
    from_cache = blob.parent == storage / "blobs" and blob.name in blobs_before
    what = _describe(repo_type, repo_id, filename, revision)

    with atomic_output(dest) as tmp:
        # copyfile, not copy2: dest must get a fresh mtime (and atomic_output's mode), not the
        # blob's, or Snakemake would take a file placed now for an old one.
        shutil.copyfile(blob, tmp)
        actual = sha256sum(tmp)
        size = tmp.stat().st_size
        if _SHA256.fullmatch(blob.name) and actual != blob.name:
            _evict(pointer, blob, storage)
            raise _CorruptCacheError(
                f"cached copy of {what} is corrupt (sha256 {actual}, its ETag says {blob.name}); "
                "evicted it from the cache"
            )
        if expected is not None and actual != expected:
            _evict(pointer, blob, storage)
            raise ChecksumError(
                f"sha256 mismatch for {what} (commit {commit}) from {url}: expected {expected}, "
                f"got {actual}. The file on the Hub is not the one the configuration pins. If "
                f"this new file is intended, update the sha256 pin in the config to {actual}; "
                "otherwise set the revision to the commit that holds the pinned file. Nothing "
                f"was written to {dest}, and the cached copy was evicted."
            )

    logger.info(
        "%s %s (commit %s, %s) to %s: %d bytes, sha256 %s, %s",
        "took from the Hub cache (no transfer)" if from_cache else "downloaded",
        what,
        commit,
        url,
        dest,
        size,
        actual,
        "matches the pin" if expected is not None else "no sha256 pin configured",
    )
    return dest


def _normalise_pin(sha256: str | None) -> str | None:
    """Lower-case, stripped pin, or None; reject anything that is not a sha256 before any I/O."""
    if sha256 is None or str(sha256).strip() == "":
        return None
    pin = str(sha256).strip().lower()
    if not _SHA256.fullmatch(pin):
        raise ValueError(f"sha256 pin must be 64 hexadecimal digits, got {sha256!r}")
    return pin


def endpoint_from_environment() -> str | None:
    """``HF_ENDPOINT`` as it is now (the client's own copy is frozen at its import)."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
    return endpoint or None


def client_environment(*, upload: bool = False) -> str | None:
    """Set up the ``huggingface_hub`` client's environment and return the token (``HF_TOKEN``;
    None when unset or blank). Call it before ``huggingface_hub`` is imported: the client reads
    these variables once, at import. A value the user set is kept.

    - ``HF_HUB_DISABLE_TELEMETRY=1``: huggingface_hub 2.x otherwise fetches
      ``{HF_ENDPOINT}/api/agent-harnesses`` for its user agent; the workflow needs no telemetry.
    - ``upload``: also ``HF_HUB_DISABLE_XET=1``, so an upload goes through the Hub's LFS
      protocol, which every Hub endpoint speaks and the tests exercise, in exactly one commit per
      repository (``HF_HUB_DISABLE_XET=0`` lets huggingface_hub use Xet storage instead).

    The token comes from the environment, never from ``params`` (Snakemake stores params in clear
    under ``.snakemake/``), and is never logged.
    """
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if upload:
        os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    return os.environ.get("HF_TOKEN", "").strip() or None


def _describe(repo_type: str, repo_id: str, filename: str, revision: str) -> str:
    return f"{filename!r} of {repo_type} {repo_id!r} at revision {revision!r}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _blob_names(storage: Path) -> set[str]:
    """Names of the blobs already in a repository's cache folder (empty if there is none)."""
    try:
        return {p.name for p in (storage / "blobs").iterdir() if not p.name.endswith(".incomplete")}
    except FileNotFoundError:
        return set()


def _commit_of(pointer: Path, storage: Path) -> str:
    """The commit a cache pointer belongs to (``<storage>/snapshots/<commit>/<filename>``)."""
    try:
        return pointer.relative_to(storage / "snapshots").parts[0]
    except ValueError:
        return "unknown"


def _evict(pointer: Path, blob: Path, storage: Path) -> None:
    """Remove a bad file from the Hub cache, so the next attempt downloads it again.

    Only paths inside this repository's cache folder are touched. Other snapshots that linked the
    same blob are left dangling; the client re-creates such links when it next needs them.
    """
    storage = storage.resolve()
    for path in (pointer, blob):
        if storage in path.parents:
            path.unlink(missing_ok=True)
    logger.warning("evicted %s from the Hub cache", blob)


def _not_found_message(
    exc: BaseException,
    repo_type: str,
    repo_id: str,
    filename: str,
    revision: str,
    endpoint: str | None,
) -> str | None:
    """A clear message if ``exc`` says the repo, revision or file is missing; else None."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = endpoint or "the Hugging Face Hub"
    asked = (
        f"(repo_id {repo_id!r}, repo_type {repo_type!r}, revision {revision!r}, file {filename!r})"
    )
    if isinstance(exc, GatedRepoError):
        return (
            f"{repo_type} {repo_id!r} on {where} is gated {asked}: accept its terms on the Hub and "
            "set HF_TOKEN to a token of an account that has access."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return (
            f"{repo_type} {repo_id!r} was not found on {where} {asked}: check repo_id and repo "
            "type in the config; if the repository is private, set HF_TOKEN to a token with "
            "read access."
        )
    if isinstance(exc, RevisionNotFoundError):
        return (
            f"revision {revision!r} does not exist in {repo_type} {repo_id!r} on {where} "
            f"{asked}: check the revision (branch, tag or commit) in the config."
        )
    if isinstance(exc, RemoteEntryNotFoundError):
        return (
            f"file {filename!r} does not exist in {repo_type} {repo_id!r} at revision "
            f"{revision!r} on {where} {asked}: check the filename and revision in the config."
        )
    return None


def _refused_message(exc: BaseException, what: str, endpoint: str | None) -> str | None:
    """A clear message for an HTTP error that another attempt would not fix (401, 403, ...).

    The client wraps a refused metadata request in a generic "check your connection" error;
    the status underneath is what the user needs to see.
    """
    from huggingface_hub.errors import HfHubHTTPError

    http_error = next(
        (e for e in (exc, exc.__cause__) if isinstance(e, HfHubHTTPError)),
        None,
    )
    if http_error is None or http_error.response is None:
        return None
    status = http_error.response.status_code
    hint = (
        " Check that HF_TOKEN holds a valid token with read access to the repository."
        if status in (401, 403)
        else ""
    )
    return (
        f"{endpoint or 'the Hugging Face Hub'} answered HTTP {status} for {what}: "
        f"{_first_line(http_error)}.{hint}"
    )


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exception types of the HTTP library under ``huggingface_hub`` (httpx2 in 2.x)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _is_transient(exc: BaseException) -> bool:
    """Whether another attempt could succeed: network trouble or a Hub/CDN hiccup."""
    from huggingface_hub.errors import (
        FileMetadataError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
    )

    if isinstance(exc, _CorruptCacheError):
        return True
    if isinstance(exc, OfflineModeIsEnabled):
        return False  # HF_HUB_OFFLINE is set: the answer will not change
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status in RETRYABLE_STATUS
    if isinstance(exc, LocalEntryNotFoundError):
        # The client raises this when its metadata request failed and no cached copy exists;
        # whether to retry depends on why the request failed.
        cause = exc.__cause__
        if cause is None or isinstance(cause, FileMetadataError):
            return False  # offline mode, or an endpoint that does not speak the Hub protocol
        return _is_transient(cause)
    if isinstance(exc, _transport_errors()):
        return True
    # A body shorter or longer than announced (huggingface_hub's size consistency check).
    return isinstance(exc, OSError) and "Consistency check failed" in str(exc)


def download_first(
    repo_id: str,
    filenames: list[str] | tuple[str, ...],
    dest: str | os.PathLike,
    **kwargs,
) -> str:
    """Download the first of ``filenames`` that the repository holds to ``dest``; return its name.

    A file the repository lacks (at that revision) moves on to the next; anything else (a
    missing repository or revision, a checksum mismatch, a network failure after the retries)
    stops at once, as :func:`download_file` does. ``kwargs`` are those of :func:`download_file`.
    """
    from huggingface_hub.errors import RemoteEntryNotFoundError

    if not filenames:
        raise ValueError("no filename to download")
    missing = []
    for filename in filenames:
        try:
            download_file(repo_id, filename, dest, **kwargs)
        except HubNotFoundError as exc:
            if not isinstance(exc.__cause__, RemoteEntryNotFoundError):
                raise
            logger.info("%s is not in %s; trying the next candidate", filename, repo_id)
            missing.append(filename)
            continue
        return filename
    raise HubNotFoundError(
        f"none of {', '.join(missing)} exists in {kwargs.get('repo_type', 'dataset')} "
        f"{repo_id!r} at revision {kwargs.get('revision', 'main')!r}: check the filenames and "
        "the revision in the config"
    )

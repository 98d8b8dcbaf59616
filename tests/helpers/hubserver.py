"""A loopback stand-in for the Hugging Face Hub, so tests drive the real client with no network.

Two ``ThreadingHTTPServer`` listeners on 127.0.0.1 (ephemeral ports), sharing one in-memory store:

``hub`` (``server.url``, what ``HF_ENDPOINT`` points at)
    ``HEAD``/``GET /{repo_id}/resolve/{revision}/{path}`` (models) and
    ``/datasets/{repo_id}/...``, ``/spaces/{repo_id}/...``. Every answer carries
    ``X-Repo-Commit`` (the client refuses a response without it).

    * LFS file (the default, like the photometry Parquet): ``302`` with
      ``Location: {cdn_url}/lfs/{sha256}``, ``X-Linked-Etag: "<sha256>"``,
      ``X-Linked-Size: <bytes>``. The CDN is another port, hence another origin, so the client
      stops at the 302 (as it does for the real CDN), takes etag and size from the ``X-Linked-*``
      headers, and sends its ``GET`` there *without* the ``Authorization`` header.
    * regular (git) file, ``lfs=False``: ``200`` with ``ETag: "<git blob sha1>"``,
      ``Content-Length``, ``Accept-Ranges: bytes``; ``Range`` requests get ``206``.
    * unknown repository / revision / file: ``404`` with ``X-Error-Code: RepoNotFound`` /
      ``RevisionNotFound`` / ``EntryNotFound`` (the last with ``X-Repo-Commit``, which the
      client uses to cache the file's absence), which ``huggingface_hub`` turns into
      ``RepositoryNotFoundError`` / ``RevisionNotFoundError`` / ``RemoteEntryNotFoundError``.

``cdn`` (``server.cdn_url``)
    ``HEAD``/``GET /lfs/{sha256}``: ``200`` (or ``206`` for ``Range``) with ``ETag``,
    ``Content-Length`` and ``Accept-Ranges``; a plain ``404`` for an unknown blob.

A revision is a branch name or any commit hash the server has produced; every ``add_file``
makes a new commit on its branch, and older commits stay resolvable. Branches are independent
file sets (a new branch does not start from ``main``).

The upload side, as ``huggingface_hub`` 2.x speaks it with ``HF_HUB_DISABLE_XET=1``
(``HfApi.create_repo`` and ``upload_folder`` / ``create_commit``). Every write needs an
``Authorization: Bearer`` token (``write_tokens`` narrows which), else ``401``:

* ``POST /api/repos/create`` (``{name, organization, type, visibility}``): a new repository
  whose first commit holds the Hub's default ``.gitattributes`` (its LFS patterns), or ``409``
  if it exists (``create_repo(exist_ok=True)`` accepts that).
* ``POST /api/validate-yaml`` (``{content, repoType}``): ``400`` with ``errors`` when a card's
  YAML front matter does not parse to a mapping; a warning when there is none.
* ``GET /api/{type}s/{repo_id}[/revision/{rev}]`` (``repo_info``): ``{id, sha, private,
  siblings}``; the client asks it when it skips an empty commit.
* ``POST /api/{type}s/{repo_id}/preupload/{rev}`` (``{files: [{path, sample, size}]}``):
  per file ``uploadMode`` (``lfs`` when a ``.gitattributes`` LFS pattern matches, the file
  is >= 10 MiB or its sample holds a NUL byte; else ``regular``), ``shouldIgnore`` false and,
  when the path exists, ``oid`` (sha256 of an LFS file, git blob sha1 of a regular one): the
  client compares it with its own and drops unchanged files from the commit.
* ``POST /{prefix}{repo_id}.git/info/lfs/objects/batch`` (git-lfs batch API, ``upload``): per
  object no ``actions`` when the store already holds it, else ``upload.href`` (a ``PUT`` URL
  on the CDN origin, like a presigned S3 URL) and ``verify.href``; basic transfer only (no
  multipart ``chunk_size``). ``PUT {cdn}/upload/{oid}`` stores the body if its sha256 and size
  match the batch request; ``POST .../objects/verify`` (``{oid, size}``) confirms it.
* ``POST /api/{type}s/{repo_id}/commit/{branch}`` (NDJSON: a ``header`` line ``{summary,
  description, parentCommit?}`` then ``file`` (base64 content), ``lfsFile`` (``{path, algo,
  oid, size}``, refused unless uploaded), ``deletedFile`` and ``deletedFolder`` lines): a new
  commit, answered with ``{commitOid, commitUrl}``.

Tests steer it with ``add_file``, ``add_folder``, ``fail_next`` (make the next *k* matching
requests fail with a status) and read ``requests`` (every request: origin, method, path,
headers, status), ``received`` (file content as it arrived, inline or by LFS ``PUT``),
``commit_log`` and ``files_at``. More of the Hub plugs in through
``add_route(methods, pattern, handler)``: a handler takes a :class:`Request` and returns a
:class:`Response`; request bodies (``Content-Length`` or chunked) are read for it.

HTTP/1.1 keep-alive is on, as with the real Hub; ``stop()`` closes the idle connections the
client keeps open and joins every handler thread, so nothing outlives the test.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

log = logging.getLogger(__name__)

REPO_TYPES = ("model", "dataset", "space")
_TYPE_OF_PREFIX = {"datasets": "dataset", "spaces": "space", None: "model"}
_COMMIT = re.compile(r"[0-9a-f]{40}")
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)

#: Environment variables that would make a client subprocess ignore or bypass the loopback Hub.
_CLIENT_ENV_DROP = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
)


@dataclass(frozen=True)
class HubFile:
    """A file in a repository, with the digests the Hub derives from it."""

    data: bytes
    lfs: bool
    sha256: str
    git_sha1: str

    @classmethod
    def of(cls, data: bytes, lfs: bool) -> HubFile:
        git = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
        return cls(data, lfs, hashlib.sha256(data).hexdigest(), git)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, for assertions (header names are lower-case)."""

    origin: str
    method: str
    path: str
    headers: Mapping[str, str]
    status: int


@dataclass
class Request:
    """What a route handler gets: the parsed request and its route's regex match."""

    origin: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a route handler returns. For HEAD the body is dropped, its length still announced."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        return cls(
            status,
            {"Content-Type": "application/json", **(headers or {})},
            json.dumps(obj).encode(),
        )

    @classmethod
    def hub_error(
        cls, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        """An error the way the Hub sends it: ``X-Error-Code`` drives the client's exception."""
        return cls.json(
            {"error": message},
            status,
            {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})},
        )


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    origin: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


@dataclass
class _Failure:
    remaining: int
    status: int
    method: str | None
    path_contains: str | None
    origin: str | None
    headers: dict[str, str]

    def matches(self, request: Request) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == request.method)
            and (self.path_contains is None or self.path_contains in request.path)
            and (self.origin is None or self.origin == request.origin)
        )


@dataclass(frozen=True)
class Received:
    """File content as it arrived: ``how`` is ``inline`` (base64 in a commit) or ``lfs`` (PUT)."""

    how: str
    key: str  # the path in the repository (inline) or the sha256 oid (lfs)
    data: bytes


@dataclass(frozen=True)
class CommitRecord:
    """One commit made through ``/api/{type}s/{repo}/commit/{rev}``."""

    repo_type: str
    repo_id: str
    branch: str
    oid: str
    summary: str
    paths: tuple[str, ...]  # files added or replaced, inline and LFS


@dataclass
class _Repo:
    heads: dict[str, str] = field(default_factory=dict)  # branch -> commit
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)  # commit -> files


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub: the client pools connections
    timeout = 30  # backstop: an abandoned connection cannot pin a handler thread for ever
    server: _Listener

    def _dispatch(self) -> None:
        self.server.hub._serve(self)

    # http.server looks handlers up as do_<METHOD>; every method goes through the route table.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s %s", self.server.origin, fmt % args)


class _Listener(ThreadingHTTPServer):
    """One port; tracks its connections so ``stop()`` can close the idle keep-alive ones."""

    daemon_threads = False  # handler threads are joined by server_close() ...
    block_on_close = True  # ... once close_connections() has woken them up

    def __init__(self, hub: HubServer, origin: str) -> None:
        self.hub = hub
        self.origin = origin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class HubServer:
    """The loopback Hub: an in-memory file store behind the Hub's download protocol."""

    RESOLVE = re.compile(
        r"/(?:(?P<prefix>datasets|spaces)/)?(?P<repo_id>[^/]+(?:/[^/]+)?)"
        r"/resolve/(?P<revision>[^/]+)/(?P<path>.+)"
    )
    CDN_BLOB = re.compile(r"/lfs/(?P<sha256>[0-9a-f]{64})")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._blobs: dict[str, bytes] = {}
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []
        self._routes: list[Route] = []
        self._listeners: dict[str, _Listener] = {}
        self._threads: list[threading.Thread] = []
        #: Exceptions raised by route handlers (bugs in the server, not client errors).
        self.errors: list[BaseException] = []
        self.add_route(("HEAD", "GET"), self.RESOLVE, self._resolve)
        self.add_route(("HEAD", "GET"), self.CDN_BLOB, self._cdn_blob, origin="cdn")
        #: Tokens allowed to write; None accepts any ``Bearer`` token (none at all is refused).
        self.write_tokens: set[str] | None = None
        #: Every file content that reached the server: inline in a commit, or by LFS PUT.
        self.received: list[Received] = []
        #: Every commit made through the commit endpoint, oldest first.
        self.commit_log: list[CommitRecord] = []
        self._private: dict[tuple[str, str], bool] = {}
        self._lfs_pending: dict[str, int] = {}  # oid -> size, upload URLs handed out
        self._add_upload_routes()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HubServer:
        for origin in ("hub", "cdn"):
            listener = _Listener(self, origin)
            thread = threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"hubserver-{origin}",
                daemon=True,
            )
            thread.start()
            self._listeners[origin] = listener
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, join every thread. Safe to call twice."""
        listeners, self._listeners = self._listeners, {}
        for listener in listeners.values():
            listener.shutdown()
            listener.close_connections()
            listener.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The Hub endpoint (``HF_ENDPOINT``)."""
        return self._listeners["hub"].url

    @property
    def cdn_url(self) -> str:
        """Where LFS files are served from (a separate origin, like the real CDN)."""
        return self._listeners["cdn"].url

    def client_env(self, hf_home: str | os.PathLike, **extra: str) -> dict[str, str]:
        """Environment for a client subprocess: this endpoint, a private HF_HOME, no token."""
        env = {k: v for k, v in os.environ.items() if k not in _CLIENT_ENV_DROP}
        env.update(
            HF_ENDPOINT=self.url,
            HF_HOME=str(Path(hf_home)),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
        )
        env.update(extra)
        return env

    # -- content -----------------------------------------------------------------------------

    def add_repo(self, repo_type: str, repo_id: str) -> None:
        """Make an (empty) repository exist, with a ``main`` branch."""
        self._check_repo(repo_type, repo_id)
        with self._lock:
            repo = self._repos.setdefault((repo_type, repo_id), _Repo())
            if "main" not in repo.heads:
                self._commit(repo_type, repo_id, repo, "main", {})

    def add_file(
        self,
        repo_type: str,
        repo_id: str,
        path: str,
        data: bytes,
        revision: str = "main",
        *,
        lfs: bool = True,
    ) -> str:
        """Commit ``data`` at ``path`` on branch ``revision``; return the new commit hash."""
        self._check_repo(repo_type, repo_id)
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"bad path in repository: {path!r}")
        hub_file = HubFile.of(bytes(data), lfs)
        with self._lock:
            repo = self._repos.setdefault((repo_type, repo_id), _Repo())
            files = dict(repo.commits.get(repo.heads.get(revision, ""), {}))
            files[path] = hub_file
            if lfs:
                self._blobs[hub_file.sha256] = hub_file.data
            return self._commit(repo_type, repo_id, repo, revision, files)

    def add_folder(
        self, repo_type: str, repo_id: str, folder: str | os.PathLike, revision: str = "main"
    ) -> str:
        """Commit every file under ``folder`` (LFS for binary files, as the Hub would store
        them) in one commit on ``revision``; return the commit hash."""
        folder = Path(folder)
        files = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            files[path.relative_to(folder).as_posix()] = HubFile.of(data, lfs=b"\0" in data[:512])
        self._check_repo(repo_type, repo_id)
        with self._lock:
            repo = self._repos.setdefault((repo_type, repo_id), _Repo())
            merged = {**repo.commits.get(repo.heads.get(revision, ""), {}), **files}
            for hub_file in files.values():
                if hub_file.lfs:
                    self._blobs[hub_file.sha256] = hub_file.data
            return self._commit(repo_type, repo_id, repo, revision, merged)

    def commit_hash(self, repo_type: str, repo_id: str, revision: str = "main") -> str:
        """The commit a branch points at now."""
        with self._lock:
            return self._repos[(repo_type, repo_id)].heads[revision]

    def _commit(self, repo_type, repo_id, repo: _Repo, branch: str, files) -> str:
        parent = repo.heads.get(branch, "")
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"{repo_type}\0{repo_id}\0{branch}\0{parent}\0".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{files[path].sha256}\0".encode())
        commit = digest.hexdigest()
        repo.commits[commit] = files
        repo.heads[branch] = commit
        return commit

    @staticmethod
    def _check_repo(repo_type: str, repo_id: str) -> None:
        if repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
        if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", repo_id):
            raise ValueError(f"bad repo_id {repo_id!r}")

    # -- steering and inspection -------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int = 500,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        origin: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests that match with ``status`` (and no content)."""
        with self._lock:
            self._failures.append(
                _Failure(count, status, method, path_contains, origin, dict(headers or {}))
            )

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_matching(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        origin: str | None = None,
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path_contains is None or path_contains in r.path)
            and (origin is None or r.origin == origin)
        ]

    # -- routing -----------------------------------------------------------------------------

    def add_route(
        self,
        methods: str | Iterable[str],
        pattern: str | re.Pattern[str],
        handler: Handler,
        *,
        origin: str = "hub",
    ) -> None:
        """Serve ``methods`` on paths that fully match ``pattern`` with ``handler``."""
        methods = frozenset([methods] if isinstance(methods, str) else methods)
        self._routes.append(Route(origin, methods, re.compile(pattern), handler))

    def _route(self, request: Request) -> Response:
        path_known = False
        for route in self._routes:
            if route.origin != request.origin:
                continue
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            path_known = True
            if request.method in route.methods:
                request.match = match
                return route.handler(request)
        if path_known:
            return Response(405, {"Allow": "HEAD, GET"}, b"method not allowed")
        return Response(404, {"Content-Type": "text/plain"}, b"no such endpoint")

    def _serve(self, handler: _RequestHandler) -> None:
        origin = handler.server.origin
        split = urlsplit(handler.path)
        request = Request(
            origin=origin,
            method=handler.command,
            path=split.path,
            query=split.query,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=_read_body(handler),
        )
        try:
            response = self._take_failure(request) or self._route(request)
        except Exception as exc:  # a bug in a handler: report it, do not hang the client
            log.exception("hubserver handler failed on %s %s", request.method, request.path)
            self.errors.append(exc)
            response = Response(500, {}, f"hubserver bug: {exc!r}".encode())
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    origin, request.method, request.path, request.headers, response.status
                )
            )
        _send(handler, request, response)

    def _take_failure(self, request: Request) -> Response | None:
        with self._lock:
            for failure in self._failures:
                if failure.matches(request):
                    failure.remaining -= 1
                    return Response(failure.status, dict(failure.headers), b"injected failure")
        return None

    # -- the Hub's download protocol ---------------------------------------------------------

    def _resolve(self, request: Request) -> Response:
        match = request.match
        repo_type = _TYPE_OF_PREFIX[match["prefix"]]
        repo_id = match["repo_id"]
        revision = unquote(match["revision"])  # the client quotes it with safe="" (refs/pr/1)
        path = unquote(match["path"])
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            if repo is None:
                return Response.hub_error(404, "RepoNotFound", "Repository not found")
            commit = repo.heads.get(revision)
            if commit is None and _COMMIT.fullmatch(revision) and revision in repo.commits:
                commit = revision
            if commit is None:
                return Response.hub_error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            hub_file = repo.commits[commit].get(path)
        if hub_file is None:
            return Response.hub_error(
                404,
                "EntryNotFound",
                f"{path} does not exist on {revision!r}",
                {"X-Repo-Commit": commit},
            )
        if hub_file.lfs:
            return Response(
                302,
                {
                    "X-Repo-Commit": commit,
                    "Location": f"{self.cdn_url}/lfs/{hub_file.sha256}",
                    "X-Linked-Etag": f'"{hub_file.sha256}"',
                    "X-Linked-Size": str(hub_file.size),
                    "ETag": f'"{hub_file.sha256}"',
                },
            )
        return _content(request, hub_file.data, hub_file.git_sha1, {"X-Repo-Commit": commit})

    def _cdn_blob(self, request: Request) -> Response:
        sha256 = request.match["sha256"]
        with self._lock:
            data = self._blobs.get(sha256)
        if data is None:
            return Response(404, {"Content-Type": "text/plain"}, b"NoSuchKey")
        return _content(request, data, sha256, {})

    # -- the Hub's upload protocol -----------------------------------------------------------

    API_REPO = r"/api/(?P<types>models|datasets|spaces)/(?P<repo_id>[^/]+/[^/]+)"
    GIT_REPO = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<repo_id>[^/]+/[^/]+)\.git"
    #: Files at least this large always go through LFS, whatever their name (the Hub's rule).
    LFS_MIN_SIZE = 10 * 1024 * 1024
    #: The ``.gitattributes`` the Hub commits into every new repository (its LFS patterns).
    GITATTRIBUTES = "".join(
        f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
        for pattern in (
            "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.gz", "*.h5", "*.joblib",
            "*.model", "*.npy", "*.npz", "*.onnx", "*.parquet", "*.pickle", "*.pkl", "*.pt",
            "*.pth", "*.safetensors", "*.tar", "*.tflite", "*.xz", "*.zip", "*.zst",
        )
    )  # fmt: skip

    def _add_upload_routes(self) -> None:
        self.add_route("POST", r"/api/repos/create", self._create_repo)
        self.add_route("POST", r"/api/validate-yaml", self._validate_yaml)
        self.add_route("GET", self.API_REPO + r"(?:/revision/(?P<revision>[^/]+))?", self._info)
        self.add_route("POST", self.API_REPO + r"/preupload/(?P<revision>[^/]+)", self._preupload)
        self.add_route("POST", self.API_REPO + r"/commit/(?P<revision>[^/]+)", self._commit_api)
        self.add_route("POST", self.GIT_REPO + r"/info/lfs/objects/batch", self._lfs_batch)
        self.add_route("POST", self.GIT_REPO + r"/info/lfs/objects/verify", self._lfs_verify)
        self.add_route("PUT", r"/upload/(?P<oid>[0-9a-f]{64})", self._lfs_put, origin="cdn")

    def files_at(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """Every file of a repository at a branch or commit: path -> content."""
        with self._lock:
            repo = self._repos[(repo_type, repo_id)]
            files = repo.commits[repo.heads.get(revision, revision)]
            return {path: f.data for path, f in files.items()}

    def lfs_paths(self, repo_type: str, repo_id: str, revision: str = "main") -> set[str]:
        """Paths stored through LFS (the rest are regular git files)."""
        with self._lock:
            repo = self._repos[(repo_type, repo_id)]
            return {p for p, f in repo.commits[repo.heads.get(revision, revision)].items() if f.lfs}

    def is_private(self, repo_type: str, repo_id: str) -> bool:
        with self._lock:
            return self._private.get((repo_type, repo_id), False)

    def _refuse_unauthenticated(self, request: Request) -> Response | None:
        """401 unless the request carries an acceptable ``Authorization: Bearer`` token."""
        auth = request.headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if token and (self.write_tokens is None or token in self.write_tokens):
            return None
        message = "Invalid credentials in Authorization header" if token else "Unauthorized"
        return Response.hub_error(401, "Unauthorized", message)

    def _repo_and_head(
        self, repo_type: str, repo_id: str, revision: str
    ) -> tuple[_Repo | None, str | None, Response | None]:
        """(repo, commit the revision resolves to, error response); call with the lock held."""
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            return None, None, Response.hub_error(404, "RepoNotFound", "Repository not found")
        commit = repo.heads.get(revision)
        if commit is None and _COMMIT.fullmatch(revision) and revision in repo.commits:
            commit = revision
        if commit is None:
            missing = Response.hub_error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return repo, None, missing
        return repo, commit, None

    def _create_repo(self, request: Request) -> Response:
        refused = self._refuse_unauthenticated(request)
        if refused:
            return refused
        payload = request.json() or {}
        repo_type = payload.get("type") or "model"
        name, organization = payload.get("name"), payload.get("organization")
        repo_id = f"{organization}/{name}" if organization else f"loopback-user/{name}"
        self._check_repo(repo_type, repo_id)
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.url}/{prefix}{repo_id}"
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                return Response.json(
                    {"error": f"You already created this {repo_type} repo", "url": url}, 409
                )
            repo = self._repos.setdefault((repo_type, repo_id), _Repo())
            gitattributes = HubFile.of(self.GITATTRIBUTES.encode(), lfs=False)
            self._commit(repo_type, repo_id, repo, "main", {".gitattributes": gitattributes})
            self._private[(repo_type, repo_id)] = payload.get("visibility") == "private"
        return Response.json({"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, request: Request) -> Response:
        """Parse a card's YAML front matter the way the Hub does before accepting a README."""
        import yaml

        content = (request.json() or {}).get("content", "")
        match = re.match(r"\A---\r?\n(.*?)\r?\n---\r?\n", content, re.DOTALL)
        if match is None:
            warning = {"message": "empty or missing yaml metadata in repo card"}
            return Response.json({"errors": [], "warnings": [warning]})
        try:
            metadata = yaml.safe_load(match[1])
        except yaml.YAMLError as err:
            return Response.json({"errors": [{"message": f"invalid YAML: {err}"}]}, 400)
        if not isinstance(metadata, dict):
            return Response.json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
        return Response.json({"errors": [], "warnings": []})

    def _info(self, request: Request) -> Response:
        """``repo_info``: the commit a revision points at and the files there."""
        repo_type = request.match["types"][:-1]
        repo_id = request.match["repo_id"]
        revision = unquote(request.match["revision"] or "main")
        with self._lock:
            repo, commit, error = self._repo_and_head(repo_type, repo_id, revision)
            if error:
                return error
            files = sorted(repo.commits[commit])
            private = self._private.get((repo_type, repo_id), False)
        return Response.json(
            {
                "id": repo_id,
                "sha": commit,
                "private": private,
                "siblings": [{"rfilename": path} for path in files],
            }
        )

    def _upload_mode(self, files: Mapping[str, HubFile], path: str, size: int, sample: bytes):
        """``lfs`` for an LFS pattern of ``.gitattributes``, a large file or binary content."""
        attributes = files.get(".gitattributes")
        patterns = [
            line.split()[0]
            for line in (attributes.data.decode() if attributes else "").splitlines()
            if "filter=lfs" in line.split()[1:]
        ]
        name = PurePosixPath(path).name
        by_pattern = any(
            fnmatch.fnmatchcase(path if "/" in p else name, p.lstrip("/")) for p in patterns
        )
        return "lfs" if by_pattern or size >= self.LFS_MIN_SIZE or b"\0" in sample else "regular"

    def _preupload(self, request: Request) -> Response:
        """Upload mode per file, and the oid of the file already at that path (if any).

        The oid is what the client compares with its own (sha256 for LFS, git blob sha1
        otherwise) to drop unchanged files from the commit.
        """
        refused = self._refuse_unauthenticated(request)
        if refused:
            return refused
        repo_type = request.match["types"][:-1]
        repo_id = request.match["repo_id"]
        revision = unquote(request.match["revision"])
        payload = request.json() or {}
        with self._lock:
            repo, commit, error = self._repo_and_head(repo_type, repo_id, revision)
            if error:
                return error
            files = repo.commits[commit]
        answers = []
        for entry in payload.get("files", []):
            sample = base64.b64decode(entry.get("sample", ""))
            mode = self._upload_mode(files, entry["path"], int(entry["size"]), sample)
            answer = {"path": entry["path"], "uploadMode": mode, "shouldIgnore": False}
            existing = files.get(entry["path"])
            if existing is not None:
                answer["oid"] = existing.sha256 if existing.lfs else existing.git_sha1
            answers.append(answer)
        return Response.json({"files": answers, "commitOid": commit})

    def _lfs_batch(self, request: Request) -> Response:
        """The git-lfs batch API: an upload action for each object the store lacks."""
        refused = self._refuse_unauthenticated(request)
        if refused:
            return refused
        repo_type = _TYPE_OF_PREFIX[request.match["prefix"]]
        repo_id = request.match["repo_id"]
        payload = request.json() or {}
        if payload.get("operation") != "upload":
            return Response.json({"message": "only the upload operation is served here"}, 422)
        git_url = f"{self.url}{request.path.removesuffix('/batch')}"
        objects = []
        with self._lock:
            if (repo_type, repo_id) not in self._repos:
                return Response.hub_error(404, "RepoNotFound", "Repository not found")
            for obj in payload.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                stored = self._blobs.get(oid)
                if stored is not None and len(stored) == size:
                    objects.append({"oid": oid, "size": size})  # no actions: already uploaded
                    continue
                self._lfs_pending[oid] = size
                objects.append(
                    {
                        "oid": oid,
                        "size": size,
                        "authenticated": True,
                        "actions": {
                            "upload": {"href": f"{self.cdn_url}/upload/{oid}?X-Signature=lb"},
                            "verify": {"href": f"{git_url}/verify"},
                        },
                    }
                )
        return Response(
            200,
            {"Content-Type": "application/vnd.git-lfs+json"},
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
        )

    def _lfs_put(self, request: Request) -> Response:
        """The storage side (the presigned URL of the batch answer): content-addressed PUT."""
        oid = request.match["oid"]
        with self._lock:
            size = self._lfs_pending.get(oid)
        if size is None:
            return Response(403, {"Content-Type": "text/plain"}, b"AccessDenied: no upload URL")
        if len(request.body) != size or hashlib.sha256(request.body).hexdigest() != oid:
            return Response(400, {"Content-Type": "text/plain"}, b"BadDigest")
        with self._lock:
            self._blobs[oid] = request.body
            self._lfs_pending.pop(oid, None)
            self.received.append(Received("lfs", oid, request.body))
        return Response(200, {"ETag": f'"{oid}"'})

    def _lfs_verify(self, request: Request) -> Response:
        refused = self._refuse_unauthenticated(request)
        if refused:
            return refused
        payload = request.json() or {}
        with self._lock:
            stored = self._blobs.get(payload.get("oid", ""))
        if stored is None or len(stored) != payload.get("size"):
            return Response.json({"message": "object not found or of another size"}, 404)
        return Response.json({"success": True})

    def _commit_api(self, request: Request) -> Response:
        """A commit from NDJSON lines: header, then file / lfsFile / deletedFile / deletedFolder."""
        refused = self._refuse_unauthenticated(request)
        if refused:
            return refused
        repo_type = request.match["types"][:-1]
        repo_id = request.match["repo_id"]
        branch = unquote(request.match["revision"])
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return Response.json({"error": "the first line must be the commit header"}, 400)
        header = lines[0]["value"]
        with self._lock:
            repo, head, error = self._repo_and_head(repo_type, repo_id, branch)
            if error:
                return error
            if branch not in repo.heads:
                return Response.json({"error": f"cannot commit to {branch!r}: not a branch"}, 400)
            parent = header.get("parentCommit")
            if parent is not None and not head.startswith(parent):
                return Response.json({"error": "A commit has happened since; refresh"}, 412)
            files = dict(repo.commits[head])
            added: list[str] = []
            inline: list[Received] = []
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"]
                if key == "file":
                    if value.get("encoding") != "base64":
                        return Response.json({"error": "only base64 content is accepted"}, 400)
                    data = base64.b64decode(value["content"])
                    files[path] = HubFile.of(data, lfs=False)
                    inline.append(Received("inline", path, data))
                    added.append(path)
                elif key == "lfsFile":
                    data = self._blobs.get(value["oid"])
                    if data is None or ("size" in value and len(data) != value["size"]):
                        return Response.json(
                            {"error": f"LFS object {value['oid']} of {path} was never uploaded"},
                            422,
                        )
                    files[path] = HubFile.of(data, lfs=True)
                    added.append(path)
                elif key == "deletedFile":
                    files.pop(path, None)
                elif key == "deletedFolder":
                    folder = path.rstrip("/") + "/"
                    files = {p: f for p, f in files.items() if not p.startswith(folder)}
                else:
                    return Response.json({"error": f"unknown operation {key!r}"}, 400)
            commit = self._commit(repo_type, repo_id, repo, branch, files)
            self.received.extend(inline)
            self.commit_log.append(
                CommitRecord(
                    repo_type, repo_id, branch, commit, header.get("summary", ""), tuple(added)
                )
            )
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return Response.json(
            {
                "success": True,
                "commitOid": commit,
                "commitUrl": f"{self.url}/{prefix}{repo_id}/commit/{commit}",
                "commitMessage": header.get("summary", ""),
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )


def _content(request: Request, data: bytes, etag: str, headers: Mapping[str, str]) -> Response:
    """200 with the file, or 206 with the slice a ``Range`` header asks for."""
    base = {
        "ETag": f'"{etag}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        **headers,
    }
    asked = request.headers.get("range")
    if asked is None:
        return Response(200, base, data)
    size = len(data)
    match = _RANGE.fullmatch(asked)
    if match is None or match[1] == match[2] == "":
        return Response(416, {"Content-Range": f"bytes */{size}"})
    if match[1] == "":  # suffix range: the last N bytes
        start, end = max(0, size - int(match[2])), size - 1
    else:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or start > end:
        return Response(416, {"Content-Range": f"bytes */{size}"})
    return Response(
        206, {**base, "Content-Range": f"bytes {start}-{end}/{size}"}, data[start : end + 1]
    )


def _read_body(handler: _RequestHandler) -> bytes:
    """The request body, by Content-Length or chunked transfer (uploads may use either)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()  # CRLF after each chunk
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _send(handler: _RequestHandler, request: Request, response: Response) -> None:
    headers = {"Content-Length": str(len(response.body)), **response.headers}
    try:
        handler.send_response(response.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if request.method != "HEAD" and response.body:
            handler.wfile.write(response.body)
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True  # the client went away mid-response


@pytest.fixture
def hub_server() -> Iterator[HubServer]:
    """A running loopback Hub for one test; stopped afterwards, failing the test on its own bugs."""
    server = HubServer().start()
    try:
        yield server
    finally:
        server.stop()
    if server.errors:
        pytest.fail(f"the loopback Hub server itself failed: {server.errors!r}")

"""Upload of the staged folders: one commit per Hub repository, or a dry run.

:func:`upload` creates each repository if needed (``create_repo(exist_ok=True)``) and sends its
folder as one ``upload_folder`` commit. Files the Hub already holds are not sent again: the Hub's
``preupload`` answer gives the oid of the file at each path and the client drops unchanged files
from the commit (and makes no commit at all when nothing changed), and the LFS batch answer has
no upload action for content the Hub already stores. A dry run (the default of the workflow)
checks the staged folders against the manifest and reports what would be sent, without a single
request. The token is an argument, never logged; a real upload without one fails before any
request.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..hub import endpoint_from_environment
from .run import NOT_RELEASED
from .stage import verify_staged
from .text import human_size

logger = logging.getLogger(__name__)


class MissingTokenError(RuntimeError):
    """A real upload was asked for without a token."""


def upload(
    manifest: Mapping[str, Any],
    root: str | os.PathLike,
    *,
    dry_run: bool,
    token: str | None,
    private: bool = False,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> dict:
    """Upload each staged folder of ``manifest`` (folders relative to ``root``); return a report.

    ``dry_run`` checks the folders and reports what would be sent, with no request. Otherwise
    ``token`` is required (:class:`MissingTokenError` before any request), each repository is
    created if missing and receives one ``upload_folder`` commit; the report records its id.
    """
    root = Path(root)
    endpoint = endpoint or endpoint_from_environment()
    repos = manifest["repos"]
    if not dry_run and not token:
        raise MissingTokenError(
            "publish.dry_run is false but HF_TOKEN is not set: export HF_TOKEN with a Hugging "
            "Face token that has write access to "
            + " and ".join(repr(r["repo_id"]) for r in repos.values())
            + " (the workflow reads it from the environment only, never from the config), "
            "or set publish.dry_run: true to stage without uploading. Nothing was sent."
        )
    for repo in repos.values():
        verify_staged(root / repo["folder"], repo)
    report = {
        "dry_run": dry_run,
        "uploaded": False,
        "endpoint": endpoint or "https://huggingface.co",
        "repos": {},
    }
    if dry_run:
        report["note"] = (
            "dry run (publish.dry_run: true): nothing was uploaded. Set publish.dry_run: false "
            "and export HF_TOKEN to upload these folders."
        )
        for kind, repo in repos.items():
            report["repos"][kind] = _repo_report(repo, root, private)
            logger.info(
                "DRY RUN, nothing uploaded: would send %d files (%s) from %s to %s %s at %s",
                len(repo["files"]),
                human_size(repo["bytes"]),
                root / repo["folder"],
                repo["repo_type"],
                repo["repo_id"],
                repo["revision"],
            )
        return report

    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    message = commit_message or f"Publish results of the ebteff workflow {__version__}"
    for kind, repo in repos.items():
        repo_id, repo_type, revision = repo["repo_id"], repo["repo_type"], repo["revision"]
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        before = api.repo_info(repo_id, repo_type=repo_type, revision=revision).sha
        with warnings.catch_warnings():
            # Parquet forests in a model repository are intended (see ebteff.forest).
            warnings.filterwarnings("ignore", "It seems that you are about to commit a data file")
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=root / repo["folder"],
                repo_type=repo_type,
                revision=revision,
                commit_message=message,
                ignore_patterns=list(NOT_RELEASED),
            )
        entry = _repo_report(repo, root, private)
        entry.update(
            url=str(url),
            commit=info.oid,
            commit_url=info.commit_url,
            new_commit=info.oid != before,
        )
        report["repos"][kind] = entry
        logger.info(
            "%s %s at %s: %s %s",
            repo_type,
            repo_id,
            revision,
            "new commit" if entry["new_commit"] else "already held every file, no commit; still",
            info.oid,
        )
    report["uploaded"] = True
    return report


def _repo_report(repo: Mapping[str, Any], root: Path, private: bool) -> dict:
    return {
        "repo_id": repo["repo_id"],
        "repo_type": repo["repo_type"],
        "revision": repo["revision"],
        "private": private,
        "folder": str(root / repo["folder"]),
        "files": len(repo["files"]),
        "bytes": repo["bytes"],
        "commit": None,
        "commit_url": None,
        "new_commit": None,
    }

"""Sharing on the Hugging Face Hub: an export folder becomes a dataset repository."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["push_folder"]


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    repo_type: str = "dataset",
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    large: bool = False,
    api: Any = None,
) -> Any:
    """Create ``repo_id`` if needed and upload ``folder`` (an export, or a saved processor) to it.

    ``large=True`` uses ``upload_large_folder`` (resumable, several workers: for exports of many
    GB); otherwise one ``upload_folder`` commit. ``api`` is an ``HfApi`` (one is made with ``token``).
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    folder = os.fspath(folder)
    if large:
        return api.upload_large_folder(
            repo_id=repo_id, folder_path=folder, repo_type=repo_type, revision=revision, private=private
        )
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type=repo_type,
        revision=revision,
        commit_message=commit_message or f"Upload with sa2va-hf from {os.path.basename(os.path.abspath(folder))}",
    )

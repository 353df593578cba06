"""Sharing on the Hugging Face Hub: an export folder becomes a dataset repository."""

from __future__ import annotations

import os
from typing import Any

from ..errors import Sa2VAError

__all__ = ["check_can_push", "push_folder", "first_line"]


def first_line(error: BaseException) -> str:
    """An exception as one line (huggingface_hub's errors run over several)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def check_can_push(repo_id: str, *, token: str | None = None, api: Any = None) -> str:
    """Fail, in one sentence, unless ``repo_id`` can be published to now; returns the token's user name.

    Checked before anything is built: the repository id's form, ``HF_HUB_OFFLINE`` unset (then, and
    only then, the Hub is asked), a token, and that the endpoint accepts it with write access (``whoami``).
    """
    from huggingface_hub import constants, get_token
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise Sa2VAError(f"cannot push: {repo_id!r} is not a Hub repository id ({first_line(e)})") from None
    if constants.HF_HUB_OFFLINE:
        raise Sa2VAError(
            f"cannot push to {repo_id}: HF_HUB_OFFLINE is set, so nothing may reach the Hub; unset it, "
            "or write the export with `sa2va-hf export --output DIR` and upload DIR later"
        )
    token = token or get_token()
    if not token:
        raise Sa2VAError(
            f"cannot push to {repo_id}: no Hugging Face token; log in with `hf auth login` or set HF_TOKEN"
        )
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    try:
        me = api.whoami(token=token)
    except Exception as e:  # noqa: BLE001 - an unreachable endpoint and a refused token read the same way here
        status = getattr(getattr(e, "response", None), "status_code", None)
        why = "it refuses the token" if status == 401 else first_line(e)
        raise Sa2VAError(f"cannot push to {repo_id}: the Hub at {constants.ENDPOINT} cannot be used ({why})") from None
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise Sa2VAError(f"cannot push to {repo_id}: the token of {me.get('name')!r} is read-only; use a write token")
    return str(me.get("name"))


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
    ignore_patterns: list[str] | None = None,
) -> Any:
    """Create ``repo_id`` if needed and upload ``folder`` (an export, or a saved processor) to it.

    ``large=True`` uses ``upload_large_folder`` (resumable, several workers: for exports of many
    GB); otherwise one ``upload_folder`` commit. ``api`` is an ``HfApi`` (one is made with ``token``);
    ``ignore_patterns``: files of ``folder`` left out.
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    folder = os.fspath(folder)
    if large:
        return api.upload_large_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type=repo_type,
            revision=revision,
            private=private,
            ignore_patterns=ignore_patterns,
        )
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type=repo_type,
        revision=revision,
        commit_message=commit_message or f"Upload with sa2va-hf from {os.path.basename(os.path.abspath(folder))}",
        ignore_patterns=ignore_patterns,
    )

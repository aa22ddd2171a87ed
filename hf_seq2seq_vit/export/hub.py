"""Pushing an exported folder to the Hugging Face Hub (any server ``HF_ENDPOINT`` names)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HubExportError
from .loading import load_exported

__all__ = ["push_exported"]


def push_exported(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload model exported by hf_seq2seq_vit",
) -> str:
    """Create ``repo_id`` on the Hub (if needed) and upload the exported folder as one commit; returns the commit url.

    The Hub address comes from ``HF_ENDPOINT`` and the token from ``token`` / ``HF_TOKEN`` / ``hf auth login``,
    as for every huggingface_hub call. Afterwards ``from_pretrained(repo_id, trust_remote_code=True)`` and
    ``pipeline("translation", model=repo_id, trust_remote_code=True)`` load it anywhere.

    Example::

        >>> push_exported("outputs/demo-model", "user/demo-translator")   # doctest: +SKIP
        'https://huggingface.co/user/demo-translator/commit/...'
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    load_exported(folder)  # never publish a folder that does not load
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message=commit_message)
    except Exception as error:
        raise HubExportError(
            f"Pushing {str(folder)!r} to {repo_id!r} at {api.endpoint} failed: {type(error).__name__}: {error}. "
            "Check the network, the token (HF_TOKEN or `hf auth login`) and that repo_id is 'user/name'."
        ) from error
    return commit.commit_url



"""Fetch model weights from the Hugging Face hub into a local folder, once.

GPU jobs on compute nodes often have no internet: the workflow runs this on the login
node (a `localrules` rule) and the GPU jobs read the folder with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from steerbench.io import atomic_dir


def offline_hub() -> None:
    """Forbid hub downloads in this process, unless its environment already decided.

    Compute nodes often have no internet: a stray download would hang or fail late. Only
    download rules (run on the login node) may reach the hub.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def download_model(repo_id: str, out_dir: str | Path, revision: str | None = None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    out_dir = Path(out_dir)
    try:
        with atomic_dir(out_dir) as tmp:
            _fetch(snapshot_download, repo_id, revision, tmp)
    except GatedRepoError:
        raise PermissionError(
            f"{repo_id} is a gated repository: accept its licence on huggingface.co and "
            f"export HF_TOKEN=<a token with read access>, or set the model's `path:` to a local copy"
        ) from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(
            f"{repo_id}: no such model on the Hugging Face hub (or it is private: export HF_TOKEN); "
            f"check the id, or set `path:` to a local folder"
        ) from None
    except (LocalEntryNotFoundError, OSError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise ConnectionError(
            f"could not fetch {repo_id} from the Hugging Face hub ({'HF_HUB_OFFLINE=1 is set' if offline else e}); "
            f"run on a machine with internet, or download it elsewhere and set the model's `path:` "
            f"to the local folder"
        ) from None
    return out_dir


def _fetch(snapshot_download, repo_id: str, revision: str | None, folder: Path) -> None:
    snapshot_download(
        repo_id,
        revision=revision,
        local_dir=folder,
        # Only what transformers needs: skip duplicate .bin / .pth / .gguf weights.
        allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "*.py"],
    )
    shutil.rmtree(folder / ".cache", ignore_errors=True)

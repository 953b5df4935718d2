"""Model download errors say what to do (the hub is unreachable here, as on compute nodes)."""

import pytest

from steerbench.hub import download_model


def test_offline_download_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "m"
    with pytest.raises(ConnectionError, match=r"path:"):
        download_model("openai-community/gpt2-xl", out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir()]  # no half-written temp folder left behind


def test_offline_hub_forbids_downloads_unless_the_environment_decided(monkeypatch):
    from steerbench.hub import offline_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")  # a user's explicit choice is kept
    offline_hub()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "0"

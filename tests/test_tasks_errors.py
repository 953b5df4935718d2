"""Every bad source fails with an error that names the input and the fix, and leaves no raw folder."""

from __future__ import annotations

import json
import sys

import pytest

from steerbench.tasks import get_task
from steerbench.tasks.toxicity import COMPETITION

JIGSAW_HEADER = "id,comment_text,toxicity\n"


@pytest.fixture
def rtp_file(shared_data):
    return str(shared_data / "realtoxicityprompts" / "challenging_toxic.jsonl")


def tqa_csv(tmp_path, header: str, rows: list[str]) -> str:
    path = tmp_path / "TruthfulQA.csv"
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------ missing columns


def test_truthfulqa_missing_columns_are_listed(tmp_path):
    path = tqa_csv(tmp_path, "Type,Category,Question,Best Answer", ["A,B,Why?,Because"])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['Correct Answers', 'Incorrect Answers'\]"):
        get_task("truthfulqa").download({"path": path}, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_jigsaw_missing_toxicity_column(tmp_path, rtp_file):
    (tmp_path / "j.csv").write_text("id,comment_text,insult\n1,hello,0.1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['toxicity'\]"):
        get_task("toxicity").download({"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": rtp_file}}, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_jigsaw_bad_score_names_the_row(tmp_path, rtp_file):
    (tmp_path / "j.csv").write_text(JIGSAW_HEADER + "1,fine,0.1\n2,odd,high\n")
    with pytest.raises(ValueError, match=r"not a number in \[0, 1\] \(first: data row 2, value 'high'\)"):
        get_task("toxicity").download({"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": rtp_file}}, tmp_path / "raw")


def test_ultrafeedback_missing_fields(tmp_path):
    (tmp_path / "uf.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": 2}) + "\n")
    with pytest.raises(ValueError, match=r"row 1 lacks \['score_rejected'\]"):
        get_task("ultrafeedback").download({"path": str(tmp_path / "uf.jsonl")}, tmp_path / "raw")


def test_rtp_missing_prompt_text(tmp_path, shared_data):
    (tmp_path / "rtp.jsonl").write_text(json.dumps({"challenging": True, "prompt": {"toxicity": 0.9}}) + "\n")
    (tmp_path / "j.csv").write_text(JIGSAW_HEADER + "1,fine,0.1\n")
    source = {"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": str(tmp_path / "rtp.jsonl")}}
    with pytest.raises(ValueError, match=r"record 1 lacks \['prompt.text'\]"):
        get_task("toxicity").download(source, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()  # the Jigsaw file written first is gone too


# ------------------------------------------------------------------ empty splits


def test_truthfulqa_header_only_is_an_empty_split(tmp_path):
    header = "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source"
    get_task("truthfulqa").download({"path": tqa_csv(tmp_path, header, [])}, tmp_path / "raw")
    with pytest.raises(ValueError, match="no questions \\(empty split\\)"):
        get_task("truthfulqa").format(tmp_path / "raw", tmp_path, seed=0)
    assert not (tmp_path / "fold0.jsonl").exists()


def test_ultrafeedback_only_ties_is_an_empty_split(tmp_path):
    rows = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b", "score_chosen": 5, "score_rejected": 5} for i in range(4)]
    (tmp_path / "uf.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = get_task("ultrafeedback")
    task.download({"path": str(tmp_path / "uf.jsonl")}, tmp_path / "raw")
    with pytest.raises(ValueError, match="all 4 pairs have score_chosen <= score_rejected \\(empty split after the filter\\)"):
        task.format(tmp_path / "raw", tmp_path, seed=0, n_train=1, n_val=0, n_test=1)


def test_empty_files(tmp_path, rtp_file):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="no train_prefs rows \\(empty split\\)"):
        get_task("ultrafeedback").download({"path": str(tmp_path / "empty.jsonl")}, tmp_path / "raw")
    (tmp_path / "j.csv").write_text(JIGSAW_HEADER)
    with pytest.raises(ValueError, match="no comments \\(empty split\\)"):
        get_task("toxicity").download({"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": rtp_file}}, tmp_path / "raw")
    (tmp_path / "j.csv").write_text(JIGSAW_HEADER + "1,fine,0.1\n")
    source = {"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": str(tmp_path / "empty.jsonl")}}
    with pytest.raises(ValueError, match="no prompts \\(empty split\\)"):
        get_task("toxicity").download(source, tmp_path / "raw")


def test_a_toxicity_bin_short_of_comments(tmp_path, rtp_file):
    (tmp_path / "j.csv").write_text(JIGSAW_HEADER + "".join(f"{i},text {i},{(i % 10) / 10 + 0.05:.2f}\n" for i in range(30)))
    task = get_task("toxicity")
    task.download({"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": rtp_file}}, tmp_path / "raw")
    with pytest.raises(ValueError, match=r"bin \(0.00, 0.10\] has 3 comments, fewer than n_per_bin=4; lower tasks.toxicity.params.n_per_bin"):
        task.format(tmp_path / "raw", tmp_path, seed=0, n_per_bin=4, n_test=1)
    assert task.format(tmp_path / "raw", tmp_path, seed=0, n_per_bin=3, n_test=1)["train"] == 30


# ------------------------------------------------------------------ missing files and bad blocks


def test_missing_local_file_names_the_config_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"tasks.truthfulqa.source.path: .*nope.csv: no such file"):
        get_task("truthfulqa").download({"path": str(tmp_path / "nope.csv")}, tmp_path / "raw")
    with pytest.raises(FileNotFoundError, match=r"tasks.truthfulqa.source.mc_path"):
        header = "Category,Question,Best Answer,Correct Answers,Incorrect Answers"
        path = tqa_csv(tmp_path, header, ["C,Why?,Yes,Yes,No"])
        get_task("truthfulqa").download({"path": path, "mc_path": str(tmp_path / "mc.json")}, tmp_path / "raw")
    with pytest.raises(FileNotFoundError, match=r"tasks.toxicity.source.jigsaw.path"):
        get_task("toxicity").download({"jigsaw": {"path": str(tmp_path / "x.zip")}, "rtp": {"path": "y"}}, tmp_path / "raw")


def test_format_without_raw_files_says_to_download(tmp_path):
    for name in ("truthfulqa", "ultrafeedback", "toxicity"):
        with pytest.raises(FileNotFoundError, match=rf"run download_{name}"):
            get_task(name).format(tmp_path, tmp_path / "out", seed=0)


def test_bad_source_blocks(tmp_path):
    with pytest.raises(ValueError, match=r"tasks.truthfulqa.source: give exactly one of \['hub', 'path'\]"):
        get_task("truthfulqa").download({"hub": "a/b", "path": "x.csv"}, tmp_path / "raw")
    with pytest.raises(ValueError, match=r"needs the sub-block\(s\) \['rtp'\]"):
        get_task("toxicity").download({"jigsaw": {"path": "x"}}, tmp_path / "raw")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['n_trian'\].*n_train"):
        get_task("ultrafeedback").format(tmp_path, tmp_path, seed=0, n_trian=3)


# ------------------------------------------------------------------ no network


@pytest.fixture
def hub_offline(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize(
    "task, source, block",
    [
        ("truthfulqa", {"hub": "truthfulqa/truthful_qa"}, "tasks.truthfulqa.source"),
        ("ultrafeedback", {"hub": "HuggingFaceH4/ultrafeedback_binarized"}, "tasks.ultrafeedback.source"),
    ],
)
def test_unreachable_hub_says_to_set_path(hub_offline, tmp_path, task, source, block):
    with pytest.raises(ConnectionError, match=rf"could not reach the Hugging Face hub .*`path: <local file>` in place of `hub:` in {block}"):
        get_task(task).download(source, tmp_path / "raw")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_hub_for_rtp(hub_offline, tmp_path):
    (tmp_path / "j.csv").write_text(JIGSAW_HEADER + "1,fine,0.1\n")
    source = {"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"hub": "allenai/real-toxicity-prompts"}}
    with pytest.raises(ConnectionError, match=r"in place of `hub:` in tasks.toxicity.source.rtp"):
        get_task("toxicity").download(source, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


# ------------------------------------------------------------------ Kaggle


@pytest.fixture
def no_kaggle_credentials(monkeypatch, tmp_path):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_API_V1_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    return tmp_path / "kaggle-config"


def test_kaggle_without_credentials_says_where_kaggle_json_goes(no_kaggle_credentials, tmp_path, rtp_file):
    pytest.importorskip("kaggle.api.kaggle_api_extended")
    source = {"jigsaw": {"kaggle": COMPETITION}, "rtp": {"path": rtp_file}}
    with pytest.raises(PermissionError) as err:
        get_task("toxicity").download(source, tmp_path / "raw")
    message = str(err.value)
    assert str(no_kaggle_credentials / "kaggle.json") in message
    assert f"https://www.kaggle.com/competitions/{COMPETITION}/data" in message
    assert "tasks.toxicity.source.jigsaw to `path: <that file>`" in message
    assert not (tmp_path / "raw").exists()


def test_kaggle_rules_not_accepted(monkeypatch, tmp_path, rtp_file):
    """Kaggle answers 403 until the competition rules are accepted: the error says so."""
    pytest.importorskip("kaggle.api.kaggle_api_extended")
    import requests
    from kaggle.api.kaggle_api_extended import KaggleApi

    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))

    def refuse(self, competition, file_name, path=None, force=False, quiet=False):
        response = requests.Response()
        response.status_code = 403
        response._content = b'{"code":403,"message":"You must accept this competition\'s rules before you\'ll be able to download files."}'
        raise requests.HTTPError("403 Client Error: Forbidden", response=response)

    monkeypatch.setattr(KaggleApi, "competition_download_file", refuse)
    source = {"jigsaw": {"kaggle": COMPETITION}, "rtp": {"path": rtp_file}}
    with pytest.raises(PermissionError, match=rf"accept the competition rules at https://www.kaggle.com/competitions/{COMPETITION}/rules"):
        get_task("toxicity").download(source, tmp_path / "raw")


def test_kaggle_package_missing(monkeypatch, tmp_path, rtp_file):
    monkeypatch.setitem(sys.modules, "kaggle", None)  # import kaggle -> ImportError
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", None)
    source = {"jigsaw": {"kaggle": COMPETITION}, "rtp": {"path": rtp_file}}
    with pytest.raises(ImportError, match=r"pip install kaggle; or download all_data.csv"):
        get_task("toxicity").download(source, tmp_path / "raw")

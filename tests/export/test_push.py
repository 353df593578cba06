"""``sa2va-hf push``: checked before anything is built, one sentence when it cannot publish, the export kept
when the upload fails; ``push`` and ``convert`` take the same naming options."""

from __future__ import annotations

import os
import re
import shutil

import huggingface_hub
import pytest
import yaml

from sa2va_hf.cli import main
from sa2va_hf.cli.main import build_parser
from sa2va_hf.export import parquet
from sa2va_hf.export.hub import push_folder
from sa2va_hf.export.parquet import MANIFEST

from ..fakedata import folder as fake_folder
from ..fakedata import gcg as fake_gcg
from .fake_hub import FakeApi


@pytest.fixture
def builds(monkeypatch):
    """Counts export builds (the real builder runs)."""
    calls = []
    real = parquet.export_sources

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(parquet, "export_sources", counted)
    return calls


def _push(tmp_path, *extra):
    fake_gcg.write(str(tmp_path / "data"), "gcg_flickr")
    args = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    return main(["push", "gcg_flickr", *args, "--repo", "me/sa2va-data", *extra])


def _one_line(capsys) -> str:
    """The error: one line, the last of stderr (after any progress bars), and no traceback."""
    err = capsys.readouterr().err
    error = err.strip().splitlines()[-1]
    assert error.startswith("sa2va-hf: error: ") and "Traceback" not in err and err.count("error:") == 1, err
    return error


def test_push_offline_fails_before_any_build_and_any_network_call(tmp_path, monkeypatch, capsys, builds, no_network):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def no_api(*args, **kwargs):
        raise AssertionError("HfApi was made though the Hub is off limits")

    monkeypatch.setattr(huggingface_hub, "HfApi", no_api)
    assert _push(tmp_path) == 2
    assert "cannot push to me/sa2va-data: HF_HUB_OFFLINE is set" in _one_line(capsys)
    assert builds == []


@pytest.mark.parametrize(
    "setup, message",
    [
        ("no_token", "no Hugging Face token; log in with `hf auth login` or set HF_TOKEN"),
        ("unreachable", "the Hub at .* cannot be used \\(Connection refused\\)"),
        ("refused", "the Hub at .* cannot be used \\(it refuses the token\\)"),
        ("read_only", "the token of 'me' is read-only; use a write token"),
        ("bad_name", "'me/sa2va--data' is not a Hub repository id"),
    ],
)
def test_push_that_cannot_publish_fails_in_one_sentence_before_any_build(
    tmp_path, monkeypatch, capsys, hub, builds, setup, message
):
    class Refused(Exception):
        response = type("Response", (), {"status_code": 401})()

    api = hub(
        FakeApi(
            role="read" if setup == "read_only" else "write",
            whoami_error={"unreachable": ConnectionError("Connection refused\nmore"), "refused": Refused("401")}.get(
                setup
            ),
        )
    )
    if setup == "no_token":
        monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    if setup == "bad_name":
        assert main(["push", "gcg_flickr", "--repo", "me/sa2va--data"]) == 2
    else:
        assert _push(tmp_path) == 2
    err = _one_line(capsys)
    assert err.startswith("sa2va-hf: error: cannot push")
    assert re.search(message, err), err
    assert builds == [] and not [c for c in api.calls if c[0] != "whoami"]


def test_a_failed_upload_keeps_the_export_and_says_where(tmp_path, capsys, hub):
    api = hub(FakeApi(upload_error=OSError("Connection reset by peer\nTraceback ...")))
    assert _push(tmp_path) == 2
    err = _one_line(capsys)
    assert "the upload to me/sa2va-data failed (Connection reset by peer); the export is kept in " in err
    kept = err.split("the export is kept in ")[1].split(":")[0]
    assert sorted(os.listdir(kept)) == ["README.md", "gcg_flickr", MANIFEST]
    assert f"`hf upload me/sa2va-data {kept} --repo-type dataset`" in err
    assert [c[0] for c in api.calls] == ["whoami", "create_repo", "upload_folder"]
    shutil.rmtree(kept)


def test_push_uploads_the_export_with_the_repo_id_in_its_card(tmp_path, capsys, hub):
    api = hub(FakeApi())
    assert _push(tmp_path, "--private", "--option", "gcg_flickr.upstream_filters=false") == 0
    whoami, create, upload = api.calls
    assert whoami == ("whoami", "hf_test_token")
    assert create == ("create_repo", "me/sa2va-data", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert upload == ("upload_folder", "me/sa2va-data", ["README.md", "gcg_flickr", MANIFEST])
    assert "load_dataset('me/sa2va-data', 'gcg_flickr', split='train')" in api.uploaded_card
    assert "pushed 1 split(s) to https://huggingface.co/datasets/me/sa2va-data" in capsys.readouterr().out


def test_push_names_own_data_as_convert_does(tmp_path, hub):
    """The naming options are the same on both commands and mean the same."""
    naming = {"--name", "--pretty-name", "--description", "--license", "--citation"}
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    for command in ("push", "convert", "export"):
        options = {o for action in subcommands[command]._actions for o in action.option_strings}
        assert naming <= options, command
    fake_folder.write(str(tmp_path / "mine"))
    api = hub(FakeApi())
    own = ["--name", "my_cars", "--pretty-name", "My Cars", "--license", "cc-by-4.0", "--description", "Cars."]
    assert main(["convert", "folder", str(tmp_path / "mine"), "--output", str(tmp_path / "converted"), *own,
                 "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    assert main(["push", "folder", "--data-dir", str(tmp_path / "mine"), "--repo", "me/my-cars", *own,
                 "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    pushed = yaml.safe_load(api.uploaded_card.split("---\n")[1])
    converted = yaml.safe_load((tmp_path / "converted" / "README.md").read_text().split("---\n")[1])
    assert pushed == converted  # the same YAML header: the same names, licence, files
    assert (pushed["pretty_name"], pushed["license"], pushed["configs"][0]["config_name"]) == (
        "My Cars",
        "cc-by-4.0",
        "my_cars",
    )


def test_naming_options_need_one_own_data_source(tmp_path, capsys):
    assert main(["export", "gcg_flickr", "--output", str(tmp_path), "--license", "mit"]) == 2
    err = _one_line(capsys)
    assert "--license: these describe one source of your own data (folder or finetune), but 0 are exported" in err


def test_push_folder_large_uses_upload_large_folder(tmp_path):
    seen = {}

    class Api:
        def upload_large_folder(self, **kw):
            seen.update(kw)

    push_folder(tmp_path, "me/x", large=True, api=Api())
    assert seen == {
        "repo_id": "me/x",
        "folder_path": str(tmp_path),
        "repo_type": "dataset",
        "revision": None,
        "private": None,
        "ignore_patterns": None,
    }

"""The Hugging Face Hub as the push commands see it (``HfApi``), for tests that never reach the network."""

from __future__ import annotations

import os


class FakeApi:
    """The Hub as push sees it: who the token is, then the repository and the upload."""

    def __init__(self, role="write", whoami_error=None, upload_error=None, files=()):
        self.calls, self.role, self.whoami_error, self.upload_error = [], role, whoami_error, upload_error
        self.files = set(files)  # what the repository already holds

    def whoami(self, token=None):
        self.calls.append(("whoami", token))
        if self.whoami_error is not None:
            raise self.whoami_error
        return {"name": "me", "auth": {"accessToken": {"role": self.role}}}

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def file_exists(self, repo_id, filename, **kw):
        self.calls.append(("file_exists", repo_id, filename))
        return filename in self.files

    def upload_folder(self, **kw):
        ignored = set(kw.get("ignore_patterns") or ())
        uploaded = sorted(set(os.listdir(kw["folder_path"])) - ignored)
        self.calls.append(("upload_folder", kw["repo_id"], uploaded))
        if self.upload_error is not None:
            raise self.upload_error
        self.uploaded = {name: os.path.join(kw["folder_path"], name) for name in uploaded}
        if "README.md" in uploaded:
            self.uploaded_card = open(os.path.join(kw["folder_path"], "README.md"), encoding="utf-8").read()
        return "commit-url"

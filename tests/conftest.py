import atexit
import os
import shutil
import tempfile

# Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Every on-disk cache a test can reach is private to this run (set before datasets / transformers are
# imported, which read these once): an earlier run on the same machine, or a second suite running at the
# same time, can neither make a test pass nor fail. Child processes inherit the variables.
_PRIVATE = tempfile.mkdtemp(prefix="sa2va-hf-tests-")
atexit.register(shutil.rmtree, _PRIVATE, ignore_errors=True)
for _name, _sub in {
    "HF_HOME": "hf",
    "HF_DATASETS_CACHE": "hf/datasets",
    "HF_HUB_CACHE": "hf/hub",
    "HUGGINGFACE_HUB_CACHE": "hf/hub",
    "HF_MODULES_CACHE": "hf/modules",  # transformers' copies of remote code
    "HF_ASSETS_CACHE": "hf/assets",
    "HF_XET_CACHE": "hf/xet",
    "XDG_CACHE_HOME": "xdg-cache",
    "HYPOTHESIS_STORAGE_DIRECTORY": "hypothesis",
    "RAY_TMPDIR": "ray",
}.items():
    os.environ[_name] = os.path.join(_PRIVATE, _sub)
os.makedirs(os.environ["RAY_TMPDIR"], exist_ok=True)

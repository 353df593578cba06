"""A saved processor's remote code: what it imports is what its folder declares, and where sa2va-hf is
installed it still imports nothing of it (`make test-remote-code` runs the same check in fresh
environments holding only the declared requirements)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib

import pytest
from transformers.dynamic_module_utils import get_imports, get_relative_import_files

from sa2va_hf.export.processor import OPTIONAL, REQUIRED

from .. import remote_code

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# transformers' own dependency, used by the closure only inside a ``try`` (StrictDataclassError)
WITH_TRANSFORMERS = {"huggingface_hub"}


def _closure_files() -> list[str]:
    import sa2va_hf.processing_sa2va as mod

    return sorted({mod.__file__, *get_relative_import_files(mod.__file__)})


def _every_import(path: str) -> set[str]:
    """Top-level names of every absolute import in the file, lazy ones too."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - STDLIB


def test_transformers_demands_only_the_required_imports_and_the_rest_are_declared():
    """transformers refuses to load remote code while an import outside a ``try`` is missing: those must
    be the required ones (pycocotools, torch, PyAV only inside a ``try``, where their input is read)."""
    demanded, used = set(), set()
    for path in _closure_files():
        demanded |= set(get_imports(path)) - STDLIB
        used |= _every_import(path)
    assert demanded == {"numpy", "PIL", "transformers"} <= set(REQUIRED)
    assert used <= set(REQUIRED) | set(OPTIONAL) | WITH_TRANSFORMERS, used
    assert set(OPTIONAL) <= used  # each optional requirement is there for a reason


def test_the_saved_folder_declares_its_requirements_with_the_package_ranges(tmp_path):
    from sa2va_hf.export.processor import save_remote_code_processor

    save_remote_code_processor(remote_code.processors()["llava"], tmp_path)
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    ranges = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["torch"]]:
        name, _, spec = requirement.partition(">=")
        ranges[name.strip()] = ">=" + spec.split("#")[0].strip()
    lines = (tmp_path / "requirements.txt").read_text().splitlines()
    required = [line.split("  #")[0] for line in lines if line and not line.startswith("#")]
    optional = [line[2:].split("  #")[0] for line in lines if line.startswith("# ") and ">=" in line]
    assert required == [f"{dist}{ranges[dist]}" for dist, _ in REQUIRED.values()]
    assert optional == [f"{dist}{ranges[dist]}" for dist, _ in OPTIONAL.values()]
    readme = (tmp_path / "README.md").read_text()
    for requirement in required + optional:
        assert f"`{requirement}`" in readme
    assert "trust_remote_code=True" in readme and "library_name: transformers" in readme


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote-code")
    remote_code.save(str(folder))
    return folder


def _check(folder, *flags: str) -> str:
    """``tests/remote_code.py check`` in a fresh interpreter, from outside the checkout, with a deadline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["HF_MODULES_CACHE"] = str(folder / "modules")  # its own copy of the remote code
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "remote_code.py"), "check", str(folder), *flags],
        cwd=str(folder), env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_remote_code_imports_nothing_of_an_installed_sa2va_hf(saved):
    """sa2va_hf is importable in that interpreter; loading and running every family's remote code
    neither imports it nor looks for it, and every output equals the in-process processor's."""
    out = _check(saved, "--installed")
    for family in remote_code.FAMILIES:
        assert f"{family}: " in out
    assert "ok: no sa2va_hf module was imported or looked for" in out


def test_remote_code_needs_pycocotools_only_for_rle_masks(saved):
    """Without pycocotools every call but the RLE one gives the same outputs; that one says what to install."""
    out = _check(saved, "--installed", "--block", "pycocotools")
    assert "ok: no sa2va_hf module was imported or looked for" in out


def test_qwen_folders_require_torch_for_their_pixels_and_internvl_llava_do_not(tmp_path):
    """The Qwen-VL families compute their default pixels with torch (transformers' fast class): their
    folders list torch as required; InternVL and LLaVA compute with numpy + PIL and keep it optional."""
    from sa2va_hf.export.processor import save_remote_code_processor

    def required(folder) -> set[str]:
        lines = (folder / "requirements.txt").read_text().splitlines()
        return {line.split(">=")[0] for line in lines if line and not line.startswith("#")}

    built = remote_code.processors()
    for family, proc in built.items():
        save_remote_code_processor(proc, tmp_path / family)
        needs_torch = family.startswith("qwen")
        assert ("torch" in required(tmp_path / family)) == needs_torch, family
    pil = type(built["qwen3_vl"].image_processor)(qwen_image_processor="pil")
    built["qwen3_vl"].image_processor = pil
    save_remote_code_processor(built["qwen3_vl"], tmp_path / "qwen_pil")
    assert "torch" not in required(tmp_path / "qwen_pil")

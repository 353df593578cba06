"""The catalog names every source once; load_source, the builder, its cache, loading scripts and the wheel read it."""

import importlib
import importlib.util
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import zipfile

import datasets
import pytest

import sa2va_hf
from sa2va_hf import load_source
from sa2va_hf.data import catalog as catalog_mod
from sa2va_hf.data import get_builder
from sa2va_hf.data.builder import Sa2VABuilder, family_builder
from sa2va_hf.errors import Sa2VAError

from .. import data as tests_data
from ..fakedata import osprey as fake_osprey
from ..fakedata import refcoco as fake_refcoco
from .source_case import SourceTestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_source_has_a_test_class():
    for info in pkgutil.iter_modules(tests_data.__path__):
        if info.name.startswith("test_"):
            importlib.import_module(f"{tests_data.__name__}.{info.name}")
    tested = {cls.SOURCE for cls in _all_subclasses(SourceTestCase) if cls.SOURCE}
    assert tested == set(sa2va_hf.list_sources())


def test_the_catalog_is_every_family_table():
    specs = catalog_mod.catalog()
    assert list(specs) == sa2va_hf.list_sources()
    families = {m.name for m in pkgutil.iter_modules(importlib.import_module("sa2va_hf.data.sources").__path__)}
    assert {spec.family for spec in specs.values()} == {f for f in families if not f.startswith("_")}
    for name, spec in specs.items():
        assert spec.name == name and spec.splits and spec.description
        assert spec.homepage.startswith("https://") and spec.license and spec.citation  # for dataset cards
        family = catalog_mod.family_module(spec.family)
        for fn in ("input_files", "shards", "generate"):
            assert callable(getattr(family, fn)), (spec.family, fn)
        assert datasets.Version(family.VERSION)


def test_unknown_source_lists_every_known_one(tmp_path):
    with pytest.raises(Sa2VAError, match=r"unknown source 'nope' \(known sources: ") as e:
        load_source("nope", tmp_path)
    assert all(name in str(e.value) for name in sa2va_hf.list_sources())


def test_a_misspelt_source_or_option_names_the_closest():
    with pytest.raises(Sa2VAError, match="unknown source 'refcoc'; did you mean 'refcoco'"):
        catalog_mod.get_spec("refcoc")
    # own data: load_source's name= is the config's source_name; the message says what the user types
    with pytest.raises(Sa2VAError, match=r"\['nme'\] for source 'folder'; did you mean 'name'\? \(it takes \['name', "):
        catalog_mod.get_spec("folder").make_options(nme="mine")


def test_one_builder_holds_every_config_and_a_family_builder_its_own():
    assert [c.name for c in Sa2VABuilder.BUILDER_CONFIGS] == sa2va_hf.list_sources()
    gcg = family_builder("gcg")
    assert [c.name for c in gcg.BUILDER_CONFIGS] == ["gcg_refcocog", "gcg_grandf", "gcg_openpsg", "gcg_flickr"]
    flickr = next(c for c in gcg.BUILDER_CONFIGS if c.name == "gcg_flickr")
    assert flickr.upstream_filters is True  # the option is a config field
    assert not hasattr(next(c for c in gcg.BUILDER_CONFIGS if c.name == "gcg_grandf"), "upstream_filters")


def test_video_families_write_small_arrow_batches():
    """A video record holds a mask per frame: datasets' default 1000-record write buffer would hold hundreds of MB."""
    assert (
        family_builder("refvos").DEFAULT_WRITER_BATCH_SIZE == family_builder("ref_sav").DEFAULT_WRITER_BATCH_SIZE == 16
    )
    assert family_builder("osprey").DEFAULT_WRITER_BATCH_SIZE is None  # datasets' default


# ------------------------------------------------------------------ caching


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


def test_cache_is_reused_and_invalidated_when_the_annotation_changes(tmp_path, monkeypatch):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    ds = load_source("osprey_conversation", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    calls = []
    osprey_mod = catalog_mod.family_module("osprey")
    orig = osprey_mod.generate
    monkeypatch.setattr(osprey_mod, "generate", lambda *a, **k: (calls.append(1), (yield from orig(*a, **k)))[1])
    again = load_source("osprey_conversation", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    assert calls == [] and again["id"] == ds["id"]
    entries = info["entries"]
    entries[0]["conversations"][1]["value"] = "changed"
    _write_json(info["json"], entries)
    changed = load_source("osprey_conversation", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    assert calls and changed[0]["conversations"][1]["value"] == "changed"


def test_parser_version_keys_the_cache(tmp_path, monkeypatch):
    fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    b = get_builder("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
    version = catalog_mod.family_module("osprey").VERSION
    assert b.dataset_name == "osprey" and f"{os.sep}{version}{os.sep}{version}-" in b.cache_dir
    monkeypatch.setattr(catalog_mod.family_module("osprey"), "VERSION", "9.9.9")
    bumped = get_builder("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
    assert bumped.cache_dir != b.cache_dir and "9.9.9-" in bumped.cache_dir


# ------------------------------------------------------------------ old import paths, loading scripts, wheel


@pytest.mark.parametrize(
    "module, name",
    [
        ("sa2va_hf.loading", None),
        ("sa2va_hf.templates", None),
        ("sa2va_hf.builders", None),
        ("sa2va_hf.sources.osprey", None),
        ("sa2va_hf.image_processing_sa2va", "candidate_grids"),
        ("sa2va_hf.image_processing_sa2va", "tile_image"),
        ("sa2va_hf.processing_sa2va", "pad_batch"),
    ],
)
def test_the_0_1_paths_are_gone_in_0_3(module, name):
    """0.2 kept 0.1's import paths "until 0.3.0" (CHANGELOG); 0.3.0 drops them, and with them the hook
    through which a saved processor's remote code imported an installed sa2va_hf."""
    if name is None:
        sys.modules.pop(module, None)
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(module)
        assert not hasattr(sa2va_hf, module.split(".")[1])
    else:
        with pytest.raises(AttributeError, match=f"no attribute {name!r}"):
            getattr(importlib.import_module(module), name)


FAMILIES = sorted({spec.family for spec in catalog_mod.catalog().values()})


def test_every_family_has_a_loading_script_and_a_datasets3_case():
    """Runs on every datasets version (the script tests themselves need datasets 3.x)."""
    from . import test_loading_scripts as scripts

    assert {catalog_mod.catalog()[s].family for s in scripts.ONE_PER_FAMILY} == set(FAMILIES)
    assert {os.path.splitext(n)[0] for n in os.listdir(scripts.SCRIPTS) if n.endswith(".py")} == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_loading_scripts_expose_their_family_builder(family):
    spec = importlib.util.spec_from_file_location(f"ls_{family}", os.path.join(REPO, "loading_scripts", f"{family}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (cls,) = [v for v in vars(mod).values() if isinstance(v, type) and v.__module__ == mod.__name__]
    assert issubclass(cls, family_builder(family))
    assert [c.name for c in cls.BUILDER_CONFIGS] == [
        s.name for s in catalog_mod.catalog().values() if s.family == family
    ]


def test_load_source_works_from_a_built_wheel(tmp_path):
    """Build the wheel, unpack it, and build a source from another directory with only the wheel on the path."""
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    src = tmp_path / "src"
    shutil.copytree(os.path.join(REPO, "sa2va_hf"), src / "sa2va_hf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src / name)
    wheels = tmp_path / "wheels"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr[-500:]}")
    (wheel,) = wheels.glob("sa2va_hf-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    assert "sa2va_hf/data/builder.py" in names and "sa2va_hf/data/sources/refcoco.py" in names
    fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    code = (
        "import sys, sa2va_hf, datasets; datasets.disable_progress_bars();"
        f"assert sa2va_hf.__file__.startswith({str(site)!r}), sa2va_hf.__file__;"
        f"ds = sa2va_hf.load_source('refcoco', {str(tmp_path / 'data')!r}, split='val', cache_dir={str(tmp_path / 'cache')!r});"
        "print(len(ds), ds[0]['id'])"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "103"]

"""The contract every source fulfils (torchvision's ``DatasetTestCase`` pattern).

A source's test class sets ``SOURCE`` and ``inject_fake_data``, a writer from ``tests/fakedata``
that writes the source's *native* files into a folder and returns what the parser must produce
(``{"expected": {split: [record, ...]}, ...}``). The generic tests below then run for it; anything
specific to the source is a further test method on its class. The fake data is written and built
once per class.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import datasets
import pytest

from sa2va_hf import load_source
from sa2va_hf.data.catalog import family_module, get_spec
from sa2va_hf.data.schema import COLUMNS, validate_record
from sa2va_hf.errors import Sa2VAError

from ..fakedata.check import check_against, raw_frames

datasets.disable_progress_bars()


def tables(ds: datasets.Dataset):
    """A dataset's contents without decoding images: (raw frames, every other column)."""
    return raw_frames(ds), ds.remove_columns("frames").to_list()


class SourceTestCase:
    SOURCE: str = ""
    OPTIONS: dict = {}

    @staticmethod
    def inject_fake_data(data_dir: str, source: str) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture(scope="class")
    @classmethod
    def fake(cls, tmp_path_factory) -> SimpleNamespace:
        root = tmp_path_factory.mktemp(cls.SOURCE)
        data = root / "data"
        info = cls.inject_fake_data(str(data), cls.SOURCE)
        built = load_source(cls.SOURCE, data, cache_dir=str(root / "cache"), **cls.OPTIONS)
        return SimpleNamespace(root=root, data=data, info=info, built=built, spec=get_spec(cls.SOURCE))

    def load(self, fake, **kwargs):
        """``load_source`` of this source from the class's fake data and cache."""
        kwargs = {"cache_dir": str(fake.root / "cache"), **self.OPTIONS, **kwargs}
        return load_source(self.SOURCE, fake.data, **kwargs)

    # ------------------------------------------------------------------ the contract

    def test_splits_are_the_native_ones(self, fake):
        assert isinstance(fake.built, datasets.DatasetDict)
        assert list(fake.built) == [s for s in fake.spec.splits if s in fake.info["expected"]]
        assert set(fake.info["expected"]) <= set(fake.spec.splits)

    def test_records_equal_the_native_files(self, fake):
        for split, expected in fake.info["expected"].items():
            assert len(expected) > 0, f"the fake data of {split!r} is empty: it tests nothing"
            check_against(fake.built[split], expected, self.SOURCE)

    def test_records_satisfy_the_schema(self, fake):
        for split, ds in fake.built.items():
            records = ds.cast_column("frames", [datasets.Image(decode=False)]).to_list()
            assert len({r["id"] for r in records}) == len(records), f"{split}: ids are not unique"
            for rec in records:
                assert tuple(rec) == COLUMNS and rec["source"] == self.SOURCE
                validate_record(rec)

    def test_one_split_by_name(self, fake):
        split = next(iter(fake.info["expected"]))
        ds = self.load(fake, split=split)
        assert isinstance(ds, datasets.Dataset)
        assert tables(ds) == tables(fake.built[split])

    def test_parser_runs_without_a_builder(self, fake):
        """The family parser is a plain generator: same keys and records as the built dataset."""
        family = family_module(fake.spec.family)
        options = fake.spec.make_options(**self.OPTIONS)
        per_split = family.shards(fake.spec, os.fspath(fake.data), options)
        for split, shard_list in per_split.items():
            pairs = list(family.generate(fake.spec, os.fspath(fake.data), options, split, shard_list))
            assert [key for key, _ in pairs] == [rec["id"] for _, rec in pairs]
            assert [rec["id"] for _, rec in pairs] == fake.built[split]["id"]

    def test_empty_data_dir_is_a_clear_error(self, tmp_path):
        with pytest.raises(Sa2VAError, match=r"not found|does not exist|no "):
            load_source(self.SOURCE, tmp_path, cache_dir=str(tmp_path / "cache"), **self.OPTIONS)

    def test_a_split_it_lacks_is_a_clear_error(self, fake):
        """A misspelt split, and a native split whose files are not there, are named before any reading."""
        first = fake.spec.splits[0]
        with pytest.raises(Sa2VAError, match=rf"source '{self.SOURCE}' has no split '{first}x'; did you mean '{first}'"):
            self.load(fake, split=f"{first}x")
        assert len(self.load(fake, split=f"{first}[:1]")) == 1  # datasets' split expressions still work
        absent = [split for split in fake.spec.splits if split not in fake.built]
        for split in absent:
            with pytest.raises(Sa2VAError, match=rf"split '{split}' of '{self.SOURCE}' was not built"):
                self.load(fake, split=split)

    def test_unknown_option_names_the_source(self, tmp_path):
        with pytest.raises(Sa2VAError, match=rf"unknown option\(s\) \['no_such_option'\] for source '{self.SOURCE}'"):
            load_source(self.SOURCE, tmp_path, no_such_option=1)


class NumProcCheck:
    """Mixed into one source per family: builds are deterministic -- ``num_proc=2`` (two jobs) and a
    forced rebuild give the same dataset, in the same order, as the first build."""

    def test_forced_rebuild_gives_the_same_dataset_and_fingerprint(self, fake, tmp_path):
        first = self.load(fake, cache_dir=str(tmp_path / "cache"))
        again = self.load(fake, cache_dir=str(tmp_path / "cache"), download_mode="force_redownload")
        for split in fake.built:
            assert tables(again[split]) == tables(first[split]) == tables(fake.built[split])
            assert again[split]._fingerprint == first[split]._fingerprint

    def test_num_proc_2_gives_the_same_dataset(self, fake, tmp_path, caplog):
        with caplog.at_level("WARNING"):
            two = self.load(fake, cache_dir=str(tmp_path / "cache"), num_proc=2)
        # datasets' notice that a one-shard split is built by one process: expected, not the user's to act on
        assert not [r for r in caplog.records if r.getMessage().startswith("Setting num_proc from")]
        for split in fake.built:
            assert tables(two[split]) == tables(fake.built[split])
        biggest = max(two, key=lambda s: len(two[s]))
        assert len(two[biggest].cache_files) == 2  # really written by two jobs

import os
import pickle
import pickletools

import pytest

from sa2va_hf.data.safety import load_pickle, loads_pickle, safe_join
from sa2va_hf.errors import Sa2VAError, UnsafePathError, UnsafePickleError

PLAIN = {
    "refs": [{"ref_id": 1, "sentences": [{"raw": "a dog", "tokens": ["a", "dog"]}], "score": 0.5, "ok": True}],
    "none": None,
    "tuple": (1, 2.0, "x"),
    "set": {1, 2},
    "frozen": frozenset({"a"}),
    "bytes": b"\x00\xffcounts",
    "big": 2**70,
}


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_loads_with_every_protocol(protocol, tmp_path):
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps(PLAIN, protocol=protocol))
    assert load_pickle(path) == PLAIN
    assert loads_pickle(pickle.dumps(PLAIN, protocol=protocol)) == PLAIN


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


class Plain:
    pass


@pytest.mark.parametrize("payload", [Evil(), [1, Evil()], Plain(), {"x": Plain()}])
def test_code_running_or_class_pickles_are_refused_naming_the_file(payload, tmp_path):
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refs\(unc\)\.p") as exc:
        load_pickle(path)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, Sa2VAError)


def test_refused_global_is_named_and_never_called(tmp_path, monkeypatch):
    data = pickle.dumps(Evil(), protocol=0)
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    assert b"system" in data
    with pytest.raises(UnsafePickleError, match=r"(posix|nt|os)\.system"):
        loads_pickle(data, source="x.pickle")
    assert called == []


def test_builtins_other_than_set_are_refused():
    # a hand-written protocol-0 pickle calling builtins.eval
    data = b"c__builtin__\neval\n(S'1+1'\ntR."
    pickletools.dis(data, out=open(os.devnull, "w"))
    with pytest.raises(UnsafePickleError, match="eval"):
        loads_pickle(data, source="evil.p")


def test_corrupt_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "refs(umd).p"
    path.write_bytes(pickle.dumps([1, 2, 3])[:-3])
    with pytest.raises(UnsafePickleError, match=r"corrupt.*refs\(umd\)\.p"):
        load_pickle(path)


def test_safe_join_accepts_relative_paths(tmp_path):
    base = str(tmp_path)
    assert safe_join(base, "coco/train2014", "a.jpg") == os.path.join(base, "coco", "train2014", "a.jpg")
    assert safe_join(base, "coco", "x/../a.jpg") == os.path.join(base, "coco", "a.jpg")
    assert safe_join(base, "", "a.jpg") == os.path.join(base, "a.jpg")


@pytest.mark.parametrize(
    "name",
    [
        "../secret.jpg",
        "../../etc/passwd",
        "a/../../b.jpg",
        "/etc/passwd",
        "\\\\server\\x.jpg",
        "C:/x.jpg",
        "a\x00.jpg",
        "..\\x.jpg",
    ],
)
def test_safe_join_refuses_escapes_naming_file_and_record(name, tmp_path):
    with pytest.raises(UnsafePathError, match=r"'ann\.json'.*record '7'"):
        safe_join(str(tmp_path), name, file="ann.json", record="7")


def test_safe_join_escape_across_parts(tmp_path):
    with pytest.raises(UnsafePathError):
        safe_join(str(tmp_path), "coco", "../../x.jpg")


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_empty_bytes_of_old_protocols_load(protocol):
    # Python 3 writes b"" with protocols 0-2 as a call of builtins.bytes() (no arguments)
    data = {"counts": b"", "size": [0, 0], "x": b"ab"}
    assert loads_pickle(pickle.dumps(data, protocol=protocol)) == data


CORRUPT = {
    # _codecs.encode with a codec that does not exist: LookupError escaped before
    "unknown codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x07\x00\x00\x00nocodec\x86R.",
    # any codec but latin-1 is refused rather than run
    "base64 codec": b"\x80\x02c_codecs\nencode\nC\x01aX\x06\x00\x00\x00base64\x86R.",
    # bytes(n) would allocate n bytes
    "bytes(n)": b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x40\x85R.",
    # a BINBYTES8 length of 2**62: MemoryError escaped before
    "huge length": b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40abc.",
    # a FRAME length over the system maximum: OverflowError escaped before
    "huge frame": b"\x80\x05\x95J\x00\x00\x00\x00\x00\x00\xc1]\x94.",
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_or_code_calling_pickles_raise_unsafe_pickle_error_naming_the_source(name, monkeypatch):
    import codecs

    calls = []
    orig = codecs.lookup
    monkeypatch.setattr(codecs, "lookup", lambda enc: (calls.append(enc), orig(enc))[1])
    with pytest.raises(UnsafePickleError, match=r"x\.pickle"):
        loads_pickle(CORRUPT[name], source="x.pickle")
    assert "base64" not in calls

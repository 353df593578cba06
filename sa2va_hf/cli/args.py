"""The command line's arguments, checked before any work: a mistake is one line and exit status 2.

* :class:`Parser`: ``argparse`` whose errors are one line ending with where to look, with a did-you-mean
  for a misspelt command, choice or option;
* argument types (:func:`positive_int`, :func:`output_folder`, :func:`image_output`, :func:`source_name`
  ...): a wrong kind of value or path is refused while parsing, naming the argument.

Nothing here imports more than the standard library until a value needs checking: ``sa2va-hf --help``
and argument errors cost a fraction of a second.
"""

from __future__ import annotations

import argparse
import os
import re

#: the ``--data-dir`` help of every command that reads a source: own data lives in its own folder
DATA_DIR_HELP = (
    "where the source's files are: the Sa2VA data/ root, or for your own data (folder, finetune) the "
    "dataset's own folder (default: data)"
)


class Parser(argparse.ArgumentParser):
    """One-line errors: ``sa2va-hf build: error: ...; see `sa2va-hf build --help```, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_with_hint(self, message)}; see `{self.prog} --help`\n")


def _with_hint(parser: argparse.ArgumentParser, message: str) -> str:
    from ..errors import did_you_mean

    choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
    if choice:
        return message + did_you_mean(choice[1], re.findall(r"'([^']*)'", choice[2]))
    unknown = re.match(r"unrecognized arguments: (.*)", message)
    if unknown:
        options = [o for o in parser._option_string_actions if o.startswith("--")]
        flags = [word.split("=", 1)[0] for word in unknown[1].split() if word.startswith("-")]
        return message + "".join(did_you_mean(flag, options) for flag in flags[:1])
    return message


def _checked(check, text: str):
    """``check(text)``, a :class:`~sa2va_hf.errors.Sa2VAError` becoming argparse's refusal of the value."""
    from ..errors import Sa2VAError

    try:
        return check(text)
    except Sa2VAError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    """A whole number >= 1 (``--num-proc``, ``--repeat``, ...)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def output_folder(text: str) -> str:
    """A folder to write into: it is one, or can be made (no file in its place or on its way)."""
    from ..data.safety import check_output_folder

    return _checked(lambda path: check_output_folder(path, "folder"), text)


def existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r} is {'a folder' if os.path.isdir(text) else 'not there'}; give a file")
    return text


def existing_folder(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is {'a file' if os.path.exists(text) else 'not there'}; give a folder")
    return text


def existing_path(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not there")
    return text


def image_output(text: str) -> str:
    """A picture file to write: an extension Pillow writes (.png, .jpg, ...), in a folder that exists."""
    from PIL import Image

    extension = os.path.splitext(text)[1].lower()
    Image.init()
    writable = sorted(ext for ext, kind in Image.registered_extensions().items() if kind in Image.SAVE)
    if extension not in writable:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a picture file name Pillow can write; end it with .png (or {', '.join(writable[:6])} ...)"
        )
    folder = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text) or not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(
            f"{text!r}: {'a folder is there' if os.path.isdir(text) else f'the folder {folder!r} is not there'}"
        )
    return text


def source_name(text: str) -> str:
    """A source name of the catalog (``sa2va-hf build --list``), with a did-you-mean."""
    from ..data.catalog import get_spec

    return _checked(lambda name: get_spec(name).name, text)

"""Where the embedded cases live, in a wheel install and in a source checkout."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_root() -> Path:
    """The folder holding the shipped cases (``default/`` and ``tiny/``).

    A wheel carries the repository's ``data/`` as ``capacity/_data``; an editable install
    reads ``data/`` from the checkout itself.
    """
    packaged = Path(str(files("capacity"))) / "_data"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "data"


def default_case_path() -> Path:
    """The embedded default case, used by ``capacity solve`` when no case is given."""
    return data_root() / "default"


def tiny_case_path(name: str) -> Path:
    """One of the tiny hand-checkable cases in ``data/tiny/`` (e.g. ``"two_sites"``)."""
    return data_root() / "tiny" / name

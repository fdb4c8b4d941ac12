"""Where capacity writes: output folders that never destroy a user's files.

Every folder capacity writes (a plan, a stochastic plan, a case, a batch's results) holds a
marker file, `MARKER`, saying what kind of output it is and which of its entries capacity
wrote. A folder is replaced only if it is empty or holds nothing but what capacity wrote
there, of the same kind; anything else is refused before any work (`check_target`),
unless the caller forces writing *into* it, which replaces capacity's files one by one
and leaves the others alone. The case being solved, a folder holding it, the current
folder and its parents are never written, forced or not.

A replacement is atomic: the new folder is written beside the old one and swapped with it
in one ``renameat2(RENAME_EXCHANGE)`` call (Linux), so a process killed at any moment
leaves the old plan or the new one, never neither, and two processes saving to one
folder both succeed (the last one wins). Where the exchange is unavailable, the old folder
is renamed aside first and restored if the second rename fails.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from capacity._version import __version__
from capacity.errors import OutputError

Kind = Literal["plan", "stochastic plan", "case", "batch results", "pareto points",
               "coalition solves"]

MARKER = ".capacity.json"

# Folders capacity wrote before `MARKER` existed: a plan's summary carries
# ``capacity_version``, a stochastic plan's ``first_stage``, a batch store has ``done/``
# and ``summary.parquet``; the entries each wrote are named as below.
_LEGACY_SUMMARY_KEYS: dict[str, str] = {"plan": "capacity_version",
                                        "stochastic plan": "first_stage"}
_LEGACY_NAMES: dict[str, re.Pattern[str]] = {
    "plan": re.compile(r"summary\.json|[a-z_]+\.(csv|parquet)"),
    "stochastic plan": re.compile(r"summary\.json|scenarios|[a-z_]+\.csv"),
    "batch results": re.compile(r"done|summary\.parquet|[a-z_]+"),
}


def check_target(target: str | Path, kind: Kind, *, force: bool = False,
                 protect: Iterable[str | Path] = (), option: str = "--out") -> Path:
    """Refuse an output folder capacity must not write, before any work is done.

    Args:
        target: the folder to be written.
        kind: what will be written there (a folder of another kind is not replaced).
        force: write into an existing folder that capacity did not write (its other files
            are left alone).
        protect: paths that must survive whatever is written (the case being solved):
            ``target`` may be neither one of them nor a folder holding one.
        option: the option named in messages.

    Returns:
        ``target`` as a `Path`.

    Raises:
        OutputError: ``target`` is a symbolic link, a file, the current folder or one
            holding it, a protected path or one holding it, a folder capacity did not
            write (without ``force``), another kind of capacity folder, or where it
            cannot be written (a parent that is a file, no permission, a read-only file
            system).
    """
    path = Path(target)
    where = f"{option} {path}"
    if path.is_symlink():
        raise OutputError(f"{where} is a symbolic link; give the folder itself")
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise OutputError(f"{where} is the current folder or holds it; give a new folder")
    for kept in protect:
        guarded = Path(kept).resolve()
        if resolved == guarded or resolved in guarded.parents:
            raise OutputError(f"{where} is or holds {kept}, the input being used; give "
                              "another folder")
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{where} is a file, not a folder; give a folder")
        found = written_by(path)
        if found is not None and found != kind:
            raise OutputError(f"{where} holds {found} written by capacity, not a "
                              f"{kind}; give another folder")
        foreign = foreign_entries(path)
        if foreign and not force:
            raise OutputError(f"{where} exists and holds files capacity did not write "
                              f"({_listed(foreign)}); give a new folder, or add --force "
                              f"to write the {kind}'s files into it (nothing else there is "
                              "touched)")
    _check_writable(path if path.exists() else path.parent, where)
    return path


def check_file_target(target: str | Path, mark_text: str, what: str, *, force: bool = False,
                      protect: Iterable[str | Path] = (), option: str = "--out") -> Path:
    """Refuse an output file capacity must not write, before any work is done: a folder,
    a symbolic link, something not a plain file, an input (``protect``), a place that
    cannot be written, or an existing file capacity did not write (it holds no
    ``mark_text`` in its first 4 KB), unless ``force``.

    Raises:
        OutputError: as above.
    """
    path = Path(target)
    where = f"{option} {path}"
    if path.is_symlink():
        raise OutputError(f"{where} is a symbolic link; give the file itself")
    if any(path.resolve() == Path(p).resolve() for p in protect):
        raise OutputError(f"{where} is an input being used; give another file")
    if path.exists():
        if path.is_dir():
            raise OutputError(f"{where} is a folder; give a file name (e.g. {what})")
        if not path.is_file():
            raise OutputError(f"{where} is not a plain file; give a file name")
        with path.open("rb") as head:
            ours = mark_text.encode() in head.read(4096)
        if not ours and not force:
            raise OutputError(f"{where} exists and was not written by capacity; give a new "
                              "file name, or add --force to replace it")
    _check_writable(path.parent, where)
    return path


def written_by(folder: Path) -> str | None:
    """The kind of capacity output ``folder`` holds, or None if capacity did not write it."""
    return _owned(folder)[0]


def foreign_entries(folder: Path) -> list[str]:
    """The entries of ``folder`` that capacity did not write (all, where it wrote none),
    sorted."""
    _kind, owned = _owned(folder)
    return sorted(p.name for p in folder.iterdir() if p.name not in owned)


def _owned(folder: Path) -> tuple[str | None, set[str]]:
    """What capacity wrote in ``folder``: its kind and the names of its entries, as the
    marker lists them; for a folder from before the marker, the names its kind uses.
    (None, empty) where capacity wrote nothing there."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        marker = None
    if isinstance(marker, dict) and isinstance(marker.get("kind"), str):
        files = marker.get("files")
        if files == "*":  # a store capacity fills over time: all of it is capacity's
            return str(marker["kind"]), {p.name for p in folder.iterdir()}
        if isinstance(files, list):
            return str(marker["kind"]), {MARKER, *map(str, files)}
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        summary = None
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if isinstance(summary, dict):
        for kind, key in _LEGACY_SUMMARY_KEYS.items():
            if key in summary:
                return kind, {n for n in names if _LEGACY_NAMES[kind].fullmatch(n)}
    if (folder / "done").is_dir() and (folder / "summary.parquet").is_file():
        kind = "batch results"
        return kind, {n for n in names if _LEGACY_NAMES[kind].fullmatch(n)}
    return None, set()


def mark(folder: Path, kind: Kind, store: bool = False) -> None:
    """Write the marker that makes ``folder`` capacity's ``kind`` of output, listing the
    entries it holds now as capacity's (``store``: a folder capacity fills over time,
    a batch's results, all of whose entries are capacity's)."""
    files: list[str] | str = "*" if store else sorted(p.name for p in folder.iterdir()
                                                       if p.name != MARKER)
    (folder / MARKER).write_text(json.dumps({"written_by": "capacity", "kind": kind,
                                             "capacity_version": __version__,
                                             "files": files}) + "\n")


def write_folder(target: Path, write: Callable[[Path], None], kind: Kind = "plan", *,
                 force: bool = False, protect: Iterable[str | Path] = ()) -> Path:
    """Fill ``target`` by ``write``-ing into a new folder beside it and swapping that into
    place (``force``: into ``target`` itself, file by file, where capacity did not write
    it). The folder gets the usual permissions (0777 less the umask).

    Raises:
        OutputError: as `check_target`, or the write failed (disk full, permission); the
            folder that was there is then intact.
    """
    target = check_target(target, kind, force=force, protect=protect)
    # a folder holding files capacity did not write (``force``): theirs stay
    into = target.is_dir() and bool(foreign_entries(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as err:
        raise OutputError(f"cannot write {target}: {err.strerror or err}") from None
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        write(tmp)
        mark(tmp, kind)
        if into:  # forced into a folder that holds other files: file by file
            for item in sorted(tmp.iterdir(), key=lambda p: p.name == MARKER):
                _swap_in(item, target / item.name)  # the marker last: it lists the rest
        else:
            _swap_in(tmp, target)
    except OSError as err:
        raise OutputError(f"cannot write {target}: {err.strerror or err}; what was there "
                          "is unchanged") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_file(target: Path, write: Callable[[Path], object], suffix: str = ".tmp") -> None:
    """Write ``target`` through a temporary file beside it (named with ``suffix``, for
    writers that choose a format by it), renamed into place: a reader never sees a
    partial file. The file gets the usual permissions (0666 less the umask), not the
    temporary file's 0600."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _swap_in(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; what was at ``target`` ends at ``new`` (to be removed).

    An empty or missing ``target`` is replaced by a plain rename; otherwise the two are
    exchanged atomically (`_exchange`), or, where the system cannot, ``target`` is moved
    aside, ``new`` renamed in, and ``target`` restored should that fail.
    """
    try:
        os.replace(new, target)
        return
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
            raise
    if _exchange(new, target):
        return
    aside = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    os.replace(target, aside)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(aside, target)
        raise
    os.replace(aside, new)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2``); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _check_writable(folder: Path, where: str) -> None:
    """``folder`` (or its nearest existing parent) must be a folder this process can
    write in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{where}: {existing} is a file, so it cannot hold a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: cannot write in {existing} (permission denied or a "
                          "read-only file system)")


def _listed(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _read_umask() -> int:
    """The process umask (which can only be read by setting it)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


_UMASK = _read_umask()  # read once, at import: umask is process-wide, not thread-safe

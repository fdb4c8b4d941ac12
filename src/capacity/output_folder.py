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
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from capacity._version import __version__
from capacity.errors import OutputError

Kind = Literal["plan", "stochastic plan", "N-1 plan", "case", "batch results"]

MARKER = ".capacity.json"

# Folders capacity wrote before `MARKER` existed: a plan's summary carries
# ``capacity_version``, a stochastic plan's ``first_stage``, a batch store has ``done/``
# and ``summary.parquet``; the entries each wrote are named as below.
_LEGACY_SUMMARY_KEYS: dict[str, str] = {"plan": "capacity_version",
                                        "stochastic plan": "first_stage"}
# The plan's tables (`capacity.results.plan.TABLE_NAMES` is this list) and a stochastic
# plan's first-stage tables: written here, in the lowest layer, so that a folder capacity
# wrote before the marker is known by its exact names.
PLAN_TABLES = ("builds", "openings", "financing", "assignments", "shipments", "production",
               "campaigns", "unmet_demand", "costs", "utilisation", "market_kpis",
               "rule_kpis", "reservations", "reservation_use", "operating_margin", "fund_use",
               "approvals", "inventory", "launches")
FIRST_STAGE_TABLES = ("builds", "openings", "assignments", "financing", "approvals")
_LEGACY_NAMES: dict[str, frozenset[str]] = {
    "plan": frozenset({"summary.json", *(f"{t}.{ext}" for t in PLAN_TABLES
                                         for ext in ("csv", "parquet"))}),
    "stochastic plan": frozenset({"summary.json", "scenarios.csv", "scenarios",
                                  *(f"{t}.csv" for t in FIRST_STAGE_TABLES)}),
    "batch results": frozenset({"done", "summary.parquet", *PLAN_TABLES}),
}
# Kinds capacity fills over time, whose every entry is capacity's (the marker says "*").
STORE_KINDS = frozenset({"batch results"})


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
    if _is_or_holds(path, Path.cwd()):
        raise OutputError(f"{where} is the current folder or holds it; give a new folder")
    for kept in protect:
        if _is_or_holds(path, Path(kept)):
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
    if any(_is_or_holds(path, Path(p)) for p in protect):
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
        kind, files = str(marker["kind"]), marker.get("files")
        if files == "*" and kind in STORE_KINDS:  # filled over time: all of it capacity's
            return kind, {p.name for p in folder.iterdir()}
        if isinstance(files, list):
            return kind, {MARKER, *map(str, files)}
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        summary = None
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if isinstance(summary, dict):
        for kind, key in _LEGACY_SUMMARY_KEYS.items():
            if key in summary:
                return kind, names & _LEGACY_NAMES[kind]
    if (folder / "done").is_dir() and (folder / "summary.parquet").is_file():
        return "batch results", names & _LEGACY_NAMES["batch results"]
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
    _recover(Path(target))
    target = check_target(target, kind, force=force, protect=protect)
    # a folder holding files capacity did not write (``force``): theirs stay, and what an
    # earlier forced save wrote there and this one does not is removed (no mixed plans)
    foreign = set(foreign_entries(target)) if target.is_dir() else set()
    earlier = _owned(target)[1] - {MARKER} if foreign else set()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as err:
        raise OutputError(f"cannot write {target}: {err.strerror or err}") from None
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        write(tmp)
        mark(tmp, kind)
        written = {p.name for p in tmp.iterdir()}
        if foreign:  # forced into a folder that holds other files: file by file
            needed = {n.casefold() for n in written}
            clash = sorted(n for n in foreign if n.casefold() in needed)  # the user's names
            if clash:
                raise OutputError(
                    f"cannot write {target}: it holds {_listed(clash)}, not written by "
                    f"capacity, under names the {kind} needs; nothing was changed: give "
                    "another folder")
            for item in sorted(tmp.iterdir(), key=lambda p: p.name == MARKER):
                _swap_in(item, target / item.name)  # the marker last: it lists the rest
            for stale in sorted(earlier - written):
                _remove(target / stale)
        else:
            _swap_in(tmp, target)
            late = foreign_entries(tmp) if tmp.is_dir() else []  # tmp: the folder replaced
            if late:  # files put there after the check: swap back, lose nothing
                _swap_in(tmp, target)
                raise OutputError(f"cannot write {target}: {_listed(late)} appeared there "
                                  "while the plan was written; nothing was replaced")
    except OSError as err:
        raise OutputError(f"cannot write {target}: {err.strerror or err}; what was there "
                          "is unchanged") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _recover(target: Path) -> None:
    """Put back a folder a save without the atomic exchange left aside (a kill between its
    two renames): the newest ``.<name>.old-*`` beside a missing ``target``."""
    if target.exists() or target.is_symlink() or not target.parent.is_dir():
        return
    aside = sorted(target.parent.glob(f".{target.name}.old-*"),
                   key=lambda p: p.stat().st_mtime)
    if aside:
        os.replace(aside[-1], target)


def _is_or_holds(path: Path, inner: Path) -> bool:
    """Whether ``path`` is ``inner`` or one of its parents, by the file system's identity
    of folders (right also where names differ only in case, or through bind mounts)."""
    if not path.exists():
        return path.resolve() == inner.resolve() or path.resolve() in inner.resolve().parents
    here = inner.resolve()
    for folder in (here, *here.parents):
        if folder.exists() and os.path.samefile(path, folder):
            return True
    return False


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
        # a non-empty folder there (EACCES/EPERM: how Windows says it)
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR,
                             errno.EACCES, errno.EPERM):
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

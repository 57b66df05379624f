"""Private files: the data dir, the SQLite database (and its WAL/SHM), attachments and the dev secret.

Guarantees: directories this module creates are 0700 at every level it creates, files 0600, whatever
the process umask; the SQLite file exists 0600 before SQLite first opens it, so the WAL and SHM
files SQLite creates next to it inherit 0600 (SQLite copies the database file's mode). Existing
paths are tightened, never loosened.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Creates `path` and any missing parents 0700; an existing `path` is tightened to 0700."""
    missing: list[Path] = []
    cursor = path
    while not cursor.exists():
        missing.append(cursor)
        if cursor.parent == cursor:
            break
        cursor = cursor.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by another writer
            pass
        directory.chmod(DIR_MODE)
    if not missing:
        _tighten(path, DIR_MODE)
    return path


def write_private(path: Path, content: bytes) -> None:
    """Writes a new file readable by this user only (created 0600, not chmod-ed after the fact)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(content)
    finally:
        if fd >= 0:
            os.close(fd)
    _tighten(path, FILE_MODE)


def sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite(url: str) -> None:
    """The database file 0600 (created empty if missing, which SQLite accepts as a new database), its
    directory private if we create it, and any WAL/SHM/journal left from an earlier run tightened."""
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.exists():
        private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        if candidate.exists():
            _tighten(candidate, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = path.stat().st_mode & 0o777
    if current & ~mode:
        path.chmod(current & mode)

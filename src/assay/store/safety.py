"""Names that become paths, checked so that nothing is read or written outside the cache.

Aliases and variant names are checked by the catalog schema (`check_name`); this module
checks what else reaches a path or a URL: repo ids, repo file names, revisions, and the
final path itself (resolved, so a symlink cannot lead out of the cache).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from assay.errors import UnsafePathError

_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_FILE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_repo_id(repo: str) -> str:
    """`owner/name` with a safe alphabet; no `..`, no extra separators."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.match(p) and ".." not in p for p in parts):
        raise UnsafePathError(f"repo {repo!r} is not a valid 'owner/name' Hugging Face repo id")
    return repo


def check_repo_file(file: str) -> str:
    """A relative file name inside a repo: `a.gguf` or `folder/a.gguf`, nothing else."""
    path = PurePosixPath(file)
    parts = file.split("/")
    if (
        not file
        or path.is_absolute()
        or "\\" in file
        or not all(_FILE_PART.match(p) and ".." not in p for p in parts)
    ):
        raise UnsafePathError(
            f"file {file!r} is not a safe repo file name (letters, digits, '.', '_', '+', '-' "
            "in each '/'-separated part; no '..', no absolute path)"
        )
    return file


def local_file_name(file: str) -> str:
    """The name a repo file gets in the cache: its last path part, once the whole is checked."""
    return check_repo_file(file).rsplit("/", 1)[-1]


def check_revision(revision: str) -> str:
    if not revision or len(revision) > 255 or _CONTROL.search(revision) or ".." in revision:
        raise UnsafePathError(f"revision {revision!r} is not a valid branch, tag or commit")
    return revision


def check_segment(name: str, what: str) -> str:
    """One path component: no separators, no `..`, no NUL."""
    if not _FILE_PART.match(name) or ".." in name:
        raise UnsafePathError(f"{what} {name!r} is not a safe file or folder name")
    return name


def contained(base: Path, path: Path) -> Path:
    """path, after checking that it resolves (symlinks followed) to somewhere inside base."""
    root = base.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(f"{path} leads outside assay's cache {base}; refusing to use it")
    return path

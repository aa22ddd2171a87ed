"""Where an export goes: build it in a sibling folder, then move it into place without touching anyone else's files.

The rules (issue: an export must never delete what it did not write):

- an absent folder is created by renaming the finished sibling folder into place (nothing half-written is ever
  visible under the target name);
- an earlier export (its ``export_manifest.json`` lists every entry of the folder) is replaced as a whole;
- an empty folder, or the current folder or one holding it or the checkpoint, is never removed or renamed: the
  export's files are moved into it one by one;
- any other non-empty folder is refused unless ``overwrite=True``, and even then only the files an export writes
  are replaced (the user's own files stay).

The sibling folder is created with ``mkdir`` (so the usual umask permissions apply, not ``mkdtemp``'s ``0700``).

Example::

    >>> with staged_export("outputs/my-model") as staging:   # doctest: +SKIP
    ...     model.save_pretrained(staging)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import ExportError

MANIFEST = "export_manifest.json"
MANIFEST_FORMAT = "hf_seq2seq_vit export"

__all__ = ["MANIFEST", "check_export_target", "staged_export"]


def _manifest_files(folder: Path) -> set[str] | None:
    """The entries an earlier export wrote into ``folder``, or ``None`` when it holds no (readable) manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    files = manifest.get("files")
    return {str(name) for name in files} | {MANIFEST} if isinstance(files, list) else None


def _holds(folder: Path, path: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both resolved)."""
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def _classify(output_dir: Path) -> str:
    """``"absent"``, ``"empty"``, ``"export"`` (only an earlier export's entries) or ``"foreign"``."""
    if not output_dir.exists():
        return "absent"
    if not output_dir.is_dir():
        raise ExportError(f"{str(output_dir)!r} is a file, not a folder; choose a folder name for the export")
    entries = {entry.name for entry in output_dir.iterdir()}
    if not entries:
        return "empty"
    written = _manifest_files(output_dir)
    return "export" if written is not None and entries <= written else "foreign"


def check_export_target(output_dir: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse, before any work, a target an export may not write to; see the module docstring for the rules.

    Raises:
        ExportError: ``output_dir`` is a file, or a non-empty folder that is not an earlier export while
            ``overwrite`` is off; the message lists some of its files and the way out.
    """
    output_dir = Path(output_dir)
    if _classify(output_dir) == "foreign" and not overwrite:
        theirs = sorted(entry.name for entry in output_dir.iterdir())
        written = _manifest_files(output_dir) or set()
        others = [name for name in theirs if name not in written]
        raise ExportError(
            f"{str(output_dir)!r} is not empty and is not an earlier export (it holds {others[:5]}"
            f"{' ...' if len(others) > 5 else ''}, which no export wrote); choose a new or empty folder, or pass "
            "--overwrite (overwrite=True) to write the export's files into it: files with the same names are "
            "replaced, your other files are kept"
        )


@contextlib.contextmanager
def staged_export(output_dir: str | os.PathLike, overwrite: bool = False,
                  protect: tuple[str | os.PathLike, ...] = ()) -> Iterator[Path]:
    """Yield an empty sibling folder of ``output_dir`` to write the export in; move it into place on success.

    On an exception the sibling folder is removed and ``output_dir`` is left as it was. ``protect`` lists paths
    that must survive (the checkpoint being exported): a folder holding one of them is never replaced as a whole.
    """
    output_dir = Path(os.path.abspath(output_dir))  # "." must not stage inside itself
    check_export_target(output_dir, overwrite)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.parent / f".{output_dir.name}.export-{uuid.uuid4().hex[:8]}"
    staging.mkdir()  # mode 0o777 & ~umask, like any folder the user creates
    try:
        yield staging
        written = sorted(entry.name for entry in staging.iterdir())
        (staging / MANIFEST).write_text(
            json.dumps({"format": MANIFEST_FORMAT, "files": written}, indent=2) + "\n", encoding="utf-8"
        )
        _usual_permissions(staging)
        check_export_target(output_dir, overwrite)  # again: the folder may have changed while the export ran
        _install(staging, output_dir, protect=[Path.cwd(), *map(Path, protect)])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _usual_permissions(folder: Path) -> None:
    """Give every written file the mode the umask gives new files (transformers writes model.safetensors 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(0o666 & ~umask)


def _install(staging: Path, output_dir: Path, protect: list[Path]) -> None:
    state = _classify(output_dir)
    if state == "absent":
        staging.rename(output_dir)
        return
    if state == "export" and not output_dir.is_symlink() and not any(_holds(output_dir, p) for p in protect):
        # Swap whole folders: the old export is out of the way before the new one takes its name.
        retired = output_dir.parent / f".{output_dir.name}.replaced-{uuid.uuid4().hex[:8]}"
        output_dir.rename(retired)
        try:
            staging.rename(output_dir)
        except OSError:
            retired.rename(output_dir)
            raise
        shutil.rmtree(retired, ignore_errors=True)
        return
    # Into an existing folder, file by file: only the names an export writes are touched.
    entries = sorted(staging.iterdir())
    stale = (_manifest_files(output_dir) or set()) - {entry.name for entry in entries}
    for entry in entries:  # check every name before moving any file, so a refusal changes nothing
        target = output_dir / entry.name
        if target.is_dir() and not target.is_symlink():
            raise ExportError(f"{str(target)!r} is a folder where the export writes a file; move it away first")
    for entry in entries:
        os.replace(entry, output_dir / entry.name)
    for name in stale:  # files of an earlier export that this one no longer writes
        stale_path = output_dir / name
        if stale_path.is_file():
            stale_path.unlink()

"""Where an export is written: the target folder's checks and the staging folder that replaces it in one rename
(shared by every exporter)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stage2.registry import EXPORT_CONFIG


def check_output(out: Path, model: Any, overwrite: bool) -> None:
    """Refuse an export target that is not new, empty, or (with ``overwrite``) a previous export, or
    that holds the model being exported; a FileExistsError or ValueError naming the folder."""
    if isinstance(model, (str, Path)) and Path(model).is_dir():
        source = Path(model).resolve()
        if out.resolve() == source or out.resolve() in source.parents:
            raise ValueError(f"{out}: the export would replace the model being exported ({model}); choose another")
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder; choose a new or empty folder")
    if not any(out.iterdir()):
        return
    if not (out / EXPORT_CONFIG).is_file():
        raise FileExistsError(
            f"{out}: holds files that are not a stage2 export (no {EXPORT_CONFIG}); export never deletes them: "
            "choose a new or empty folder"
        )
    if not overwrite:
        raise FileExistsError(f"{out}: a previous stage2 export; pass overwrite=True (CLI: --overwrite) to replace it")


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` that replaces ``out`` when the block succeeds (one rename, so
    a failed or interrupted export never leaves a half-written ``out``) and is removed otherwise. Only
    an empty folder or a previous export (checked again here) is removed to make way."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        yield tmp
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        elif out.exists():
            if not (out / EXPORT_CONFIG).is_file():
                raise FileExistsError(f"{out}: files that are not a stage2 export appeared during the export")
            shutil.rmtree(out)
        tmp.chmod(0o755)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

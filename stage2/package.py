"""Build a pip-installable wheel of a task model, the way ``spacy package`` does.

The wheel holds one module, ``stage2_model_<name>``, whose ``get_model_path()`` returns the model's
folder, and declares it in the ``stage2.models`` entry-point group, so that after ``pip install``
``stage2.load(NAME)`` finds it by name, offline (the ONNX export, or ``backend="torch"`` for the weights).
Pure Python: the wheel is written directly (no build backend needed).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

from stage2._version import __version__
from stage2.registry import ENTRY_POINT_GROUP, EXPORT_CONFIG, TORCH_CONFIG

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?$")
_SKIP = {"work", "__pycache__", ".git"}


def module_name(name: str) -> str:
    """The importable module of a model package: ``stage2_model_<name>`` with separators as ``_``."""
    return "stage2_model_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _record(files: dict[str, bytes], record_path: str) -> bytes:
    """The wheel's RECORD, written with :mod:`csv` (a file name holding a comma or a quote stays one field)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([path, f"sha256={digest}", len(data)])
    writer.writerow([record_path, "", ""])
    return out.getvalue().encode()


def _model_files(model_dir: Path, follow_symlinks: bool) -> list[tuple[str, Path]]:
    """``(relative path, file)`` for every file to pack. A symlink whose target lies outside the
    folder (``/etc/passwd``) is refused unless ``follow_symlinks``; a symlinked folder always is."""
    root = model_dir.resolve()
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(model_dir, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        for d in dirnames:
            if (here / d).is_symlink():
                raise ValueError(f"{here / d}: is a symlink to a folder ({os.readlink(here / d)}); copy it in instead")
        for f in sorted(filenames):
            path = here / f
            if f.startswith("."):
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_file():
                    raise ValueError(f"{path}: symlink to {os.readlink(path)}, which is not a file")
                if not target.is_relative_to(root) and not follow_symlinks:
                    raise ValueError(
                        f"{path}: symlink to {target}, outside the model folder; copy the file in, or pass "
                        "--follow-symlinks to pack what it points to"
                    )
            elif not path.is_file():
                continue
            out.append((path.relative_to(model_dir).as_posix(), path))
    return out


def library_range(version: str = __version__) -> str:
    """The stage2 versions a model wheel built now works with: this minor series (``>=0.1,<0.2``)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f">={major}.{minor},<{major}.{minor + 1}"


def build_library_wheel(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Build the ``stage2`` wheel itself from this checkout into ``out_dir`` (a wheelhouse: with the model
    wheels beside it, ``pip install --no-index --find-links DIR stage2-model-NAME`` needs no checkout)."""
    import subprocess
    import sys

    from stage2.registry import CHECKOUT

    if not (CHECKOUT / "pyproject.toml").is_file():
        raise FileNotFoundError(
            "the stage2 wheel is built from a checkout of stage2 (pyproject.toml); this stage2 is installed from a "
            "wheel: copy that wheel into the wheelhouse instead"
        )
    out = Path(out_dir)
    wheel = out / f"stage2-{__version__}-py3-none-any.whl"
    if wheel.exists() and not overwrite:
        raise FileExistsError(f"{wheel}: exists; pass overwrite=True (CLI: --overwrite) to replace it")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".stage2-build-") as tmp:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet"]
        done = subprocess.run([*command, "-w", tmp, str(CHECKOUT)], capture_output=True, text=True)
        built = list(Path(tmp).glob("stage2-*.whl"))
        if done.returncode != 0 or len(built) != 1:
            raise RuntimeError(f"building the stage2 wheel failed: {done.stderr.strip()[-500:]}")
        os.replace(built[0], wheel)
    return wheel


def build_wheel(
    model_dir: str | Path,
    name: str,
    version: str,
    out_dir: str | Path = "dist",
    description: str = "",
    follow_symlinks: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``stage2_model_<name>-<version>-py3-none-any.whl`` to ``out_dir`` and return its path.

    ``model_dir`` is a saved torch model (``stage2_config.json``) or an export (``stage2_export.json``);
    training checkpoints (``work/``) and hidden files are left out. Symlinks pointing outside the
    folder are an error unless ``follow_symlinks`` (then the files they point to are packed). An
    existing wheel of the same file name is replaced only with ``overwrite`` (checked before any work).
    """
    model_dir = Path(model_dir)
    kind = _model_kind(model_dir)
    _check_name_and_version(name, version)
    module = module_name(name)
    wheel = Path(out_dir) / f"{module}-{version}-py3-none-any.whl"
    if wheel.exists() and not overwrite:
        raise FileExistsError(
            f"{wheel}: exists (names that differ only in case or in '-', '_' and '.' are one package: {name!r} is "
            f"{module}); pass overwrite=True (CLI: --overwrite) to replace it"
        )
    files = {f"{module}/__init__.py": _package_init(name, kind)}
    for rel, path in _model_files(model_dir, follow_symlinks):
        files[f"{module}/model/{rel}"] = path.read_bytes()
    files |= _dist_info(module, name, version, kind, description, files)
    _write_wheel(wheel, files)
    return wheel


def _model_kind(model_dir: Path) -> str:
    """``"export"`` or ``"torch"``: what ``model_dir`` holds; an error naming it when it is neither."""
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir}: no such model folder")
    kind = "export" if (model_dir / EXPORT_CONFIG).exists() else "torch" if (model_dir / TORCH_CONFIG).exists() else ""
    if not kind:
        raise ValueError(f"{model_dir}: neither a stage2 model ({TORCH_CONFIG}) nor an export ({EXPORT_CONFIG})")
    return kind


def _check_name_and_version(name: str, version: str) -> None:
    """Refuse a package name or version that would make an invalid wheel, naming the CLI option."""
    if not _NAME.match(name):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (e.g. ner-news)")
    if not _VERSION.match(version):
        raise ValueError(f"--version {version!r}: expected a version such as 1.0.0")


def _package_init(name: str, kind: str) -> bytes:
    """The model package's ``__init__.py``: ``get_model_path()`` returns the packed model folder."""
    return (
        f'"""stage2 model package {name!r} ({kind}), built by stage2 {__version__}."""\n\n'
        "from pathlib import Path\n\n\n"
        "def get_model_path() -> str:\n"
        '    """The folder holding the model files."""\n'
        '    return str(Path(__file__).parent / "model")\n'
    ).encode()


def _dist_info(
    module: str, name: str, version: str, kind: str, description: str, files: dict[str, bytes]
) -> dict[str, bytes]:
    """The wheel's ``.dist-info`` files (metadata, entry point, RECORD of ``files`` and themselves).

    The distribution name is ``module``, already normalised for file names.
    """
    info = f"{module}-{version}.dist-info"
    summary = description or f"stage2 {kind} model '{name}'"
    requires = ("stage2" if kind == "export" else "stage2[train]") + library_range()
    meta: dict[str, bytes] = {
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\nSummary: {summary}\n"
            f"Requires-Dist: {requires}\n"
        ).encode(),
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: stage2 {__version__}\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ).encode(),
        f"{info}/entry_points.txt": f"[{ENTRY_POINT_GROUP}]\n{name} = {module}\n".encode(),
        f"{info}/top_level.txt": f"{module}\n".encode(),
    }
    meta[f"{info}/RECORD"] = _record({**files, **meta}, f"{info}/RECORD")
    return meta


def _write_wheel(wheel: Path, files: dict[str, bytes]) -> None:
    """Zip ``files`` into ``wheel`` through a ``.part`` file, so that no partial wheel is ever left."""
    wheel.parent.mkdir(parents=True, exist_ok=True)
    tmp = wheel.with_suffix(".whl.part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p, d in files.items():
                zf.writestr(p, d)
        tmp.replace(wheel)
    finally:  # a full disk or an interruption leaves no partial wheel
        tmp.unlink(missing_ok=True)

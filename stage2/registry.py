"""Finding a model by name. :func:`find_model` searches, in order: the name as a folder; the
installed model packages (entry point group ``stage2.models``); then, in a source checkout,
``exports/NAME`` (for torch weights also ``exports/NAME/torch``) and ``runs/NAME``. Pure Python
(no torch), shared by :mod:`stage2.runtime` and the torch loaders.

A model package (built by ``stage2 package``) declares an entry point in the group
``stage2.models``: ``NAME = module``, where ``module.get_model_path()`` returns its folder.
"""

from __future__ import annotations

import json
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "stage2.models"
EXPORT_CONFIG = "stage2_export.json"
TORCH_CONFIG = "stage2_config.json"
CHECKOUT = Path(__file__).resolve().parent.parent
"""The folder above the package: the repository root in a source checkout."""


def installed_models() -> dict[str, str]:
    """Names of the installed model packages and the modules that hold them."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def find_model(name_or_path: str | Path, marker: str | None = None) -> Path:
    """The folder of a model given as a path or a name.

    Names are looked up in the installed model packages, then in ``exports/NAME`` (and, for a torch
    model, ``exports/NAME/torch``: the shipped weights that few-shot training starts from) and
    ``runs/NAME`` of a source checkout. ``marker`` (a config file name) restricts the match to
    folders that contain it. Raises ``FileNotFoundError`` listing where it looked.
    """
    path = Path(name_or_path).expanduser()
    looked: list[str] = []
    if path.is_dir():
        if marker is None or (path / marker).exists():
            return path
        looked.append(f"{path} (a folder, but without {marker})")
    elif path.exists():
        raise ValueError(f"{path} is a file; expected a model folder or a model name")
    name = str(name_or_path)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            folder = Path(import_module(ep.value).get_model_path())
            if marker is None or (folder / marker).exists():
                return folder
            looked.append(f"installed package {ep.value} ({folder} has no {marker})")
    if "/" not in name and "\\" not in name:
        candidates = [CHECKOUT / "exports" / name, CHECKOUT / "runs" / name]
        if marker == TORCH_CONFIG:
            candidates.insert(1, CHECKOUT / "exports" / name / "torch")
        for folder in candidates:
            if folder.is_dir() and (marker is None or (folder / marker).exists()):
                return folder
            looked.append(str(folder))
    installed = sorted(installed_models())
    raise FileNotFoundError(
        f"no model {name!r}: looked in {', '.join(looked) or 'nothing'}; installed model packages: "
        f"{installed or 'none'} (build one with `stage2 package`)"
    )


def read_config(path: Path) -> dict[str, Any]:
    """A model's JSON config file (``stage2_config.json``, ``stage2_export.json``) as a dict; a missing,
    unreadable or malformed file raises an error that names it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; {path.parent} is not a complete stage2 model")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; the model files are damaged") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: not valid JSON ({err.msg}, line {err.lineno}); the model files are damaged"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object; the model files are damaged")
    return data


def available_names() -> list[str]:
    """Model names that :func:`find_model` resolves: installed packages and a checkout's ``exports/``."""
    names = set(installed_models())
    exports = CHECKOUT / "exports"
    if exports.is_dir():
        names.update(p.name for p in exports.iterdir() if (p / EXPORT_CONFIG).exists() or (p / "torch").is_dir())
    return sorted(names)

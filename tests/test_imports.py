from __future__ import annotations

import subprocess
import sys

import pytest

import stage2


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_stage2_does_not_import_torch():
    result = _run("import stage2, sys; assert 'torch' not in sys.modules, 'torch was imported'")
    assert result.returncode == 0, result.stderr


def test_pure_modules_stay_free_of_torch():
    # labels, data readers, decoding and the heads' math are shared with the torch-free runtime; the CLI
    # imports lazily.
    code = (
        "import sys, stage2, stage2.labels, stage2.io, stage2.ner.data, stage2.ner.decoding, stage2.ner.config, "
        "stage2.ner.metrics, stage2.summarization.metrics, stage2.model_card, stage2.cli, stage2.backbone, "
        "stage2.arrays, stage2.ner.head, stage2.summarization.head\n"
        "stage2.cli.build_parser()\n"
        "stage2.LabelSet.from_user(['person'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_lazy_public_names():
    from stage2.labels import LabelSet

    assert stage2.LabelSet is LabelSet
    assert set(stage2.__all__) >= {"NERModel", "LabelSet", "train", "TrainingConfig", "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        stage2.nothing  # noqa: B018


def _import_graph() -> dict[str, set[str]]:
    """stage2 module -> the stage2 modules it imports, at the top or inside functions."""
    import ast
    from pathlib import Path

    root = Path(stage2.__file__).parent
    mods = {}
    for path in root.rglob("*.py"):
        name = ".".join(("stage2", *path.relative_to(root).with_suffix("").parts))
        mods[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("stage2"):
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [str(node.module), *subs]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[mod].update(t for t in targets if t in mods and t != mod)
    return graph


def test_no_import_cycles_and_no_upward_imports():
    """Issue 24: imports point down only, counting imports inside functions; no subpackage imports the
    package root (its public namespace) back."""
    graph = _import_graph()
    upward = [m for m, targets in graph.items() if "stage2" in targets and m != "stage2"]
    assert upward == []

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b and reaches(b, a))
    assert cycles == []

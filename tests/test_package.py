from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from stage2.package import build_wheel, module_name


def install_and_run(wheel, tmp_path, code: str) -> str:
    """pip-install ``wheel`` offline into a fresh folder and run ``code`` with it on sys.path; its stdout."""
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(target)]
    subprocess.run([*pip, str(wheel)], check=True, timeout=120)
    script = f"import sys; sys.path.insert(0, sys.argv[1]); {code}"
    out = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_wheel_installs_and_is_found_by_name_offline(summarizer_export, tmp_path):
    folder = summarizer_export[0]
    wheel = build_wheel(folder, "sum-test", "1.2.3", tmp_path / "dist")
    assert wheel.name == "stage2_model_sum_test-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        record = zf.read("stage2_model_sum_test-1.2.3.dist-info/RECORD").decode()
    assert "stage2_model_sum_test/model/model.onnx" in names
    assert all(n in record for n in names)
    code = "import stage2.runtime as rt; m = rt.load('sum-test'); print(type(m).__name__, m.folder.parent.name)"
    assert install_and_run(wheel, tmp_path, code).split() == ["SummarizerRuntime", "stage2_model_sum_test"]


def test_torch_model_package_loads_with_stage2_load(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "saved")
    (tmp_path / "saved" / "work").mkdir()
    (tmp_path / "saved" / "work" / "checkpoint.bin").write_bytes(b"x" * 10)
    wheel = build_wheel(tmp_path / "saved", "ner-tiny", "0.1.0", tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if "/work/" in n]  # checkpoints stay out
    code = "import stage2; m = stage2.load('ner-tiny'); print(type(m).__name__, m.labels.keys)"
    assert install_and_run(wheel, tmp_path, code).startswith("NERModel")


def test_package_rejects_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_wheel(tmp_path / "nope", "x", "1.0.0", tmp_path)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="neither"):
        build_wheel(tmp_path / "plain", "x", "1.0.0", tmp_path)
    (tmp_path / "plain" / "stage2_export.json").write_text("{}")
    with pytest.raises(ValueError, match="--name"):
        build_wheel(tmp_path / "plain", "bad name!", "1.0.0", tmp_path)
    with pytest.raises(ValueError, match="--version"):
        build_wheel(tmp_path / "plain", "ok", "one", tmp_path)
    assert module_name("NER.News-v2") == "stage2_model_ner_news_v2"


def test_package_refuses_symlinks_leading_outside(tmp_path):
    """A symlink to a file outside the model folder (/etc/passwd) is refused, not packed."""
    model = tmp_path / "plain"
    model.mkdir()
    (model / "stage2_export.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    (model / "notes.txt").symlink_to(secret)
    with pytest.raises(ValueError, match=r"notes\.txt: symlink to .*outside the model folder"):
        build_wheel(model, "ok", "1.0.0", tmp_path / "dist")
    assert not list((tmp_path / "dist").glob("*.whl"))
    wheel = build_wheel(model, "ok", "1.0.0", tmp_path / "dist", follow_symlinks=True)
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("stage2_model_ok/model/notes.txt") == b"root:x:0:0"
    (model / "notes.txt").unlink()
    (model / "inside.json").symlink_to(model / "stage2_export.json")  # inside the folder: fine
    (model / "linked").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match="symlink to a folder"):
        build_wheel(model, "ok", "1.0.0", tmp_path / "dist", overwrite=True)
    (model / "linked").unlink()
    with zipfile.ZipFile(build_wheel(model, "ok", "1.0.0", tmp_path / "dist", overwrite=True)) as zf:
        assert zf.read("stage2_model_ok/model/inside.json") == b"{}"


def test_package_never_replaces_a_wheel_unless_told(tmp_path):
    model = tmp_path / "plain"
    model.mkdir()
    (model / "stage2_export.json").write_text("{}")
    wheel = build_wheel(model, "ner_news", "1.0.0", tmp_path / "dist")
    before = wheel.read_bytes()
    for same in ("ner-news", "NER.NEWS", "ner_news"):  # one distribution name: one file
        with pytest.raises(FileExistsError, match=r"stage2_model_ner_news.*overwrite"):
            build_wheel(model, same, "1.0.0", tmp_path / "dist")
    assert wheel.read_bytes() == before
    (model / "extra.txt").write_text("new")
    assert build_wheel(model, "ner-news", "1.0.0", tmp_path / "dist", overwrite=True) == wheel
    with zipfile.ZipFile(wheel) as zf:
        assert "stage2_model_ner_news/model/extra.txt" in zf.namelist()
    assert not list((tmp_path / "dist").glob("*.part"))


def test_record_is_csv_so_odd_file_names_stay_one_field(tmp_path):
    """Issue 23: RECORD was joined with commas by hand, so a file named 'a,b.txt' broke its row."""
    import csv
    import io

    model = tmp_path / "plain"
    model.mkdir()
    (model / "stage2_export.json").write_text("{}")
    (model / 'notes, "v2".txt').write_text("x")
    wheel = build_wheel(model, "odd", "1.0.0", tmp_path / "dist")
    with zipfile.ZipFile(wheel) as zf:
        rows = list(csv.reader(io.StringIO(zf.read("stage2_model_odd-1.0.0.dist-info/RECORD").decode())))
        names = set(zf.namelist())
    assert all(len(r) == 3 for r in rows)
    assert {r[0] for r in rows} == names
    assert 'stage2_model_odd/model/notes, "v2".txt' in names


def test_a_wheelhouse_runs_the_main_job_without_the_checkout(tmp_path):
    """Issue 24: a model wheel needed a 'stage2' no index serves, and a stage2 wheel alone answered
    'no ner-default export found'. The wheelhouse (stage2 wheel + model wheel) installs offline and tags."""
    import json
    import os

    from stage2.cli import main
    from stage2.registry import CHECKOUT

    export = CHECKOUT / "exports" / "ner-default"
    if not export.is_dir():
        pytest.skip("no shipped ner-default export in this checkout")
    house = tmp_path / "house"
    assert (
        main(
            ["package", str(export), "--name", "ner-default", "--version", "1.0.0", "--out", str(house), "--wheelhouse"]
        )
        == 0
    )
    wheels = sorted(p.name for p in house.glob("*.whl"))
    assert wheels[0].startswith("stage2-") and wheels[1] == "stage2_model_ner_default-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(house / wheels[1]) as zf:
        metadata = zf.read("stage2_model_ner_default-1.0.0.dist-info/METADATA").decode()
    assert "Requires-Dist: stage2>=0.1,<0.2" in metadata  # the library range it was built with
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(house), "--no-deps", "--quiet"]
    subprocess.run([*pip, "--target", str(target), "stage2", "stage2-model-ner-default"], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    script = (
        "import stage2, sys; from stage2.cli import main; print(stage2.__file__, file=sys.stderr); sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "ner", "Angela Merkel met Emmanuel Macron in Paris."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stderr  # the installed library ran, not the checkout
    found = {(e["text"], e["label"]) for e in json.loads(done.stdout)["entities"]}
    assert {("Angela Merkel", "PER"), ("Paris", "LOC")} <= found

from __future__ import annotations

import json

import pytest
import torch

from stage2.labels import LabelSet, Span
from stage2.ner.collator import collate_windows
from stage2.ner.data import NERExample
from stage2.ner.training import CHECKPOINT_DIR, NERTask, TrainingConfig, TrainResult, train


def quick(**kwargs) -> TrainingConfig:
    return TrainingConfig(**{"min_steps": 5, "epochs": 1, "batch_size": 2, "progress": False, **kwargs})


def loss_on(model, examples, labels=None) -> float:
    """Mean cross-entropy of the gold tags, in eval mode."""
    label_set = model.resolve_labels(labels)
    index = {k: j for j, k in enumerate(label_set.keys)}
    windows, tags = [], []
    for i, ex in enumerate(examples):
        word_tags = [0] * len(ex.tokens)
        for s in ex.spans:
            word_tags[s.start] = 1 + 2 * index[s.label]
            for w in range(s.start + 1, s.end):
                word_tags[w] = 2 + 2 * index[s.label]
        (window,) = model.make_windows(i, ex.tokens)
        windows.append(window)
        tags.append(word_tags)
    batch = collate_windows(windows, model.tokenizer.pad_token_id, tags)
    model.eval()
    with torch.no_grad():
        logits = model.logits_for(batch, label_set)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100).item()


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_changes_weights_and_lowers_loss(tiny_model, examples):
    before_weights = state(tiny_model)
    before = loss_on(tiny_model, examples)
    result = train(tiny_model, examples, config=quick(min_steps=30, learning_rate=1e-3, head_learning_rate=1e-2))
    assert isinstance(result, TrainResult)
    assert result.steps == 30
    assert result.best_dev is None
    after_weights = tiny_model.state_dict()
    for name in ("encoder.embeddings.word_embeddings.weight", "begin_proj.weight", "outside.2.bias"):
        assert not torch.equal(before_weights[name], after_weights[name]), name
    assert loss_on(tiny_model, examples) < 0.5 * before
    assert not tiny_model.training
    assert tiny_model.config.card["training"][-1]["steps"] == 30
    assert tiny_model.config.card["training"][-1]["mentions"] == {"city": 4, "person": 4}


def test_steps_follow_min_steps_epochs_and_max_steps(tiny_model, examples):
    # 4 sentences, batch 2: 2 batches per epoch.
    assert train(tiny_model, examples, config=quick(min_steps=1, epochs=2)).steps == 4
    assert train(tiny_model, examples, config=quick(min_steps=3, epochs=1)).steps == 3
    assert train(tiny_model, examples, config=quick(min_steps=50, max_steps=2)).steps == 2


def test_labels_default_to_data_types_and_become_model_labels(tiny_model, examples):
    renamed = [NERExample(e.tokens, [Span(s.label.upper(), s.start, s.end) for s in e.spans]) for e in examples]
    train(tiny_model, renamed, config=quick())
    assert tiny_model.labels.keys == ["CITY", "PERSON"]
    train(tiny_model, examples, labels={"person": "a human being", "city": "a place"}, config=quick())
    assert tiny_model.labels.keys == ["person", "city"]
    assert tiny_model.labels.labels[0].description == "a human being"


def test_unknown_entity_type_raises(tiny_model, examples):
    with pytest.raises(ValueError, match="city"):
        train(tiny_model, examples, labels=["person"], config=quick())
    task = NERTask(examples, LabelSet.from_user(["person"]))
    with pytest.raises(ValueError, match="'city' is not in the label set"):
        train(tiny_model, [task], config=quick())


def test_empty_training_data_raises(tiny_model):
    with pytest.raises(ValueError, match="empty"):
        train(tiny_model, [], config=quick())


def test_examples_without_words_raise_instead_of_hanging(tiny_model, examples):
    with pytest.raises(ValueError, match="no words"):
        train(tiny_model, [NERExample([], [])], labels=["person"], config=quick())
    tasks = [NERTask(examples, LabelSet.from_user(["person", "city"])), NERTask([NERExample([])], LabelSet(), "empty")]
    with pytest.raises(ValueError, match="'empty'"):
        train(tiny_model, tasks, config=quick())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"epochs": 0, "min_steps": 0},
        {"label_dropout": 1.5},
        {"distill_weight": -0.1},
        {"distill_temperature": 0.0},
        {"max_steps": -1},  # trained 0 steps and exited 0
        {"max_steps": 0},
        {"min_steps": -5},
        {"save_every": -1},
    ],
)
def test_training_config_validation(kwargs):
    with pytest.raises(ValueError):
        TrainingConfig(**kwargs)


def test_linear_head_trains_on_own_labels_only(tiny_linear_model, examples):
    before = state(tiny_linear_model)
    train(tiny_linear_model, examples, config=quick())
    assert not torch.equal(before["classifier.weight"], tiny_linear_model.state_dict()["classifier.weight"])
    with pytest.raises(ValueError, match="own label set"):
        train(tiny_linear_model, examples, labels=["city", "person"], config=quick())


def test_multi_task_training_and_label_dropout(tiny_model, examples):
    people = [NERExample(e.tokens, [s for s in e.spans if s.label == "person"]) for e in examples]
    tasks = [
        NERTask(examples, LabelSet.from_user({"person": "", "city": ""}), name="both"),
        NERTask(people, LabelSet.from_user({"person": "a human being"}), name="people"),
    ]
    before = state(tiny_model)
    result = train(tiny_model, tasks, config=quick(label_dropout=0.5, description_dropout=0.5))
    assert result.steps == 5
    assert not torch.equal(before["label_proj.weight"], tiny_model.state_dict()["label_proj.weight"])
    assert set(tiny_model.config.card["training"][-1]["mentions"]) == {"both", "people"}


def test_same_seed_gives_same_weights(tiny_model, examples):
    import copy

    twin = copy.deepcopy(tiny_model, memo={id(tiny_model.tokenizer): tiny_model.tokenizer})
    other = copy.deepcopy(tiny_model, memo={id(tiny_model.tokenizer): tiny_model.tokenizer})
    train(tiny_model, examples, config=quick(seed=7))
    train(twin, examples, config=quick(seed=7))
    train(other, examples, config=quick(seed=8))
    a, b, c = tiny_model.state_dict(), twin.state_dict(), other.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_checkpoint_is_atomic_and_resume_continues(tiny_model, examples, tmp_path):
    import copy

    fresh = copy.deepcopy(tiny_model, memo={id(tiny_model.tokenizer): tiny_model.tokenizer})
    rerun = copy.deepcopy(tiny_model, memo={id(tiny_model.tokenizer): tiny_model.tokenizer})
    out = tmp_path / "run"
    first = train(tiny_model, examples, config=quick(min_steps=8, max_steps=4, output_dir=str(out)))
    assert first.steps == 4
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_DIR]  # no .tmp or .old left behind
    ckpt = out / CHECKPOINT_DIR
    assert {"stage2_config.json", "model.safetensors", "optimizer.pt", "trainer_state.json", "README.md"} <= {
        p.name for p in ckpt.iterdir()
    }
    saved_state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
    assert saved_state["step"] == 4
    after_first = state(tiny_model)

    # A rerun of the finished run restores the checkpoint's weights and trains no further.
    again = train(rerun, examples, config=quick(min_steps=8, max_steps=4, output_dir=str(out)))
    assert again.steps == 4
    assert all(torch.equal(after_first[k], v) for k, v in rerun.state_dict().items())

    # A longer run on a fresh model picks up at step 4 instead of starting over.
    second = train(fresh, examples, config=quick(min_steps=8, max_steps=8, output_dir=str(out)))
    assert second.steps == 8
    assert [r["step"] for r in second.history] == [4, 8]
    assert second.history[0] == first.history[0]
    saved_state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
    assert saved_state["step"] == 8 and saved_state["steps"] == 8
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_DIR]
    assert not all(torch.equal(after_first[k], v) for k, v in fresh.state_dict().items())


def test_resume_false_starts_over(tiny_model, examples, tmp_path):
    out = tmp_path / "run"
    train(tiny_model, examples, config=quick(max_steps=4, output_dir=str(out)))
    result = train(tiny_model, examples, config=quick(max_steps=2, output_dir=str(out), resume=False))
    assert [r["step"] for r in result.history] == [2]


def test_dev_data_keeps_best_and_fills_best_dev(entity_model, examples):
    result = train(entity_model, examples, dev_data=examples[:2], config=quick(min_steps=6, evaluations=3))
    assert result.best_dev is not None
    assert set(result.best_dev) == {"precision", "recall", "f1", "step"}
    assert result.best_dev["step"] in {2, 4, 6}
    dev_records = [r for r in result.history if "dev" in r]
    assert [r["step"] for r in dev_records] == [2, 4, 6]
    assert result.best_dev["f1"] == max(r["dev"]["f1"] for r in dev_records)
    # The model holds the best weights: evaluating again reproduces the best score.
    assert entity_model.evaluate(examples[:2])["f1"] == result.best_dev["f1"]
    assert entity_model.config.card["scores"]["dev"]["f1"] == result.best_dev["f1"]


def test_dev_data_with_output_dir_saves_best(tiny_model, examples, tmp_path):
    out = tmp_path / "run"
    result = train(tiny_model, examples, dev_data=examples, config=quick(min_steps=4, output_dir=str(out)))
    assert result.best_dev is not None
    assert (out / "best" / "stage2_config.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["best", CHECKPOINT_DIR]
    assert tiny_model.evaluate(examples)["f1"] == result.best_dev["f1"]


@pytest.mark.integration
def test_few_shot_training_of_the_bundled_encoder(examples, labels):
    from stage2.ner.modeling import NERModel

    model = NERModel.from_pretrained(None)
    before = model.evaluate(examples, labels=labels)["f1"]
    result = train(model, examples, labels=labels, config=quick(min_steps=20))
    assert result.steps == 20
    after = model.evaluate(examples)
    assert after["f1"] >= 75.0 > before
    found = {(e["label"], e["text"]) for e in model.predict("Marie Curie moved to Warsaw.")}
    assert ("city", "Warsaw") in found


def test_resume_refuses_another_run(tiny_model, examples, tmp_path):
    out = tmp_path / "run"
    train(tiny_model, examples, config=quick(max_steps=4, output_dir=str(out)))
    with pytest.raises(ValueError, match=r"belongs to another run.*learning_rate"):
        train(tiny_model, examples, config=quick(max_steps=4, output_dir=str(out), learning_rate=1e-3))
    with pytest.raises(ValueError, match="training data differ"):
        train(tiny_model, examples[:-1], config=quick(max_steps=4, output_dir=str(out)))


def test_leftover_old_checkpoint_does_not_block_saving(tiny_model, examples, tmp_path):
    """A save killed after its renames leaves checkpoint-last and checkpoint-last.old side by side."""
    import shutil

    out = tmp_path / "run"
    train(tiny_model, examples, config=quick(max_steps=2, output_dir=str(out)))
    shutil.copytree(out / CHECKPOINT_DIR, out / (CHECKPOINT_DIR + ".old"))
    result = train(tiny_model, examples, config=quick(max_steps=4, output_dir=str(out)))
    assert result.steps == 4
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_DIR]


def test_resumed_run_matches_an_uninterrupted_one(tiny_model, examples, tmp_path, monkeypatch):
    """Dropout's random state is checkpointed, so a run killed after a checkpoint and resumed ends
    with the same weights as one that was never interrupted."""
    import copy

    import stage2.loop

    def clone():
        return copy.deepcopy(tiny_model, memo={id(tiny_model.tokenizer): tiny_model.tokenizer})

    cfg = {"min_steps": 6, "max_steps": 6, "save_every": 3}
    straight = clone()
    train(straight, examples, config=quick(**cfg, output_dir=str(tmp_path / "a")))

    original = stage2.loop.save_checkpoint

    def save_then_die(model, optimizer, scheduler, state, out):
        original(model, optimizer, scheduler, state, out)
        if state["step"] == 3:
            raise KeyboardInterrupt("killed after the step-3 checkpoint")

    monkeypatch.setattr(stage2.loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(clone(), examples, config=quick(**cfg, output_dir=str(tmp_path / "b")))
    monkeypatch.setattr(stage2.loop, "save_checkpoint", original)
    resumed = clone()
    train(resumed, examples, config=quick(**cfg, output_dir=str(tmp_path / "b")))
    assert all(torch.allclose(v, resumed.state_dict()[k]) for k, v in straight.state_dict().items())


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_checkpoints_the_step_and_resumes_to_the_same_weights(
    tiny_model, examples, tmp_path, monkeypatch, signame
):
    """Without --dev or periodic saves, Ctrl-C (or SIGTERM, as timeout, schedulers and container stops send)
    finishes the step, checkpoints it and stops; the rerun resumes there and ends with the weights of an
    uninterrupted run (issues: runs/r was left empty; SIGTERM left no checkpoint)."""
    import copy
    import os
    import signal

    sig = getattr(signal, signame)
    before = signal.getsignal(sig)

    import stage2.ner.training as training
    from stage2.loop import TrainingInterrupted, find_checkpoint

    def clone():
        return copy.deepcopy(tiny_model, memo={id(tiny_model.tokenizer): tiny_model.tokenizer})

    cfg = {"min_steps": 6, "max_steps": 6, "save_every": 0}
    straight = clone()
    train(straight, examples, config=quick(**cfg, output_dir=str(tmp_path / "a")))

    original, calls = training.collate_windows, []

    def collate_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # during step 3
            os.kill(os.getpid(), sig)
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "collate_windows", collate_then_ctrl_c)
    with pytest.raises(TrainingInterrupted, match="after step 3 of 6") as err:
        train(clone(), examples, config=quick(**cfg, output_dir=str(tmp_path / "b")))
    assert err.value.step == 3 and err.value.checkpoint == find_checkpoint(tmp_path / "b")
    assert signal.getsignal(sig) is before  # the handler was put back
    monkeypatch.setattr(training, "collate_windows", original)
    resumed = clone()
    train(resumed, examples, config=quick(**cfg, output_dir=str(tmp_path / "b")))
    assert all(torch.allclose(v, resumed.state_dict()[k]) for k, v in straight.state_dict().items())


def test_training_and_evaluation_with_document_context(tiny_model, examples):
    from stage2.ner.data import add_document_context

    with_context = add_document_context(examples, words=8)
    assert all(e.context is not None for e in with_context)
    result = train(tiny_model, with_context, dev_data=with_context, config=quick(min_steps=6))
    assert result.steps == 6 and result.best_dev is not None
    scores = tiny_model.evaluate(with_context)
    assert 0.0 <= scores["f1"] <= 100.0


def test_context_dropout_reads_some_windows_without_context(tiny_model, examples, monkeypatch):
    import stage2.ner.training as training
    from stage2.ner.data import add_document_context

    tiny_model.config.max_context = 8
    with_context = add_document_context(examples, words=8)
    seen: list[int] = []
    original = training.collate_windows

    def spy(windows, pad_id, tags):
        seen.extend(len(w.input_ids) for w in windows)
        return original(windows, pad_id, tags)

    monkeypatch.setattr(training, "collate_windows", spy)
    plain = {len(w.input_ids) for i, e in enumerate(examples) for w in tiny_model.make_windows(i, e.tokens, None)}
    framed = {
        len(w.input_ids) for i, e in enumerate(with_context) for w in tiny_model.make_windows(i, e.tokens, e.context)
    }
    assert plain.isdisjoint(framed)  # the fixture's context always lengthens a window
    train(tiny_model, with_context, config=quick(min_steps=6))
    assert set(seen) <= framed  # no dropout: every window keeps its context
    seen.clear()
    train(tiny_model, with_context, config=quick(min_steps=12, context_dropout=0.5))
    assert set(seen) & plain and set(seen) & framed  # some windows alone, some with context
    with pytest.raises(ValueError, match="context_dropout"):
        quick(context_dropout=1.5)


def test_distillation_loss_is_zero_only_when_the_student_matches_the_teacher():
    from stage2.ner.losses import distillation_loss

    teacher = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, False, True, False], [True, False, False, False, False]])
    assert distillation_loss(teacher.clone(), teacher, mask, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = teacher.clone()
    student[0, 2] += 10.0  # a masked position: ignored
    assert distillation_loss(student, teacher, mask, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student[0, 0] = torch.tensor([5.0, -5.0, 0.0])
    assert distillation_loss(student, teacher, mask, 2.0).item() > 0.01


def test_sigmoid_distillation_compares_each_column_on_its_own():
    from stage2.ner.losses import distillation_loss

    teacher = torch.randn(2, 5, 5)
    teacher[..., 0] = 0.0  # sigmoid scoring: O is the fixed threshold, no column of its own
    mask = torch.tensor([[True, True, False, True, False], [True, False, False, False, False]])
    assert distillation_loss(teacher.clone(), teacher, mask, 1.0, "sigmoid").item() == pytest.approx(0.0, abs=1e-5)
    shifted = teacher + 3.0  # the same softmax, other yes/no answers: only sigmoid distillation sees it
    assert distillation_loss(shifted, teacher, mask, 1.0, "softmax").item() == pytest.approx(0.0, abs=1e-5)
    assert distillation_loss(shifted, teacher, mask, 1.0, "sigmoid").item() > 0.1
    student = teacher.clone()
    student[0, 2] += 10.0  # a masked position: ignored
    assert distillation_loss(student, teacher, mask, 1.0, "sigmoid").item() == pytest.approx(0.0, abs=1e-5)
    nothing = torch.zeros(2, 5, dtype=torch.bool)
    assert distillation_loss(shifted, teacher, nothing, 1.0, "sigmoid").item() == 0.0


def test_training_with_a_teacher_pulls_the_student_towards_it(tiny_model, examples):
    from tests.conftest import _copy

    teacher = _copy(tiny_model)
    train(teacher, examples, config=quick(min_steps=30, learning_rate=1e-3, head_learning_rate=1e-2))
    student, plain = _copy(tiny_model), _copy(tiny_model)
    cfg = quick(min_steps=10, learning_rate=1e-3, head_learning_rate=1e-2, distill_weight=1.0)
    train(student, examples, config=cfg, teacher=teacher)
    train(plain, examples, config=quick(min_steps=10, learning_rate=1e-3, head_learning_rate=1e-2))

    def gap(model) -> float:  # how far the model's tag distributions are from the teacher's
        from stage2.ner.losses import distillation_loss

        label_set = teacher.resolve_labels(None)
        windows = [w for i, ex in enumerate(examples) for w in teacher.make_windows(i, ex.tokens)]
        batch = collate_windows(windows, 0)
        with torch.no_grad():
            return distillation_loss(
                model.logits_for(batch, label_set),
                teacher.logits_for(batch, label_set),
                batch["attention_mask"] > 0,
                1.0,
            ).item()

    assert gap(student) < gap(plain)


def test_a_gold_only_task_trains_as_if_there_were_no_teacher(tiny_model, examples):
    """``NERTask(distill=False)``: the teacher's answers are not learnt on that corpus (a student's target set
    that a zero-shot teacher never trained on), so the run equals one without a teacher."""
    from stage2.labels import LabelSet
    from tests.conftest import _copy

    teacher = _copy(tiny_model)
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    labels = LabelSet.from_keys(["person", "city"])
    cfg = quick(min_steps=5, learning_rate=1e-3, head_learning_rate=1e-2, distill_weight=1.0)
    gold_only, plain, distilled = _copy(tiny_model), _copy(tiny_model), _copy(tiny_model)
    train(gold_only, [NERTask(examples, labels, distill=False)], config=cfg, teacher=teacher)
    train(plain, [NERTask(examples, labels)], config=cfg)
    train(distilled, [NERTask(examples, labels)], config=cfg, teacher=teacher)
    same = all(torch.equal(a, b) for a, b in zip(gold_only.parameters(), plain.parameters(), strict=True))
    differs = any(not torch.equal(a, b) for a, b in zip(distilled.parameters(), plain.parameters(), strict=True))
    assert same and differs


def test_self_distillation_keeps_the_model_near_where_it_started(tiny_model, examples):
    """``self_distill``: a frozen copy of the starting model is the teacher, so the weights move less from
    the start than plain training does; a teacher beside it is refused."""
    from tests.conftest import _copy

    start = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    distilled, plain = _copy(tiny_model), _copy(tiny_model)
    lrs = {"learning_rate": 1e-3, "head_learning_rate": 1e-2}
    train(distilled, examples, config=quick(min_steps=10, self_distill=1.0, **lrs))
    train(plain, examples, config=quick(min_steps=10, **lrs))

    def moved(model) -> float:
        return sum(float((v.float() - start[k].float()).abs().sum()) for k, v in model.state_dict().items())

    assert moved(distilled) < moved(plain)
    with pytest.raises(ValueError, match="not both"):
        train(_copy(tiny_model), examples, config=quick(self_distill=0.5), teacher=_copy(tiny_model))
    with pytest.raises(ValueError, match="self_distill"):
        quick(self_distill=1.5)


def test_a_teacher_with_another_tokenizer_is_refused(tiny_model, examples):
    from transformers import BertTokenizerFast

    from tests.conftest import _copy

    teacher = _copy(tiny_model)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "dist", "##illation"]
    teacher.tokenizer = BertTokenizerFast(
        vocab_file=None, tokenizer_object=None, vocab={t: i for i, t in enumerate(vocab)}
    )
    with pytest.raises(ValueError, match="tokenizer"):
        train(tiny_model, examples, config=quick(), teacher=teacher)


def test_a_linear_teacher_must_know_every_label(tiny_model, tiny_linear_model, examples):
    labels = {"person": "a human being", "city": "a town or a city", "country": "a nation"}
    with pytest.raises(ValueError, match="country"):
        train(tiny_model, examples, labels=labels, config=quick(), teacher=tiny_linear_model)


@pytest.mark.parametrize("damaged", ["trainer_state.json", "model.safetensors", "optimizer.pt"])
def test_a_damaged_checkpoint_names_its_file_and_the_way_out(tiny_model, examples, tmp_path, copy_model, damaged):
    cfg = TrainingConfig(min_steps=2, epochs=1, batch_size=2, progress=False, output_dir=str(tmp_path / "run"))
    train(copy_model(tiny_model), examples, config=cfg)
    target = tmp_path / "run" / "checkpoint-last" / damaged
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])  # cut off mid-write
    with pytest.raises(ValueError, match=rf"{damaged}: the checkpoint cannot be resumed.*--no-resume"):
        train(copy_model(tiny_model), examples, config=TrainingConfig(**{**cfg.__dict__, "min_steps": 4}))
    fresh = TrainingConfig(**{**cfg.__dict__, "min_steps": 4, "resume": False})
    assert train(copy_model(tiny_model), examples, config=fresh).steps == 4


def test_a_full_disk_mid_checkpoint_leaves_no_tmp_and_says_how_to_resume(tiny_model, examples, tmp_path, monkeypatch):
    """Issue 23: a full disk mid-checkpoint gave a traceback and left checkpoint-last.tmp."""
    import errno

    import stage2.checkpoints as checkpoints

    out = tmp_path / "run"
    train(tiny_model, examples, config=quick(min_steps=4, max_steps=2, output_dir=str(out)))
    before = (out / CHECKPOINT_DIR / "trainer_state.json").read_text()
    real_save = torch.save

    def disk_full(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)  # a partial file is there when the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", disk_full)
    with pytest.raises(
        OSError,
        match=r"checkpoint-last: could not be written \(No space left on device\); the "
        r"previous checkpoint-last is kept.*run the same command again",
    ) as err:
        train(tiny_model, examples, config=quick(min_steps=4, max_steps=4, output_dir=str(out)))
    assert err.value.errno == errno.ENOSPC
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_DIR]  # no .tmp left
    assert (out / CHECKPOINT_DIR / "trainer_state.json").read_text() == before


@pytest.mark.parametrize(("seconds", "saves"), [(0.0, 1), (1e-9, 4)])
def test_checkpoints_are_also_written_by_time(tiny_model, examples, tmp_path, monkeypatch, seconds, saves):
    """Issue 24: the first periodic checkpoint came at step 100 whatever a step cost; now also every
    save_every_seconds (default 300 s)."""
    import stage2.loop as loop

    calls = []
    original = loop.save_checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", lambda *a, **k: (calls.append(1), original(*a, **k)))
    cfg = quick(min_steps=4, max_steps=4, save_every=0, save_every_seconds=seconds, output_dir=str(tmp_path / "r"))
    train(tiny_model, examples, config=cfg)
    assert len(calls) == saves  # by time after every step, or only at the end

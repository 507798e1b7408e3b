"""Which int8 graph is fastest on this CPU: the shipped recipe (dynamic int8, one sentence per call, one
call per core) beside static QDQ int8 (per-channel weights, activation scales calibrated once, so a
sentence's answer no longer depends on its batch and real batches become possible), ONNX Runtime's
transformer fusions (Attention, SkipLayerNorm, BiasGelu) before dynamic int8, and float32, each read one
sentence per call and in batches of 32.

    python evaluation/quantization_variants.py --model exports/ner-zero/torch --rounds 3

Builds the variants of ``--model`` under runs/quant-variants/ (the float32 export, then each graph from it;
all calibration on the first 300 CoNLL-2003 dev sentences), then times them with spaCy alternately in one
process (``serving_side_by_side.py``), adding rows ``<variant>`` for this machine kind to
evaluation/results/serving_side_by_side.json. Every variant is given CoNLL's types as run-time names, so the
F1 column is comparable between them (not with the shipped models' own-label rows).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import hide_isa
from common import ROOT
from serving_side_by_side import run

logger = logging.getLogger("quantization_variants")

CALIBRATION = 300
VARIANTS = (
    "fp32",
    "dynamic-int8",
    "dynamic-int8-emb4",
    "fused-dynamic-int8",
    "static-qdq-int8",
    "static-qdq-int8-batched",
)


def _copy_export(src: Path, out: Path, quantization: str) -> None:
    """``src``'s export folder at ``out`` (replaced), without its graph, its config saying ``quantization``."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("model.onnx"))
    meta = json.loads((out / "stage2_export.json").read_text(encoding="utf-8"))
    meta["quantization"] = quantization
    (out / "stage2_export.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _calibration_feeds(fp32: Path) -> list[dict[str, Any]]:
    """Inputs of the first CoNLL dev sentences, eight windows a call, as the runtime builds them."""
    import stage2.runtime as rt
    from stage2.benchmarks import load_ner
    from stage2.runtime._base import pad

    model = rt.load(fp32)
    dev = load_ner("conll2003", "dev")[:CALIBRATION]
    feeds = []
    for i in range(0, len(dev), 8):
        windows = [w for j, e in enumerate(dev[i : i + 8]) for w in model.make_windows(j, e.tokens)]
        ids, mask = pad([w.input_ids for w in windows], model.tokens.pad_id)
        shapes, _ = pad([w.shape_ids for w in windows], 0)
        feeds.append({"input_ids": ids, "attention_mask": mask, "shape_ids": shapes})
    return feeds


def static_qdq(fp32: Path, out: Path, quantization: str) -> None:
    """Static QDQ int8: per-channel symmetric weights, uint8 activations with min-max scales from calibration."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(_calibration_feeds(fp32))

        def get_next(self) -> dict[str, Any] | None:
            return next(self.feeds, None)

    _copy_export(fp32, out, quantization)
    pre = out / "preprocessed.onnx"
    quant_pre_process(str(fp32 / "model.onnx"), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(out / "model.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather"],
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )
    pre.unlink()


def dynamic(fp32: Path, out: Path, fuse: bool, embedding_bits: int = 8) -> None:
    """Dynamic int8 (weights int8, activations quantised per call), after ORT's BERT fusions when ``fuse``, with
    the word embeddings in ``embedding_bits``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _copy_export(fp32, out, "int8")
    source = fp32 / "model.onnx"
    if fuse:
        from onnxruntime.transformers.optimizer import optimize_model

        config = json.loads((fp32 / "stage2_export.json").read_text(encoding="utf-8"))["model_config"]["encoder_config"]
        fused = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=0,
        )
        logger.info("fused: %s", {k: v for k, v in fused.get_fused_operator_statistics().items() if v})
        source = out / "fused.onnx"
        fused.save_model_to_file(str(source))
    quantize_dynamic(
        str(source),
        str(out / "model.onnx"),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Attention", "Gather"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    if fuse:
        source.unlink()
    if embedding_bits == 4:
        from stage2.export.quantize import int4_word_embeddings

        int4_word_embeddings(out / "model.onnx", fp32 / "model.onnx")


def build(model: str, work: Path) -> dict[str, Path]:
    """The variants' export folders: name -> folder."""
    from stage2.export import export

    fp32 = work / "fp32"
    if not (fp32 / "stage2_export.json").exists():
        export(model, fp32, overwrite=fp32.exists())
    variants = {name: work / name for name in VARIANTS}
    dynamic(fp32, variants["dynamic-int8"], fuse=False)
    dynamic(fp32, variants["dynamic-int8-emb4"], fuse=False, embedding_bits=4)  # the 4-bit table's cost alone
    dynamic(fp32, variants["fused-dynamic-int8"], fuse=True)
    static_qdq(fp32, variants["static-qdq-int8"], "int8")  # the runtime reads it as int8: one sentence per call
    static_qdq(fp32, variants["static-qdq-int8-batched"], "none")  # read as batch-independent: real batches
    return variants


def _built(work: Path) -> dict[str, Path]:
    """The variants already built under ``work`` (``--no-build``)."""
    found = {name: work / name for name in VARIANTS if (work / name / "model.onnx").exists()}
    if not found:
        raise SystemExit(f"--no-build: no variants under {work}; run without it first")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="exports/ner-zero/torch", help="saved torch NER model")
    parser.add_argument("--work", default=str(ROOT / "runs" / "quant-variants"), help="where the variants go")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=300, help="one-sentence calls per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-build", action="store_true", help="time the variants already under --work")
    parser.add_argument(
        "--hide-avx512",
        action="store_true",
        help="run the AVX2 kernels an AVX2-only machine would (evaluation/hide_isa.py)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.hide_avx512:
        hide_isa.relaunch(sys.argv)
    variants = _built(Path(args.work)) if args.no_build else build(args.model, Path(args.work))
    for name, folder in variants.items():
        size = (folder / "model.onnx").stat().st_size / 1e6
        logger.info("%s: %.1f MB", name, size)
    args.export = [f"{name}={folder}@labels" for name, folder in variants.items()]
    res = run(args)
    for row in res.data["rows"]:
        if row["system"] in variants:
            row["notes"] += f"; built from {args.model} by evaluation/quantization_variants.py"
            row["scores"]["megabytes"] = round((variants[row["system"]] / "model.onnx").stat().st_size / 1e6, 1)
    res.save()


if __name__ == "__main__":
    main()

"""Which graph makes the summariser's 400-word path fastest (issue 25 item 3): the shipped int8 export beside
graphs rebuilt from the same weights. The summariser's encoder is the frozen all-MiniLM-L6-v2 (only its head
was trained, and ``head.npz`` ships), so its float32 graph can be exported again from the bundled encoder.

    python evaluation/summarizer_variants.py --rounds 3

Variants (built under runs/summarizer-variants/, each with the shipped head and config): ``shipped`` (the
export as it is: SmoothQuant, int8, one matrix kept in float32), ``shipped-blas-free`` (the same export with
numpy's BLAS threads left free while the head runs, as the runtime did before ``one_blas_thread``),
``rebuilt-fp32``, ``rebuilt-dynamic-int8``
(plain dynamic int8) and ``rebuilt-fused-dynamic-int8`` (ONNX Runtime's BERT fusions, then dynamic int8). They are
timed alternately over the BBC News test articles of 350-450 words, one per call, for ``--rounds`` rounds; each row
gives the median milliseconds per article and the ROUGE-1 over all BBC News test articles (40% of the words, as
the serving benchmark reads them). Rows in evaluation/results/summarizer_variants.json, per machine kind.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from common import DATA, ROOT, ResultsFile, git_commit, machine, put_machine_row
from quantization_variants import dynamic
from serving_benchmark import seconds_at_400_words

logger = logging.getLogger("summarizer_variants")


def build(shipped: Path, work: Path) -> dict[str, Path]:
    """The variants' export folders: name -> folder."""
    from stage2.export import export
    from stage2.summarization.modeling import Summarizer

    fp32 = work / "rebuilt-fp32"
    if not (fp32 / "stage2_export.json").exists():
        export(Summarizer.from_pretrained(None), fp32, overwrite=fp32.exists())
        for name in ("head.npz", "stage2_export.json"):  # the trained head and its config
            shutil.copy2(shipped / name, fp32 / name)
        meta = json.loads((fp32 / "stage2_export.json").read_text(encoding="utf-8"))
        meta["quantization"] = "none"
        (fp32 / "stage2_export.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    variants = {"shipped": shipped, "rebuilt-fp32": fp32}
    for name, fuse in (("rebuilt-dynamic-int8", False), ("rebuilt-fused-dynamic-int8", True)):
        variants[name] = work / name
        dynamic(fp32, variants[name], fuse=fuse)
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipped", default=str(ROOT / "exports" / "summarizer-default"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "summarizer-variants"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import stage2.runtime as rt
    from stage2.runtime.cpu import cpu_features, cpu_kind
    from stage2.summarization.data import read_summarization_jsonl
    from stage2.summarization.metrics import rouge_scores

    test = read_summarization_jsonl(DATA / "bbc_news" / "test.jsonl.gz")
    models: dict[str, Any] = {
        n: rt.load(f, threads=args.threads) for n, f in build(Path(args.shipped), Path(args.work)).items()
    }
    models["shipped-blas-free"] = rt.load(args.shipped, threads=args.threads)
    models["shipped-blas-free"].limit_blas = False  # the runtime before: numpy's BLAS threads left spinning
    times: dict[str, list[float]] = {n: [] for n in models}
    for r in range(args.rounds):
        for name, model in models.items():
            per_doc = seconds_at_400_words(model, test)
            times[name].append(statistics.median(per_doc))
            logger.info("round %d %s: %.1f ms per 400-word article", r + 1, name, 1000 * times[name][-1])
    res = ResultsFile("summarizer_variants", "serving", "bbc_news", "test")
    first: list[Any] = []
    for name, model in models.items():
        outs = [model.summarize(e.document, ratio=0.4) for e in test]
        if name == "shipped":
            first = outs
        hyps = ["\n".join(s["text"] for s in o["sentences"]) for o in outs]
        rouge = rouge_scores([e.summary for e in test], hyps)
        row = {
            "system": name,
            "setting": "summarization",
            "k": None,
            "cpu_kind": cpu_kind(),
            "cpu_features": list(cpu_features()),
            "scores": {
                "ms_400_words": round(1000 * statistics.median(times[name]), 1),
                "ms_400_words_rounds": [round(1000 * t, 1) for t in times[name]],
                "rouge1": rouge["rouge1"],
                "rouge2": rouge["rouge2"],
                "rougeLsum": rouge["rougeLsum"],
                "same_summaries_as_shipped": outs == first if name.startswith("shipped") else None,
                "threads": args.threads,
            },
            "notes": f"median per round over the BBC News test articles of 350-450 words, one per call, median "
            f"over {args.rounds} rounds alternating the variants; ROUGE-1 over all {len(test)} test articles, 40% "
            "of the words",
            "command": " ".join(["python", *sys.argv]),
            "git_commit": git_commit(),
            "machine": machine(),
        }
        put_machine_row(res, row)
        logger.info("%s: %.1f ms, R1 %.2f", name, row["scores"]["ms_400_words"], rouge["rouge1"])
    res.save()


if __name__ == "__main__":
    main()

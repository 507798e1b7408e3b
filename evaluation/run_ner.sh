#!/usr/bin/env bash
# Every NER benchmark cell, cheapest and most telling first; each call resumes (finished cells are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
B="python evaluation/ner_benchmark.py"
[ -f runs/ner-base/final/stage2_config.json ] || python models/ner-base/recipe.py --out runs/ner-base --steps 3000
$B --dataset conll2003 --systems stage2 spacy-sm --settings zero-shot
$B --dataset conll2003 --systems stage2 linear-head --settings 5-shot
$B --dataset wnut17 --systems stage2 --settings zero-shot
$B --dataset wnut17 --systems stage2 linear-head --settings 5-shot
$B --dataset conll2003 --systems stage2 --settings full --seeds 1
$B --dataset conll2003 --systems stage2 linear-head --settings 10-shot 20-shot
$B --dataset wnut17 --systems stage2 linear-head --settings 10-shot 20-shot
$B --dataset conll2003 --systems linear-head --settings full --seeds 1
$B --dataset wnut17 --systems stage2 linear-head --settings full --seeds 1
$B --dataset conll2003 --systems linear-head-case --settings 5-shot full
python evaluation/make_tables.py

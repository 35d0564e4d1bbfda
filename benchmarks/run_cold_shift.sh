#!/usr/bin/env bash
# Where validation and test part for profile-only users (benchmarks/cold_shift.py): both MovieLens sets, each on the
# protocol its cold-user figures use (ML-100K full ranking; ml-latest-small LlamaRec's split and protocol).
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/cold-shift
python benchmarks/cold_shift.py ml-100k "$DATA/ml-100k" --out "$R/ml-100k.json"
python benchmarks/cold_shift.py ml-latest-small "$DATA/ml-latest-small" --split-order llamarec --protocol llamarec \
  --out "$R/ml-latest-small.json"

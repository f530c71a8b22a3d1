#!/usr/bin/env bash
# The runs behind docs/RESULTS.md: corrected protocol, the chapter's
# other settings, 10 epochs, seeds 0 1 2, real MovieLens-100K.
#   D2L_NCF_DATA_DIR=/path/to/ml-100k bash docs/exercises/run_all.sh
set -euo pipefail
cd "$(dirname "$0")"
common=(--seeds 0 1 2 --devices cpu --no-progress --overwrite)
d2l-ncf exercise factors --values 4 8 16 32 64 --out factors "${common[@]}"
d2l-ncf exercise hiddens --values "10" "10 10" "10 10 10" "32 16 8" \
  "64 32 16 8" --out hiddens "${common[@]}"
d2l-ncf exercise optim --values adam:0.01:1e-5 adam:0.001:1e-5 \
  adam:0.01:0 adam:0.01:1e-4 sgd:0.1:1e-5 adagrad:0.05:1e-5 \
  --out optim "${common[@]}"
d2l-ncf exercise loss --values bpr hinge log --out loss "${common[@]}"

#!/usr/bin/env bash
# Run the benchmark's share of the end-to-end networks on a machine with a GPU, from exported pixel crops
# instead of the images, one process per detector and protocol in parallel, and leave one part file for each.
#
# On the machine with the data:
#   fakescope features export ../shared/data/manifest.csv --out DIR/crops-matched.npz   # matched-view crops
#   cp ../shared/data/manifest.csv DIR/; mkdir -p DIR/home/weights; cp <weights the detectors need> DIR/home/weights/
# On the GPU machine (fakescope importable, e.g. PYTHONPATH=src):
#   benchmarks/networks_on_gpu.sh DIR OUTDIR meso4,defake,...
# Back on the first machine:
#   fakescope benchmark --merge OUTDIR/part-*.json
set -euo pipefail
dir=$1 out=$2 detectors=$3
logs=${LOGDIR:-$out}
mkdir -p "$out" "$logs"
export FAKESCOPE_HOME=$dir/home FAKESCOPE_FEATURE_CACHE=${TMPDIR:-/tmp}/fakescope-features.sqlite
export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
"${PYTHON:-python3}" -m fakescope.cli.main features import "$dir/crops-matched.npz"
pids=()
for d in ${detectors//,/ }; do
  for proto in loso-matched logo-matched; do  # one process per detector and protocol
    timeout "${LIMIT_S:-3600}" "${PYTHON:-python3}" -m fakescope.cli.main benchmark --manifest "$dir/manifest.csv" \
      --detectors "$d" --protocols "$proto" --part "$out/part-$d-$proto.json" ${QUICK:+--quick} \
      >"$logs/log-$d-$proto.txt" 2>&1 &
    pids+=($!)
  done
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status

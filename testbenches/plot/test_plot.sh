#!/usr/bin/env bash
# scripts/plot on a hand-made results.csv and on stats.json of real runs: each subcommand writes a
# non-empty PNG; a missing column or histogram is one line and exit status 2. Skipped (77) without
# matplotlib.   test_plot.sh IOMMUSIM SOURCE_DIR WORK_DIR
set -u
exe="$1"; src="$2"; work="$3"
plot="$src/scripts/plot"
export MPLBACKEND=Agg
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo "SKIP: python3-matplotlib is not installed (apt-get install python3-matplotlib)"; exit 77
fi
rm -rf "$work"; mkdir -p "$work"
fail=0
png_ok() {  # a PNG signature and more than a header
  if [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] && [ "$(wc -c <"$1")" -gt 2000 ]; then
    echo "ok: $1"
  else
    echo "FAIL: $1 is not a PNG"; fail=1
  fi
}
expect_error() {  # PATTERN COMMAND...: status 2, one line on stderr matching
  local pat="$1"; shift
  "$@" 2>"$work/err" >/dev/null; local rc=$?
  if [ $rc -ne 2 ] || [ "$(wc -l <"$work/err")" -ne 1 ] || ! grep -q -- "$pat" "$work/err"; then
    echo "FAIL: expected status 2 and '$pat', got $rc:"; cat "$work/err"; fail=1
  else
    echo "ok: error $(cat "$work/err")"
  fi
}
csv="$src/testbenches/plot/results.csv"
"$plot" line "$csv" --x workloads.w0.window --y dma.latency_p50_ns --series platform.iommus.smmu0.iotlb.entries --logx -o "$work/line.png" && png_ok "$work/line.png" || fail=1
expect_error "no column 'dma.nope'" "$plot" line "$csv" --x workloads.w0.window --y dma.nope -o "$work/x.png"
expect_error "cannot read" "$plot" line "$work/missing.csv" --x a --y b -o "$work/x.png"

"$exe" run "$src/configs/invalidation-cost-smmuv3.yaml" -q --out "$work/smmuv3" || { echo "FAIL: run"; exit 1; }
"$exe" run "$src/configs/invalidation-cost-vtd.yaml" -q --out "$work/vtd" || { echo "FAIL: run"; exit 1; }
"$plot" cdf "$work/smmuv3/stats.json" "$work/vtd/stats.json" --hist nic0/latency -o "$work/cdf.png" && png_ok "$work/cdf.png" || fail=1
expect_error "no histogram 'latenzy'" "$plot" cdf "$work/smmuv3/stats.json" --hist nic0/latenzy -o "$work/x.png"
expect_error "no component 'nic9'" "$plot" cdf "$work/smmuv3/stats.json" --hist nic9/latency -o "$work/x.png"
"$plot" inv-cost "$work/smmuv3/stats.json" "$work/vtd/stats.json" -o "$work/inv.png" && png_ok "$work/inv.png" || fail=1
expect_error "cannot read" "$plot" inv-cost "$work/none/stats.json" -o "$work/x.png"
exit $fail

#!/usr/bin/env bash
# Builds the benchmarks (Release, ./build-bench) and runs them: one command for
# every figure of docs/benchmarks.md. Never part of ctest.
#
# Usage: scripts/bench.sh [options]
#   --only LIST        pick figures: fsync,bulk,enqueue8,fetch,fetchlat,pool,command,failover,micro,
#                      http,httplat,httpfail,httprss,flowheld,handoff,rate,httpheld,httpbatch,httpdash,httpviews (default: all but micro)
#   --runs N           runs per figure; the table shows the median (default 5)
#   --durability LIST  process,power (default both)
#   --tables LIST      empty,million (default both)
#   --quick            fewer runs and smaller workloads (a smoke test, not figures to quote)
#   --no-build         use the existing build
#   --build-dir DIR    default ./build-bench
# Environment: BENCH_DIR caches the million-row and flow-control fixtures (default <build-dir>/bench-data);
# JOBWARDEN_BENCH_TMP is where each run's database goes (default $TMPDIR or /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY="fsync,bulk,enqueue8,fetch,fetchlat,pool,command,failover,http,httplat,httpfail,httprss,flowheld,handoff,rate,httpheld,httpbatch,httpdash,httpviews"
RUNS=5
DURABILITY="process,power"
TABLES="empty,million"
QUICK=0
BUILD=1
BUILD_DIR=build-bench
while (($#)); do
  case "$1" in
    --only) ONLY=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --durability) DURABILITY=$2; shift 2 ;;
    --tables) TABLES=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

has() { [[ ",$ONLY," == *",$1,"* ]]; }
join_selected() {  # the members of $@ that are selected, comma-joined
  local out=() x
  for x in "$@"; do has "$x" && out+=("$x"); done
  local IFS=,; echo "${out[*]}"
}

if ((BUILD)); then
  echo "bench.sh: building Release in $BUILD_DIR ..." >&2
  if ! BUILD_TYPE=Release ./scripts/build.sh "$BUILD_DIR" -DJOBWARDEN_BUILD_TESTS=OFF -DJOBWARDEN_BUILD_BENCH=ON \
      -DJOBWARDEN_BUILD_EXAMPLES=OFF >&2; then
    # A tree under construction may not build as a whole; the benchmarks need only these.
    echo "bench.sh: the full build failed (above); building only the benchmark targets" >&2
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target jobwarden_bench_engine jobwarden_bench_worker \
      jobwarden_bench_flow jobwarden_bench_http jobwarden_microbench >&2
    # The fail-over and HTTP figures need the jobwarden binary; without it they are reported as not measured.
    if ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target jobwarden >&2; then
      echo "bench.sh: WARNING: the jobwarden binary does not build; fail-over and HTTP figures use" \
        "$BUILD_DIR/src/cli/jobwarden as it is, if any" >&2
    fi
  fi
fi
BIN="$BUILD_DIR/bench"
export BENCH_DIR=${BENCH_DIR:-$BUILD_DIR/bench-data}
# The million-row and flow-control fixtures are rebuilt whenever the schema changes.
FIXTURE_TAG=$(cat src/store/sqlite/migrations/*.sql | sha1sum | cut -c1-12)
export JOBWARDEN_BENCH_FIXTURE_TAG=$FIXTURE_TAG

ENGINE_ARGS=(--runs "$RUNS" --durability "$DURABILITY" --tables "$TABLES" --fixture-tag "$FIXTURE_TAG"
             --bench-dir "$BENCH_DIR")
WORKER_ARGS=(--runs "$RUNS" --jobwarden "$BUILD_DIR/src/cli/jobwarden")
FLOW_ARGS=(--runs "$RUNS" --fixture-tag "$FIXTURE_TAG" --bench-dir "$BENCH_DIR")
HTTP_ARGS=(--runs "$RUNS" --jobwarden "$BUILD_DIR/src/cli/jobwarden" --fixture-tag "$FIXTURE_TAG" --bench-dir "$BENCH_DIR")
if ((QUICK)); then
  ENGINE_ARGS+=(--runs 1 --seconds 1 --bulk-jobs 50000 --fetch-jobs 16000 --fetches 200)
  WORKER_ARGS+=(--runs 1 --stop-runs 1 --pool-jobs 10000 --cmd-jobs 300 --spawns 50)
  FLOW_ARGS+=(--runs 1 --flowheld-jobs 10000 --handoff-jobs 50 --handoff-work-jobs 10 --rate-seconds 5)
  HTTP_ARGS+=(--runs 1 --jobs 10000 --serial 2000 --latency-samples 100 --rss-jobs 100000 --flowheld-jobs 10000)
fi

mkdir -p "$BUILD_DIR/bench-results"
RAW="$BUILD_DIR/bench-results/$(date -u +%Y%m%dT%H%M%SZ).tsv"
{
  echo "# jobwarden benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
  echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "# filesystem of ${JOBWARDEN_BENCH_TMP:-${TMPDIR:-/tmp}}: $(df -T "${JOBWARDEN_BENCH_TMP:-${TMPDIR:-/tmp}}" | awk 'NR==2 {print $2}')"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RAW"

run() {  # runs a driver, keeping RESULT/SKIP lines, progress on stderr
  "$@" | tee -a "$RAW"
}

sel=$(join_selected fsync bulk enqueue8 fetch fetchlat)
if [[ -n $sel ]]; then run "$BIN/jobwarden_bench_engine" --scenarios "$sel" "${ENGINE_ARGS[@]}"; fi
sel=$(join_selected pool command failover)
if [[ -n $sel ]]; then run "$BIN/jobwarden_bench_worker" --scenarios "$sel" "${WORKER_ARGS[@]}"; fi
sel=$(join_selected flowheld handoff rate)
if [[ -n $sel ]]; then run "$BIN/jobwarden_bench_flow" --scenarios "$sel" "${FLOW_ARGS[@]}"; fi
# http: bulk enqueue + remote worker (process), serial enqueue, the same in power durability.
http_sel=()
if has http; then http_sel+=(throughput serial power); fi
if has httplat; then http_sel+=(latency); fi
if has httpfail; then http_sel+=(failover); fi
if has httprss; then http_sel+=(rss); fi
if has httpheld; then http_sel+=(flowheld); fi
if has httpbatch; then http_sel+=(batch); fi
if has httpdash; then http_sel+=(dashboards); fi
if has httpviews; then http_sel+=(viewcalls); fi
if ((${#http_sel[@]})); then
  run "$BIN/jobwarden_bench_http" --scenarios "$(IFS=,; echo "${http_sel[*]}")" "${HTTP_ARGS[@]}"
fi
if has micro; then
  "$BIN/jobwarden_microbench" --benchmark_min_time=1 2>&1 | tee -a "$RAW"
fi
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RAW"

echo
awk -F'\t' '
  BEGIN { printf "%-42s %12s %12s %12s %-7s %4s %-9s %s\n", "figure", "median", "min", "max", "unit", "runs", "goal", "verdict"
          printf "%-42s %12s %12s %12s %-7s %4s %-9s %s\n", "------", "------", "---", "---", "----", "----", "----", "-------" }
  function fmt(x) { return (x + 0 >= 1000) ? sprintf("%.0f", x) : sprintf("%.4g", x) }
  $1 == "RESULT" { printf "%-42s %12s %12s %12s %-7s %4s %-9s %s\n", $2, fmt($3), fmt($4), fmt($5), $6, $7, $8, $9 }
  $1 == "SKIP"   { printf "%-42s %12s  not measured: %s\n", $2, "-", $3 }
  /^# load/      { load = load "  " $0 }
  END { print ""; print "load average (1/5/15 min):" load }
' "$RAW"
echo "raw results: $RAW"

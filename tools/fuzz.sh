#!/usr/bin/env bash
# Builds the libFuzzer targets (tools/fuzz_*.cpp) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-fuzz, and runs each for N seconds (default 60).
#   tools/fuzz.sh [seconds] [target ...]      e.g. tools/fuzz.sh 60, tools/fuzz.sh 300 fuzz_npy
# Seeds come from tests/fuzz/corpus/<name> (copied, so the repository is not written to) and
# tests/fuzz/<name>.dict. A finding stops the run with exit status 1 and leaves the input in
# build-fuzz/artifacts/<name>/; fix it, then copy the input into tests/fuzz/regressions/<name>/,
# where the core tests replay every file (each must load or throw mech::IoError; mech_solve's
# findings are replayed by tests/tools/test_tool_robustness.cpp: each must solve or throw mech::Error).
set -euo pipefail

seconds="${1:-60}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MECH_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${MECH_FUZZ_JOBS:-2}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found (libFuzzer needs clang; Debian: apt-get install clang)" >&2
  exit 2
fi

sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMECH_CUDA=OFF -DMECH_BUILD_TESTS=OFF -DMECH_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in "$root"/tools/fuzz_*.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi
cmake --build "$build" --target "${targets[@]}" -j "$jobs"

status=0
for target in "${targets[@]}"; do
  name="${target#fuzz_}"
  corpus="$build/corpus/$name"
  artifacts="$build/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then cp -n "$root/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true; fi
  options=(-max_total_time="$seconds" -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=10
           -artifact_prefix="$artifacts/" -print_final_stats=1)
  if [ -f "$root/tests/fuzz/$name.dict" ]; then options+=(-dict="$root/tests/fuzz/$name.dict"); fi
  regressions=()
  if [ -d "$root/tests/fuzz/regressions/$name" ]; then regressions=("$root/tests/fuzz/regressions/$name"); fi
  echo "== $target: ${seconds}s =="
  if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$build/bin/$target" "${options[@]}" "$corpus" "${regressions[@]}" 2>"$build/$target.log"; then
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$build/$target.log" || true
    echo "$target: no findings"
  else
    status=1
    tail -n 40 "$build/$target.log"
    echo "$target: FINDING, input saved under $artifacts/ (full log: $build/$target.log)" >&2
  fi
done
exit "$status"

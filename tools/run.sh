#!/usr/bin/env bash
# mech's commands, runnable on a fresh Debian machine (as root it installs what is missing):
#   tools/run.sh demo       build (Release, build/) and run the demo driver
#   tools/run.sh test       build and run the whole ctest suite
#   tools/run.sh sanitize   build with AddressSanitizer + UBSan (build-asan/) and run the CPU tests
#   tools/run.sh embed      install mech into build-install/ and build + run tools/embed_example against it
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)

install_dependencies() {
  # OpenMPI: the MPI process group and its tests under mpiexec (tests/distributed).
  local packages=(cmake g++ ninja-build libfmt-dev libgtest-dev libbenchmark-dev pkg-config libopenmpi-dev openmpi-bin)
  local missing=()
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then return; fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "mech: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "mech: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build DIR [cmake options...]
configure_and_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

command=${1:-}
shift || true
case "$command" in
  demo)
    install_dependencies
    configure_and_build build
    # Lorenz equation discovery with its defaults (its run time: tools/README.md); extra arguments
    # go to mech-lorenz (e.g. --noise 0.05). The pictures land in --out-dir (default out/lorenz).
    build/bin/mech-lorenz "$@"
    out_dir=out/lorenz
    previous=""
    for argument in "$@"; do
      case "$argument" in
        --out-dir=*) out_dir=${argument#--out-dir=} ;;
      esac
      if [[ $previous == --out-dir ]]; then out_dir=$argument; fi
      previous=$argument
    done
    [[ $out_dir == /* ]] || out_dir=$PWD/$out_dir
    echo "mech: pictures: $out_dir/trajectory.svg (open in a browser); coefficients: $out_dir/coefficients.csv"
    ;;
  test)
    install_dependencies
    configure_and_build build
    ctest --test-dir build --output-on-failure -j"$jobs" "$@"
    ;;
  sanitize)
    install_dependencies
    # CUDA off: the sanitizers check the CPU code paths; tools are built because tool tests run them.
    # -O2 -g1 (line tables only): with full debug info the instrumented solver batch driver alone
    # took 260 s to compile (132 s with -g1), most of the CI's time. -O1 compiles faster still
    # but changes the float rounding enough to trip three float32 / finite-difference tolerances
    # that hold in the Release build; the sanitizers should check the code as it is built there.
    configure_and_build build-asan -DMECH_CUDA=OFF -DMECH_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'cuda|mpi' "$@"
    # The tests under mpiexec: OpenMPI itself leaks ~120 KB at exit (its own allocations, not
    # mech's), so leak detection is off for these alone; every other check stays on.
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -L mpi "$@"
    ;;
  embed)
    install_dependencies
    configure_and_build build-embed-lib -DMECH_BUILD_TESTS=OFF -DMECH_BUILD_TOOLS=OFF
    rm -rf build-install
    cmake --install build-embed-lib --prefix "$PWD/build-install" >/dev/null
    cmake -S tools/embed_example -B build-embed -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build-install" >/dev/null
    cmake --build build-embed -j"$jobs"
    build-embed/embed_example
    ;;
  *)
    echo "usage: tools/run.sh demo|test|sanitize|embed [extra arguments]" >&2
    exit 2
    ;;
esac

# Sourced by the GPU-machine scripts (tests/gpu/run.sh, tools/bench_gpu.sh). That machine has the
# runtime libraries of PCRE2, OpenBLAS and zlib but not their headers or link-time names: the headers
# travel in .carry/include (copied from this machine's Debian packages) and the .so names are made
# here as links to the runtime libraries. Also points the tests at .carry/testdata.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sys=/tmp/strata-sys
mkdir -p "$sys/lib/pkgconfig"
for lib in libpcre2-8 libopenblas libz; do
  so=$(ldconfig -p | awk -v l="$lib.so." '$1 ~ "^"l {print $NF; exit}')
  [[ -n "$so" ]] && ln -sf "$so" "$sys/lib/$lib.so"
done
cat >"$sys/lib/pkgconfig/libpcre2-8.pc" <<PC
Name: libpcre2-8
Description: PCRE2 (headers carried)
Version: 10.42
Libs: -L$sys/lib -lpcre2-8
Cflags: -I$root/.carry/include
PC
export PKG_CONFIG_PATH="$sys/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export STRATA_CMAKE_DEVICE_ARGS="-DCBLAS_INCLUDE_DIR=$root/.carry/include -DCMAKE_LIBRARY_PATH=$sys/lib \
-DPCRE2_INCLUDE_DIR=$root/.carry/include -DPCRE2_LIBRARY=$sys/lib/libpcre2-8.so -DZLIB_INCLUDE_DIR=$root/.carry/include -DZLIB_LIBRARY=$sys/lib/libz.so -DBLAS_LIBRARIES=$sys/lib/libopenblas.so"
export STRATA_TESTDATA_DIR="$root/.carry/testdata" STRATA_TESTDATA="$root/.carry/testdata"
# Builds the cuda preset with every core (ccache is absent there; the build is ~2-3 min).
device_build() {
  cmake --preset cuda $STRATA_CMAKE_DEVICE_ARGS >"$1/configure.log" 2>&1 || { tail -30 "$1/configure.log"; return 1; }
  cmake --build build/cuda -j"$(nproc)" >"$1/build.log" 2>&1 || { grep -E "error|Error" -A3 "$1/build.log" | head -60; return 1; }
}

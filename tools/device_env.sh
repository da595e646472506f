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
# NCCL: the runtime (libnccl.so.2) is there, the header and the libnccl.so link-time name maybe not.
# Without a toolkit nccl.h, the build takes the one carried in .carry/include (NCCL 2.28.9, from the
# CUDA 13.0 toolkit of the development machine; an older 2.x runtime serves the calls strata makes).
nccl_inc="" nccl_so=""
for d in /usr/local/cuda/include /usr/local/cuda/targets/x86_64-linux/include /usr/include; do
  [[ -f "$d/nccl.h" ]] && { nccl_inc=$d; break; }
done
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
  [[ -e "$d/libnccl.so" ]] && { nccl_so=$d/libnccl.so; break; }
done
if [[ -z "$nccl_inc" ]]; then
  STRATA_CMAKE_DEVICE_ARGS+=" -DNCCL_INCLUDE_DIR=$root/.carry/include"
fi
if [[ -z "$nccl_so" ]]; then
  so=$(ldconfig -p | awk '$1 ~ /^libnccl\.so\.2/ {print $NF; exit}')
  [[ -z "$so" ]] && so=$(ls /usr/local/cuda*/lib64/libnccl.so.2* /usr/lib/x86_64-linux-gnu/libnccl.so.2* 2>/dev/null | head -1 || true)
  if [[ -n "$so" ]]; then
    ln -sf "$so" "$sys/lib/libnccl.so"
    STRATA_CMAKE_DEVICE_ARGS+=" -DNCCL_LIBRARY=$sys/lib/libnccl.so"
  fi
fi
export STRATA_TESTDATA_DIR="$root/.carry/testdata" STRATA_TESTDATA="$root/.carry/testdata"
# Builds the cuda preset with every core (ccache is absent there; the build is ~2-3 min).
device_build() {
  cmake --preset cuda $STRATA_CMAKE_DEVICE_ARGS >"$1/configure.log" 2>&1 || { tail -30 "$1/configure.log"; return 1; }
  cmake --build build/cuda -j"$(nproc)" >"$1/build.log" 2>&1 || { grep -E "error|Error" -A3 "$1/build.log" | head -60; return 1; }
}
# A Llama-3.1-8B model directory for --load-format dummy in $1: the real config.json and the Llama 3.1
# tokenizer (no generation_config.json: requests sample at the API defaults; with SERVE_SAMPLING=llama31
# the server gets Llama 3.1's, temperature 0.6 and top_p 0.9).
llama8b_dir() {
  local td=$STRATA_TESTDATA_DIR
  cp "$td/llama3-hf-configs/Llama-3.1-8B.config.json" "$1/config.json"
  [[ ${SERVE_SAMPLING:-} == llama31 ]] && echo '{"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "temperature": 0.6, "top_p": 0.9}' >"$1/generation_config.json"
  gunzip -c "$td/hf-tokenizers/llama-3.1-instruct/tokenizer.json.gz" >"$1/tokenizer.json"
  cp "$td/hf-tokenizers/llama-3.1-instruct/tokenizer_config.json" "$1/"
}

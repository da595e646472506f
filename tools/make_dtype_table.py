#!/usr/bin/env python3
"""Writes tests/fixtures/dtype_table.safetensors: reference conversions between float32 and
bfloat16 / float16 / float8_e4m3fn computed by numpy + ml_dtypes (the library JAX and others use).

    pip install numpy ml_dtypes && python3 tools/make_dtype_table.py

Tensors: <t>_to_f32 (every bit pattern of <t> widened to float32), f32_inputs (float32 values: random
bit patterns, rounding midpoints and their neighbours, specials) and f32_to_<t> (their bit patterns
after rounding to <t>)."""
import json
import struct

import ml_dtypes
import numpy as np

TYPES = {"bf16": (ml_dtypes.bfloat16, np.uint16), "f16": (np.float16, np.uint16),
         "fp8e4m3": (ml_dtypes.float8_e4m3fn, np.uint8)}


def f32_inputs(rng):
    vals = [rng.integers(0, 2**32, 30000, dtype=np.uint64).astype(np.uint32).view(np.float32)]
    for small, bits in TYPES.values():
        every = np.arange(2 ** (8 * np.dtype(bits).itemsize), dtype=np.uint32).astype(bits).view(small)
        w = every.astype(np.float32)
        w = w[np.isfinite(w)]
        w = np.unique(w)
        mid = (w[:-1].astype(np.float64) + w[1:].astype(np.float64)) / 2
        mid32 = mid.astype(np.float32)
        if len(mid32) > 8000:  # every fp8 midpoint; a sample of the 16-bit types' midpoints
            mid32 = rng.choice(mid32, 8000, replace=False)
            w = rng.choice(w, 4000, replace=False)
        vals += [w, mid32, np.nextafter(mid32, np.float32(np.inf)), np.nextafter(mid32, np.float32(-np.inf))]
    vals.append(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, 1e9, 449, 464, 465, 480],
                         dtype=np.float32))
    return np.concatenate(vals).astype(np.float32)


def main():
    rng = np.random.default_rng(0)
    tensors = {}
    for name, (small, bits) in TYPES.items():
        every = np.arange(2 ** (8 * np.dtype(bits).itemsize), dtype=np.uint32).astype(bits).view(small)
        tensors[f"{name}_to_f32"] = every.astype(np.float32)
    x = f32_inputs(rng)
    tensors["f32_inputs"] = x
    with np.errstate(all="ignore"):
        for name, (small, bits) in TYPES.items():
            tensors[f"f32_to_{name}"] = x.astype(small).view(bits)
    dt = {np.dtype(np.float32): "F32", np.dtype(np.uint16): "U16", np.dtype(np.uint8): "U8"}
    header, blobs, off = {}, [], 0
    for k, v in tensors.items():
        b = np.ascontiguousarray(v).tobytes()
        header[k] = {"dtype": dt[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"generator": f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open("tests/fixtures/dtype_table.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print(f"{len(x)} f32 inputs")


if __name__ == "__main__":
    main()

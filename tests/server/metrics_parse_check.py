#!/usr/bin/env python3
"""Cross-checks strata's /metrics text with the official Python prometheus_client.

Usage: metrics_parse_check.py BODY_FILE [--max-model-len N] [--expect NAME=VALUE ...] [--format-only]

1. Parses BODY_FILE with prometheus_client.parser.text_string_to_metric_families.
2. Checks every family of spec/metrics.md is there with its type, every sample carries model_name
   and engine="0", histograms have vLLM's bucket lists, cumulative non-decreasing buckets, a final
   le="+Inf" bucket equal to _count, and a _sum.
3. Feeds the parsed families to prometheus_client.generate_latest and requires the result to equal
   the input byte for byte (label order, float formatting, escaping, _total suffixes), and each
   `le` label must be written as the client writes that bound ("1.0", "0.005", "1e+06", "+Inf").
4. For each --expect NAME=VALUE, the sum of the samples named NAME must equal VALUE.

--format-only runs step 3 alone (for bodies that are not the vLLM metric set).
Exit 0: all good; 1: a check failed; 77: prometheus_client is not installed (the test skips).
"""

import argparse
import math
import sys

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.utils import floatToGoString
except ImportError:
    print("prometheus_client is not installed (pip install prometheus_client)")
    sys.exit(77)

TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
TOKEN_LATENCY = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                 10.0, 20.0, 40.0, 80.0]
REQUEST_LATENCY = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                   120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]
ITERATION_TOKENS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]


def build_1_2_5_buckets(max_value):
    buckets, exponent = [], 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return buckets
            buckets.append(value)
        exponent += 1


def expected_families(max_model_len):
    """Family name as the parser reports it (counters without _total) -> (type, buckets or None)."""
    tokens = build_1_2_5_buckets(max_model_len)
    families = {
        "vllm:num_requests_running": ("gauge", None),
        "vllm:num_requests_waiting": ("gauge", None),
        "vllm:kv_cache_usage_perc": ("gauge", None),
        "vllm:gpu_cache_usage_perc": ("gauge", None),
        "vllm:prompt_tokens": ("counter", None),
        "vllm:generation_tokens": ("counter", None),
        "vllm:request_success": ("counter", None),
        "vllm:num_preemptions": ("counter", None),
        "vllm:prefix_cache_queries": ("counter", None),
        "vllm:prefix_cache_hits": ("counter", None),
        "vllm:time_to_first_token_seconds": ("histogram", TTFT),
        "vllm:inter_token_latency_seconds": ("histogram", TOKEN_LATENCY),
        "vllm:time_per_output_token_seconds": ("histogram", TOKEN_LATENCY),
        "vllm:e2e_request_latency_seconds": ("histogram", REQUEST_LATENCY),
        "vllm:request_queue_time_seconds": ("histogram", REQUEST_LATENCY),
        "vllm:request_prefill_time_seconds": ("histogram", REQUEST_LATENCY),
        "vllm:request_decode_time_seconds": ("histogram", REQUEST_LATENCY),
        "vllm:request_inference_time_seconds": ("histogram", REQUEST_LATENCY),
        "vllm:request_prompt_tokens": ("histogram", tokens),
        "vllm:request_generation_tokens": ("histogram", tokens),
        "vllm:request_params_max_tokens": ("histogram", tokens),
        "vllm:iteration_tokens_total": ("histogram", ITERATION_TOKENS),
        "vllm:cache_config_info": ("gauge", None),
        "strata:http_connections_open": ("gauge", None),
        "strata:model_load_seconds": ("gauge", None),
    }
    return families


class Replay:
    """A collector that hands back already-parsed families."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def check_spec(families, by_name, max_model_len, errors):
    for name, (mtype, buckets) in expected_families(max_model_len).items():
        family = by_name.get(name)
        if family is None:
            errors.append(f"missing family {name}")
            continue
        if family.type != mtype:
            errors.append(f"{name}: type {family.type}, expected {mtype}")
        if not family.documentation:
            errors.append(f"{name}: no HELP text")
        if buckets is not None:
            check_histogram(family, [float(b) for b in buckets], errors)
    success = by_name.get("vllm:request_success")
    reasons = {s.labels.get("finished_reason") for s in success.samples} if success else set()
    if not {"stop", "length", "abort"} <= reasons:
        errors.append("vllm:request_success lacks a finished_reason of stop/length/abort")
    for family in families:
        for sample in family.samples:
            if "model_name" not in sample.labels or sample.labels.get("engine") != "0":
                errors.append(f"{sample.name}{sample.labels}: no model_name or engine=\"0\"")


def check(text, max_model_len, expects, format_only):
    errors = []
    families = list(text_string_to_metric_families(text))
    by_name = {f.name: f for f in families}
    if len(by_name) != len(families):
        errors.append("a family name appears twice")
    if not format_only:
        check_spec(families, by_name, max_model_len, errors)
    # Label values survive the round trip verbatim, so `le` is compared with the client's own format.
    for family in families:
        for sample in family.samples:
            le = sample.labels.get("le")
            if le is not None and le != floatToGoString(float(le)):
                errors.append(f"{sample.name}: le=\"{le}\", the client writes le=\"{floatToGoString(float(le))}\"")

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Replay(families))
    regenerated = generate_latest(registry).decode("utf-8")
    if regenerated != text:
        ours, theirs = text.splitlines(), regenerated.splitlines()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if a != b:
                errors.append(f"round trip differs at line {i + 1}:\n  ours:   {a}\n  client: {b}")
                break
        else:
            errors.append(f"round trip differs in length: {len(ours)} vs {len(theirs)} lines")

    for expect in expects:
        name, _, value = expect.partition("=")
        total = sum(s.value for f in families for s in f.samples if s.name == name)
        if not math.isclose(total, float(value), rel_tol=1e-12, abs_tol=1e-12):
            errors.append(f"{name}: {total}, expected {value}")
    return errors, len(families), sum(len(f.samples) for f in families)


def check_histogram(family, bounds, errors):
    series = {}
    for sample in family.samples:
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        entry = series[key]
        if sample.name == family.name + "_bucket":
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name == family.name + "_count":
            entry["count"] = sample.value
        elif sample.name == family.name + "_sum":
            entry["sum"] = sample.value
    if not series:
        errors.append(f"{family.name}: no samples")
    for key, entry in series.items():
        les = [le for le, _ in entry["buckets"]]
        if les != bounds + [math.inf]:
            errors.append(f"{family.name}{dict(key)}: buckets {les}, expected {bounds} and +Inf")
        counts = [c for _, c in entry["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            errors.append(f"{family.name}: bucket counts decrease: {counts}")
        if entry["count"] is None or entry["sum"] is None:
            errors.append(f"{family.name}: _count or _sum missing")
        elif counts and counts[-1] != entry["count"]:
            errors.append(f"{family.name}: +Inf bucket {counts[-1]} != _count {entry['count']}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("body")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("--format-only", action="store_true")
    args = parser.parse_args()
    with open(args.body, encoding="utf-8") as f:
        text = f.read()
    errors, num_families, num_samples = check(text, args.max_model_len, args.expect, args.format_only)
    if errors:
        print("\n".join(errors))
        return 1
    print(f"OK: {num_families} families, {num_samples} samples parsed and regenerated identically")
    return 0


if __name__ == "__main__":
    sys.exit(main())

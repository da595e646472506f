"""GET /metrics: vLLM's metric names, labels and buckets (spec/metrics.md), and values that move as
requests run. Parsed with prometheus_client's own parser."""

import os
import time

from prometheus_client.parser import text_string_to_metric_families

from conftest import MAX_MODEL_LEN, golden

CASE0 = golden("llama3")["cases"][0]
NO_LABELS = frozenset()

GAUGES = ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
          "vllm:gpu_cache_usage_perc", "vllm:cache_config_info"]
COUNTERS = ["vllm:prompt_tokens", "vllm:generation_tokens", "vllm:request_success", "vllm:num_preemptions",
            "vllm:prefix_cache_queries", "vllm:prefix_cache_hits"]
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0]
TOKEN_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                         20.0, 40.0, 80.0]
REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                           240.0, 480.0, 960.0, 1920.0, 7680.0]
HISTOGRAMS = {
    "vllm:time_to_first_token_seconds": TTFT_BUCKETS,
    "vllm:inter_token_latency_seconds": TOKEN_LATENCY_BUCKETS,
    "vllm:time_per_output_token_seconds": TOKEN_LATENCY_BUCKETS,
    "vllm:e2e_request_latency_seconds": REQUEST_LATENCY_BUCKETS,
    "vllm:request_queue_time_seconds": REQUEST_LATENCY_BUCKETS,
    "vllm:request_prefill_time_seconds": REQUEST_LATENCY_BUCKETS,
    "vllm:request_decode_time_seconds": REQUEST_LATENCY_BUCKETS,
    "vllm:request_inference_time_seconds": REQUEST_LATENCY_BUCKETS,
    "vllm:request_prompt_tokens": [1, 2, 5, 10, 20, 50, 100, 200, 500],
    "vllm:request_generation_tokens": [1, 2, 5, 10, 20, 50, 100, 200, 500],
    "vllm:request_params_max_tokens": [1, 2, 5, 10, 20, 50, 100, 200, 500],
    "vllm:iteration_tokens_total": [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
}


def families(server):
    r = server.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {f.name: f for f in text_string_to_metric_families(r.text)}, r.text


def value(m, name, **labels):
    return m[(name, frozenset(labels.items()))]


def test_exposition_format(server):
    fams, text = families(server)
    for name in GAUGES:
        assert fams[name].type == "gauge", name
    for name in COUNTERS:
        assert fams[name].type == "counter", name
        assert f"# TYPE {name}_total counter" in text  # as prometheus_client (and so vLLM) writes it
        assert any(s.name == name + "_total" for s in fams[name].samples)
    for name, buckets in HISTOGRAMS.items():
        assert fams[name].type == "histogram", name
        les = [float(s.labels["le"]) for s in fams[name].samples if s.name == name + "_bucket"]
        assert les == buckets + [float("inf")], name
    for f in fams.values():
        assert f.documentation, f.name
        for s in f.samples:
            assert s.labels.get("model_name") == server.name, s
            assert s.labels.get("engine") == "0", s


def test_cache_config_info(server):
    fams, _ = families(server)
    (s,) = fams["vllm:cache_config_info"].samples
    assert s.value == 1
    assert s.labels["block_size"] == "16"
    # 64 MiB over blocks of 16 tokens x (K, V) x 2 layers x 2 KV heads x head_dim 16 x f32
    if "cuda" in os.environ.get("STRATA_E2E_SERVER_ARGS", ""):  # sized by --gpu-memory-utilization
        assert int(s.labels["num_gpu_blocks"]) > 0
    else:
        assert int(s.labels["num_gpu_blocks"]) == 64 * 2 ** 20 // (16 * 2 * 2 * 2 * 16 * 4)
    assert s.labels["enable_prefix_caching"] == "True"


def test_request_success_reasons_exist(server):
    m = server.metrics()
    for reason in ("stop", "length", "abort"):
        assert ("vllm:request_success_total", frozenset({("finished_reason", reason)})) in m


def test_counters_and_histograms_move(server, client, model):
    before = server.wait_idle()
    r = client.completions.create(model=model, prompt=CASE0["prompt_ids"], max_tokens=5, temperature=0)
    assert r.usage.completion_tokens == 5
    stop_word = "presidential"
    r2 = client.completions.create(model=model, prompt=CASE0["prompt_ids"], max_tokens=20, temperature=0,
                                   stop=stop_word)
    assert r2.choices[0].finish_reason == "stop"
    n2 = r2.usage.completion_tokens
    after = server.wait_idle()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    n_prompt = len(CASE0["prompt_ids"])  # 5 tokens: no full KV block, so never a prefix-cache hit
    assert delta("vllm:prompt_tokens_total") == 2 * n_prompt
    assert delta("vllm:generation_tokens_total") == 5 + n2
    assert delta("vllm:request_success_total", finished_reason="length") == 1
    assert delta("vllm:request_success_total", finished_reason="stop") == 1
    assert delta("vllm:request_success_total", finished_reason="abort") == 0
    for h in ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds",
              "vllm:request_queue_time_seconds", "vllm:request_prefill_time_seconds",
              "vllm:request_decode_time_seconds", "vllm:request_inference_time_seconds",
              "vllm:request_prompt_tokens", "vllm:request_generation_tokens", "vllm:request_params_max_tokens"):
        assert delta(h + "_count") == 2, h
        assert delta(h + "_bucket", le="+Inf") == 2, h
    assert delta("vllm:time_to_first_token_seconds_sum") > 0
    assert delta("vllm:e2e_request_latency_seconds_sum") >= delta("vllm:time_to_first_token_seconds_sum")
    assert delta("vllm:request_prompt_tokens_sum") == 2 * n_prompt
    assert delta("vllm:request_generation_tokens_sum") == 5 + n2
    assert delta("vllm:request_params_max_tokens_sum") == 25
    assert delta("vllm:inter_token_latency_seconds_count") == (5 - 1) + (n2 - 1)
    assert delta("vllm:iteration_tokens_total_count") >= 5
    assert delta("vllm:iteration_tokens_total_sum") >= 2 * n_prompt + 5 + n2 - 2
    assert value(after, "vllm:num_requests_running") == 0
    assert value(after, "vllm:kv_cache_usage_perc") == 0
    # Buckets are cumulative.
    for h in HISTOGRAMS:
        counts = [value(after, h + "_bucket", le=le) for le in
                  [str(b if isinstance(b, float) else float(b)) for b in HISTOGRAMS[h]] + ["+Inf"]]
        assert counts == sorted(counts), h
        assert counts[-1] == value(after, h + "_count"), h


def test_prefix_cache_counters(server, client, model):
    """A 40-token prompt sent twice: the second time its two full blocks (32 tokens) are cache hits."""
    prompt = [128000] + list(range(1000, 1039))
    before = server.wait_idle()
    for _ in range(2):
        client.completions.create(model=model, prompt=prompt, max_tokens=1, temperature=0)
    after = server.wait_idle()
    queries = value(after, "vllm:prefix_cache_queries_total") - value(before, "vllm:prefix_cache_queries_total")
    hits = value(after, "vllm:prefix_cache_hits_total") - value(before, "vllm:prefix_cache_hits_total")
    assert queries >= 80 and hits == 32


def test_gauges_while_running(server):
    before = server.wait_idle()
    assert value(before, "vllm:num_requests_waiting") == 0
    body = {"model": server.name, "prompt": "Hi", "max_tokens": MAX_MODEL_LEN - 2, "temperature": 0,
            "stream": True, "ignore_eos": True}
    seen_running = seen_usage = False
    with server.post("/v1/completions", body, stream=True) as r:
        lines = r.iter_lines()
        next(lines)
        for _ in range(50):
            m = server.metrics()
            seen_running |= value(m, "vllm:num_requests_running") == 1
            usage = value(m, "vllm:kv_cache_usage_perc")
            seen_usage |= 0 < usage < 1
            assert value(m, "vllm:gpu_cache_usage_perc") == usage
            if seen_running and seen_usage:
                break
        for _ in lines:
            pass
    assert seen_running and seen_usage
    after = server.wait_idle()
    assert value(after, "vllm:num_requests_running") == 0
    assert value(after, "vllm:kv_cache_usage_perc") == 0


def test_metrics_do_not_need_a_model_request(serve):
    """A fresh server: every counter 0, and scraping twice changes nothing."""
    s = serve("llama3", "--max-num-seqs", "8")
    m1, m2 = s.metrics(), s.metrics()
    m1.pop(("strata:http_connections_open", NO_LABELS))
    m2.pop(("strata:http_connections_open", NO_LABELS))
    assert m1 == m2
    assert value(m1, "vllm:prompt_tokens_total") == 0
    assert value(m1, "vllm:time_to_first_token_seconds_count") == 0


def test_http_connections_open(server):
    import socket

    def gauge():
        return server.metrics()[("strata:http_connections_open", NO_LABELS)]

    base = gauge()
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
    deadline = time.time() + 5
    while gauge() < base + 5 and time.time() < deadline:
        time.sleep(0.05)
    assert gauge() >= base + 5
    for s in socks:
        s.close()
    deadline = time.time() + 5
    while gauge() > base and time.time() < deadline:
        time.sleep(0.05)
    assert gauge() <= base

"""Tensor and pipeline parallelism on the CPU, through the HTTP API: a server whose model is split
over 2 or 4 ranks (threads of one process joined by the TCP data plane) gives the same greedy
tokens as the one-rank server, and logprobs within float32 tolerance, for every fixture
architecture (llama3: tied nothing; qwen2: q/k/v biases; mistral)."""

import pytest

from conftest import SERVER_ARGS, golden

# Each GPU rank needs its own GPU (NCCL refuses two ranks on one): on the one-GPU machine these run on
# the CPU only; several GPUs are the multi-GPU validation's job.
pytestmark = pytest.mark.skipif("cuda" in SERVER_ARGS, reason="a rank per GPU: needs several GPUs")

LAYOUTS = {"tp2": ("--tensor-parallel-size", "2"), "pp2": ("--pipeline-parallel-size", "2"),
           "tp2xpp2": ("-tp", "2", "-pp", "2")}


def completions(server, fixture, logprobs=5):
    out = []
    for c in golden(fixture)["cases"]:
        r = server.client().completions.create(model=server.name, prompt=c["prompt_ids"], max_tokens=12,
                                               temperature=0, logprobs=logprobs, extra_body={"ignore_eos": True})
        out.append((c, r.choices[0]))
    return out


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("fixture", ["llama3", "qwen2", "mistral"])
def test_parallel_matches_one_rank(serve, fixture, layout):
    single = completions(serve(fixture), fixture)
    split = completions(serve(fixture, *LAYOUTS[layout]), fixture)
    for (case, one), (_, many) in zip(single, split):
        assert many.text == one.text
        assert many.logprobs.tokens == one.logprobs.tokens
        assert many.logprobs.token_logprobs == pytest.approx(one.logprobs.token_logprobs, abs=1e-4)
        for a, b in zip(many.logprobs.top_logprobs, one.logprobs.top_logprobs):
            assert a.keys() == b.keys()
            assert list(a.values()) == pytest.approx(list(b.values()), abs=1e-4)
        assert len(case["greedy_ids"]) >= 12  # (12 tokens stay within what the golden checks elsewhere)


def test_parallel_greedy_equals_transformers(serve):
    s = serve("llama3", "-tp", "2", "-pp", "2")
    for c in golden("llama3")["cases"]:
        n = len(c["greedy_ids"])
        r = s.client().completions.create(model=s.name, prompt=c["prompt_ids"], max_tokens=n, temperature=0,
                                          extra_body={"ignore_eos": True})
        assert r.choices[0].text == c["greedy_text"]


def test_parallel_rejects_bad_layouts(tmp_path):
    import subprocess
    from conftest import BINARY
    r = subprocess.run([str(BINARY), "serve", "--tensor-parallel-size", "3", "--nnodes", "2"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "cannot be split evenly over 2 nodes" in r.stderr


def test_pipeline_keeps_several_batches_in_flight(serve):
    """pp=2 runs two steps at once over different requests (the engine launches a second step while the
    first is in a stage): many concurrent greedy requests still give the one-rank answers."""
    from concurrent.futures import ThreadPoolExecutor
    prompts = [f"Request {i}: the numbers go {i}, {i + 1}," for i in range(12)]

    def answers(s):
        def one(p):
            r = s.client().completions.create(model=s.name, prompt=p, max_tokens=10, temperature=0,
                                              extra_body={"ignore_eos": True})
            return r.choices[0].text
        with ThreadPoolExecutor(len(prompts)) as pool:
            return list(pool.map(one, prompts))

    assert answers(serve("llama3", "-pp", "2")) == answers(serve("llama3"))


def test_parallel_penalties_and_logprobs_travel_to_every_rank(serve):
    """The step's sampling parameters and token history reach the sampling rank of a tp 2 x pp 2 group
    (penalties change the greedy continuation; logprobs come back)."""
    body = {"ignore_eos": True, "repetition_penalty": 1.5, "frequency_penalty": 0.7, "presence_penalty": 0.3}

    def run(s):
        c = golden("llama3")["cases"][0]
        r = s.client().completions.create(model=s.name, prompt=c["prompt_ids"], max_tokens=16, temperature=0,
                                          logprobs=3, extra_body=body)
        return r.choices[0]

    one, many = run(serve("llama3")), run(serve("llama3", "-tp", "2", "-pp", "2"))
    assert many.text == one.text
    assert many.logprobs.token_logprobs == pytest.approx(one.logprobs.token_logprobs, abs=1e-4)
    plain = serve("llama3").client().completions.create(
        model="tiny-llama", prompt=golden("llama3")["cases"][0]["prompt_ids"], max_tokens=16, temperature=0,
        extra_body={"ignore_eos": True})
    assert plain.choices[0].text != one.text  # the penalties did change the continuation


def _two_nodes(tmp_path, worker_extra=()):
    """A leader and a worker on this host with the explicit multi-node flags (no LeaderWorkerSet)."""
    import subprocess
    from conftest import BINARY, assemble_model_dir, free_port
    model = assemble_model_dir("llama3", tmp_path)
    master, port = free_port(), free_port()
    common = [str(BINARY), "serve", str(model), "--served-model-name", "tiny-llama", "--max-model-len", "512",
              "--kv-cache-memory", "64MiB", "-pp", "2", "--nnodes", "2", "--master-addr", "127.0.0.1",
              "--master-port", str(master), "--port", str(port), "--host", "127.0.0.1", "--rendezvous-timeout", "60"]
    env = {**__import__("os").environ, "OMP_WAIT_POLICY": "passive"}
    for k in ("LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"):
        env.pop(k, None)
    leader = subprocess.Popen(common + ["--node-rank", "0"], stdout=open(tmp_path / "leader.log", "w"),
                              stderr=subprocess.STDOUT, env=env)
    worker = subprocess.Popen(common + ["--node-rank", "1", *worker_extra], stdout=open(tmp_path / "worker.log", "w"),
                              stderr=subprocess.STDOUT, env=env)
    return leader, worker, f"http://127.0.0.1:{port}"


def test_two_nodes_with_explicit_flags(tmp_path, serve):
    import signal
    import time
    import requests
    leader, worker, url = _two_nodes(tmp_path)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert leader.poll() is None, (tmp_path / "leader.log").read_text()
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        body = {"model": "tiny-llama", "prompt": "The capital of France is", "max_tokens": 12, "temperature": 0}
        got = requests.post(url + "/v1/completions", json=body, timeout=60).json()["choices"][0]["text"]
        single = serve("llama3")
        want = single.post("/v1/completions", {**body, "model": single.name}).json()["choices"][0]["text"]
        assert got == want
        leader.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)  # as Kubernetes does: the worker waits for the leader's stop
        assert leader.wait(60) == 0, (tmp_path / "leader.log").read_text()
        assert worker.wait(60) == 0, (tmp_path / "worker.log").read_text()
    finally:
        for p in (leader, worker):
            if p.poll() is None:
                p.kill()


def test_worker_with_other_flags_is_refused(tmp_path):
    leader, worker, _ = _two_nodes(tmp_path, ("--max-num-seqs", "8"))
    try:
        assert worker.wait(60) == 1
        assert leader.wait(60) != 0
        log = (tmp_path / "leader.log").read_text()
        assert "worker node 1 refused to join" in log and "max_num_seqs" in log, log
        assert "max_num_seqs=8" in (tmp_path / "worker.log").read_text()
    finally:
        for p in (leader, worker):
            if p.poll() is None:
                p.kill()

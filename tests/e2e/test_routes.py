"""The non-generation routes (/tokenize, /detokenize, /v1/models, /health, /ping, /version, /load),
headers (X-Request-Id, CORS), and the reference deployment guide's two curl requests."""

import json
import re
import socket
import subprocess
import time

import pytest
import requests

from conftest import MAX_MODEL_LEN, golden

GOLDEN = golden("llama3")
CASE0 = GOLDEN["cases"][0]


def test_tokenize_prompt(server):
    r = server.post("/tokenize", {"model": server.name, "prompt": CASE0["text"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"count": len(CASE0["prompt_ids"]), "max_model_len": MAX_MODEL_LEN,
                        "tokens": CASE0["prompt_ids"], "token_strs": None}


def test_tokenize_options(server):
    r = server.post("/tokenize", {"prompt": "Hello Hello", "add_special_tokens": False, "return_token_strs": True})
    assert r.json() == {"count": 2, "max_model_len": MAX_MODEL_LEN, "tokens": [9906, 22691],
                        "token_strs": ["Hello", "ĠHello"]}


def test_tokenize_messages(server):
    msgs = [{"role": "user", "content": "Hi"}]
    with_gp = server.post("/tokenize", {"messages": msgs}).json()
    without = server.post("/tokenize", {"messages": msgs, "add_generation_prompt": False}).json()
    assert with_gp["count"] == len(with_gp["tokens"]) > without["count"]
    assert with_gp["tokens"][: without["count"]] == without["tokens"]
    text = server.post("/detokenize", {"tokens": with_gp["tokens"]}).json()["prompt"]
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")
    assert text.endswith("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_detokenize_roundtrip(server):
    for case in GOLDEN["cases"]:
        r = server.post("/detokenize", {"model": server.name, "tokens": case["prompt_ids"]})
        assert r.status_code == 200, r.text
        assert r.json() == {"prompt": "<|begin_of_text|>" + case["text"]}
    assert server.post("/detokenize", {"tokens": CASE0["greedy_ids"]}).json()["prompt"] == CASE0["greedy_text"]


def test_models(server):
    r = server.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    (card,) = body["data"]
    assert card["id"] == server.name
    assert card["object"] == "model"
    assert card["owned_by"] == "vllm"
    assert card["root"] == str(server.model_dir)
    assert card["parent"] is None
    assert card["max_model_len"] == MAX_MODEL_LEN
    assert isinstance(card["created"], int) and abs(card["created"] - time.time()) < 3600
    assert isinstance(card["permission"], list) and card["permission"]


def test_models_through_openai_client(client, model):
    assert [m.id for m in client.models.list()] == [model]


def test_several_served_names(serve):
    s = serve("llama3", "--served-model-name", "alias-a", "alias-b", name="alias-a")
    assert [m["id"] for m in s.get("/v1/models").json()["data"]] == ["alias-a", "alias-b"]
    for name in ("alias-a", "alias-b"):
        r = s.post("/v1/completions", {"model": name, "prompt": "Hi", "max_tokens": 1})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == name
    assert s.post("/v1/completions", {"model": "tiny-llama", "prompt": "Hi"}).status_code == 404


def test_health_ping_version(server):
    r = server.get("/health")
    assert (r.status_code, r.content) == (200, b"")
    assert server.get("/ping").status_code == 200
    assert server.post("/ping").status_code == 200
    v = server.get("/version")
    assert v.status_code == 200 and re.fullmatch(r"\d+\.\d+\.\d+.*", v.json()["version"])


def test_load_counts_requests_in_flight(server):
    assert server.get("/load").json() == {"server_load": 0}
    body = {"model": server.name, "prompt": "Hi", "max_tokens": 200, "temperature": 0, "stream": True,
            "extra_field_ignored": True}
    with server.post("/v1/completions", body, stream=True) as r:
        lines = r.iter_lines()
        next(lines)  # the first event: the request is running
        assert server.get("/load").json() == {"server_load": 1}
        for _ in lines:
            pass
    deadline = time.time() + 5
    while server.get("/load").json()["server_load"] != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert server.get("/load").json() == {"server_load": 0}


def test_request_id_header(server):
    r = server.post("/v1/completions", {"prompt": "Hi", "max_tokens": 1}, headers={"X-Request-Id": "my-req-42"})
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] == "my-req-42"
    assert "my-req-42" in r.json()["id"]


def test_cors(server):
    r = server.get("/v1/models", headers={"Origin": "http://example.com"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    pre = requests.options(server.url + "/v1/completions", timeout=10,
                           headers={"Origin": "http://example.com", "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Methods" in pre.headers


def test_expect_100_continue(server):
    """A client that sends `Expect: 100-continue` (curl does for large bodies) waits for the interim
    response before its body; without it every such request stalls for the client's timeout."""
    body = json.dumps({"prompt": "Hi", "max_tokens": 1}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.settimeout(2)
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        reply = b""
        while b"}}" not in reply:
            chunk = s.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")


def test_unknown_route_and_method(server):
    r = server.get("/v1/nope")
    assert r.status_code == 404
    r = server.get("/v1/completions")
    assert r.status_code == 405


# The reference guide (GKE llm-multihost-gpus) checks the deployment with these two requests after
# `kubectl port-forward svc/vllm-leader 8080:8080`; here only the host:port differs.
GUIDE_COMPLETION = """curl http://localhost:8080/v1/completions \\
-H "Content-Type: application/json" \\
-d '{
    "model": "%s",
    "prompt": "San Francisco is a",
    "max_tokens": 7,
    "temperature": 0
}'"""
GUIDE_CHAT = """curl http://localhost:8080/v1/chat/completions \\
-H "Content-Type: application/json" \\
-d '{
    "model": "%s",
    "messages": [{"role": "user", "content": "San Francisco is a"}],
    "max_tokens": 7,
    "temperature": 0
}'"""


def run_curl(template, s):
    cmd = (template % s.name).replace("http://localhost:8080", s.url)
    out = subprocess.run(["bash", "-c", cmd + " -sS --fail-with-body"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    return json.loads(out.stdout)


@pytest.mark.parametrize("fixture,name", [("llama3", "meta-llama/Meta-Llama-3.1-405B-Instruct"),
                                          ("mistral", "deepseek-ai/DeepSeek-R1")])
def test_reference_guide_curl_requests(serve, fixture, name):
    s = serve(fixture, name=name)
    g = golden(fixture)["cases"][0]
    expected = s.post("/detokenize", {"tokens": g["greedy_ids"][:7]}).json()["prompt"]

    body = run_curl(GUIDE_COMPLETION, s)
    assert body["object"] == "text_completion" and body["model"] == name
    assert body["choices"][0]["text"] == expected  # transformers' greedy continuation
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 7

    body = run_curl(GUIDE_CHAT, s)
    assert body["object"] == "chat.completion" and body["model"] == name
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str) and msg["content"]
    assert body["usage"]["completion_tokens"] == 7

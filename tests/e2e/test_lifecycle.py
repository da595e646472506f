"""Process lifecycle: SIGTERM drains requests in flight (or aborts them after the grace period with a
proper error), startup failures are clear, and the vLLM flags a manifest may carry are accepted."""

import json
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BINARY, MAX_MODEL_LEN


def stream_events(resp):
    out = []
    for line in resp.iter_lines():
        if line:
            assert line.startswith(b"data: "), line
            out.append("[DONE]" if line == b"data: [DONE]" else json.loads(line[6:]))
    return out


def wait_load(s, n, timeout=10):
    deadline = time.time() + timeout
    while s.get("/load").json()["server_load"] != n:
        assert time.time() < deadline, f"server_load never reached {n}"
        time.sleep(0.02)


def test_sigterm_drains_requests_in_flight(launch):
    s = launch("llama3")
    keep_alive = requests.Session()
    assert keep_alive.get(s.url + "/health", timeout=10).status_code == 200
    body = {"model": s.name, "prompt": "Hi", "max_tokens": MAX_MODEL_LEN - 2, "temperature": 0, "stream": True,
            "ignore_eos": True}
    with requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=60) as r:
        lines = r.iter_lines()
        assert next(lines).startswith(b"data: ")
        s.proc.send_signal(signal.SIGTERM)
        # No new connections; an open one sees the server as unhealthy.
        deadline, refused = time.time() + 5, False
        while not refused and time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
                time.sleep(0.1)
            except OSError:
                refused = True
        assert refused, "new connections are still accepted after SIGTERM"
        assert keep_alive.get(s.url + "/health", timeout=10).status_code == 503
        rest = [json.loads(x[6:]) if x != b"data: [DONE]" else "[DONE]" for x in lines if x]
    assert rest[-1] == "[DONE]"
    assert rest[-2]["choices"][0]["finish_reason"] == "length"
    assert not any("error" in e for e in rest[:-1])
    assert s.proc.wait(30) == 0


def test_sigterm_after_grace_aborts_with_errors(launch):
    s = launch("llama3", "--shutdown-grace-seconds", "0")
    long = {"model": s.name, "prompt": "Hi", "max_tokens": MAX_MODEL_LEN - 2, "temperature": 1.0, "n": 4,
            "ignore_eos": True}
    result = {}

    def whole():
        result["resp"] = requests.post(s.url + "/v1/completions", json=long, timeout=120)

    t = threading.Thread(target=whole)
    t.start()
    with requests.post(s.url + "/v1/chat/completions", stream=True, timeout=120, json={
            **long, "prompt": None, "max_tokens": 400, "messages": [{"role": "user", "content": "Hi"}],
            "stream": True}) as r:
        lines = r.iter_lines()
        first = next(lines)
        assert first.startswith(b"data: ")
        wait_load(s, 2)
        s.proc.send_signal(signal.SIGTERM)
        events = stream_events(r)
    t.join(60)
    assert events[-1] == "[DONE]"
    errors = [e for e in events[:-1] if "error" in e]
    if not errors and any(c.get("finish_reason") == "length" for e in events[:-1] for c in e.get("choices", [])):
        # A fast device (the GPU) can finish all 400 tokens before the signal lands: nothing to abort.
        assert s.proc.wait(30) == 0
        pytest.skip("the stream finished before SIGTERM took effect")
    assert len(errors) == 1, events[-3:]
    assert errors[0]["error"]["code"] == 503
    assert set(errors[0]["error"]) == {"message", "type", "param", "code"}
    assert not any(c.get("finish_reason") == "abort" for e in events[:-1] for c in e.get("choices", []))
    resp = result["resp"]
    assert resp.status_code == 503, resp.text[:300]
    assert resp.json()["error"]["code"] == 503
    assert s.proc.wait(30) == 0


def run_cli(*args, timeout=60):
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=timeout)


def test_bad_model_directory(tmp_path):
    out = run_cli("serve", str(tmp_path / "missing"), "--port", "0")
    assert out.returncode != 0
    assert "missing" in out.stdout + out.stderr


def test_unknown_flag_is_an_error(serve):
    s = serve("llama3")
    out = run_cli("serve", str(s.model_dir), "--port", "0", "--no-such-flag", "1")
    assert out.returncode != 0
    assert "--no-such-flag" in out.stdout + out.stderr


def test_accepted_vllm_flags(launch):
    s = launch("llama3", "--trust-remote-code", "--disable-log-requests", "--distributed-executor-backend", "ray",
               "--uvicorn-log-level", "warning", "--gpu-memory-utilization", "0.9", "--dtype", "auto",
               "--tensor-parallel-size", "1", "--pipeline-parallel-size", "1", "--seed", "0",
               "--enable-prefix-caching", "--enable-chunked-prefill", "--max-num-seqs", "16",
               "--block-size", "16", "--download-dir", "/tmp")
    assert s.get("/health").status_code == 200
    r = s.post("/v1/completions", {"prompt": "Hi", "max_tokens": 2})
    assert r.status_code == 200, r.text
    assert s.stop() == 0

"""Robustness: many concurrent streams, hostile or vanishing clients, oversized bodies. The server must
keep answering correctly, free every aborted request's KV blocks, and never crash (the session
fixture checks that every server is still alive and exits 0 on SIGTERM).

Tests run in file order: a slow-header client starts dribbling with the module and the last test
checks that the header timeout (30 s) dropped it, so that wait overlaps the other tests.
"""

import asyncio
import json
import resource
import select
import socket
import threading
import time

import httpx
import openai
import pytest

from conftest import assert_error

HEADER_TIMEOUT_S = 30  # HttpServerOptions::header_timeout
PROMPTS = ["San Francisco is a", "The quick brown fox"]


@pytest.fixture(scope="module")
def robust(serve):
    # Its own server (fewer sequences than the 1000 streams, so requests also queue).
    return serve("llama3", "--max-num-seqs", "128")


def raw_request(path, body, stream=False, extra_headers=""):
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra_headers}"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def connect(server, timeout=10):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return s


def read_until(sock, marker, limit=1 << 20):
    buf = b""
    while marker not in buf and len(buf) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


class SlowHeaders(threading.Thread):
    """Sends a request's headers one byte per second; records when the server closes the socket."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.sock = connect(server)
        self.start_time = time.time()
        self.closed_at = None
        self.reply = b""
        self.stop = threading.Event()

    def run(self):
        data = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        for byte in data:
            if self.stop.is_set():
                return
            try:
                self.sock.send(bytes([byte]))
                readable, _, _ = select.select([self.sock], [], [], 1.0)
                if readable:
                    chunk = self.sock.recv(4096)
                    self.reply += chunk
                    if not chunk:
                        break
            except OSError:
                break
        self.closed_at = time.time()
        self.sock.close()


@pytest.fixture(scope="module")
def slow_client(robust):
    t = SlowHeaders(robust)
    t.start()
    yield t
    t.stop.set()


def reference_texts(server, max_tokens):
    c = server.client()
    return {p: c.completions.create(model=server.name, prompt=p, max_tokens=max_tokens, temperature=0,
                                    extra_body={"ignore_eos": True}).choices[0].text for p in PROMPTS}


def test_slow_header_client_does_not_block_others(robust, slow_client):
    time.sleep(1.5)  # a few bytes are in
    c = robust.client()
    for _ in range(5):
        t0 = time.time()
        r = c.completions.create(model=robust.name, prompt="Hi", max_tokens=2)
        assert r.usage.completion_tokens == 2
        assert time.time() - t0 < 5
    assert slow_client.closed_at is None  # still dribbling: the header timeout is not over yet


async def raw_stream(port, body):
    """One POST over a fresh connection (Connection: close), parsed strictly: status line, chunked
    transfer coding, SSE events. Returns the list of event payloads (JSON, then "[DONE]")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    raw = await reader.read()
    writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:300]
    assert b"text/event-stream" in head and b"Transfer-Encoding: chunked" in head, head
    payload = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        payload += rest[:size]
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]
    events = []
    for block in payload.split(b"\n\n"):
        if block:
            assert block.startswith(b"data: "), block
            events.append("[DONE]" if block == b"data: [DONE]" else json.loads(block[6:]))
    return events


def test_1000_concurrent_streams(robust):
    """1000 streams at once (the raw asyncio client keeps this test about the server, not the client's
    CPU time); identical greedy prompts must all give the single-request answer."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2200:
        pytest.skip(f"needs about 2200 open files (client and server), the limit is {soft}")
    max_tokens = 4
    expected = reference_texts(robust, max_tokens)
    before = robust.wait_idle()

    async def main():
        return await asyncio.gather(*(raw_stream(robust.port, {
            "model": robust.name, "prompt": PROMPTS[i % 2], "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True}) for i in range(1000)),
            return_exceptions=True)

    t0 = time.time()
    results = asyncio.run(main())
    elapsed = time.time() - t0
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} of 1000 failed, e.g. {errors[0]!r}"
    ids = set()
    for i, events in enumerate(results):
        assert events[-1] == "[DONE]"
        usage = events[-2]
        assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == max_tokens
        chunks = events[:-2]
        assert "".join(e["choices"][0]["text"] for e in chunks) == expected[PROMPTS[i % 2]]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
        ids.add(chunks[0]["id"])
    assert len(ids) == 1000  # every request has its own id
    after = robust.wait_idle()
    key = ("vllm:request_success_total", frozenset({("finished_reason", "length")}))
    assert after[key] - before[key] == 1000
    gen = ("vllm:generation_tokens_total", frozenset())
    assert after[gen] - before[gen] == 1000 * max_tokens
    assert after[("vllm:num_requests_running", frozenset())] == 0
    assert after[("vllm:kv_cache_usage_perc", frozenset())] == 0
    print(f"1000 concurrent streams in {elapsed:.1f} s")


def test_concurrent_openai_async_client(robust):
    """The official async client, chat and completions mixed, 100 at once."""
    ref = reference_texts(robust, 3)
    sync = robust.client()
    chat_ref = sync.chat.completions.create(model=robust.name, messages=[{"role": "user", "content": "Hi"}],
                                            max_tokens=3, temperature=0).choices[0].message.content

    async def main():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=120) as http:
            client = openai.AsyncOpenAI(base_url=robust.url + "/v1", api_key="x", http_client=http, max_retries=0)

            async def one(i):
                if i % 2:
                    stream = await client.chat.completions.create(
                        model=robust.name, messages=[{"role": "user", "content": "Hi"}], max_tokens=3,
                        temperature=0, stream=True)
                    return "chat", "".join([ch.choices[0].delta.content or "" async for ch in stream])
                r = await client.completions.create(model=robust.name, prompt=PROMPTS[0], max_tokens=3,
                                                    temperature=0, extra_body={"ignore_eos": True})
                return "completion", r.choices[0].text

            return await asyncio.gather(*(one(i) for i in range(100)))

    for kind, text in asyncio.run(main()):
        assert text == (chat_ref if kind == "chat" else ref[PROMPTS[0]])


def test_clients_vanishing_mid_stream(robust):
    before = robust.wait_idle()
    body = {"model": robust.name, "prompt": "Hi", "max_tokens": 400, "temperature": 0, "stream": True,
            "ignore_eos": True}
    socks = []
    for _ in range(20):
        s = connect(robust)
        s.sendall(raw_request("/v1/completions", body))
        socks.append(s)
    for s in socks:
        assert b"data: " in read_until(s, b"data: ")  # streaming has begun
    m = robust.metrics()
    assert m[("vllm:num_requests_running", frozenset())] > 0
    for s in socks:
        s.close()
    # Others are still served, correctly.
    c = robust.client()
    ref = reference_texts(robust, 4)
    for p in PROMPTS:
        r = c.completions.create(model=robust.name, prompt=p, max_tokens=4, temperature=0,
                                 extra_body={"ignore_eos": True})
        assert r.choices[0].text == ref[p]
    after = robust.wait_idle(timeout=10)
    assert after[("vllm:num_requests_running", frozenset())] == 0
    assert after[("vllm:num_requests_waiting", frozenset())] == 0
    assert after[("vllm:kv_cache_usage_perc", frozenset())] == 0
    key = ("vllm:request_success_total", frozenset({("finished_reason", "abort")}))
    assert after[key] - before[key] == 20
    assert robust.get("/load").json() == {"server_load": 0}


def test_clients_vanishing_before_the_answer(robust):
    """Non-streaming requests and streams whose client leaves before the first byte of the answer."""
    before = robust.wait_idle()
    long_body = {"model": robust.name, "prompt": "Hi", "max_tokens": 500, "temperature": 0, "ignore_eos": True}
    for stream in (False, True):
        for _ in range(5):
            s = connect(robust)
            s.sendall(raw_request("/v1/completions", {**long_body, "stream": stream}))
            s.close()
    # A client that half-closes (shutdown write) after its request: EOF is a disconnect (as uvicorn
    # sees it), so this one is aborted too.
    s = connect(robust)
    s.sendall(raw_request("/v1/completions", long_body))
    s.shutdown(socket.SHUT_WR)
    s.settimeout(30)
    read_until(s, b"\r\n\r\n")
    s.close()
    key = ("vllm:request_success_total", frozenset({("finished_reason", "abort")}))
    deadline = time.time() + 15
    while robust.metrics()[key] - before[key] < 11 and time.time() < deadline:
        time.sleep(0.1)  # the server may not even have parsed them yet
    after = robust.wait_idle(timeout=15)
    assert after[key] - before[key] == 11
    assert after[("vllm:num_requests_running", frozenset())] == 0
    assert after[("vllm:kv_cache_usage_perc", frozenset())] == 0


def test_same_request_id_from_two_clients(robust):
    """Two requests share a request id; the one whose client vanishes must not abort the other."""
    body = {"model": robust.name, "prompt": "Hi", "max_tokens": 200, "temperature": 0, "stream": True,
            "ignore_eos": True, "request_id": "same-id"}
    keep, leave = connect(robust), connect(robust)
    for s in (keep, leave):
        s.sendall(raw_request("/v1/completions", body))
    assert b"data: " in read_until(leave, b"data: ")
    leave.close()
    keep.settimeout(60)
    reply = read_until(keep, b"data: [DONE]")
    keep.close()
    events = [json.loads(line[6:]) for line in reply.split(b"\n") if line.startswith(b"data: {")]
    assert events and all("error" not in e for e in events), reply[-500:]
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    assert events[0]["id"] == "same-id"


def test_preemption_keeps_greedy_outputs_exact(serve):
    """A KV cache of 24 blocks (384 tokens) for 8 requests of 120 tokens: the scheduler must preempt
    (recompute) and every output must still be the one a request gets alone."""
    small = serve("llama3", "--num-gpu-blocks-override", "24")
    ref = reference_texts(small, 120)
    before = small.wait_idle()

    async def main():
        async with httpx.AsyncClient(timeout=300) as http:
            async def one(i):
                body = {"model": small.name, "prompt": PROMPTS[i % 2], "max_tokens": 120, "temperature": 0,
                        "ignore_eos": True}
                r = await http.post(small.url + "/v1/completions", json=body)
                return PROMPTS[i % 2], r.json()["choices"][0]["text"]
            return await asyncio.gather(*(one(i) for i in range(8)))

    for prompt, text in asyncio.run(main()):
        assert text == ref[prompt]
    after = small.wait_idle()
    assert after[("vllm:num_preemptions_total", frozenset())] > before[("vllm:num_preemptions_total", frozenset())]
    assert after[("vllm:kv_cache_usage_perc", frozenset())] == 0


def test_garbage_on_the_socket(robust):
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"NOT-HTTP\r\n\r\n",
                 b"POST /v1/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        s = connect(robust)
        s.sendall(junk)
        s.settimeout(10)
        try:
            reply = read_until(s, b"\r\n\r\n")
        except (ConnectionResetError, socket.timeout):
            reply = b""
        s.close()
        assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), (junk, reply[:200])
    assert robust.get("/health").status_code == 200


def test_huge_headers_rejected(robust):
    s = connect(robust)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    s.settimeout(10)
    try:
        reply = read_until(s, b"\r\n\r\n")
    except ConnectionResetError:
        reply = b""
    s.close()
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431"), reply[:200]
    assert robust.get("/health").status_code == 200


def test_malformed_and_wrong_types_burst(robust):
    bad = [b"{", b'{"prompt": }', b'{"prompt": "Hi", "temperature": "hot"}', b'{"prompt": "Hi", "n": "2"}',
           b'{"prompt": [1, 2, "x"]}', b'{"prompt": {"a": 1}}', b'{"prompt": "Hi", "stop": {"a": 1}}',
           b'{"prompt": "Hi", "logit_bias": {"1": "x"}}', b'{"prompt": "Hi", "max_tokens": 1e999}',
           b'{"messages": [{"role": "user", "content": {"x": 1}}]}', b"\xff" * 100]

    async def main():
        async with httpx.AsyncClient(timeout=30) as http:
            async def one(i):
                path = "/v1/chat/completions" if i % 3 == 0 else "/v1/completions"
                return await http.post(robust.url + path, content=bad[i % len(bad)],
                                       headers={"Content-Type": "application/json"})
            return await asyncio.gather(*(one(i) for i in range(200)))

    for r in asyncio.run(main()):
        assert_error(r, 400)
    assert robust.client().completions.create(model=robust.name, prompt="Hi", max_tokens=2).usage.completion_tokens == 2


def test_10mb_body(robust):
    body = json.dumps({"model": robust.name, "prompt": "hello world " * (10 * 2 ** 20 // 12), "max_tokens": 2})
    assert len(body) >= 10 * 2 ** 20
    r = robust.post("/v1/completions", data=body, headers={"Content-Type": "application/json"}, timeout=120)
    assert r.status_code in (400, 413), r.text[:300]
    assert_error(r, r.status_code)
    garbage = b"[" * (10 * 2 ** 20)  # deeply nested JSON must not overflow a stack
    r = robust.post("/v1/completions", data=garbage, headers={"Content-Type": "application/json"}, timeout=120)
    assert_error(r, r.status_code)
    assert r.status_code in (400, 413)
    assert robust.get("/health").status_code == 200


def test_body_over_the_limit_is_413(robust):
    s = connect(robust)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000000\r\n\r\n{\"prompt\": \"")
    s.settimeout(10)
    reply = read_until(s, b"}}")
    s.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert robust.get("/health").status_code == 200


def test_pipelined_requests(robust):
    s = connect(robust)
    one = raw_request("/v1/completions", {"prompt": "Hi", "max_tokens": 2, "temperature": 0})
    s.sendall(one + one + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.settimeout(30)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.count(b"HTTP/1.1 200") == 3, data[:500]
    assert data.count(b'"completion_tokens":2') == 2


def test_slow_header_client_is_dropped(robust, slow_client):
    """Last: by now the header timeout has passed (or nearly); the dribbling client must be gone."""
    remaining = slow_client.start_time + HEADER_TIMEOUT_S + 5 - time.time()
    slow_client.join(timeout=max(remaining, 0) + 5)
    assert slow_client.closed_at is not None, "a client sending headers at 1 byte/s was never dropped"
    took = slow_client.closed_at - slow_client.start_time
    assert HEADER_TIMEOUT_S - 2 <= took <= HEADER_TIMEOUT_S + 5, took
    assert robust.alive()
    assert robust.get("/health").status_code == 200

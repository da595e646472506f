"""POST /v1/chat/completions through the official openai client."""

import pytest

from conftest import sse_events

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "San Francisco is a"}]


def chat(client, model, messages=MESSAGES, max_tokens=8, **kw):
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, **kw)


def test_basic_response_shape(server, client, model):
    r = chat(client, model)
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == model
    (c,) = r.choices
    assert c.index == 0
    assert c.message.role == "assistant"
    assert isinstance(c.message.content, str) and c.message.content
    assert c.finish_reason == "length"
    assert c.logprobs is None
    n_prompt = server.post("/tokenize", {"model": model, "messages": MESSAGES}).json()["count"]
    assert r.usage.prompt_tokens == n_prompt
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == n_prompt + 8


def test_raw_body_keys(server):
    body = server.post("/v1/chat/completions", {"model": server.name, "messages": MESSAGES, "max_tokens": 2}).json()
    assert {"id", "object", "created", "model", "choices", "usage"} <= set(body)
    c = body["choices"][0]
    assert {"index", "message", "logprobs", "finish_reason", "stop_reason"} <= set(c)
    assert {"role", "content"} <= set(c["message"])


def test_prompt_is_the_rendered_template(server, client, model):
    """The chat prompt is the chat template's rendering: completing its token ids gives the same text."""
    ids = server.post("/tokenize", {"model": model, "messages": MESSAGES}).json()["tokens"]
    assert ids[0] == 128000  # <|begin_of_text|> from the template, not added twice
    assert ids.count(128000) == 1
    assert ids[-4:] == server.post("/tokenize", {"prompt": "<|start_header_id|>assistant<|end_header_id|>\n\n",
                                                 "add_special_tokens": False}).json()["tokens"]
    expected = client.completions.create(model=model, prompt=ids, max_tokens=12, temperature=0).choices[0].text
    assert chat(client, model, max_tokens=12).choices[0].message.content == expected


def test_content_parts_equal_string_content(client, model):
    parts = [MESSAGES[0], {"role": "user", "content": [{"type": "text", "text": "San Francisco is a"}]}]
    assert chat(client, model, parts).choices[0].message.content == chat(client, model).choices[0].message.content


def test_max_completion_tokens(client, model):
    r = client.chat.completions.create(model=model, messages=MESSAGES, max_completion_tokens=3, temperature=0)
    assert r.usage.completion_tokens == 3


def test_stream_equals_non_stream(client, model):
    whole = chat(client, model, max_tokens=10).choices[0].message.content
    chunks = list(chat(client, model, max_tokens=10, stream=True))
    first = chunks[0].choices[0]
    assert first.delta.role == "assistant" and first.delta.content == ""
    assert all(ch.object == "chat.completion.chunk" and ch.id == chunks[0].id for ch in chunks)
    assert all(ch.choices[0].delta.role is None for ch in chunks[1:])
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == whole
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(ch.choices[0].finish_reason is None for ch in chunks[:-1])


def test_stream_wire_format(server):
    with server.post("/v1/chat/completions", {"model": server.name, "messages": MESSAGES, "max_tokens": 3,
                                              "stream": True}, stream=True) as r:
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    for e in events[:-1]:
        assert e["object"] == "chat.completion.chunk"
        assert e["usage"] is None
        assert len(e["choices"]) == 1


def test_stream_include_usage(client, model):
    chunks = list(chat(client, model, max_tokens=4, stream=True, stream_options={"include_usage": True}))
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 4
    assert last.usage.total_tokens == last.usage.prompt_tokens + 4
    assert all(ch.usage is None for ch in body)


def test_n_choices(client, model):
    r = chat(client, model, max_tokens=5, n=3, temperature=1.0, seed=3)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) > 1
    assert r.usage.completion_tokens == 15
    texts = {0: "", 1: "", 2: ""}
    roles = set()
    for ch in chat(client, model, max_tokens=5, n=3, temperature=1.0, seed=3, stream=True):
        (c,) = ch.choices
        texts[c.index] += c.delta.content or ""
        if c.delta.role:
            roles.add(c.index)
    assert roles == {0, 1, 2}
    assert texts == {c.index: c.message.content for c in r.choices}


def test_logprobs_and_top_logprobs(client, model):
    r = chat(client, model, max_tokens=6, logprobs=True, top_logprobs=3)
    (c,) = r.choices
    content = c.logprobs.content
    assert len(content) == 6
    assert "".join(t.token for t in content) == c.message.content
    for t in content:
        assert t.logprob <= 0
        assert bytes(t.bytes) == t.token.encode("utf-8")
        assert len(t.top_logprobs) == 3
        assert t.top_logprobs[0].token == t.token  # greedy
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob)
        lps = [x.logprob for x in t.top_logprobs]
        assert lps == sorted(lps, reverse=True)


def test_logprobs_without_top(client, model):
    r = chat(client, model, max_tokens=3, logprobs=True)
    content = r.choices[0].logprobs.content
    assert len(content) == 3 and all(t.top_logprobs == [] for t in content)
    assert chat(client, model, max_tokens=3, logprobs=False).choices[0].logprobs is None


def test_logprobs_stream(client, model):
    whole = chat(client, model, max_tokens=5, logprobs=True, top_logprobs=2).choices[0].logprobs.content
    streamed = []
    for ch in chat(client, model, max_tokens=5, logprobs=True, top_logprobs=2, stream=True):
        if ch.choices and ch.choices[0].logprobs:
            streamed += ch.choices[0].logprobs.content
    assert [t.token for t in streamed] == [t.token for t in whole]
    assert [t.logprob for t in streamed] == pytest.approx([t.logprob for t in whole])


def test_stop_string(client, model):
    full = chat(client, model, max_tokens=12).choices[0].message.content
    stop = full[len(full) // 2: len(full) // 2 + 3]
    r = chat(client, model, max_tokens=12, stop=[stop])
    c = r.choices[0]
    assert c.finish_reason == "stop"
    assert c.model_extra["stop_reason"] == stop
    assert c.message.content == full[: full.index(stop)]
    chunks = list(chat(client, model, max_tokens=12, stop=stop, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == full[: full.index(stop)]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_seeded_sampling_is_reproducible(client, model):
    def sample(seed):
        return chat(client, model, max_tokens=10, temperature=1.0, seed=seed).choices[0].message.content

    a = sample(42)
    assert sample(42) == a
    assert sample(43) != a


def test_multi_turn(client, model):
    msgs = MESSAGES + [{"role": "assistant", "content": "city."}, {"role": "user", "content": "Which one?"}]
    r = chat(client, model, msgs, max_tokens=3)
    assert r.usage.prompt_tokens > chat(client, model, max_tokens=1).usage.prompt_tokens


def test_without_max_tokens_the_limit_is_the_context(server, client, model):
    msgs = [{"role": "user", "content": "Hello" * 440}]
    n_prompt = server.post("/tokenize", {"messages": msgs}).json()["count"]
    assert 400 < n_prompt < 500
    r = client.chat.completions.create(model=model, messages=msgs, temperature=0, extra_body={"ignore_eos": True})
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 512 - n_prompt


def test_continue_final_message(server, client, model):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]
    body = {"messages": msgs, "continue_final_message": True, "add_generation_prompt": False}
    ids = server.post("/tokenize", body).json()["tokens"]
    text = server.post("/detokenize", {"tokens": ids}).json()["prompt"]
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\nHello there")  # no <|eot_id|>
    r = client.chat.completions.create(model=model, messages=msgs, max_tokens=4, temperature=0,
                                       extra_body={"continue_final_message": True, "add_generation_prompt": False})
    expected = client.completions.create(model=model, prompt=ids, max_tokens=4, temperature=0).choices[0].text
    assert r.choices[0].message.content == expected
    both = server.post("/v1/chat/completions", {**body, "add_generation_prompt": True})
    assert both.status_code == 400


def test_request_chat_template_needs_trust(server, serve):
    """A template in the request runs on the server (a nested loop can spin a thread forever), so as in
    vLLM it is refused unless the server was started with --trust-request-chat-template."""
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}!{% endfor %}"}
    for b in (body, {**body, "chat_template": None, "chat_template_kwargs": {"chat_template": "x"}}):
        r = server.post("/v1/chat/completions", b)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == ("Chat template is passed with request, but "
                                                "--trust-request-chat-template is not set. "
                                                "Refused request with untrusted chat template.")
    assert server.post("/tokenize", body).status_code == 400
    trusting = serve("llama3", "--trust-request-chat-template")
    ids = trusting.post("/tokenize", body).json()["tokens"]
    assert trusting.post("/detokenize", {"tokens": ids}).json()["prompt"] == "<|begin_of_text|>Hi!"
    r = trusting.post("/v1/chat/completions", body)
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] == len(ids)

"""--reasoning-parser deepseek_r1 on the mistral fixture (DeepSeek-R1 tokenizer and chat template).

The weights are random, so the output is steered: `allowed_token_ids` limits it to a few tokens
(" Hello", " world", "</", and "</think>" = 128799) and `frequency_penalty` / `logit_bias` make the
greedy choice move between them. The same request through /v1/completions (which never parses
reasoning) gives the raw text; the chat answer must be exactly vLLM's split of that text, streamed
or not.
"""

import pytest

HELLO, WORLD, LT_SLASH, THINK_END = 45948, 2058, 1718, 128799
MESSAGES = [{"role": "user", "content": "Hi"}]


def vllm_split(text):
    """vLLM's DeepSeekR1ReasoningParser.extract_reasoning_content."""
    before, sep, after = text.partition("<think>")
    text = after if sep else before
    if "</think>" not in text:
        return text, None
    reasoning, _, content = text.partition("</think>")
    return reasoning, content or None


CASES = {
    # name: (sampling fields, precondition on the raw text)
    "split": ({"allowed_token_ids": [HELLO, WORLD, THINK_END], "frequency_penalty": 2.0,
               "logit_bias": {str(THINK_END): -2}},
              lambda t: 0 < t.index("</think>") < len(t) - len("</think>")),
    "partial_tags": ({"allowed_token_ids": [HELLO, LT_SLASH, THINK_END], "frequency_penalty": 2.0,
                      "logit_bias": {str(THINK_END): -2}},
                     lambda t: "</</think>" in t.split("</think>", 1)[0] + "</think>"),
    "end_tag_first": ({"allowed_token_ids": [HELLO, WORLD, THINK_END], "frequency_penalty": 1.0},
                      lambda t: t.startswith("</think>") and len(t) > len("</think>")),
    "no_end_tag": ({"allowed_token_ids": [HELLO, LT_SLASH], "frequency_penalty": 1.0},
                   lambda t: "</think>" not in t and "</" in t),
}


@pytest.fixture(scope="module")
def r1(serve):
    return serve("mistral", "--reasoning-parser", "deepseek_r1")


@pytest.fixture(scope="module")
def prompt_ids(r1):
    ids = r1.post("/tokenize", {"messages": MESSAGES}).json()["tokens"]
    assert ids == [0, 128803, 23166, 128804]  # <｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>
    return ids


def raw_text(server, prompt_ids, fields, max_tokens=12):
    r = server.post("/v1/completions", {"prompt": prompt_ids, "max_tokens": max_tokens, "temperature": 0, **fields})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


@pytest.mark.parametrize("case", CASES)
def test_non_streaming_split(r1, prompt_ids, case):
    fields, precondition = CASES[case]
    raw = raw_text(r1, prompt_ids, fields)
    assert precondition(raw), f"the steering no longer produces the '{case}' shape: {raw!r}"
    reasoning, content = vllm_split(raw)
    r = r1.client().chat.completions.create(model=r1.name, messages=MESSAGES, max_tokens=12, temperature=0,
                                            extra_body=fields)
    msg = r.choices[0].message
    assert msg.model_extra["reasoning_content"] == reasoning
    assert msg.content == content
    assert "</think>" not in msg.model_extra["reasoning_content"]


@pytest.mark.parametrize("case", CASES)
def test_streaming_split(r1, prompt_ids, case):
    fields, _ = CASES[case]
    reasoning, content = vllm_split(raw_text(r1, prompt_ids, fields))
    got_reasoning, got_content, roles = "", "", 0
    for ch in r1.client().chat.completions.create(model=r1.name, messages=MESSAGES, max_tokens=12, temperature=0,
                                                  stream=True, extra_body=fields):
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        roles += d.role == "assistant"
        r_part = (d.model_extra or {}).get("reasoning_content")
        if r_part is not None:
            assert isinstance(r_part, str)
            got_reasoning += r_part
        got_content += d.content or ""
    assert roles == 1
    assert got_reasoning == reasoning
    assert got_content == (content or "")


def test_sampled_n2_split_per_choice(r1, prompt_ids):
    fields = {"allowed_token_ids": [HELLO, WORLD, LT_SLASH, THINK_END], "temperature": 1.0, "seed": 5, "n": 2}
    raw = r1.post("/v1/completions", {"prompt": prompt_ids, "max_tokens": 12, **fields}).json()["choices"]
    expected = {c["index"]: vllm_split(c["text"]) for c in raw}
    assert len(expected) == 2
    r = r1.post("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 12, **fields}).json()
    got = {c["index"]: (c["message"]["reasoning_content"], c["message"]["content"]) for c in r["choices"]}
    assert got == expected
    streamed = {0: ["", ""], 1: ["", ""]}
    for ch in r1.client().chat.completions.create(model=r1.name, messages=MESSAGES, max_tokens=12, stream=True,
                                                  temperature=1.0, seed=5, n=2, extra_body={
                                                      "allowed_token_ids": fields["allowed_token_ids"]}):
        for c in ch.choices:
            streamed[c.index][0] += (c.delta.model_extra or {}).get("reasoning_content") or ""
            streamed[c.index][1] += c.delta.content or ""
    assert {i: (r, c or "") for i, (r, c) in expected.items()} == {i: tuple(v) for i, v in streamed.items()}


def test_unsteered_output_is_all_reasoning(r1):
    """Random weights almost never emit </think>: everything is reasoning, content is null."""
    r = r1.post("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 8, "temperature": 0,
                                         "logit_bias": {str(THINK_END): -100}}).json()
    msg = r["choices"][0]["message"]
    assert isinstance(msg["reasoning_content"], str) and msg["reasoning_content"]
    assert msg["content"] is None


def test_completions_are_not_parsed(r1, prompt_ids):
    fields, _ = CASES["split"]
    r = r1.post("/v1/completions", {"prompt": prompt_ids, "max_tokens": 12, "temperature": 0, **fields}).json()
    assert "reasoning_content" not in r["choices"][0]
    assert "</think>" in r["choices"][0]["text"]


def test_without_parser_content_is_raw(serve, prompt_ids):
    """The same fixture served without --reasoning-parser: the raw text is the content."""
    plain = serve("mistral", name="deepseek-ai/DeepSeek-R1")
    fields, _ = CASES["split"]
    raw = raw_text(plain, prompt_ids, fields)
    r = plain.post("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 12, "temperature": 0, **fields})
    msg = r.json()["choices"][0]["message"]
    assert msg["content"] == raw
    assert msg.get("reasoning_content") is None

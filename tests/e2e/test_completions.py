"""POST /v1/completions through the official openai client (and raw SSE where the wire format matters)."""

import pytest

from conftest import golden, sse_events

GOLDEN = golden("llama3")
CASE0 = GOLDEN["cases"][0]  # "San Francisco is a"
PROMPT = CASE0["text"]


def greedy(client, model, prompt=PROMPT, max_tokens=16, **kw):
    return client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0, **kw)


def test_basic_response_shape(client, model):
    r = greedy(client, model, max_tokens=7)
    assert r.id.startswith("cmpl-")
    assert r.object == "text_completion"
    assert r.model == model
    assert isinstance(r.created, int) and r.created > 1_600_000_000
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and isinstance(c.text, str) and c.text
    assert c.finish_reason == "length"
    assert c.logprobs is None
    assert c.model_extra.get("stop_reason", "missing") is None
    assert r.usage.prompt_tokens == len(CASE0["prompt_ids"])
    assert r.usage.completion_tokens == 7
    assert r.usage.total_tokens == r.usage.prompt_tokens + 7


def test_default_max_tokens_is_16(client, model):
    r = client.completions.create(model=model, prompt=PROMPT, temperature=0)
    assert r.usage.completion_tokens == 16
    assert r.choices[0].finish_reason == "length"


def test_model_may_be_omitted(server):
    r = server.post("/v1/completions", {"prompt": PROMPT, "max_tokens": 2, "temperature": 0})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == server.name


def test_raw_body_has_every_vllm_key(server):
    body = server.post("/v1/completions", {"model": server.name, "prompt": PROMPT, "max_tokens": 3}).json()
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert set(body["choices"][0]) == {"index", "text", "logprobs", "finish_reason", "stop_reason", "prompt_logprobs"}
    assert set(body["usage"]) == {"prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details"}


def test_stream_equals_non_stream(server, client, model):
    whole = greedy(client, model).choices[0].text
    chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=16, temperature=0, stream=True))
    assert "".join(ch.choices[0].text for ch in chunks) == whole
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(ch.choices[0].finish_reason is None for ch in chunks[:-1])
    assert all(ch.id == chunks[0].id and ch.id.startswith("cmpl-") for ch in chunks)


def test_stream_wire_format(server):
    with server.post("/v1/completions", {"model": server.name, "prompt": PROMPT, "max_tokens": 4, "temperature": 0,
                                         "stream": True}, stream=True) as r:
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    for e in events[:-1]:
        assert set(e) == {"id", "object", "created", "model", "choices", "usage"}
        assert e["object"] == "text_completion" and e["usage"] is None
        assert set(e["choices"][0]) >= {"index", "text", "logprobs", "finish_reason", "stop_reason"}


def test_stream_include_usage(client, model):
    chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=5, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    *body, last = chunks
    assert last.choices == []
    assert last.usage.completion_tokens == 5
    assert last.usage.prompt_tokens == len(CASE0["prompt_ids"])
    assert last.usage.total_tokens == last.usage.prompt_tokens + 5
    assert all(ch.usage is None for ch in body)
    assert "".join(ch.choices[0].text for ch in body) == greedy(client, model, max_tokens=5).choices[0].text


def test_stream_continuous_usage(client, model):
    chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=4, temperature=0, stream=True,
                                            stream_options={"include_usage": True, "continuous_usage_stats": True}))
    assert all(ch.usage is not None for ch in chunks)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    counts = [ch.usage.completion_tokens for ch in chunks]
    assert counts == sorted(counts)


def test_n_choices_have_distinct_indexes(client, model):
    r = client.completions.create(model=model, prompt=PROMPT, max_tokens=6, n=3, temperature=1.0, seed=7)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert len({c.text for c in r.choices}) > 1  # three random samples of a 128k vocabulary
    assert r.usage.completion_tokens == 18


def test_n_stream(client, model):
    chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=4, n=2, temperature=1.0, seed=7,
                                            stream=True))
    texts, finished = {0: "", 1: ""}, set()
    for ch in chunks:
        (c,) = ch.choices
        texts[c.index] += c.text
        if c.finish_reason:
            finished.add(c.index)
    assert finished == {0, 1}
    whole = client.completions.create(model=model, prompt=PROMPT, max_tokens=4, n=2, temperature=1.0, seed=7)
    assert {c.index: c.text for c in whole.choices} == texts


def test_list_of_prompts(client, model):
    prompts = [GOLDEN["cases"][0]["text"], GOLDEN["cases"][1]["text"]]
    r = client.completions.create(model=model, prompt=prompts, max_tokens=32, temperature=0,
                                  extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == [0, 1]
    assert [c.text for c in r.choices] == [GOLDEN["cases"][i]["greedy_text"] for i in range(2)]
    assert r.usage.prompt_tokens == len(GOLDEN["cases"][0]["prompt_ids"]) + len(GOLDEN["cases"][1]["prompt_ids"])


def test_list_of_prompts_with_n(client, model):
    r = client.completions.create(model=model, prompt=[[128000, 9906], [128000, 22691]], max_tokens=2, n=2,
                                  temperature=1.0, seed=1)
    assert sorted(c.index for c in r.choices) == [0, 1, 2, 3]


def test_logprobs(client, model):
    r = greedy(client, model, max_tokens=8, logprobs=3)
    c = r.choices[0]
    lp = c.logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 8
    assert "".join(lp.tokens) == c.text
    for tok, tlp, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert tlp <= 0.0
        assert 3 <= len(top) <= 4 and tok in top
        assert top[tok] == pytest.approx(tlp)
        assert tlp == pytest.approx(max(top.values()))  # greedy: the sampled token is the most likely
    # text_offset counts characters (Python str indexes, as vLLM), not UTF-8 bytes.
    assert lp.text_offset[0] == 0
    for i in range(1, 8):
        assert lp.text_offset[i] == lp.text_offset[i - 1] + len(lp.tokens[i - 1])
        assert c.text[lp.text_offset[i]:].startswith(lp.tokens[i])


def test_logprobs_stream_match(client, model):
    whole = greedy(client, model, max_tokens=6, logprobs=2).choices[0].logprobs
    tokens, lps, offsets = [], [], []
    for ch in client.completions.create(model=model, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=2,
                                        stream=True):
        lp = ch.choices[0].logprobs
        if lp:
            tokens += lp.tokens
            lps += lp.token_logprobs
            offsets += lp.text_offset
    assert tokens == whole.tokens
    assert lps == pytest.approx(whole.token_logprobs)
    assert offsets == whole.text_offset


def test_stop_string(client, model):
    text = CASE0["greedy_text"]
    r = greedy(client, model, max_tokens=32, stop="presidential", extra_body={"ignore_eos": True})
    c = r.choices[0]
    assert c.finish_reason == "stop"
    assert c.model_extra["stop_reason"] == "presidential"
    assert c.text == text[: text.index("presidential")]


def test_stop_string_spanning_tokens(client, model):
    # "rompt" and ".AppendText" are separate tokens of the golden continuation.
    text = CASE0["greedy_text"]
    r = greedy(client, model, max_tokens=32, stop=["never-there", "rompt.Append"])
    c = r.choices[0]
    assert (c.finish_reason, c.model_extra["stop_reason"]) == ("stop", "rompt.Append")
    assert c.text == text[: text.index("rompt.Append")]


def test_stop_string_included_and_streamed(client, model):
    text = CASE0["greedy_text"]
    expected = text[: text.index("presidential") + len("presidential")]
    r = greedy(client, model, max_tokens=32, stop="presidential", extra_body={"include_stop_str_in_output": True})
    assert r.choices[0].text == expected
    chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=32, temperature=0,
                                            stop="presidential", stream=True))
    assert "".join(ch.choices[0].text for ch in chunks) == text[: text.index("presidential")]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices[0].model_extra["stop_reason"] == "presidential"


def test_stop_token_ids(client, model):
    stop_id = CASE0["greedy_ids"][3]
    r = greedy(client, model, max_tokens=32, extra_body={"stop_token_ids": [stop_id]})
    c = r.choices[0]
    assert (c.finish_reason, c.model_extra["stop_reason"]) == ("stop", stop_id)
    assert r.usage.completion_tokens == 4


def test_seeded_sampling_is_reproducible(client, model):
    def sample(seed, stream=False):
        kw = dict(model=model, prompt=PROMPT, max_tokens=12, temperature=1.0, seed=seed)
        if stream:
            return "".join(ch.choices[0].text for ch in client.completions.create(stream=True, **kw))
        return client.completions.create(**kw).choices[0].text

    a, b = sample(1234), sample(1234)
    assert a == b
    assert sample(1234, stream=True) == a
    assert sample(99) != a
    assert a != greedy(client, model, max_tokens=12).choices[0].text


def test_echo(client, model):
    plain = greedy(client, model, max_tokens=4).choices[0].text
    r = greedy(client, model, max_tokens=4, echo=True)
    assert r.choices[0].text == PROMPT + plain


def test_logit_bias_forces_a_token(client, model):
    r = greedy(client, model, max_tokens=3, logit_bias={"9906": 100})  # 9906 = "Hello"
    assert r.choices[0].text == "HelloHelloHello"


def test_allowed_token_ids(client, model):
    r = greedy(client, model, max_tokens=6, logprobs=0, extra_body={"allowed_token_ids": [9906, 22691]})
    tokens = r.choices[0].logprobs.tokens  # 9906 = "Hello", 22691 = " Hello"
    assert len(tokens) == 6 and set(tokens) <= {"Hello", " Hello"}


def test_prompt_logprobs_match_transformers_argmax(server):
    """prompt_logprobs: one entry per prompt position; the rank-1 token at each position is the argmax
    transformers recorded for the previous position's logits."""
    body = {"model": server.name, "prompt": CASE0["prompt_ids"], "max_tokens": 1, "temperature": 0,
            "prompt_logprobs": 2}
    plp = server.post("/v1/completions", body).json()["choices"][0]["prompt_logprobs"]
    ids = CASE0["prompt_ids"]
    assert len(plp) == len(ids) and plp[0] is None
    for pos in range(1, len(ids)):
        entry = plp[pos]
        assert str(ids[pos]) in entry  # the prompt token itself
        assert 2 <= len(entry) <= 3
        for lp in entry.values():
            assert set(lp) == {"logprob", "rank", "decoded_token"} and lp["logprob"] <= 0 and lp["rank"] >= 1
        best = min(entry.items(), key=lambda kv: kv[1]["rank"])
        assert best[1]["rank"] == 1
        assert int(best[0]) == CASE0["position_stats"][pos - 1]["argmax"]
    chat = server.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
                                                "prompt_logprobs": 0}).json()
    n_prompt = chat["usage"]["prompt_tokens"]
    assert len(chat["prompt_logprobs"]) == n_prompt and chat["prompt_logprobs"][0] is None
    assert all(len(e) == 1 for e in chat["prompt_logprobs"][1:])


EOT = 128009  # <|eot_id|>, the tokenizer's EOS (generation_config adds 128001 and 128008)


def test_eos_finishes_with_stop(client, model):
    r = client.completions.create(model=model, prompt="Hi", max_tokens=5, logit_bias={str(EOT): 100})
    c = r.choices[0]
    assert (c.text, c.finish_reason, c.model_extra["stop_reason"]) == ("", "stop", None)
    assert r.usage.completion_tokens == 1


def test_min_tokens_masks_eos(client, model):
    r = client.completions.create(model=model, prompt="Hi", max_tokens=8, logit_bias={str(EOT): 100},
                                  extra_body={"min_tokens": 3})
    assert (r.choices[0].finish_reason, r.usage.completion_tokens) == ("stop", 4)
    r = client.completions.create(model=model, prompt="Hi", max_tokens=8, logit_bias={str(EOT): 100},
                                  extra_body={"ignore_eos": True})
    assert (r.choices[0].finish_reason, r.usage.completion_tokens) == ("length", 8)
    assert r.choices[0].text == ""  # eight EOS tokens, skipped as special tokens


def test_stop_token_included_on_request(client, model):
    r = greedy(client, model, prompt="Hi", max_tokens=5, logit_bias={"9906": 100},
               extra_body={"stop_token_ids": [9906], "include_stop_str_in_output": True})
    c = r.choices[0]
    assert (c.text, c.finish_reason, c.model_extra["stop_reason"]) == ("Hello", "stop", 9906)


# vLLM V1 leaves the token that stops generation (stop_token_ids, or EOS even with
# skip_special_tokens=false) out of the text unless include_stop_str_in_output.
def test_stop_token_text_is_not_in_the_output(client, model):
    r = greedy(client, model, prompt="Hi", max_tokens=5, logit_bias={"9906": 100},
               extra_body={"stop_token_ids": [9906]})
    assert (r.choices[0].text, r.choices[0].model_extra["stop_reason"]) == ("", 9906)
    r = greedy(client, model, prompt="Hi", max_tokens=5, logit_bias={str(EOT): 100},
               extra_body={"skip_special_tokens": False})
    assert r.choices[0].text == ""


def test_max_tokens_null_means_up_to_the_context(client, model):
    prompt = [128000] + [9906] * 499
    r = client.completions.create(model=model, prompt=prompt, max_tokens=None, temperature=0,
                                  extra_body={"ignore_eos": True})
    assert (r.choices[0].finish_reason, r.usage.completion_tokens) == ("length", 12)

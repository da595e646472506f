"""Greedy continuations equal Hugging Face transformers' (the fixtures' golden.json), for every
fixture architecture and tokenizer, through the HTTP API."""

import pytest

from conftest import golden

FIXTURES = ["llama3", "qwen2", "mistral"]
SERVER_FLAGS = {"mistral": ("--reasoning-parser", "deepseek_r1")}  # shared with test_reasoning.py


@pytest.fixture(scope="module", params=FIXTURES)
def fixture_server(request, serve):
    return request.param, serve(request.param, *SERVER_FLAGS.get(request.param, ()))


@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("as_ids", [True, False], ids=["token_ids", "text"])
def test_greedy_text_matches_transformers(fixture_server, case, as_ids):
    fixture, s = fixture_server
    c = golden(fixture)["cases"][case]
    prompt = c["prompt_ids"] if as_ids else c["text"]
    r = s.client().completions.create(model=s.name, prompt=prompt, max_tokens=len(c["greedy_ids"]), temperature=0,
                                      extra_body={"ignore_eos": True})
    assert r.usage.prompt_tokens == len(c["prompt_ids"])  # the text tokenizes as transformers did
    assert r.usage.completion_tokens == len(c["greedy_ids"])
    assert r.choices[0].text == c["greedy_text"]


@pytest.mark.parametrize("case", range(3))
def test_greedy_tokens_match_transformers_ids(fixture_server, case):
    """Token by token: each sampled token's text (logprobs=0) equals /detokenize of the golden id."""
    fixture, s = fixture_server
    c = golden(fixture)["cases"][case]
    r = s.client().completions.create(model=s.name, prompt=c["prompt_ids"], max_tokens=len(c["greedy_ids"]),
                                      temperature=0, logprobs=0, extra_body={"ignore_eos": True})
    expected = [s.post("/detokenize", {"tokens": [i]}).json()["prompt"] for i in c["greedy_ids"]]
    assert r.choices[0].logprobs.tokens == expected


def test_greedy_stream_matches_transformers(fixture_server):
    fixture, s = fixture_server
    c = golden(fixture)["cases"][2]  # non-ASCII text: incremental detokenization must hold back partial UTF-8
    chunks = s.client().completions.create(model=s.name, prompt=c["prompt_ids"], max_tokens=len(c["greedy_ids"]),
                                           temperature=0, stream=True, extra_body={"ignore_eos": True})
    assert "".join(ch.choices[0].text for ch in chunks) == c["greedy_text"]

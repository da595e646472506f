"""Every error case of spec/api.md: status, {"error":{"message","type","param","code"}}, vLLM's messages;
and --api-key / VLLM_API_KEY."""

import re

import openai
import pytest
import requests

from conftest import MAX_MODEL_LEN, assert_error

COMPLETIONS, CHAT = "/v1/completions", "/v1/chat/completions"
MSGS = [{"role": "user", "content": "Hi"}]


def post_raw(server, path, data, content_type="application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(server.url + path, data=data, headers=headers, timeout=30)


# ---- model, lengths ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,body", [(COMPLETIONS, {"prompt": "Hi"}), (CHAT, {"messages": MSGS})])
def test_unknown_model(server, path, body):
    r = server.post(path, {**body, "model": "gpt-4"})
    assert_error(r, 404, "The model `gpt-4` does not exist.", param="model", etype="NotFoundError")


def test_unknown_model_openai_client(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="gpt-4", prompt="Hi")
    assert e.value.status_code == 404


@pytest.mark.parametrize("n_prompt", [MAX_MODEL_LEN, MAX_MODEL_LEN + 88])
def test_prompt_too_long(server, n_prompt):
    r = server.post(COMPLETIONS, {"model": server.name, "prompt": [9906] * n_prompt, "max_tokens": 1})
    assert_error(r, 400, f"This model's maximum context length is {MAX_MODEL_LEN} tokens. However, your request "
                         f"has {n_prompt} input tokens. Please reduce the length of the input messages.",
                 etype="BadRequestError")


def test_chat_prompt_too_long(server):
    r = server.post(CHAT, {"messages": [{"role": "user", "content": "Hello " * 600}]})
    assert_error(r, 400, re.compile(r"^This model's maximum context length is 512 tokens\. However, your request "
                                    r"has \d+ input tokens\. Please reduce the length of the input messages\.$"))


def test_prompt_plus_max_tokens_too_long(server):
    r = server.post(COMPLETIONS, {"prompt": [9906] * 500, "max_tokens": 13})
    assert_error(r, 400, "'max_tokens' or 'max_completion_tokens' is too large: 13. This model's maximum context "
                         "length is 512 tokens and your request has 500 input tokens (13 > 512 - 500).")
    ok = server.post(COMPLETIONS, {"prompt": [9906] * 500, "max_tokens": 12, "temperature": 0})
    assert ok.status_code == 200, ok.text


def test_chat_max_completion_tokens_too_long(server):
    n = server.post("/tokenize", {"messages": MSGS}).json()["count"]
    r = server.post(CHAT, {"messages": MSGS, "max_completion_tokens": 1000})
    assert_error(r, 400, f"'max_tokens' or 'max_completion_tokens' is too large: 1000. This model's maximum "
                         f"context length is 512 tokens and your request has {n} input tokens "
                         f"(1000 > 512 - {n}).")


def test_too_long_through_openai_client(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model, prompt="Hi", max_tokens=100000)
    assert "maximum context length is 512" in e.value.message


# ---- body format ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [COMPLETIONS, CHAT, "/tokenize", "/detokenize"])
@pytest.mark.parametrize("data", [b'{"prompt": "Hi"', b"not json", b"", b'{"prompt": "Hi"} trailing', b"\xff\xfe"])
def test_malformed_json(server, path, data):
    assert_error(post_raw(server, path, data), 400, etype="BadRequestError")


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"null", b"42"])
def test_body_not_an_object(server, data):
    assert_error(post_raw(server, COMPLETIONS, data), 400)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/jsonl",
                                   "application/json-patch+json", None])
@pytest.mark.parametrize("path", [COMPLETIONS, CHAT])
def test_wrong_content_type(server, path, ctype):
    r = post_raw(server, path, b'{"prompt": "Hi", "messages": [{"role": "user", "content": "Hi"}]}', ctype)
    assert_error(r, 400, "Unsupported Media Type: Only 'application/json' is allowed")


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "Application/JSON", "application/json ;x=1"])
def test_content_type_variants_are_fine(server, ctype):
    r = post_raw(server, COMPLETIONS, b'{"prompt": "Hi", "max_tokens": 1}', ctype)
    assert r.status_code == 200, r.text


def test_unknown_fields_are_ignored(server):
    r = server.post(COMPLETIONS, {"prompt": "Hi", "max_tokens": 1, "no_such_field": {"x": 1}, "another": [1]})
    assert r.status_code == 200, r.text


# ---- wrong types: 400 naming the field (never 422) ---------------------------------------------

WRONG_TYPES = [
    ("temperature", "hot"), ("n", "2"), ("max_tokens", "5"), ("max_tokens", 1.5), ("top_p", [1]),
    ("top_k", "x"), ("stream", "yes"), ("stop", 5), ("stop", [1, 2]), ("seed", "x"), ("logprobs", "3"),
    ("presence_penalty", {}), ("logit_bias", [1]), ("logit_bias", {"abc": 1}), ("ignore_eos", "no"),
    ("stop_token_ids", "1"), ("echo", 1), ("stream_options", "x"), ("model", 5),
]


@pytest.mark.parametrize("field,value", WRONG_TYPES, ids=[f"{f}={v!r}" for f, v in WRONG_TYPES])
def test_completion_wrong_types(server, field, value):
    err = assert_error(server.post(COMPLETIONS, {"prompt": "Hi", field: value}), 400, etype="BadRequestError")
    assert field in err["message"] or err["param"] == field, err


@pytest.mark.parametrize("field,value", [("temperature", "hot"), ("n", "2"), ("logprobs", "yes"),
                                         ("top_logprobs", "2"), ("max_completion_tokens", "5"),
                                         ("messages", "hi"), ("messages", [5]), ("messages", [{"content": "x"}]),
                                         ("messages", [{"role": "user", "content": 5}]),
                                         ("messages", [{"role": "user", "content": [{"type": "text", "text": 5}]}]),
                                         ("messages", [{"role": "user", "content": [{"type": "image_url"}]}]),
                                         ("tools", "x")])
def test_chat_wrong_types(server, field, value):
    body = {"messages": MSGS, field: value}
    assert_error(server.post(CHAT, body), 400, etype="BadRequestError")


@pytest.mark.parametrize("prompt", [[], "", [[]], [1.5], [[1, "a"]], [None], {"a": 1}, 5, [-1], [128256],
                                    [4294967297], [1, 2 ** 40]])
def test_bad_prompts(server, prompt):
    r = server.post(COMPLETIONS, {"prompt": prompt, "max_tokens": 1})
    if prompt == "":  # vLLM accepts it: the BOS token alone is the prompt
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["prompt_tokens"] == 1
        return
    assert_error(r, 400, param="prompt")


def test_prompt_required(server):
    assert_error(server.post(COMPLETIONS, {"max_tokens": 1}), 400)
    assert_error(server.post(CHAT, {"max_tokens": 1}), 400)


# ---- invalid values ---------------------------------------------------------------------------

INVALID = [
    ({"n": 0}, "n must be at least 1, got 0."),
    ({"n": -3}, None),
    ({"n": 4294967297}, None),  # must not wrap around to 1
    ({"n": 1e10}, None),
    ({"temperature": -1}, "temperature must be non-negative, got -1.0."),
    ({"temperature": 2.5}, None),
    ({"top_p": 0}, "top_p must be in (0, 1], got 0.0."),
    ({"top_p": 1.5}, None),
    ({"logprobs": 21}, "Requested sample logprobs of 21, which is greater than max allowed: 20"),
    ({"top_k": -2}, "top_k must be 0 (disable), or at least 1, got -2."),
    ({"min_p": 2}, None),
    ({"presence_penalty": 3}, None),
    ({"frequency_penalty": -2.5}, None),
    ({"repetition_penalty": 0}, None),
    ({"max_tokens": 0}, None),
    ({"max_tokens": -1}, None),
    ({"max_tokens": 2 ** 63 + 5}, None),
    ({"best_of": 3}, None),
    ({"stop_token_ids": [-5]}, None),
    ({"stop_token_ids": [4294967297]}, None),
    ({"logit_bias": {"999999999": 1}}, None),
    ({"logit_bias": {"4294967297": 1}}, None),
    ({"allowed_token_ids": [999999999]}, None),
    ({"allowed_token_ids": []}, None),
    ({"n": 2, "temperature": 0}, "n must be 1 when using greedy sampling, got 2."),
    ({"stream_options": {"include_usage": True}}, "Stream options can only be defined when `stream=True`."),
]


@pytest.mark.parametrize("fields,message", INVALID, ids=[repr(f) for f, _ in INVALID])
def test_invalid_values(server, fields, message):
    body = {"prompt": "Hi", "max_tokens": 2, **fields}
    assert_error(server.post(COMPLETIONS, body), 400, message, etype="BadRequestError")


def test_invalid_values_chat(server):
    for fields in ({"n": 0}, {"temperature": -1}, {"top_p": 0}, {"top_k": -2}, {"max_completion_tokens": 0},
                   {"logprobs": True, "top_logprobs": 21}):
        assert_error(server.post(CHAT, {"messages": MSGS, **fields}), 400)


def test_suffix_rejected(server):
    assert_error(server.post(COMPLETIONS, {"prompt": "Hi", "suffix": "end"}), 400,
                 "suffix is not currently supported")


def test_top_logprobs_requires_logprobs(server):
    assert_error(server.post(CHAT, {"messages": MSGS, "top_logprobs": 2}), 400,
                 "when using `top_logprobs`, `logprobs` must be set to true.")
    assert_error(server.post(CHAT, {"messages": MSGS, "top_logprobs": 2, "logprobs": False}), 400)
    assert server.post(CHAT, {"messages": MSGS, "top_logprobs": 0, "max_tokens": 1}).status_code == 200


@pytest.mark.parametrize("path,base", [(COMPLETIONS, {"prompt": "Hi"}), (CHAT, {"messages": MSGS})])
@pytest.mark.parametrize("fmt", [{"type": "json_object"},
                                 {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}])
def test_response_format_not_implemented(server, path, base, fmt):
    assert_error(server.post(path, {**base, "response_format": fmt}), 501, etype="NotImplementedError")


def test_response_format_text_is_fine(server):
    r = server.post(CHAT, {"messages": MSGS, "max_tokens": 1, "response_format": {"type": "text"}})
    assert r.status_code == 200, r.text


def test_guided_decoding_not_implemented(server):
    assert_error(server.post(COMPLETIONS, {"prompt": "Hi", "guided_choice": ["a", "b"]}), 501,
                 etype="NotImplementedError")


def test_openai_client_raises_bad_request(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model, prompt="Hi", temperature=-1)
    assert e.value.status_code == 400
    assert e.value.body["message"] == "temperature must be non-negative, got -1.0."


def test_tokenize_errors(server):
    assert_error(server.post("/tokenize", {"model": "nope", "prompt": "x"}), 404)
    assert_error(server.post("/tokenize", {"prompt": 5}), 400)
    assert_error(server.post("/detokenize", {"tokens": "abc"}), 400)
    assert_error(server.post("/detokenize", {"tokens": [-1]}), 400)
    assert_error(server.post("/detokenize", {"tokens": [10 ** 9]}), 400)
    assert_error(server.post("/detokenize", {"tokens": [4294967297]}), 400)


# ---- --api-key ----------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["flag", "env"])
def auth_server(serve, request):
    if request.param == "flag":
        return serve("llama3", "--api-key", "s3cret")
    return serve("llama3", env={"VLLM_API_KEY": "s3cret"})


def test_api_key_required_on_v1(auth_server):
    for path in ("/v1/models",):
        r = auth_server.get(path)
        assert (r.status_code, r.json()) == (401, {"error": "Unauthorized"})
        r = auth_server.get(path, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = auth_server.get(path, headers={"Authorization": "s3cret"})
        assert r.status_code == 401
        assert auth_server.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    r = auth_server.post(COMPLETIONS, {"prompt": "Hi", "max_tokens": 1})
    assert (r.status_code, r.json()) == (401, {"error": "Unauthorized"})
    r = auth_server.post(CHAT, {"messages": MSGS, "max_tokens": 1}, headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200, r.text


def test_api_key_not_required_elsewhere(auth_server):
    assert auth_server.get("/health").status_code == 200
    assert auth_server.get("/metrics").status_code == 200
    assert auth_server.get("/version").status_code == 200
    r = requests.options(auth_server.url + "/v1/completions", timeout=10,
                         headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200


def test_api_key_openai_client(auth_server):
    with pytest.raises(openai.AuthenticationError):
        auth_server.client(api_key="wrong").models.list()
    c = auth_server.client(api_key="s3cret")
    assert c.completions.create(model=auth_server.name, prompt="Hi", max_tokens=2).usage.completion_tokens == 2


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


def test_tool_choice(server):
    base = {"messages": MSGS, "tools": TOOLS, "max_tokens": 1}
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        assert_error(server.post(CHAT, {**base, "tool_choice": choice}), 501, param="tool_choice",
                     etype="NotImplementedError")
    for choice in (5, "sometimes"):
        assert_error(server.post(CHAT, {**base, "tool_choice": choice}), 400, param="tool_choice")
    for choice in ("auto", "none", None):
        r = server.post(CHAT, {**base, "tool_choice": choice})
        assert r.status_code == 200, r.text
    with_tools = server.post(CHAT, base).json()["usage"]["prompt_tokens"]
    assert with_tools == server.post("/tokenize", {"messages": MSGS, "tools": TOOLS}).json()["count"]
    assert with_tools > server.post(CHAT, {"messages": MSGS, "max_tokens": 1}).json()["usage"]["prompt_tokens"]

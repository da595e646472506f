"""The chat prompt the server builds equals Hugging Face's apply_chat_template rendering (jinja2 with
transformers' environment), for the three real tokenizers' templates, with and without tools."""

import json
from datetime import datetime

import jinja2
import jinja2.ext
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from conftest import TESTDATA, golden
from test_golden import SERVER_FLAGS

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                   "required": ["city"]}}}]

CONVERSATIONS = {
    "single": [{"role": "user", "content": "Hi there"}],
    "system": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Größe 東京 🚀?"}],
    "multi_turn": [{"role": "user", "content": "What is 2+2?"},
                   {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\n4"},
                   {"role": "user", "content": "And 3+3?"}],
}


def hf_render(tokenizer_config, messages, add_generation_prompt=True, tools=None):
    """transformers' apply_chat_template(tokenize=False) environment."""
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    special = {}
    for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
        v = tokenizer_config.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            special[key] = v
    return env.from_string(tokenizer_config["chat_template"]).render(
        messages=messages, tools=tools, documents=None, add_generation_prompt=add_generation_prompt, **special)


@pytest.fixture(scope="module", params=["llama3", "qwen2", "mistral"])
def templated(request, serve):
    fixture = request.param
    with open(TESTDATA / golden(fixture)["tokenizer"] / "tokenizer_config.json") as f:
        config = json.load(f)
    return serve(fixture, *SERVER_FLAGS.get(fixture, ())), config


def server_prompt(s, body):
    r = s.post("/tokenize", body)
    assert r.status_code == 200, r.text
    return s.post("/detokenize", {"tokens": r.json()["tokens"]}).json()["prompt"]


@pytest.mark.parametrize("conv", CONVERSATIONS)
@pytest.mark.parametrize("agp", [True, False], ids=["gen_prompt", "no_gen_prompt"])
def test_prompt_equals_transformers_rendering(templated, conv, agp):
    s, config = templated
    msgs = CONVERSATIONS[conv]
    expected = hf_render(config, msgs, add_generation_prompt=agp)
    assert server_prompt(s, {"messages": msgs, "add_generation_prompt": agp}) == expected


def test_prompt_with_tools_equals_transformers_rendering(templated):
    s, config = templated
    msgs = CONVERSATIONS["single"]
    expected = hf_render(config, msgs, tools=TOOLS)
    assert server_prompt(s, {"messages": msgs, "tools": TOOLS}) == expected
    r = s.post("/v1/chat/completions", {"messages": msgs, "tools": TOOLS, "max_tokens": 1})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["prompt_tokens"] == s.post("/tokenize", {"messages": msgs, "tools": TOOLS}).json()["count"]

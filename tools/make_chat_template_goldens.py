#!/usr/bin/env python3
"""Render the real chat templates in ../shared/testdata with Python jinja2, configured exactly as
Hugging Face transformers' apply_chat_template configures it, and write the renderings to
tests/fixtures/chat_templates/goldens.json for tests/tokenizer/chat_template_golden_test.cpp.

It also refreshes tests/fixtures/chat_templates/jinja_cases.json (tests/tokenizer/
chat_template_jinja_cases_test.cpp): small templates probing jinja2 semantics. Its "curated"
entries (template + context) are inputs kept in that file; the script recomputes their expected
output or error, and regenerates the seeded random "whitespace" entries (trim_blocks,
lstrip_blocks and -/+ whitespace control mixed with tags, comments and raw blocks).

The environment mirrors transformers.utils.chat_template_utils._compile_jinja_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[AssistantTracker, jinja2.ext.loopcontrols]), filters["tojson"] overridden by
json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys),
globals raise_exception (TemplateError) and strftime_now (datetime.now().strftime; here a fixed
time, stored in the goldens so the C++ test uses the same one). The render call mirrors
render_jinja_template: template.render(messages=..., tools=..., documents=..., add_generation_prompt=...,
**special_tokens_map, **kwargs).

Usage: tools/make_chat_template_goldens.py [--testdata DIR] [--out FILE] [--cases FILE]
Needs only jinja2 (3.1.x); transformers is not required.
"""

import argparse
import copy
import datetime
import json
import os
import random
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXED_NOW = datetime.datetime(2025, 3, 14, 9, 26, 53, 589793)


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} tag; outside return_assistant_tokens_mask it renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def special_tokens_map(tokenizer_config):
    """transformers' tokenizer.special_tokens_map: the set special tokens as strings."""
    out = {}
    for key in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        text = token_text(tokenizer_config.get(key))
        if text is not None:
            out[key] = text
    extra = [token_text(t) for t in tokenizer_config.get("additional_special_tokens") or []]
    extra = [t for t in extra if t is not None]
    if extra:
        out["additional_special_tokens"] = extra
    return out


# ---- conversations ------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location — \"quoted\", ünïcödé, 天气.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 1},
                "threshold": {"type": "number", "default": 0.5},
                "verbose": {"type": "boolean", "default": False},
                "extra": {"type": ["string", "null"], "default": None},
            },
            "required": ["location"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web.\nReturns a list of results.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
            "required": ["query"],
        },
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER1 = {"role": "user", "content": "Hello, how are you?"}
ASSISTANT1 = {"role": "assistant", "content": "I'm doing great. How can I help you today?"}
USER2 = {"role": "user", "content": "I'd like to show off how chat templating works!"}
WEATHER_Q = {"role": "user", "content": "What's the weather in Paris and in Tokyo?"}


def tool_call(name, arguments, call_id):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_result(call_id, name, content):
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


PARIS_ARGS = {"location": "Paris, France", "unit": "celsius"}
TOKYO_ARGS = {"location": "Tokyo, Japan", "unit": "celsius"}
PARIS_RESULT = '{"temperature": 18.5, "condition": "cloudy"}'
TOKYO_RESULT = '{"temperature": 22.0, "condition": "sunny"}'


def single_call(args):
    return [
        SYSTEM,
        WEATHER_Q,
        {"role": "assistant", "content": None, "tool_calls": [tool_call("get_current_weather", args, "call_1")]},
        tool_result("call_1", "get_current_weather", PARIS_RESULT),
    ]


def parallel_calls(paris, tokyo, content):
    return [
        WEATHER_Q,
        {
            "role": "assistant",
            "content": content,
            "tool_calls": [
                tool_call("get_current_weather", paris, "call_1"),
                tool_call("get_current_weather", tokyo, "call_2"),
            ],
        },
        tool_result("call_1", "get_current_weather", PARIS_RESULT),
        tool_result("call_2", "get_current_weather", TOKYO_RESULT),
        {"role": "assistant", "content": "It is 18.5°C and cloudy in Paris, 22°C and sunny in Tokyo."},
        {"role": "user", "content": "Thanks!"},
    ]


THINK = "<think>\nThe user greets me. I should answer politely.\n</think>\n\nHello! How can I help?"

# (name, messages, tools, add_generation_prompt, extra kwargs)
CONVERSATIONS = [
    ("system_user", [SYSTEM, USER1], None, True, {}),
    ("user_only_gen", [USER1], None, True, {}),
    ("user_only_nogen", [USER1], None, False, {}),
    ("multi_turn", [SYSTEM, USER1, ASSISTANT1, USER2], None, True, {}),
    ("multi_turn_no_system", [USER1, ASSISTANT1, USER2], None, False, {}),
    ("assistant_last", [SYSTEM, USER1, ASSISTANT1], None, False, {}),
    ("system_only", [SYSTEM], None, True, {}),
    ("empty_messages", [], None, True, {}),
    (
        "unicode_whitespace",
        [
            {"role": "system", "content": "  Système: réponds en français.\n\n"},
            {"role": "user", "content": "\t Héllo \"wörld\" \\ back\\slash 🤖 中文 עברית\r\nline2  \n"},
        ],
        None,
        True,
        {},
    ),
    ("deepseek_think", [USER1, {"role": "assistant", "content": THINK}, USER2], None, True, {}),
    (
        "two_system_messages",
        [SYSTEM, {"role": "system", "content": "Answer briefly."}, USER1],
        None,
        True,
        {},
    ),
    ("missing_content", [{"role": "user"}], None, True, {}),
    ("tools_no_calls", [SYSTEM, WEATHER_Q], TOOLS, True, {}),
    ("tools_single_call_dict_args", single_call(PARIS_ARGS), TOOLS, True, {}),
    ("tools_single_call_str_args", single_call(json.dumps(PARIS_ARGS)), TOOLS, True, {}),
    ("tools_parallel_dict_args", parallel_calls(PARIS_ARGS, TOKYO_ARGS, ""), TOOLS, True, {}),
    (
        "tools_parallel_str_args_content_none",
        parallel_calls(json.dumps(PARIS_ARGS), json.dumps(TOKYO_ARGS), None),
        TOOLS,
        True,
        {},
    ),
    (
        "tools_parallel_str_args_with_text",
        parallel_calls(json.dumps(PARIS_ARGS), json.dumps(TOKYO_ARGS), "Let me check both cities."),
        TOOLS,
        False,
        {},
    ),
    ("tools_without_user", [SYSTEM], TOOLS, True, {}),
    (
        "tool_result_mapping",
        [
            WEATHER_Q,
            {"role": "assistant", "content": "", "tool_calls": [tool_call("get_current_weather", PARIS_ARGS, "c1")]},
            {"role": "tool", "name": "get_current_weather",
             "content": {"temperature": 18.5, "ok": True, "note": None, "tags": ["a", "b"], "n": 3}},
        ],
        TOOLS,
        True,
        {},
    ),
    (
        "llama_builtin_tools",
        [
            SYSTEM,
            {"role": "user", "content": "Search the news about jinja."},
            {"role": "assistant", "tool_calls": [tool_call("brave_search", {"query": "jinja news"}, "b1")]},
            {"role": "ipython", "content": "No results."},
        ],
        TOOLS,
        True,
        {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]},
    ),
    (
        "llama_tools_in_system_date",
        [SYSTEM, WEATHER_Q],
        TOOLS,
        True,
        {"tools_in_user_message": False, "date_string": "01 Jan 2025"},
    ),
    ("custom_tools_kwarg", [WEATHER_Q], None, True, {"custom_tools": [SEARCH_TOOL]}),
]

# The templates: path relative to testdata, tokenizer whose special tokens apply.
TEMPLATES = [
    ("llamacpp-templates/meta-llama-Llama-3.1-8B-Instruct.jinja", "hf-tokenizers/llama-3.1-instruct"),
    ("llamacpp-templates/meta-llama-Llama-3.2-3B-Instruct.jinja", "hf-tokenizers/llama-3.1-instruct"),
    ("llamacpp-templates/meta-llama-Llama-3.3-70B-Instruct.jinja", "hf-tokenizers/llama-3.1-instruct"),
    ("llamacpp-templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "hf-tokenizers/deepseek-r1"),
    ("llamacpp-templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "hf-tokenizers/deepseek-r1"),
    ("llamacpp-templates/llama-cpp-deepseek-r1.jinja", "hf-tokenizers/deepseek-r1"),
    ("llamacpp-templates/Qwen-Qwen2.5-7B-Instruct.jinja", "hf-tokenizers/qwen2.5-instruct"),
    ("hf-tokenizers/llama-3.1-instruct/tokenizer_config.json", "hf-tokenizers/llama-3.1-instruct"),
    ("hf-tokenizers/deepseek-r1/tokenizer_config.json", "hf-tokenizers/deepseek-r1"),
    ("hf-tokenizers/qwen2.5-instruct/tokenizer_config.json", "hf-tokenizers/qwen2.5-instruct"),
    ("deepseek-tokenizer-config/deepseek_r1_style.tokenizer_config.json", "deepseek-tokenizer-config/deepseek_r1_style"),
]
# Conversations rendered for a template whose exact text was already covered under another path.
DUPLICATE_SUBSET = ["multi_turn", "tools_single_call_dict_args", "deepseek_think"]


def load_template(testdata, path):
    full = os.path.join(testdata, path)
    if path.endswith(".json"):
        with open(full, encoding="utf-8") as f:
            return json.load(f)["chat_template"]
    with open(full, encoding="utf-8", newline="") as f:
        return f.read()


def load_special_tokens(testdata, tokenizer):
    path = os.path.join(testdata, tokenizer, "tokenizer_config.json")
    if not os.path.exists(path):
        path = os.path.join(testdata, tokenizer + ".tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        return special_tokens_map(json.load(f))


def render(env, source, context):
    try:
        return {"expected": env.from_string(source).render(**copy.deepcopy(context))}
    except jinja2.exceptions.TemplateError as e:
        return {"error_type": type(e).__name__, "expected_error": str(e)}
    except Exception as e:  # noqa: BLE001 - Python errors inside the template (TypeError, ...)
        return {"error_type": type(e).__name__, "expected_error": str(e)}


WS_TEXT = [" ", "  ", "\t", "\n", "\n\n", "a", "b c", " \n ", "\r\n", "\u00a0", "\u3000x", "\n  \t"]


def random_whitespace_template(rng, depth=0):
    """A random mix of text and tags with every whitespace-control variant."""

    def mod():
        return rng.choice(["", "", "-", "+"])

    def piece():
        r = rng.random()
        if r < 0.35:
            return rng.choice(WS_TEXT)
        if r < 0.5:
            return "{{%s x %s}}" % (rng.choice(["", "-"]), rng.choice(["", "-"]))
        if r < 0.6:
            return "{#%s c %s#}" % (mod(), mod())
        if r < 0.7 and depth < 3:
            body = random_whitespace_template(rng, depth + 1)
            return "{%%%s if true %s%%}%s{%%%s endif %s%%}" % (mod(), mod(), body, mod(), mod())
        if r < 0.8 and depth < 3:
            body = random_whitespace_template(rng, depth + 1)
            return "{%%%s for i in [1, 2] %s%%}%s{%%%s endfor %s%%}" % (mod(), mod(), body, mod(), mod())
        if r < 0.85:
            return "{%%%s set y = 1 %s%%}" % (mod(), mod())
        if r < 0.9:
            return "{%%%s raw %s%%} {{ raw }} {%%%s endraw %s%%}" % (mod(), mod(), mod(), mod())
        return rng.choice(WS_TEXT)

    return "".join(piece() for _ in range(rng.randint(0 if depth else 1, 4 if depth else 8)))


def refresh_jinja_cases(env, path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    curated = []
    for case in data["curated"]:
        context = json.loads(json.dumps(case["context"]))
        entry = {"template": case["template"], "context": case["context"]}
        entry.update(render(env, case["template"], context))
        curated.append(entry)
    rng = random.Random(20250314)
    whitespace = []
    for _ in range(300):
        template = random_whitespace_template(rng)
        entry = {"template": template, "context": {"x": "X"}}
        entry.update(render(env, template, {"x": "X"}))
        whitespace.append(entry)
    data = {
        "generated_by": "tools/make_chat_template_goldens.py",
        "jinja2_version": jinja2.__version__,
        "curated": curated,
        "whitespace": whitespace,
    }
    data["now"] = {
        "year": FIXED_NOW.year,
        "month": FIXED_NOW.month,
        "day": FIXED_NOW.day,
        "hour": FIXED_NOW.hour,
        "minute": FIXED_NOW.minute,
        "second": FIXED_NOW.second,
        "microsecond": FIXED_NOW.microsecond,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"refreshed {len(curated)} curated and {len(whitespace)} whitespace cases in {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testdata", default=os.path.join(os.path.dirname(REPO), "shared", "testdata"))
    parser.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "chat_templates", "goldens.json"))
    parser.add_argument(
        "--cases", default=os.path.join(REPO, "tests", "fixtures", "chat_templates", "jinja_cases.json")
    )
    args = parser.parse_args()

    env = make_environment()
    cases = []
    seen_sources = set()
    special_tokens = {}
    for path, tokenizer in TEMPLATES:
        source = load_template(args.testdata, path)
        tokens = load_special_tokens(args.testdata, tokenizer)
        special_tokens[tokenizer] = tokens
        duplicate = source in seen_sources
        seen_sources.add(source)
        for name, messages, tools, add_generation_prompt, kwargs in CONVERSATIONS:
            if duplicate and name not in DUPLICATE_SUBSET:
                continue
            context = {
                "messages": messages,
                "tools": tools,
                "documents": None,
                "add_generation_prompt": add_generation_prompt,
                **tokens,
                **kwargs,
            }
            case = {"name": f"{path}:{name}", "template": path, "context": context}
            case.update(render(env, source, context))
            cases.append(case)

    goldens = {
        "generated_by": "tools/make_chat_template_goldens.py",
        "jinja2_version": jinja2.__version__,
        "python_version": sys.version.split()[0],
        "now": {
            "year": FIXED_NOW.year,
            "month": FIXED_NOW.month,
            "day": FIXED_NOW.day,
            "hour": FIXED_NOW.hour,
            "minute": FIXED_NOW.minute,
            "second": FIXED_NOW.second,
            "microsecond": FIXED_NOW.microsecond,
        },
        "special_tokens": special_tokens,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "expected_error" in c)
    print(f"wrote {len(cases)} cases ({errors} expected errors) to {args.out} ({os.path.getsize(args.out)} bytes)")
    refresh_jinja_cases(env, args.cases)


if __name__ == "__main__":
    main()

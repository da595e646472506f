#!/usr/bin/env python3
"""Builds tiny random-weight Llama-family checkpoints and their Hugging Face transformers goldens.

Run where torch + transformers are installed (the GPU machine has them; CPU is used, float32):
    python3 tools/make_model_fixtures.py --testdata ../shared/testdata --out tests/fixtures/models

For each model it writes, in the on-disk layout of a Hugging Face hub checkpoint:
    config.json (hub-style: rope_theta + rope_scaling), generation_config.json,
    model-0000i-of-0000n.safetensors (>= 2 shards), model.safetensors.index.json,
    golden.json (prompt ids, per-position logits statistics, 32 greedy tokens, rope as transformers saw it),
    golden_logits.safetensors (last-position logits per prompt, float32).
The tokenizer is not written: tests take it from ../shared/testdata (named in golden.json).
"""
import argparse
import gzip
import json
import math
import os
import shutil
import tempfile

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    "San Francisco is a",
    "The quick brown fox jumps over the lazy dog. Once upon a time, in a land far away,",
    "Größe 東京 🚀 naïve café: 1234567 + 89 = ?",
]
NUM_GREEDY = 32

MODELS = {
    # Llama 3: llama3 rope scaling, tied embeddings, GQA, explicit head_dim != hidden/heads, bf16 on disk.
    "llama3": dict(
        tokenizer="hf-tokenizers/llama-3.1-instruct",
        dtype=torch.bfloat16,
        config={
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": 128256, "hidden_size": 32, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
            "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
            "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
            "initializer_range": 0.2, "torch_dtype": "bfloat16",
        },
        generation={"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]},
    ),
    # Qwen2: q/k/v bias, tied embeddings, yarn rope scaling, f16 on disk.
    "qwen2": dict(
        tokenizer="hf-tokenizers/qwen2.5-instruct",
        dtype=torch.float16,
        config={
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "vocab_size": 151936, "hidden_size": 16, "intermediate_size": 48,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
            "tie_word_embeddings": True, "use_sliding_window": False,
            "bos_token_id": 151643, "eos_token_id": 151645,
            "initializer_range": 0.2, "torch_dtype": "float16",
        },
        generation={"bos_token_id": 151643, "eos_token_id": [151645, 151643]},
    ),
    # Mistral-style: untied LM head, linear rope scaling, DeepSeek tokenizer (BOS added), f32 on disk.
    "mistral": dict(
        tokenizer="hf-tokenizers/deepseek-r1",
        dtype=torch.float32,
        config={
            "architectures": ["MistralForCausalLM"], "model_type": "mistral",
            "vocab_size": 129280, "hidden_size": 16, "intermediate_size": 40,
            "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1,
            "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 2.0},
            "sliding_window": None, "tie_word_embeddings": False,
            "bos_token_id": 0, "eos_token_id": 1,
            "initializer_range": 0.2, "torch_dtype": "float32",
        },
        generation={"bos_token_id": 0, "eos_token_id": 1},
    ),
}


def write_tokenizer(testdata, rel, dst):
    src = os.path.join(testdata, rel)
    with gzip.open(os.path.join(src, "tokenizer.json.gz"), "rb") as f, \
            open(os.path.join(dst, "tokenizer.json"), "wb") as g:
        shutil.copyfileobj(f, g)
    shutil.copy(os.path.join(src, "tokenizer_config.json"), dst)


def build(name, spec, testdata, out_root, shard_bytes):
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed({"llama3": 1, "qwen2": 2, "mistral": 3}[name])
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(spec["config"], f, indent=2)
        config = AutoConfig.from_pretrained(tmp)
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("norm.weight") or "layernorm" in pname:
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))   # norms near 1, not exactly 1
                elif pname.endswith(".bias"):
                    p.copy_(0.2 * torch.randn_like(p))
        model = model.to(spec["dtype"])
        model.save_pretrained(out, max_shard_size=shard_bytes, safe_serialization=True)
    # hub-style config.json (what users' checkpoints carry), whatever format this transformers writes
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(spec["config"], f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(spec["generation"], f, indent=2)
    shards = sorted(p for p in os.listdir(out) if p.endswith(".safetensors") and p.startswith("model-"))
    assert len(shards) >= 2, f"{name}: expected >= 2 shards, got {shards}"

    # Reload exactly as a user would and compute goldens in float32.
    with tempfile.TemporaryDirectory() as tmp:
        for fn in os.listdir(out):
            if not fn.startswith("golden"):
                os.symlink(os.path.join(os.path.abspath(out), fn), os.path.join(tmp, fn))
        write_tokenizer(testdata, spec["tokenizer"], tmp)
        tok = AutoTokenizer.from_pretrained(tmp)
        model = AutoModelForCausalLM.from_pretrained(tmp, torch_dtype=torch.float32).eval()
        rope = getattr(model.config, "rope_parameters", None) or getattr(model.config, "rope_scaling", None)
        cases, logits_out = [], {}
        for i, text in enumerate(PROMPTS):
            ids = tok(text).input_ids
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float()  # [seq, vocab]
            stats = [{"mean": float(l.mean()), "std": float(l.std(unbiased=False)),
                      "min": float(l.min()), "max": float(l.max()), "argmax": int(l.argmax())}
                     for l in logits]
            logits_out[f"prompt{i}"] = logits[-1].contiguous()
            seq, greedy, margins = list(ids), [], []
            with torch.no_grad():
                for _ in range(NUM_GREEDY):
                    last = model(torch.tensor([seq])).logits[0, -1].float()
                    top = torch.topk(last, 2)
                    nxt = int(top.indices[0])
                    margins.append(float(top.values[0] - top.values[1]))
                    greedy.append(nxt)
                    seq.append(nxt)
            cases.append({"text": text, "prompt_ids": ids, "position_stats": stats,
                          "greedy_ids": greedy, "greedy_top2_margin_min": min(margins),
                          "greedy_text": tok.decode(greedy)})
    save_file(logits_out, os.path.join(out, "golden_logits.safetensors"))
    golden = {"model": name, "tokenizer": spec["tokenizer"], "transformers": transformers.__version__,
              "torch": torch.__version__, "compute_dtype": "float32",
              "rope_as_loaded": json.loads(json.dumps(rope, default=str)), "cases": cases}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
    print(f"{name}: shards={shards} min top2 margin="
          f"{min(c['greedy_top2_margin_min'] for c in cases):.4f} rope={rope}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--testdata", default="../shared/testdata")
    ap.add_argument("--out", default="tests/fixtures/models")
    ap.add_argument("--shard-bytes", default="3MB")
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    for name, spec in MODELS.items():
        if not a.only or name in a.only:
            build(name, spec, a.testdata, a.out, a.shard_bytes)


if __name__ == "__main__":
    main()

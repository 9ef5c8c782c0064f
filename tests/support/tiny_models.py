"""Tiny open models made on the spot for "bring your own model" tests: random weights, real architectures.

Each is a Hugging Face folder (config.json, safetensors, the bundled model's tokenizer with its chat template), a few
million parameters (hidden size 64, 2 layers), so it loads, answers and trains in a second on a CPU.
"""

from pathlib import Path

ARCHITECTURES = {"tiny-llama": "LlamaForCausalLM", "tiny-qwen2": "Qwen2ForCausalLM"}


def _config(config_class, tokenizer):
    return config_class(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id)


def make_models_folder(root: Path) -> dict[str, int]:
    """Write tiny-llama and tiny-qwen2 into `root`, plus two folders that cannot be used (no-template: no chat
    template; no-config: weights alone). Returns each usable model's parameter count."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    from apps.llm.bundled import bundled_tokenizer

    tokenizer = bundled_tokenizer()
    counts = {}
    for name, config_class in (("tiny-llama", LlamaConfig), ("tiny-qwen2", Qwen2Config)):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(_config(config_class, tokenizer))
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        counts[name] = sum(p.numel() for p in model.parameters())
    no_template = root / "no-template"
    model.save_pretrained(no_template)
    (no_template / "tokenizer.json").write_text((root / "tiny-qwen2" / "tokenizer.json").read_text())
    (root / "no-config").mkdir()
    (root / "no-config" / "model.safetensors").write_bytes((root / "tiny-qwen2" / "model.safetensors").read_bytes())
    return counts

"""A merged fine-tune as one GGUF file (f16 or Q8_0) for llama.cpp and Ollama, written with the `gguf` package.

The base model ships as a GGUF itself (the bundled SmolLM2): its metadata (architecture, hyperparameters, the
tokenizer, the chat template) is copied key by key, and the merged weights are written under its tensor names, in its
order. The Llama family's q and k projections are stored in GGUF with their rows permuted for llama.cpp's rotary
embedding (llama.cpp's convert_hf_to_gguf.py `permute`, undone by transformers' GGUF loader): they are permuted the
same way here. Other architectures are refused with the reason. numpy and gguf only: the caller hands in the model.
"""

from pathlib import Path

from apps.core.exceptions import ApplicationError

SUPPORTED_ARCHITECTURES = ("llama",)  # the Llama family: Llama, SmolLM, TinyLlama, Mistral-style llama GGUFs
FILE_TYPES = ("f16", "q8_0")
# Keys the writer sets itself, or that describe the template's own tensors rather than ours.
SKIPPED_KEYS = ("general.architecture", "general.file_type", "general.quantization_version", "general.alignment")
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
BLOCK_NAMES = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
               "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
               "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def gguf_refusal(model_type: str) -> str:
    """Why a model of this architecture cannot be exported as GGUF here ('' when it can)."""
    if model_type in SUPPORTED_ARCHITECTURES:
        return ""
    return (f"GGUF export supports the Llama family ({', '.join(SUPPORTED_ARCHITECTURES)}) only; this model's "
            f"architecture is {model_type!r}. Export the merged weights and convert them with llama.cpp's "
            "convert_hf_to_gguf.py instead.")


def hf_name(gguf_name: str) -> str:
    """The transformers state-dict name of a Llama GGUF tensor: blk.3.attn_q.weight -> model.layers.3.self_attn…"""
    stem, suffix = gguf_name.rsplit(".", 1)
    try:
        if stem.startswith("blk."):
            _, block, part = stem.split(".", 2)
            return f"model.layers.{block}.{BLOCK_NAMES[part]}.{suffix}"
        return f"{TOP_NAMES[stem]}.{suffix}"
    except KeyError:
        raise ApplicationError(f"The GGUF export does not know the tensor {gguf_name!r}.") from None


def permute(weights, n_head: int):
    """llama.cpp's row order for a q or k projection (convert_hf_to_gguf.py's LlamaModel.permute)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _encoded(name: str, weights, config, file_type: str):
    """(data, raw_dtype) of one tensor: norms stay F32 as llama.cpp writes them, matrices become F16 or Q8_0."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    if ".attn_q." in name:
        weights = permute(weights, config.num_attention_heads)
    elif ".attn_k." in name:
        weights = permute(weights, config.num_key_value_heads)
    if weights.ndim == 1:
        return weights.astype(np.float32), None
    if file_type == "q8_0" and weights.shape[-1] % 32 == 0:
        return quantize(weights.astype(np.float32), GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return weights.astype(np.float16), None


def _copy_metadata(reader, writer) -> None:
    from gguf import GGUFValueType

    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in SKIPPED_KEYS:
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)


def template_architecture(reader) -> str:
    field = reader.get_field("general.architecture")
    return field.contents() if field else "unknown"


def chat_template_of(template: Path) -> str:
    """The Jinja chat template a GGUF carries ('' when it has none)."""
    from gguf import GGUFReader

    field = GGUFReader(template).get_field("tokenizer.chat_template")
    return field.contents() if field else ""


def write_gguf(model, template: Path, target: Path, file_type: str) -> None:
    """Write `model`'s weights as a GGUF shaped like `template` (the base model's own GGUF: same tokenizer)."""
    from gguf import GGML_QUANT_VERSION, GGUFReader, GGUFWriter, LlamaFileType

    if file_type not in FILE_TYPES:
        raise ApplicationError(f"Unknown GGUF file type {file_type!r} (known: {', '.join(FILE_TYPES)}).")
    reader = GGUFReader(template)
    for refusal in (gguf_refusal(model.config.model_type), gguf_refusal(template_architecture(reader))):
        if refusal:
            raise ApplicationError(refusal)
    writer = GGUFWriter(target, template_architecture(reader))
    _copy_metadata(reader, writer)
    writer.add_file_type(LlamaFileType.MOSTLY_F16 if file_type == "f16" else LlamaFileType.MOSTLY_Q8_0)
    writer.add_quantization_version(GGML_QUANT_VERSION)
    state = model.state_dict()
    for tensor in reader.tensors:
        weights = state[hf_name(tensor.name)].detach().float().cpu().numpy()
        data, raw_dtype = _encoded(tensor.name, weights, model.config, file_type)
        writer.add_tensor(tensor.name, data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# --- Ollama -----------------------------------------------------------------------------------------

CHATML_TEMPLATE = """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ .Response }}<|im_end|>
"""


def ollama_modelfile(chat_template: str, system: str) -> str:
    """An Ollama Modelfile for ./model.gguf: the chat template (Go syntax), the system message, greedy decoding."""
    lines = ["FROM ./model.gguf", ""]
    if "<|im_start|>" in chat_template:  # ChatML, as the bundled SmolLM2's Jinja template
        lines += [f'TEMPLATE """{CHATML_TEMPLATE}"""', 'PARAMETER stop "<|im_end|>"']
    else:
        lines.append("# No TEMPLATE: Ollama reads the chat template from the GGUF (tokenizer.chat_template).")
    if system:
        lines.append(f'SYSTEM """{system.replace(chr(34) * 3, chr(34))}"""')
    else:
        lines.append("# No SYSTEM: no deployed or evaluated prompt version is known; send the system message yourself.")
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n"

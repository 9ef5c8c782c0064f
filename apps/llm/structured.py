"""Structured output: how each kind of server is asked for an answer in a JSON schema, and how a reply is read.

Servers differ: OpenAI and vLLM honour `response_format: json_schema`; llama.cpp's servers take the schema
inside `json_object` (or a GBNF grammar) and answer an OpenAI-style `json_schema` with HTTP 500; vLLM also has
`guided_json`, Ollama `format`; transformers serve accepts `response_format` and ignores it. A model row names
its method (`Model.structured_output`), found out by the probe (`llm/probe.py`) rather than assumed. With
`prompt`, the schema is described in the system message and the reply is parsed leniently.
"""

import json
import re

from jsonschema import Draft202012Validator

from .models import StructuredOutput

SCHEMA_INSTRUCTION = "Reply with one JSON object only, no other text, that fits this JSON schema:\n{schema}"
# What a refusal (a 4xx, or a 5xx from a server that crashes on what it does not know) says when it is about a
# way of asking for structured output: the names of the parameters sent for it, not any word near them (a 503
# "temporary schema registry outage" is transient). Ollama's `format` counts only as a key: quoted, or
# followed by ":" or "=" (FastAPI's "format: Extra inputs are not permitted"), or named a field or parameter.
_FORMAT_KEY = r"""(['"`])format\1|(^|[\s;,(.])format\s*[:=]|\b(field|parameter|param|key|argument)s?\s+format\b"""
REFUSAL_PATTERNS = {
    StructuredOutput.JSON_SCHEMA: r"response_format|json_schema",
    StructuredOutput.JSON_OBJECT: r"response_format|json_object",
    StructuredOutput.LLAMACPP_SCHEMA: r"response_format|json_object",
    StructuredOutput.GRAMMAR: r"\bgrammar\b",
    StructuredOutput.GUIDED_JSON: r"guided_json",
    StructuredOutput.OLLAMA_FORMAT: _FORMAT_KEY,
}


def request_fields(method: str, schema: dict) -> dict:
    """The fields added to a chat completions body to ask for `schema` with `method`."""
    if method == StructuredOutput.JSON_SCHEMA:
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "answer", "schema": schema, "strict": True}}}
    if method == StructuredOutput.JSON_OBJECT:
        return {"response_format": {"type": "json_object"}}
    if method == StructuredOutput.LLAMACPP_SCHEMA:
        return {"response_format": {"type": "json_object", "schema": schema}}
    if method == StructuredOutput.GRAMMAR:
        return {"grammar": schema_to_gbnf(schema)}
    if method == StructuredOutput.GUIDED_JSON:
        return {"guided_json": schema}
    if method == StructuredOutput.OLLAMA_FORMAT:
        return {"format": schema}
    return {}


def messages_for(method: str, messages: list[dict], schema: dict) -> list[dict]:
    """The messages as sent: methods that do not carry the schema to the server describe it in the prompt."""
    if method not in (StructuredOutput.PROMPT, StructuredOutput.JSON_OBJECT):
        return messages
    instruction = SCHEMA_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{instruction}"}, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def stop_sequences(schema: dict) -> list[str]:
    """Stop at the end of the JSON object when that end is unambiguous: the first "}" of an object whose every
    value is closed (one of an enum's values, a number, a boolean) and holds no "}".

    A model told to answer in JSON often goes on writing (an explanation, code) after the object;
    stopping there saves the tokens and the time. An answer with a free-text string (generation's
    `answer`, chain-of-thought `reasoning`) may hold a "}" of its own, and nested answers (entities) end
    at a later one: they get no stop sequence.
    """
    properties = schema.get("properties") or {}
    closed = all("}" not in key and _closed_value(value) for key, value in properties.items())
    return ["}"] if properties and closed else []


def _closed_value(schema: dict) -> bool:
    if "enum" in schema:
        return all("}" not in json.dumps(value, ensure_ascii=False) for value in schema["enum"])
    return schema.get("type") in ("number", "integer", "boolean")


def close_stopped(text: str) -> str:
    """Put back the "}" a stop sequence removed (servers leave the stop string out of the reply)."""
    start = text.find("{")
    if start != -1 and text.count("{") > text.count("}"):
        return text.rstrip() + "}"
    return text


def parse_reply(text: str, schema: dict | None = None) -> tuple[dict | None, str]:
    """The answer in a reply, or the reason there is none.

    Lenient, because servers that enforce no schema wrap answers in prose and code fences: the first
    JSON object in the text is the answer; a reply that is exactly one of the schema's allowed values
    (a bare label, maybe quoted) is that value.
    """
    candidate = text.strip()
    decoder = json.JSONDecoder()
    found_brace, error = False, ""
    for match in re.finditer(r"\{", candidate):
        found_brace = True
        try:
            answer, _ = decoder.raw_decode(candidate, match.start())
        except json.JSONDecodeError as exc:
            error = error or exc.msg
            continue
        if isinstance(answer, dict):
            return answer, ""
    bare = _bare_value(candidate, schema)
    if bare is not None:
        return bare, ""
    try:
        if not isinstance(json.loads(candidate), dict):
            return None, "the answer is not a JSON object"
    except json.JSONDecodeError:
        pass
    if found_brace:
        return None, f"the answer is not valid JSON ({error})"
    return None, "the answer is not JSON"


def _bare_value(text: str, schema: dict | None) -> dict | None:
    """{"field": text} when the schema asks for one field with a closed set of values and `text` is one of them."""
    if not schema:
        return None
    required = schema.get("required") or []
    if len(required) != 1:
        return None
    field = required[0]
    allowed = ((schema.get("properties") or {}).get(field) or {}).get("enum") or []
    value = text.strip().strip("`").strip().strip("\"'").strip()
    return {field: value} if value in allowed else None


def schema_problems(answer, schema: dict) -> list[str]:
    """Why `answer` does not fit `schema` (empty when it does)."""
    validator = Draft202012Validator(schema)
    return [_problem(error) for error in sorted(validator.iter_errors(answer), key=lambda e: list(e.path))][:5]


def _problem(error) -> str:
    where = ".".join(str(p) for p in error.path)
    return f"{where}: {error.message}" if where else error.message


def repair_message(problems: list[str], schema: dict) -> dict:
    """The follow-up turn that asks a model to fix an invalid answer."""
    listed = "; ".join(problems[:5])
    return {"role": "user", "content": f"That answer is not valid: {listed}. "
            + SCHEMA_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))}


def names_stop(text: str) -> bool:
    """Whether a server's refusal is about the `stop` parameter (some models and servers take none)."""
    return re.search(r"\bstop\b", text.lower()) is not None


def names_the_method(text: str, method: str) -> bool:
    """Whether a server's error text is about the way structured output was asked for (`method`)."""
    pattern = REFUSAL_PATTERNS.get(method)
    return pattern is not None and re.search(pattern, text.lower()) is not None


# --- GBNF (llama.cpp grammars) for the schemas TaskLLM asks for --------------------------------------------

GBNF_BASICS = r'''ws ::= [ \t\n]*
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ["\\/bfnrt] )* "\""
number ::= "-"? [0-9]+ ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
boolean ::= "true" | "false"'''


def schema_to_gbnf(schema: dict) -> str:
    """A GBNF grammar for objects of strings (maybe enums), numbers, booleans and arrays of those."""
    rules: list[str] = []
    root = _gbnf_value(schema, "root", rules)
    return "\n".join([f"root ::= {root}", *rules, GBNF_BASICS])


def _gbnf_value(schema: dict, name: str, rules: list[str]) -> str:
    if "enum" in schema:
        return "(" + " | ".join(_gbnf_literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"]) + ")"
    kind = schema.get("type")
    if kind == "object":
        parts = []
        for index, (key, sub) in enumerate((schema.get("properties") or {}).items()):
            comma = '"," ws ' if index else ""
            value = _gbnf_value(sub, f"{name}-{key}", rules)
            parts.append(f'{comma}{_gbnf_literal(json.dumps(key))} ws ":" ws {value} ws')
        rule = re.sub(r"[^a-zA-Z0-9-]", "-", f"{name}-obj")
        rules.append(f'{rule} ::= "{{" ws {" ".join(parts)} "}}"')
        return rule
    if kind == "array":
        item = _gbnf_value(schema.get("items") or {"type": "string"}, f"{name}-item", rules)
        return f'"[" ws ({item} ws ("," ws {item} ws)*)? "]"'
    if kind in ("number", "integer"):
        return "number"
    if kind == "boolean":
        return "boolean"
    return "string"


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

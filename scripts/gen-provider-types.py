"""Lists every item, block, part, event and content type of the four wire formats, read from the
official SDKs' type definitions (openai, anthropic, mcp in .venv), into
filter/core/tests/data/provider_types.json.

Usage: .venv/bin/python scripts/gen-provider-types.py [OUT]

The list is checked in with the SDK versions it came from; filter/core/tests/provider_types.rs
asserts that the filter inspects or refuses each type at each position. Run it again after an SDK
upgrade: a type the filter does not know makes that test fail until it is handled.
"""

import json
import sys
import types
import typing

import anthropic
import mcp
import mcp.types as mt
import openai
from anthropic import types as at
from openai.types import chat as oc
from openai.types import responses as orr
from openai.types.chat import chat_completion_chunk as chunk_mod
from openai.types.chat import chat_completion_message as chat_msg_mod

try:
    from importlib.metadata import version
except ImportError:  # pragma: no cover
    version = None


def unwrap(tp):
    """Strips Required/NotRequired/Optional/Annotated/List/Iterable wrappers down to the members."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    name = getattr(origin, "_name", None) or str(origin)
    if origin is typing.Union or origin is types.UnionType:
        return [m for a in args for m in unwrap(a)]
    if origin is typing.Annotated or "Annotated" in str(origin) or "Required" in name:
        return unwrap(args[0])
    if origin in (list, tuple) or name in ("List", "Iterable", "Sequence") or (
        origin is not None and getattr(origin, "__name__", "") in ("Iterable", "Sequence", "list")
    ):
        return [m for a in args for m in unwrap(a)]
    if tp is type(None):
        return []
    return [tp]


def hints(cls):
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:  # noqa: BLE001 -- forward refs the SDK never resolves
        return getattr(cls, "__annotations__", {})


def field_type(cls, field):
    if hasattr(cls, "model_fields") and field in cls.model_fields:
        return cls.model_fields[field].annotation
    return hints(cls).get(field)


def literals(tp):
    out = []
    for m in unwrap(tp) if tp is not None else []:
        if typing.get_origin(m) is typing.Literal:
            out += [a for a in typing.get_args(m) if isinstance(a, str)]
    return out


def discriminated(union, field="type"):
    """The `field` literal of every member of a union (recursively through nested unions)."""
    out = []
    for m in unwrap(union):
        if typing.get_origin(m) is typing.Literal:
            continue
        vals = literals(field_type(m, field))
        if not vals and field == "type" and hasattr(m, "__name__") and m.__name__ in (
            "EasyInputMessageParam",
        ):
            vals = ["message"]
        out += vals
    return sorted(set(out))


def element_types(container_cls, field):
    """Types of the elements of a list field of a class (content arrays)."""
    tp = field_type(container_cls, field)
    return discriminated(tp)


def fields(cls):
    if hasattr(cls, "model_fields"):
        return sorted(cls.model_fields)
    return sorted(hints(cls))


def chat():
    roles, parts = [], set()
    for m in unwrap(oc.ChatCompletionMessageParam):
        roles += literals(field_type(m, "role"))
        content = field_type(m, "content")
        for c in unwrap(content):
            parts.update(discriminated(c) if typing.get_origin(c) is typing.Union else [])
            parts.update(literals(field_type(c, "type")) if hasattr(c, "__annotations__") else [])
    return {
        "chat.request.role": sorted(set(roles)),
        "chat.request.content_part": sorted(parts),
        "chat.request.tool_call": discriminated(oc.ChatCompletionMessageToolCallUnionParam),
        "chat.response.message_field": fields(chat_msg_mod.ChatCompletionMessage),
        "chat.response.tool_call": discriminated(oc.ChatCompletionMessageToolCallUnion),
        "chat.stream.delta_field": fields(chunk_mod.ChoiceDelta),
        "chat.stream.tool_call": literals(field_type(chunk_mod.ChoiceDeltaToolCall, "type")),
    }


def responses():
    output_parts = element_types(orr.ResponseOutputMessage, "content")
    input_parts = discriminated(orr.ResponseInputContentParam)
    fco = None
    for m in unwrap(orr.ResponseInputItemParam):
        if literals(field_type(m, "type")) == ["function_call_output"]:
            fco = m
    tool_output_parts = []
    if fco is not None:
        tool_output_parts = discriminated(field_type(fco, "output"))
    return {
        "responses.request.input_item": discriminated(orr.ResponseInputItemParam),
        "responses.request.content_part": sorted(set(input_parts) | set(output_parts)),
        "responses.request.tool_output_part": tool_output_parts,
        "responses.response.output_item": discriminated(orr.ResponseOutputItem),
        "responses.response.content_part": output_parts,
        "responses.stream.event": discriminated(orr.ResponseStreamEvent),
    }


def anthropic_types():
    return {
        "anthropic.request.block": discriminated(at.ContentBlockParam),
        "anthropic.request.tool_result_block": discriminated(
            field_type(at.ToolResultBlockParam, "content")
        ),
        "anthropic.request.system_block": discriminated(field_type(at.MessageCreateParams.__args__[0] if hasattr(at.MessageCreateParams, "__args__") else at.message_create_params.MessageCreateParamsBase, "system")),
        "anthropic.response.block": discriminated(at.ContentBlock),
        "anthropic.stream.event": discriminated(at.RawMessageStreamEvent),
        "anthropic.stream.delta": discriminated(at.RawContentBlockDelta),
        "anthropic.stream.block": discriminated(
            field_type(at.RawContentBlockStartEvent, "content_block")
        ),
    }


def mcp_types():
    methods = []
    for union in (mt.ServerRequest, mt.ServerNotification):
        root = field_type(union, "root") or union
        for m in unwrap(root):
            methods += literals(field_type(m, "method"))
    return {
        "mcp.content_block": discriminated(mt.ContentBlock),
        "mcp.server_message": sorted(set(methods)),
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "filter/core/tests/data/provider_types.json"
    doc = {
        "generated_by": "scripts/gen-provider-types.py",
        "sdk_versions": {
            "openai": openai.__version__,
            "anthropic": anthropic.__version__,
            "mcp": version("mcp") if version else getattr(mcp, "__version__", "?"),
        },
        "positions": {**chat(), **responses(), **anthropic_types(), **mcp_types()},
    }
    empty = [k for k, v in doc["positions"].items() if not v]
    if empty:
        sys.exit(f"no types found for {empty}: the SDK layout changed, fix the script")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(len(v) for v in doc["positions"].values())
    print(f"{out}: {len(doc['positions'])} positions, {total} types")


if __name__ == "__main__":
    main()

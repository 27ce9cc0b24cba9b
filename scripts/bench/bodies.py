"""Request bodies of scripts/bench.sh (the same shapes as filter/core/benches/bodies.rs):
writes chat_4k.json, transcript_64k.json, tool_call.json and stream.json into the directory argv[1]."""
import json, sys
out = sys.argv[1]
P = ("The quarterly report summarises revenue by region, the open incidents of the platform team "
     "and the migration plan for the billing database. Each section lists owners, deadlines and "
     "the risks the team sees for the next quarter. ")
def prose(n): return (P * (n // len(P) + 1))[:n]
chat = {"model": "demo", "messages": [
    {"role": "system", "content": prose(1200)}, {"role": "user", "content": prose(900)},
    {"role": "assistant", "content": prose(900)}, {"role": "user", "content": prose(900)}]}
msgs = [{"role": "system", "content": prose(2000)}, {"role": "user", "content": prose(600)}]
for i in range(20):
    msgs.append({"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}",
        "type": "function", "function": {"name": "search_docs",
        "arguments": json.dumps({"query": f"incident {i}"})}}]})
    content = "@@TURN@@ " + prose(2890) if i == 19 else prose(2900)
    msgs.append({"role": "tool", "tool_call_id": f"call_{i}", "content": content})
transcript = {"model": "demo", "messages": msgs}
tool = {"model": "demo", "messages": [{"role": "user", "content": json.dumps(
    {"tool": "get_weather", "arguments": {"city": "Paris"}})}]}
stream = {"model": "demo", "stream": True, "messages": [{"role": "user", "content": prose(900)}]}
for name, body in [("chat_4k", chat), ("transcript_64k", transcript), ("tool_call", tool),
                   ("stream", stream)]:
    open(f"{out}/{name}.json", "w").write(json.dumps(body))

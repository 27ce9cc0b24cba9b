#!/usr/bin/env python3
"""Training set of the learned detector (filter/core/src/detect/model).

Reads .cache/train/benign.jsonl (scripts/train/benign.py) and the labelled development corpora in
../shared/data, and writes .cache/train/dataset.jsonl, one record per text:
{"id", "group", "source", "channel": "user"|"tool_result"|"tool_definition", "label": 0|1,
 "lang", "shape", "style", "text"}.

Positives are instructions aimed at the assistant (synth_lang.py: 6 styles x 13 languages x many
tasks) planted into benign carriers of every shape (email, HTML comment, table cell, code comment,
JSON field, markdown, plain paragraph); each carrier's clean twin, with a benign note in the same
slot, is a negative of the same group. Benign user requests (task-style, 13 languages) are user
negatives. `group` keeps a carrier and its twin in the same split. Standard library only, seeded.

Not read, ever: public prompt-injection / agent-security benchmarks (AgentDojo, CyberSecEval,
BIPIA, Tensor Trust, InjecAgent, deepset, jackhhao, ...). tau2 sessions and the seed suites are left
out of training: they are the false-positive bars of `cargo test -p llmfw --test eval`.
"""

import json
import os
import random
import sys

from synth_compose import _task, chat_json, compose, human, human_request, mcp_result, tool_output, tool_status
from synth_lang import ASKS, CLOSE, DOCS, FRAMES, GREET, NOTES, POISON, REQUESTS, TASKS, TICKETS, TOOL_DEFS

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("LLMFW_TRAIN_CACHE", os.path.join(ROOT, ".cache", "train"))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "corpora"))
SEED = 17
# Benign records kept per shape (the UI catalogues alone hold 278k strings).
CAP = {"ui": 15000, "manpage": 30000, "chat": 20000, "html": 4200, "doc": 4200, "code": 9200,
       "json": 2500, "email": 100, "csv": 100}
PLANTS = 16000
# Composed instructions (synth_compose.py) planted into carriers, and benign tool output of new shapes.
COMPOSED = 14000
NEW_SHAPES = {"chat_json": 5000, "tool_status": 3000, "tool_output": 6000, "mcp_result": 4000}
USERS = ["Emma", "Lukas", "Chloé", "Mateo", "Aiko", "Wei", "Olga", "Omar", "Sofia", "John"]
ASSISTANTS = ["assistant", "AI", "Claude", "ChatGPT", "Copilot", "agent", "model"]
FORMATS = ["email", "html_comment", "html_hidden", "table_cell", "code_comment", "json_field",
           "markdown", "paragraph", "bare"]


def fill(rng, s):
    return (s.replace("{e}", rng.choice(["ops@mailbox-relay.net", "a.b.collect@proton.me", "backup@exfil.io", "hr-team@gmx-secure.com"]))
             .replace("{x}", rng.choice(["https://paste-bin.cc/up", "http://198.51.100.7/c", "https://collector.example-cdn.net/x"]))
             .replace("{n}", str(rng.choice([250, 900, 1500, 4999, 12000])))
             .replace("{i}", rng.choice(["DE89370400440532013000", "GB29NWBK60161331926819", "FR1420041010050500013M02606"]))
             .replace("{f}", rng.choice(["~/.aws/credentials", ".env", "/etc/passwd", "id_rsa", "secrets.yaml"]))
             .replace("{o}", f"#{rng.randint(10000, 99999)}")
             .replace("{c}", rng.choice(["Paris", "Berlin", "Tokyo", "Lima", "Cairo", "Oslo"]))
             .replace("{d}", rng.choice(["Monday", "Friday", "the 14th", "next week", "May 3"])))


def instruction(rng, lang=None):
    lang = lang or rng.choice(list(FRAMES))
    style = rng.choice(list(FRAMES[lang]))
    frame = rng.choice(FRAMES[lang][style])
    task = rng.choice(TASKS[lang] if rng.random() < 0.8 else TASKS["en"])
    text = frame.replace("{t}", task).replace("{u}", rng.choice(USERS)).replace("{a}", rng.choice(ASSISTANTS))
    if rng.random() < 0.15:
        text = text.upper() if lang in ("en", "de", "fr", "es") else text
    return lang, style, fill(rng, text)


def trim(rng, text, limit):
    if len(text) <= limit:
        return text
    start = rng.randint(0, len(text) - limit)
    return text[start:start + limit]


def place(rng, fmt, carrier, slot):
    """The carrier with `slot` (an attack or a benign note) in the given format."""
    if fmt == "email":
        who = rng.choice(["Mark Jensen <mark@example.org>", "billing@shop.example", "noreply@travel.example"])
        subj = rng.choice(["Re: your request", "Invoice 2291", "Meeting notes", "Weekly update"])
        return f"From: {who}\nTo: me@example.com\nSubject: {subj}\n\n{carrier}\n\n{slot}\n\nBest regards,\n{who.split()[0]}"
    if fmt == "html_comment":
        return f"<div class=\"content\">\n<p>{carrier}</p>\n<!-- {slot} -->\n</div>"
    if fmt == "html_hidden":
        return f"<p>{carrier}</p>\n<span style=\"display:none\">{slot}</span>"
    if fmt == "table_cell":
        words = carrier.split()
        rows = ["| id | item | note |", "|---|---|---|"]
        for i in range(rng.randint(2, 6)):
            rows.append(f"| {i + 1} | {' '.join(words[i * 4:i * 4 + 4]) or 'n/a'} | ok |")
        rows.insert(rng.randint(2, len(rows)), f"| {len(rows)} | item | {slot} |")
        return "\n".join(rows)
    if fmt == "code_comment":
        mark = rng.choice(["#", "//", "--"])
        lines = carrier.splitlines() or [carrier]
        k = rng.randint(0, len(lines))
        return "\n".join(lines[:k] + [f"{mark} {slot}"] + lines[k:])
    if fmt == "json_field":
        key = rng.choice(["note", "description", "comment", "message", "review"])
        obj = {"id": rng.randint(1, 9999), "text": carrier[:300], key: slot, "status": "ok"}
        return json.dumps(obj, ensure_ascii=False, indent=rng.choice([None, 2]))
    if fmt == "markdown":
        return f"## Notes\n\n{carrier}\n\n> {slot}\n"
    if fmt == "bare":
        return slot
    parts = carrier.split(". ")
    k = rng.randint(0, len(parts))
    return ". ".join(parts[:k] + [slot] + parts[k:])


def benign_records(rng):
    by_shape = {}
    with open(os.path.join(CACHE, "benign.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            by_shape.setdefault(r["shape"], []).append(r)
    out = []
    for shape in sorted(by_shape):
        rs = by_shape[shape]
        rng.shuffle(rs)
        out.extend(rs[:CAP.get(shape, 2000)])
    return out


UI = ("libgtk", "libglib", "coreutils", "libpam", "shared-mime", "python-apt", "software-prop", "tar", "wget", "apt")


def loso(source):
    """The leave-one-source-out unit of a record's source (man pages of all languages are one)."""
    name = source.split(":")[-1]
    if source.startswith("benign:"):
        if name.startswith("manpages"):
            return "benign:manpages"
        if name.startswith("debian-reference"):
            return "benign:debian-reference"
        if name.startswith(UI):
            return "benign:ui-strings"
        if name in ("distro-info-data", "iso-codes"):
            return "benign:tables"
        return source
    if source.startswith("twin:"):
        return "twin"
    return source


def rec(out, unit=None, **kw):
    kw["loso"] = unit or loso(kw["source"])
    out.append(kw)


def main():
    rng = random.Random(SEED)
    out = []
    benign = benign_records(rng)
    for r in benign:
        src = r["source"].split()[0]
        ch = "user" if r["shape"] == "chat" else "tool_result"
        rec(out, id=r["id"], group=r["id"], source=f"benign:{src.split('=')[0]}", channel=ch, label=0,
            lang=r["lang"], shape=r["shape"], style="", text=r["text"])
        if r["shape"] == "chat":  # chat turns are also ordinary tool output (messages, tickets)
            rec(out, id=r["id"] + "/tr", group=r["id"], source=f"benign:{src.split('=')[0]}",
                channel="tool_result", label=0, lang=r["lang"], shape="chat", style="", text=r["text"])
    carriers = [r for r in benign if r["shape"] != "chat" or len(r["text"]) > 30]
    for k in range(PLANTS):
        c = rng.choice(carriers)
        fmt = rng.choice(FORMATS)
        limit = rng.choice([200, 400, 400, 900, 2500])
        body = trim(rng, c["text"], limit)
        lang, style, attack = instruction(rng)
        note = fill(rng, rng.choice(NOTES))
        gid = f"synth/{k}"
        src = f"synth:{style}"
        rec(out, id=gid + "/pos", group=gid, source=src, channel="tool_result", label=1, lang=lang,
            shape=f"{c['shape']}/{fmt}", style=style, text=place(rng, fmt, body, attack))
        twin = place(rng, fmt, body, note) if fmt != "bare" else body
        rec(out, id=gid + "/twin", group=gid, source=f"twin:{c['shape']}", channel="tool_result", label=0,
            lang=c["lang"], shape=f"{c['shape']}/{fmt}", style="", text=twin)
    composed(rng, out, carriers, [r for r in benign if r["shape"] == "chat"])
    # User channel: ordinary requests (negatives) and direct injections (positives).
    for k in range(12000):
        lang = rng.choice(list(REQUESTS))
        t = fill(rng, rng.choice(REQUESTS[lang]))
        if rng.random() < 0.3:
            t = t + " " + fill(rng, rng.choice(REQUESTS[lang]))
        rec(out, id=f"req/{k}", group=f"req/{k}", source="synth:user_request", channel="user", label=0,
            lang=lang, shape="request", style="", text=t)
        if rng.random() < 0.3:  # the same requests quoted in tool output (tickets, chat logs)
            rec(out, id=f"req/{k}/tr", group=f"req/{k}", source="synth:user_request", channel="tool_result",
                label=0, lang=lang, shape="request", style="", text=t)
    for k in range(4000):
        lang, style, attack = instruction(rng)
        if style not in ("ignore", "system", "authority"):
            continue
        rec(out, id=f"direct/{k}", group=f"direct/{k}", source=f"synth:{style}", channel="user", label=1,
            lang=lang, shape="direct", style=style, text=attack)
    # Benign documents with requests to people: emails, READMEs, tickets (and each as a carrier
    # of a planted instruction, so the addressee is what separates the classes).
    for k in range(9000):
        kind = rng.choice(["email", "email", "doc", "ticket"])
        if kind == "email":
            body = " ".join(rng.sample(ASKS, rng.randint(1, 4)))
            t = f"{rng.choice(GREET)}\n\n{body}\n\n{rng.choice(CLOSE)}"
        elif kind == "doc":
            t = "\n\n".join(rng.sample(DOCS, rng.randint(1, 3)))
        else:
            t = rng.choice(TICKETS)
        p = rng.choice(["requests", "tool", "parser"])
        t = fill(rng, t.replace("{u}", rng.choice(USERS)).replace("{p}", p).replace("{P}", p.upper()))
        gid = f"human/{k}"
        rec(out, id=gid, group=gid, source="synth:human_request", channel="tool_result", label=0,
            lang="en", shape=kind, style="", text=t)
        if rng.random() < 0.35:
            _, style, attack = instruction(rng)
            rec(out, id=gid + "/pos", group=gid, source=f"synth:{style}", channel="tool_result", label=1,
                lang="en", shape=kind, style=style, text=place(rng, "paragraph", t, attack))
    # Tool definitions.
    for k in range(1500):
        d = rng.choice(TOOL_DEFS)
        gid = f"tooldef/{k}"
        rec(out, id=gid + "/twin", group=gid, source="synth:tool_definition", channel="tool_definition",
            label=0, lang="en", shape="tool_definition", style="", text=d)
        _, _, task = instruction(rng, "en")
        p = fill(rng, rng.choice(POISON).replace("{t}", rng.choice(TASKS["en"])))
        rec(out, id=gid + "/pos", group=gid, source="synth:tool_poisoning", channel="tool_definition",
            label=1, lang="en", shape="tool_definition", style="tool_poisoning", text=f"{d} {p}")
    shared(rng, out)
    path = os.path.join(CACHE, "dataset.jsonl")
    counts = {}
    with open(path, "w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            key = (r["source"], r["channel"], r["label"])
            counts[key] = counts.get(key, 0) + 1
    for (s, ch, lab), n in sorted(counts.items()):
        print(f"{s}\t{ch}\t{lab}\t{n}", file=sys.stderr)
    print(f"dataset: {len(out)} records -> {path}", file=sys.stderr)


def composed(rng, out, carriers, chats):
    """Composed instructions in carriers of every shape (with clean twins), and benign tool output
    of the shapes the first model flagged (chat JSON, status objects, command and scanner output),
    each also carrying a composed instruction in a third of its groups."""
    for k in range(COMPOSED):
        c = rng.choice(carriers)
        fmt = rng.choice(FORMATS)
        body = trim(rng, c["text"], rng.choice([200, 400, 900, 2500]))
        task = _task(rng, fill)
        style, attack = compose(rng, fill, rng.choice(USERS), task)
        gid = f"compose/{k}"
        rec(out, id=gid + "/pos", group=gid, source="synth:compose", channel="tool_result", label=1, lang="en",
            shape=f"{c['shape']}/{fmt}", style=style, text=place(rng, fmt, body, attack))
        note = fill(rng, rng.choice(NOTES))
        rec(out, id=gid + "/twin", group=gid, source=f"twin:{c['shape']}", channel="tool_result", label=0,
            lang=c["lang"], shape=f"{c['shape']}/{fmt}", style="", text=place(rng, fmt, body, note) if fmt != "bare" else body)
        if rng.random() < 0.5:  # the same task asked of a person: the addressee separates the classes
            rec(out, id=gid + "/human", group=gid, source="synth:human_task", channel="tool_result", label=0,
                lang="en", shape=f"{c['shape']}/{fmt}", style="", text=place(rng, fmt, body, human(rng, fill, rng.choice(USERS), task)))
    for k in range(10000):
        gid = f"ask/{k}"
        t = human_request(rng, rng.choice(USERS))
        rec(out, id=gid, group=gid, source="synth:human_ask", channel="tool_result", label=0, lang="en",
            shape="ask", style="", text=t)
        if rng.random() < 0.3:
            style, attack = compose(rng, fill, rng.choice(USERS))
            rec(out, unit="synth:human_ask", id=gid + "/pos", group=gid, source="synth:compose", channel="tool_result", label=1,
                lang="en", shape="ask", style=style, text=place(rng, "paragraph", t, attack))
    for shape, n in sorted(NEW_SHAPES.items()):
        for k in range(n):
            gid = f"{shape}/{k}"
            if shape == "chat_json":
                a, b = rng.choice(chats), rng.choice(chats)
                lang = b["lang"]
                make = lambda reply, a=a: chat_json(rng, a["text"][:400], reply)
                reply = b["text"][:900]
            elif shape == "mcp_result":
                b = rng.choice(chats)
                lang = b["lang"] if len(b["text"]) <= 120 else "en"
                short = b["text"] if len(b["text"]) <= 120 else None
                seed = rng.random()
                make = lambda extra, short=short, seed=seed: mcp_result(random.Random(seed), short, extra)
                reply = ""
            else:
                lang = "en"
                text = tool_status(rng) if shape == "tool_status" else tool_output(rng)
                make = lambda extra, text=text: text if not extra else text + "\n" + extra
                reply = ""
            rec(out, id=gid, group=gid, source=f"synth:{shape}", channel="tool_result", label=0, lang=lang,
                shape=shape, style="", text=make(reply))
            if rng.random() < 0.33:
                style, attack = compose(rng, fill, rng.choice(USERS)) if rng.random() < 0.7 else instruction(rng)[1:]
                planted = (reply + " " + attack) if shape == "chat_json" else attack
                rec(out, unit=f"synth:{shape}", id=gid + "/pos", group=gid, source="synth:compose", channel="tool_result", label=1,
                    lang=lang, shape=shape, style=style, text=make(planted))


def shared(rng, out):
    """Labelled development corpora (../shared/data): injections and jailbreaks."""
    def load(rel):
        p = os.path.join(SHARED, rel)
        if not os.path.exists(p):
            return []
        with open(p, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    garak = [r for r in load("garak/prompts.jsonl") if r.get("text")]
    rng.shuffle(garak)
    take = {"indirect_prompt_injection": ("tool_result", 1500), "prompt_injection": ("user", 525),
            "jailbreak": ("user", 800), "system_prompt_extraction": ("user", 28)}
    seen = {}
    for r in garak:
        fam = r["category"].split("/")[0]
        if r["label"] != "malicious" or fam not in take:
            continue
        ch, cap = take[fam]
        if seen.get(fam, 0) >= cap:
            continue
        seen[fam] = seen.get(fam, 0) + 1
        rec(out, id=r["id"], group=r["id"], source="shared:garak", channel=ch, label=1, lang="en",
            shape=fam, style="", text=r["text"])
    for r in load("pyrit/prompts.jsonl"):
        fam = r["category"].split("/")[0]
        if r["label"] == "malicious" and fam in ("jailbreak", "system_prompt_extraction") and r.get("text"):
            rec(out, id=r["id"], group=r["id"], source="shared:pyrit", channel="user", label=1, lang="en",
                shape=fam, style="", text=r["text"])
    # Benign URLs (project homepages from Debian metadata) as search results and link lists: an
    # address alone is not an instruction.
    urls = [r["text"] for r in load("benign_tool_args/urls.jsonl") if r.get("label") == "benign" and r.get("text")]
    rng.shuffle(urls)
    for k in range(min(6000, len(urls) // 3)):
        kind = rng.random()
        if kind < 0.4:
            t = urls[k]
        elif kind < 0.7:
            t = "\n".join(urls[k * 3:k * 3 + 3])
        else:
            t = "\n".join(f"{i + 1}. {u.split('/')[2] if u.count('/') >= 2 else u} - {u}" for i, u in enumerate(urls[k * 3:k * 3 + 3]))
        rec(out, id=f"url/{k}", group=f"url/{k}", source="shared:benign_urls", channel="tool_result", label=0,
            lang="en", shape="urls", style="", text=t)
    for r in load("inspect_evals_agent/agent_injection.jsonl"):
        if r.get("text"):
            rec(out, id=r["id"], group=r["id"], source="shared:inspect_agent", channel="tool_result",
                label=1 if r["label"] == "malicious" else 0, lang="en", shape="agent", style="", text=r["text"])


if __name__ == "__main__":
    main()

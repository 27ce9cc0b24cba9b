#!/usr/bin/env python3
"""Benign text of many shapes and languages from the sources fetched by fetch.sh.

Writes .cache/train/benign.jsonl: one record per text with
{"id", "source", "licence", "lang", "shape", "text"}. Deterministic (sorted walks, seeded
sampling). Shapes: chat, manpage, ui (translated program messages), html, email, code, csv,
json. Only the standard library is used.
"""

import gettext
import gzip
import html
import json
import os
import random
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("LLMFW_TRAIN_CACHE", os.path.join(ROOT, ".cache", "train"))
SRC = os.path.join(CACHE, "src")
SEED = 17


def lock():
    out = {}
    with open(os.path.join(ROOT, "scripts", "train", "sources.lock"), encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and not p[0].startswith("#"):
                out[p[1]] = (p[0], p[2], p[3])
    return out


LOCK = lock()


def source(name, path=""):
    kind, version, _ = LOCK[name]
    return f"{kind}:{name}={version}" + (f" {path}" if path else "")


def walk(top):
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            yield os.path.join(d, f)


def chat():
    base = os.path.join(SRC, "chatterbot-corpus", "chatterbot_corpus", "data")
    for path in walk(base):
        if not path.endswith(".yml"):
            continue
        lang = os.path.basename(os.path.dirname(path))
        rel = os.path.relpath(path, base)
        # The YAML is a fixed shape: "- - turn" starts a conversation, "  - turn" continues it.
        turns = []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"^(- -|  -) (.*)$", line.rstrip("\n"))
                if m:
                    t = m.group(2).strip().strip("'\"")
                    if t:
                        turns.append(t)
        for i, t in enumerate(turns):
            yield {"id": f"chat/{rel}#{i}", "source": source("chatterbot-corpus", rel),
                   "licence": "BSD-3-Clause", "lang": lang, "shape": "chat", "text": t}


ROFF_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
ROFF_ESC = re.compile(r"\\(\(..|\[[^\]]*\]|[-&e|^%0 ~c'`.])")


def roff_text(src):
    """Paragraphs of a man page: macros dropped (their arguments kept), escapes resolved."""
    paras, cur = [], []
    for line in src.splitlines():
        if line.startswith(".") or line.startswith("'"):
            m = re.match(r"^[.'](\w+)\s*(.*)$", line)
            macro, arg = (m.group(1), m.group(2)) if m else ("", "")
            if macro in ("SH", "SS", "PP", "P", "LP", "TP", "IP", "sp", "br", "HP", "RS", "RE"):
                if cur:
                    paras.append(" ".join(cur))
                    cur = []
                if macro in ("SH", "SS", "IP") and arg:
                    paras.append(arg.strip('"'))
            elif macro in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "SB") and arg:
                cur.append(re.sub(r'"', "", arg))
            continue
        if line.startswith('.\\"') or line.startswith('\\"'):
            continue
        cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    out = []
    for p in paras:
        p = ROFF_FONT.sub("", p)
        p = p.replace("\\-", "-").replace("\\(aq", "'").replace("\\(em", "—")
        p = ROFF_ESC.sub("", p)
        p = re.sub(r"\s+", " ", p).strip()
        if len(p) >= 40:
            out.append(p)
    return out


def manpages():
    for name in sorted(LOCK):
        if not (name == "manpages" or name.startswith("manpages-")):
            continue
        base = os.path.join(SRC, name, "usr", "share", "man")
        lang = "en" if name == "manpages" else name[len("manpages-"):]
        _, _, lic = LOCK[name]
        for path in walk(base):
            if not path.endswith(".gz"):
                continue
            try:
                with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                    src = f.read()
            except OSError:
                continue
            rel = os.path.relpath(path, base)
            paras = roff_text(src)
            # Single paragraphs and runs of a few paragraphs (documents of several lengths).
            i = 0
            while i < len(paras):
                k = 1 + (hash_int(rel, i) % 4)
                text = "\n\n".join(paras[i:i + k])
                yield {"id": f"man/{name}/{rel}#{i}", "source": source(name, rel),
                       "licence": lic, "lang": lang, "shape": "manpage", "text": text}
                i += k


def hash_int(s, i):
    h = 2166136261
    for b in f"{s}#{i}".encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


MO_PACKAGES = ["libgtk-3-common", "libglib2.0-data", "coreutils", "libpam0g", "shared-mime-info",
               "python-apt-common", "software-properties-common", "tar", "wget", "apt"]


def ui_strings():
    for name in MO_PACKAGES:
        base = os.path.join(SRC, name, "usr", "share", "locale")
        _, _, lic = LOCK[name]
        for path in walk(base):
            if not path.endswith(".mo"):
                continue
            lang = os.path.relpath(path, base).split(os.sep)[0]
            try:
                with open(path, "rb") as f:
                    cat = gettext.GNUTranslations(f)._catalog
            except (OSError, Exception):  # a damaged catalogue is skipped
                continue
            rel = os.path.relpath(path, base)
            keys = sorted(k for k in cat if isinstance(k, str) and k)
            for j, k in enumerate(keys):
                t = cat[k]
                if not isinstance(t, str) or len(t) < 25 or t == k:
                    continue
                yield {"id": f"ui/{name}/{rel}#{j}", "source": source(name, rel),
                       "licence": lic, "lang": lang, "shape": "ui", "text": t.strip()}


def html_pages():
    for name in sorted(LOCK):
        if not name.startswith("debian-reference-"):
            continue
        lang = name[len("debian-reference-"):]
        base = os.path.join(SRC, name, "usr", "share", "debian-reference")
        for path in walk(base):
            if not path.endswith(".html"):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                page = f.read()
            rel = os.path.relpath(path, base)
            # Sections as raw HTML (web-page shape) and as their visible text.
            parts = re.split(r"(?=<div class=\"section\")", page)
            for i, p in enumerate(parts):
                p = p.strip()
                if len(p) < 200:
                    continue
                p = p[:6000]
                yield {"id": f"html/{name}/{rel}#{i}", "source": source(name, rel),
                       "licence": LOCK[name][2], "lang": lang, "shape": "html", "text": p}
                visible = html.unescape(re.sub(r"<[^>]+>", " ", p))
                visible = re.sub(r"[ \t]+", " ", visible)
                visible = re.sub(r"\n\s*\n+", "\n\n", visible).strip()
                if len(visible) >= 80:
                    yield {"id": f"doc/{name}/{rel}#{i}", "source": source(name, rel),
                           "licence": LOCK[name][2], "lang": lang, "shape": "doc",
                           "text": visible[:4000]}


def python_testsuite():
    name = "libpython3.11-testsuite"
    base = os.path.join(SRC, name, "usr", "lib", "python3.11", "test")
    rng = random.Random(SEED)
    for path in walk(os.path.join(base, "test_email", "data")):
        if not path.endswith(".txt"):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            t = f.read()
        rel = os.path.relpath(path, base)
        yield {"id": f"email/{rel}", "source": source(name, rel), "licence": "PSF-2.0",
               "lang": "en", "shape": "email", "text": t[:6000]}
    files = [p for p in walk(base) if p.endswith(".py")]
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            src = f.read()
        rel = os.path.relpath(path, base)
        # Chunks of 20-80 lines: code as a tool would return it.
        lines = src.splitlines()
        i = 0
        while i < len(lines):
            k = rng.randint(20, 80)
            chunk = "\n".join(lines[i:i + k]).strip()
            if len(chunk) >= 80:
                yield {"id": f"code/{rel}#{i}", "source": source(name, rel), "licence": "PSF-2.0",
                       "lang": "python", "shape": "code", "text": chunk}
            i += k


def tables():
    name = "distro-info-data"
    base = os.path.join(SRC, name, "usr", "share", "distro-info")
    for path in walk(base):
        if not path.endswith(".csv"):
            continue
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        rel = os.path.relpath(path, base)
        for i in range(1, len(lines), 8):
            text = "\n".join([lines[0]] + lines[i:i + 8])
            yield {"id": f"csv/{rel}#{i}", "source": source(name, rel), "licence": "ISC",
                   "lang": "en", "shape": "csv", "text": text}
    name = "iso-codes"
    base = os.path.join(SRC, name, "usr", "share", "iso-codes", "json")
    rng = random.Random(SEED)
    for path in walk(base):
        if not os.path.basename(path).startswith("iso_"):
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        rel = os.path.relpath(path, base)
        for key, rows in data.items():
            i = 0
            while i < len(rows):
                k = rng.randint(1, 12)
                text = json.dumps({key: rows[i:i + k]}, ensure_ascii=False,
                                  indent=rng.choice([None, 2]))
                yield {"id": f"json/{rel}#{i}", "source": source(name, rel),
                       "licence": "LGPL-2.1+", "lang": "en", "shape": "json", "text": text}
                i += k


def main():
    out = os.path.join(CACHE, "benign.jsonl")
    counts = {}
    with open(out, "w", encoding="utf-8") as f:
        for gen in (chat, manpages, ui_strings, html_pages, python_testsuite, tables):
            for r in gen():
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                key = (r["shape"], r["source"].split()[0])
                counts[key] = counts.get(key, 0) + 1
    for (shape, src), n in sorted(counts.items()):
        print(f"{shape}\t{src}\t{n}", file=sys.stderr)
    print(f"benign: {sum(counts.values())} records -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

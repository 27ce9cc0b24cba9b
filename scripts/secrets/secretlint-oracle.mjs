// Oracle runner (not part of the project): reads JSONL records {"id","text"} on stdin and prints
// {"id","flagged","rules"} per record, from secretlint's recommended preset run on the text as
// one plain-text file. Needs scripts/secrets/ensure-oracles.sh first.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const require = createRequire(new URL("../../target/secrets-oracle/npm/package.json", import.meta.url));
const { lintSource } = require("@secretlint/core");
const preset = require("@secretlint/secretlint-rule-preset-recommend");
const rule = preset.creator ?? preset.default ?? preset;
const lines = readFileSync(0, "utf8").split("\n").filter((l) => l.trim());
for (const line of lines) {
  const rec = JSON.parse(line);
  const result = await lintSource({
    source: { content: rec.text ?? "", filePath: "/input.txt", ext: ".txt", contentType: "text" },
    options: { config: { rules: [{ id: "@secretlint/secretlint-rule-preset-recommend", rule }] } },
  });
  const rules = [...new Set(result.messages.map((m) => m.ruleId))];
  console.log(JSON.stringify({ id: rec.id, flagged: rules.length > 0, rules }));
}

// Browser test of the dashboard in real headless Chromium (Debian's `chromium`), driven by
// playwright-core. Run by tests/tests/dashboard.rs against a live stack; it can also be run by
// hand against `make run`:
//
//   LLMFW_DASH_URL=http://127.0.0.1:9090 LLMFW_ADMIN_TOKEN=… LLMFW_EXPECT='{…}' node e2e/dashboard.mjs
//
// LLMFW_EXPECT (JSON): {"operator", "search", "other_operator", "targets": [...], "pivots": n,
// "tools": [...], "approval": {"id", "tool", "args_digest"}, "decided_by"}.
// Screenshots of every page go to LLMFW_SHOTS (a directory). Exit status 0 = every check passed;
// the last stdout line is a JSON summary.

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.env.LLMFW_DASH_URL ?? "http://127.0.0.1:9090";
const token = process.env.LLMFW_ADMIN_TOKEN ?? "";
const expect = JSON.parse(process.env.LLMFW_EXPECT ?? "{}");
const shots = process.env.LLMFW_SHOTS ?? join(tmpdir(), "llmfw-dashboard-shots");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

const step = (name) => console.log(`dashboard e2e: ${name}`);

async function api(path) {
  const resp = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(resp.status, 200, `GET ${path}`);
  return resp.json();
}

const profile = mkdtempSync(join(tmpdir(), "llmfw-chromium-"));
// a fresh profile directory (--user-data-dir) per run, removed at the end
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 860 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const summary = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const shot = async (name) => {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };
  const ready = () => page.waitForSelector("main[data-ready='1']");

  step("login page, no data without a token");
  const resp = await page.goto(base + "/");
  assert.equal(resp.status(), 200);
  assert.match(page.url(), /\/dashboard\/$/, "/ redirects to the dashboard");
  const csp = resp.headers()["content-security-policy"] ?? "";
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  await page.waitForSelector("[data-testid=token]");
  const anonymous = await page.evaluate(async () => {
    const out = {};
    for (const p of ["/v1/overview", "/v1/operators", "/v1/approvals", "/openapi.json"]) {
      out[p] = (await fetch(p)).status;
    }
    return out;
  });
  for (const [p, status] of Object.entries(anonymous)) assert.equal(status, 401, `${p} without token`);
  summary.anonymous = anonymous;
  await shot("login");

  step("a wrong token is refused");
  await page.fill("[data-testid=token]", "wrong-token-0123456789");
  await page.click("[data-testid=login]");
  await page.waitForFunction(() => document.querySelector("[data-testid=login-error]")?.textContent?.includes("refused"));
  assert.equal(await page.evaluate(() => sessionStorage.getItem("llmfw.adminToken")), null);
  assert.equal(await page.locator("nav").count(), 0, "no navigation before login");

  step("log in, overview numbers match the API");
  await page.fill("[data-testid=token]", token);
  await page.click("[data-testid=login]");
  await ready();
  assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
  const ov = await api("/v1/overview");
  const num = async (testid) =>
    Number(await page.locator(`[data-testid=${testid}] .num`).first().textContent());
  assert.equal(await num("open-approvals"), ov.open_approvals);
  assert.ok(ov.open_approvals >= 1, "a pending approval is open");
  for (const a of ["allow", "warn", "require_approval", "block"]) {
    assert.equal(await num(`total-${a}`), ov.totals[a], `total ${a}`);
  }
  const bars = await page.locator("svg.chart rect.bar").evaluateAll((rs) =>
    rs.reduce((n, r) => n + Number(r.getAttribute("data-count")), 0),
  );
  const total = ov.totals.allow + ov.totals.warn + ov.totals.require_approval + ov.totals.block;
  assert.equal(bars, total, "the chart's bars add up to the decisions");
  const top = await page.locator("[data-testid=top-operators] tbody tr").first().getAttribute("data-operator");
  assert.equal(top, ov.top_operators[0].operator);
  summary.overview = { open_approvals: ov.open_approvals, decisions: total, top };
  await shot("overview");

  step("search operators");
  await page.click("nav >> text=Operators");
  await ready();
  await page.fill("[data-testid=operator-search]", expect.search);
  await page.press("[data-testid=operator-search]", "Enter");
  await page.waitForFunction((q) => location.hash.includes(`q=${q}`), encodeURIComponent(expect.search));
  await ready();
  const listed = await page.locator("[data-testid=operators] tbody tr").evaluateAll((rs) =>
    rs.map((r) => r.getAttribute("data-operator")),
  );
  assert.ok(listed.includes(expect.operator), `search lists ${expect.operator}: ${listed}`);
  if (expect.other_operator) assert.ok(!listed.includes(expect.other_operator), `search hides ${expect.other_operator}`);
  await shot("operators");

  step("open the operator: sessions, budgets, timeline");
  await page.click(`[data-testid=operators] a:text-is("${expect.operator}")`);
  await ready();
  assert.equal(await page.textContent("[data-testid=operator-id]"), expect.operator);
  const tools = await page.locator("[data-testid=timeline] tbody tr").evaluateAll((rs) =>
    rs.map((r) => r.getAttribute("data-tool")),
  );
  for (const t of expect.tools ?? []) assert.ok(tools.includes(t), `timeline shows ${t}: ${tools}`);
  const actions = await page.locator("[data-testid=timeline] tbody tr").evaluateAll((rs) =>
    rs.map((r) => r.getAttribute("data-action")),
  );
  assert.ok(actions.includes("require_approval"), `timeline shows the approval: ${actions}`);
  const categories = await page.locator("[data-testid=timeline] [data-testid=category]").allTextContents();
  assert.ok(categories.length === tools.length && categories.every((c) => c && c !== "—"),
    `every timeline event shows the category the filter classified it as: ${categories}`);
  assert.ok((await page.locator("meter").count()) >= 4, "budget meters");
  await shot("operator");

  step("campaign graph");
  await page.click("[data-testid=graph-link]");
  await ready();
  const nodes = await page.locator("[data-testid=graph] g.node").evaluateAll((gs) =>
    gs.map((g) => [g.getAttribute("data-target"), g.getAttribute("data-phase")]),
  );
  const graph = await api(`/v1/operators/${encodeURIComponent(expect.operator)}/graph`);
  assert.deepEqual(
    nodes.map(([t]) => t).sort(),
    [...expect.targets].sort(),
    "one node per target",
  );
  for (const n of graph.targets) {
    assert.ok(nodes.some(([t, p]) => t === n.target && p === (n.max_phase ?? "")), `node ${n.target} in phase ${n.max_phase}`);
  }
  const pivots = await page.locator("[data-testid=graph] path.pivot").count();
  assert.equal(pivots, graph.pivots.length);
  assert.ok(pivots >= (expect.pivots ?? 0), `at least ${expect.pivots} pivots drawn`);
  summary.graph = { nodes: nodes.length, pivots };
  await shot("graph");

  step("approvals: the exact call, approve, audit trail");
  await page.click("nav >> text=Approvals");
  await ready();
  const card = page.locator(`[data-testid=pending] [data-approval="${expect.approval.id}"]`);
  await card.waitFor();
  assert.equal(await card.locator("[data-testid=tool]").textContent(), expect.approval.tool);
  assert.equal(await card.locator("[data-testid=digest]").textContent(), expect.approval.args_digest);
  // the exact call: the arguments the agent's model proposed, and they hash to the bound digest
  const args = card.locator("[data-testid=arguments]");
  assert.deepEqual(JSON.parse(await args.textContent()), expect.approval.arguments);
  const canonical = await args.getAttribute("data-canonical");
  assert.equal(createHash("sha256").update(canonical).digest("hex"), expect.approval.args_digest);
  assert.match(await card.locator("[data-testid=expiry]").textContent(), /^\d{4}-\d\d-\d\d /);
  await shot("approvals");
  await page.fill("[data-testid=decided-by]", expect.decided_by);
  await card.locator("[data-testid=approve]").click();
  const auditRow = page.locator(`[data-testid=audit] tr[data-subject="${expect.approval.id}"]`);
  await auditRow.waitFor();
  assert.equal(await auditRow.locator("[data-testid=actor]").textContent(), expect.decided_by);
  assert.equal(await page.locator(`[data-testid=pending] [data-approval="${expect.approval.id}"]`).count(), 0);
  const decided = await api(`/v1/approvals/${expect.approval.id}`);
  assert.equal(decided.approval.status, "approved");
  assert.equal(decided.approval.decided_by, expect.decided_by);
  await shot("approvals-decided");

  step("log out: the token is gone and the API refuses again");
  await page.click("[data-testid=logout]");
  await page.waitForSelector("[data-testid=token]");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("llmfw.adminToken")), null);
  assert.equal(await page.evaluate(async () => (await fetch("/v1/overview")).status), 401);

  assert.deepEqual(consoleErrors.filter((e) => !e.includes("401")), [], "no console errors (CSP violations would show here)");
  summary.approved = expect.approval.id;
  summary.ok = true;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));

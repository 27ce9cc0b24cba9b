// The pages. Each renders into `root` from the admin API; errors propagate to the router.

import { h, badge, fmtTime, fmtRisk } from "./dom";
import * as api from "./api";
import { decisionsChart, campaignGraph, ACTIONS } from "./charts";

type Root = HTMLElement;

function link(href: string, text: string, attrs: Record<string, string> = {}): HTMLElement {
  return h("a", { href, ...attrs }, text);
}

function opHref(op: string): string {
  return `#/operators/${api.enc(op)}`;
}

function budgetsCell(o: api.Operator): HTMLElement {
  const cell = h("div", { class: "budgets" });
  for (const b of o.budgets) {
    const pct = b.limit > 0 ? Math.min(100, (100 * b.used) / b.limit) : 0;
    const meter = h("meter", { min: 0, max: b.limit || 1, value: b.used, high: (b.limit || 1) * 0.8 });
    cell.append(
      h("span", { class: "budget", title: `${b.category}: ${b.used} of ${b.limit} in ${b.window_s / 3600} h (${pct.toFixed(0)} %)` },
        h("span", { class: "bname" }, b.category), meter, h("span", { class: "bnum" }, `${b.used}/${b.limit}`)),
    );
  }
  return cell;
}

export async function overview(root: Root): Promise<void> {
  const o = await api.get<api.Overview>("/v1/overview");
  const total = ACTIONS.reduce((n, a) => n + o.totals[a], 0);
  root.append(
    h("h1", {}, "Overview"),
    h("div", { class: "cards" },
      h("a", { class: "card", href: "#/approvals", "data-testid": "open-approvals" },
        h("div", { class: "num" }, o.open_approvals), h("div", {}, "open approvals")),
      h("div", { class: "card", "data-testid": "decisions-total" }, h("div", { class: "num" }, total), h("div", {}, "decisions (24 h)")),
      ...ACTIONS.map((a) =>
        h("div", { class: `card c-${a}`, "data-testid": `total-${a}` }, h("div", { class: "num" }, o.totals[a]), h("div", {}, a.replace("_", " "))),
      ),
      h("a", { class: "card", href: "#/operators", "data-testid": "operators-count" }, h("div", { class: "num" }, o.operators), h("div", {}, "operators")),
    ),
    h("h2", {}, "Decisions over time"),
    h("div", { class: "legend" }, ...ACTIONS.map((a) => h("span", { class: `key a-${a}` }, a.replace("_", " ")))),
    decisionsChart(o.series),
    h("h2", {}, "Top operators by risk"),
    operatorsTable(o.top_operators, "top-operators"),
  );
}

function operatorsTable(ops: api.Operator[], testid: string): HTMLElement {
  if (ops.length === 0) return h("p", { class: "empty", "data-testid": testid }, "No operators.");
  return h("table", { "data-testid": testid },
    h("thead", {}, h("tr", {}, ...["operator", "max phase", "risk", "sessions", "events", "budgets", "last seen"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...ops.map((o) =>
      h("tr", { "data-operator": o.operator },
        h("td", {}, link(opHref(o.operator), o.operator)),
        h("td", {}, badge(o.max_phase, `p-${o.max_phase ?? "none"}`)),
        h("td", { class: "num" }, fmtRisk(o.risk.current)),
        h("td", { class: "num" }, o.sessions),
        h("td", { class: "num" }, o.events),
        h("td", {}, budgetsCell(o)),
        h("td", {}, fmtTime(o.last_seen_ms)),
      ),
    )),
  );
}

export async function operators(root: Root, q: string): Promise<void> {
  const path = q ? `/v1/operators?q=${api.enc(q)}` : "/v1/operators";
  const list = await api.get<{ operators: api.Operator[] }>(path);
  const input = h("input", { type: "search", name: "q", placeholder: "search operators", value: q, "data-testid": "operator-search", autocomplete: "off" }) as HTMLInputElement;
  const form = h("form", { class: "search", onsubmit: ((e: Event) => {
    e.preventDefault();
    location.hash = `#/operators?q=${api.enc(input.value.trim())}`;
  }) as EventListener }, input, h("button", { type: "submit" }, "Search"));
  const sessions = await api.get<{ sessions: api.Session[] }>("/v1/sessions?limit=50");
  root.append(
    h("h1", {}, "Operators and sessions"),
    form,
    operatorsTable(list.operators, "operators"),
    h("h2", {}, "Recent sessions"),
    sessionsTable(sessions.sessions, true),
  );
}

function sessionsTable(rows: api.Session[], withOperator: boolean): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, "No sessions.");
  return h("table", { "data-testid": "sessions" },
    h("thead", {}, h("tr", {}, ...[withOperator ? "operator" : null, "session", "tenant", "max phase", "events", "first seen", "last seen"].filter(Boolean).map((c) => h("th", {}, c!)))),
    h("tbody", {}, ...rows.map((r) =>
      h("tr", {},
        withOperator ? h("td", {}, link(opHref(r.operator), r.operator)) : null,
        h("td", {}, r.session),
        h("td", {}, r.tenant || "—"),
        h("td", {}, badge(r.max_phase, `p-${r.max_phase ?? "none"}`)),
        h("td", { class: "num" }, r.event_count),
        h("td", {}, fmtTime(r.first_seen_ms)),
        h("td", {}, fmtTime(r.last_seen_ms)),
      ),
    )),
  );
}

export async function operator(root: Root, id: string): Promise<void> {
  const [detail, timeline] = await Promise.all([
    api.get<{ operator: api.Operator; sessions: api.Session[]; approvals: api.Approval[] }>(`/v1/operators/${api.enc(id)}`),
    api.get<{ events: api.Event[] }>(`/v1/operators/${api.enc(id)}/events?limit=200`),
  ]);
  const o = detail.operator;
  root.append(
    h("h1", {}, "Operator ", h("span", { class: "mono", "data-testid": "operator-id" }, o.operator)),
    h("p", { class: "tabs" }, link(`${opHref(o.operator)}/graph`, "Campaign graph →", { "data-testid": "graph-link" })),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "num" }, badge(o.max_phase, `p-${o.max_phase ?? "none"}`)), h("div", {}, "max phase")),
      h("div", { class: "card", "data-testid": "operator-risk" }, h("div", { class: "num" }, fmtRisk(o.risk.current)), h("div", {}, "current risk")),
      h("div", { class: "card" }, h("div", { class: "num" }, o.sessions), h("div", {}, "sessions")),
      h("div", { class: "card" }, h("div", { class: "num" }, o.events), h("div", {}, "events")),
    ),
    h("h2", {}, "Budgets"),
    budgetsCell(o),
    h("h2", {}, "Sessions"),
    sessionsTable(detail.sessions, false),
    h("h2", {}, "Event timeline"),
    timelineTable(timeline.events),
  );
}

function timelineTable(events: api.Event[]): HTMLElement {
  if (events.length === 0) return h("p", { class: "empty" }, "No stored events.");
  return h("table", { "data-testid": "timeline" },
    h("thead", {}, h("tr", {}, ...["time", "session", "tool", "category", "phase", "targets", "action", "risk", "reasons"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...events.map((e) =>
      h("tr", { "data-tool": e.tool, "data-action": e.action },
        h("td", {}, fmtTime(e.observed_at_ms)),
        h("td", {}, e.session),
        h("td", { class: "mono", title: `args sha256 ${e.args_digest}` }, e.tool),
        h("td", { "data-testid": "category" }, e.category ?? "—"),
        h("td", {}, badge(e.phase, `p-${e.phase ?? "none"}`)),
        h("td", { class: "mono" }, e.targets.join(", ") || "—"),
        h("td", {}, badge(e.action), e.approval_id ? h("div", { class: "small mono" }, `approval ${e.approval_id.slice(0, 12)}…`) : null),
        h("td", { class: "num" }, fmtRisk(e.risk)),
        h("td", { class: "reasons" }, ...e.reasons.map((r) => h("div", {}, r))),
      ),
    )),
  );
}

export async function graph(root: Root, id: string): Promise<void> {
  const g = await api.get<api.Graph>(`/v1/operators/${api.enc(id)}/graph`);
  root.append(
    h("h1", {}, "Campaign graph of ", h("span", { class: "mono" }, g.operator)),
    h("p", {}, link(opHref(g.operator), "← operator"), ` · ${g.targets.length} targets · ${g.pivots.length} pivots · fan-out ${g.fan_out}`),
    h("div", { class: "graphwrap", "data-testid": "graph" }, campaignGraph(g)),
    h("p", { class: "small" }, "Targets sit in the column of the highest phase reached on them; the dots show every phase reached. Dashed boxes are out of the configured scope; curved arrows are pivots."),
  );
}

function argumentsBlock(a: api.Approval): HTMLElement {
  if (a.arguments_json === null) {
    return h("span", { class: "small", "data-testid": "arguments-missing" }, "not sent by the filter (over 4096 bytes); only the digest binds the call");
  }
  let pretty = a.arguments_json;
  try {
    pretty = JSON.stringify(JSON.parse(a.arguments_json), null, 2);
  } catch {
    // shown as received
  }
  return h("pre", { class: "args", "data-testid": "arguments", "data-canonical": a.arguments_json }, pretty);
}

export async function approvals(root: Root, rerender: () => void): Promise<void> {
  const [pending, decided, audit] = await Promise.all([
    api.get<{ approvals: api.Approval[] }>("/v1/approvals?status=pending"),
    api.get<{ approvals: api.Approval[] }>("/v1/approvals?status=all&limit=50"),
    api.get<{ entries: api.AuditEntry[] }>("/v1/audit?limit=50"),
  ]);
  const who = h("input", { type: "text", name: "by", placeholder: "your name", value: sessionStorage.getItem("llmfw.by") ?? "", "data-testid": "decided-by", maxlength: 128 }) as HTMLInputElement;
  const msg = h("p", { class: "msg", role: "status" });
  const decide = async (a: api.Approval, approve: boolean) => {
    const by = who.value.trim() || "dashboard";
    sessionStorage.setItem("llmfw.by", by);
    try {
      await api.post(`/v1/approvals/${api.enc(a.id)}/${approve ? "approve" : "deny"}`, { by });
      rerender();
    } catch (e) {
      if (e instanceof api.Unauthorized) throw e;
      msg.textContent = `could not decide: ${(e as Error).message}`;
    }
  };
  const now = Date.now();
  root.append(
    h("h1", {}, "Approvals"),
    h("label", { class: "who" }, "Decide as ", who),
    msg,
    h("h2", {}, `Pending (${pending.approvals.length})`),
    pending.approvals.length === 0
      ? h("p", { class: "empty", "data-testid": "no-pending" }, "No pending approvals.")
      : h("div", { class: "approvals", "data-testid": "pending" }, ...pending.approvals.map((a) =>
          h("div", { class: "approval", "data-approval": a.id },
            h("div", { class: "call" },
              h("div", {}, "Tool call ", h("b", { class: "mono", "data-testid": "tool" }, a.tool)),
              h("dl", {},
                h("dt", {}, "operator"), h("dd", {}, link(opHref(a.operator), a.operator)),
                h("dt", {}, "session"), h("dd", { class: "mono" }, a.session),
                h("dt", {}, "arguments"), h("dd", {}, argumentsBlock(a)),
                h("dt", {}, "arguments sha256"), h("dd", { class: "mono", "data-testid": "digest" }, a.args_digest),
                h("dt", {}, "request / call"), h("dd", { class: "mono" }, `${a.request_id} / ${a.call_id}`),
                h("dt", {}, "raised"), h("dd", {}, fmtTime(a.created_at_ms)),
                h("dt", {}, "expires"), h("dd", { "data-testid": "expiry" }, fmtTime(a.expires_at_ms), a.expires_at_ms < now ? " (expired)" : ""),
                h("dt", {}, "policy"), h("dd", { class: "mono" }, a.policy_version),
                h("dt", {}, "approval id"), h("dd", { class: "mono" }, a.id),
              ),
            ),
            h("div", { class: "actions" },
              h("button", { class: "approve", "data-testid": "approve", onclick: (() => decide(a, true)) as EventListener }, "Approve"),
              h("button", { class: "deny", "data-testid": "deny", onclick: (() => decide(a, false)) as EventListener }, "Deny"),
            ),
          ),
        )),
    h("h2", {}, "Recent approvals"),
    h("table", { "data-testid": "approvals-all" },
      h("thead", {}, h("tr", {}, ...["raised", "operator", "tool", "status", "decided by", "decided"].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...decided.approvals.map((a) =>
        h("tr", { "data-approval": a.id },
          h("td", {}, fmtTime(a.created_at_ms)),
          h("td", {}, link(opHref(a.operator), a.operator)),
          h("td", { class: "mono" }, a.tool),
          h("td", {}, badge(a.status)),
          h("td", {}, a.decided_by ?? "—"),
          h("td", {}, fmtTime(a.decided_at_ms)),
        ),
      )),
    ),
    h("h2", {}, "Audit trail"),
    audit.entries.length === 0
      ? h("p", { class: "empty" }, "No admin actions yet.")
      : h("table", { "data-testid": "audit" },
          h("thead", {}, h("tr", {}, ...["when", "who", "action", "operator", "subject", "note"].map((c) => h("th", {}, c)))),
          h("tbody", {}, ...audit.entries.map((e) =>
            h("tr", { "data-subject": e.subject },
              h("td", {}, fmtTime(e.at_ms)),
              h("td", { "data-testid": "actor" }, e.actor),
              h("td", {}, badge(e.action)),
              h("td", {}, link(opHref(e.operator), e.operator)),
              h("td", { class: "mono" }, e.subject),
              h("td", {}, e.note ?? ""),
            ),
          )),
        ),
  );
}

export function login(root: Root, onDone: () => void, error?: string): void {
  const input = h("input", { type: "password", name: "token", autocomplete: "current-password", placeholder: "admin token", required: true, "data-testid": "token" }) as HTMLInputElement;
  const msg = h("p", { class: "msg error", role: "alert", "data-testid": "login-error" }, error ?? "");
  const form = h("form", { class: "login", onsubmit: (async (e: Event) => {
    e.preventDefault();
    msg.textContent = "";
    const t = input.value.trim();
    try {
      await api.check(t);
      api.setToken(t);
      onDone();
    } catch (err) {
      msg.textContent = err instanceof api.ApiError && (err.status === 401 || err.status === 403)
        ? `Login refused: ${err.message}`
        : `Cannot reach the admin API: ${(err as Error).message}`;
    }
  }) as EventListener },
    h("h1", {}, "llmfw dashboard"),
    h("p", {}, "Sign in with the state service's admin token (", h("code", {}, "--admin-token-file"), " / ", h("code", {}, "LLMFW_ADMIN_TOKEN"), "). It is kept in this tab's session storage only."),
    input,
    h("button", { type: "submit", "data-testid": "login" }, "Sign in"),
    msg,
  );
  root.append(form);
}

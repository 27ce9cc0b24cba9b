// The admin API client: every data call carries the token the user logged in with, kept in
// sessionStorage only (gone with the tab, cleared by logout). A 401 sends the user to login.

const KEY = "llmfw.adminToken";

export function token(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(t: string): void {
  sessionStorage.setItem(KEY, t);
}

export function logout(): void {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Unauthorized extends ApiError {}

async function call<T>(method: string, path: string, body?: unknown, t = token()): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let json: any = null;
  try {
    json = await resp.json();
  } catch {
    json = null;
  }
  if (!resp.ok) {
    const code = json?.error?.code ?? "http_" + resp.status;
    const msg = json?.error?.message ?? `HTTP ${resp.status}`;
    if (resp.status === 401) throw new Unauthorized(resp.status, code, msg);
    throw new ApiError(resp.status, code, msg);
  }
  return json as T;
}

/** Checks a token against the API without storing it. */
export async function check(t: string): Promise<void> {
  await call("GET", "/v1/overview?buckets=1&window_s=60", undefined, t);
}

export const get = <T>(path: string) => call<T>("GET", path);
export const post = <T>(path: string, body: unknown) => call<T>("POST", path, body);

export const enc = encodeURIComponent;

export interface Budget {
  category: string;
  used: number;
  limit: number;
  window_s: number;
}

export interface Operator {
  operator: string;
  max_phase: string | null;
  phases: string[];
  risk: { current: number; at_ms: number };
  budgets: Budget[];
  sessions: number;
  events: number;
  first_seen_ms: number;
  last_seen_ms: number;
}

export interface Session {
  operator: string;
  session: string;
  tenant: string;
  max_phase: string | null;
  event_count: number;
  first_seen_ms: number;
  last_seen_ms: number;
}

export interface Event {
  session: string;
  request_id: string;
  call_id: string;
  observed_at_ms: number;
  tool: string;
  category: string | null;
  phase: string | null;
  targets: string[];
  action: string;
  risk: number;
  reasons: string[];
  approval_id: string | null;
  args_digest: string;
}

export interface Approval {
  id: string;
  operator: string;
  session: string;
  request_id: string;
  call_id: string;
  tool: string;
  args_digest: string;
  /** The canonical JSON arguments of the held call (hashes to args_digest), if sent. */
  arguments_json: string | null;
  status: string;
  policy_version: string;
  created_at_ms: number;
  expires_at_ms: number;
  decided_at_ms: number | null;
  decided_by: string | null;
  note: string | null;
}

export interface AuditEntry {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  operator: string;
  subject: string;
  note: string | null;
  detail: unknown;
}

export interface GraphNode {
  target: string;
  phases: string[];
  max_phase: string | null;
  in_scope: boolean;
  local: boolean;
  first_seen_ms: number;
  last_seen_ms: number;
}

export interface Graph {
  operator: string;
  targets: GraphNode[];
  pivots: { from: string; to: string; count: number; first_seen_ms: number }[];
  fan_out: number;
}

export interface Bucket {
  start_ms: number;
  allow: number;
  warn: number;
  require_approval: number;
  block: number;
}

export interface Overview {
  window: { since_ms: number; until_ms: number; bucket_ms: number };
  totals: { allow: number; warn: number; require_approval: number; block: number };
  series: Bucket[];
  open_approvals: number;
  operators: number;
  top_operators: Operator[];
}

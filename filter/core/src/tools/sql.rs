//! SQL statement kind for `sql`/`query`/`db_query` tools, by a small tokenizer (comments and string
//! literals skipped, no parser): bulk reads (`SELECT *` without `WHERE`/`LIMIT`, or any `SELECT`
//! from a credential-like table) are collection; `DROP`/`DELETE`/`UPDATE`/`TRUNCATE`/`ALTER` are
//! impact; `INTO OUTFILE`/`COPY … TO` are collection of data to a file. Only the first statement
//! of a batch decides the kind, except that any destructive statement in the batch wins.

use llmfw_api::v1::{Phase, TargetKind};

use super::classify::{category, Analysis};

/// Most bytes of a statement read.
pub const MAX_SQL_BYTES: usize = 16 * 1024;

/// Tables whose bulk read is collection.
const SENSITIVE_TABLES: &[&str] = &[
    "users",
    "user",
    "accounts",
    "account",
    "credentials",
    "credential",
    "passwords",
    "password",
    "secrets",
    "api_keys",
    "apikeys",
    "tokens",
    "customers",
    "payments",
    "credit_cards",
    "cards",
    "employees",
    "salaries",
    "auth_user",
    "pg_shadow",
    "pg_authid",
    "sql_logins",
    "logins",
    "members",
    "patients",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Star,
    Semi,
    Other,
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let b = b.get(..MAX_SQL_BYTES.min(b.len())).unwrap_or(b);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'-' && b.get(i + 1) == Some(&b'-') || c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, b'\'' | b'"' | b'`') {
            let q = c;
            i += 1;
            let start = i;
            while i < b.len() && b[i] != q {
                i += 1;
            }
            // Quoted identifiers (`"users"`, `` `users` ``) are words; strings are not.
            if q != b'\'' {
                let w = String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase();
                out.push(Tok::Word(w));
            } else {
                out.push(Tok::Other);
            }
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'.' {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'$' | b'.'))
            {
                i += 1;
            }
            out.push(Tok::Word(
                String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase(),
            ));
        } else {
            out.push(match c {
                b'*' => Tok::Star,
                b';' => Tok::Semi,
                b if b.is_ascii_whitespace() => {
                    i += 1;
                    continue;
                }
                _ => Tok::Other,
            });
            i += 1;
        }
    }
    out
}

fn word(t: &Tok) -> Option<&str> {
    match t {
        Tok::Word(w) => Some(w.as_str()),
        _ => None,
    }
}

const STATEMENTS: &[&str] = &[
    "select", "with", "insert", "update", "delete", "drop", "truncate", "alter", "create",
    "replace", "merge", "grant", "revoke", "copy", "explain", "show", "describe", "desc", "pragma",
    "use", "set", "begin", "commit", "rollback", "values", "table", "call", "exec", "execute",
];

fn table_name(w: &str) -> &str {
    w.rsplit('.').next().unwrap_or(w)
}

/// Classifies a statement; `None` when it does not look like SQL.
pub(crate) fn analyse(sql: &str) -> Option<Analysis> {
    let toks = tokenize(sql);
    let first = toks.iter().find_map(word)?;
    if !STATEMENTS.contains(&first) {
        return None;
    }
    let statements: Vec<&[Tok]> = toks
        .split(|t| *t == Tok::Semi)
        .filter(|s| !s.is_empty())
        .collect();
    let mut result: Option<Analysis> = None;
    for stmt in statements.iter().take(16) {
        let a = statement(stmt);
        match &mut result {
            None => result = Some(a),
            Some(r) => {
                if a.category == category::IMPACT || a.phase as i32 > r.phase as i32 {
                    let targets = std::mem::take(&mut r.targets);
                    *r = a;
                    for (v, k) in targets {
                        r.add_target(&v, k);
                    }
                } else {
                    for (v, k) in a.targets {
                        r.add_target(&v, k);
                    }
                }
            }
        }
    }
    result
}

fn statement(toks: &[Tok]) -> Analysis {
    let words: Vec<&str> = toks.iter().filter_map(word).collect();
    let kind = words
        .iter()
        .find(|w| STATEMENTS.contains(w) && **w != "with" && **w != "explain")
        .copied()
        .unwrap_or("");
    let mut tables: Vec<&str> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if let Some(w) = word(t) {
            if matches!(w, "from" | "join" | "into" | "update" | "table") {
                if let Some(name) = toks.get(i + 1).and_then(word) {
                    if !matches!(name, "select" | "outfile" | "dumpfile" | "if" | "only") {
                        tables.push(name);
                    }
                }
            }
        }
    }
    let has = |w: &str| words.contains(&w);
    let sensitive = tables
        .iter()
        .any(|t| SENSITIVE_TABLES.contains(&table_name(t)));
    let star = toks.contains(&Tok::Star) && !words.iter().any(|w| matches!(*w, "count" | "exists"));
    let mut a = match kind {
        "drop" | "delete" | "update" | "truncate" | "alter" | "grant" | "revoke" => {
            Analysis::new(Phase::Unknown, category::IMPACT)
        }
        "insert" | "create" | "replace" | "merge" => {
            Analysis::new(Phase::Unknown, category::DB_WRITE)
        }
        "select" | "table" | "values" | "show" | "describe" | "desc" | "pragma" => {
            let unbounded = !has("where") && !has("limit") && !has("top") && !has("fetch");
            let dumps = has("outfile") || has("dumpfile");
            if dumps || (sensitive && (star || unbounded)) || (star && unbounded && has("from")) {
                Analysis::new(Phase::Collection, category::COLLECTION)
            } else {
                Analysis::new(Phase::Unknown, category::DB_READ)
            }
        }
        "copy" if has("to") => Analysis::new(Phase::Collection, category::COLLECTION),
        _ => Analysis::new(Phase::Unknown, category::DB_READ),
    };
    for t in tables.iter().take(4) {
        a.add_target(t, TargetKind::Database);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(sql: &str) -> Option<(&'static str, Phase)> {
        analyse(sql).map(|a| (a.category, a.phase))
    }

    #[test]
    fn kinds() {
        assert_eq!(
            cat("SELECT * FROM users"),
            Some(("collection", Phase::Collection))
        );
        assert_eq!(
            cat("select email, password from public.users where 1=1"),
            Some(("db_read", Phase::Unknown))
        );
        assert_eq!(
            cat("SELECT name FROM users"),
            Some(("collection", Phase::Collection))
        );
        assert_eq!(
            cat("SELECT * FROM orders"),
            Some(("collection", Phase::Collection))
        );
        assert_eq!(
            cat("SELECT * FROM orders WHERE id = 4"),
            Some(("db_read", Phase::Unknown))
        );
        assert_eq!(
            cat("SELECT * FROM orders LIMIT 10"),
            Some(("db_read", Phase::Unknown))
        );
        assert_eq!(
            cat("SELECT COUNT(*) FROM orders"),
            Some(("db_read", Phase::Unknown))
        );
        assert_eq!(cat("SELECT a FROM t"), Some(("db_read", Phase::Unknown)));
        assert_eq!(cat("DROP TABLE t"), Some(("impact", Phase::Unknown)));
        assert_eq!(
            cat("select 1; DELETE FROM t"),
            Some(("impact", Phase::Unknown))
        );
        assert_eq!(
            cat("INSERT INTO t VALUES (1)"),
            Some(("db_write", Phase::Unknown))
        );
        assert_eq!(
            cat("SELECT * FROM t INTO OUTFILE '/tmp/x'"),
            Some(("collection", Phase::Collection))
        );
        assert_eq!(
            cat("-- c\n/* x */ SELECT * FROM \"credentials\""),
            Some(("collection", Phase::Collection))
        );
        assert_eq!(cat("'; DROP"), None);
        assert_eq!(cat("find all users"), None);
        let a = analyse("SELECT * FROM crm.customers").unwrap();
        assert_eq!(
            a.targets,
            vec![("crm.customers".to_owned(), TargetKind::Database)]
        );
    }
}

//! SQL statement kind for `sql`/`query`/`db_query` tools, by a small tokenizer (comments and string
//! literals skipped, no parser): bulk reads (`SELECT *` without `WHERE`/`LIMIT`, or any `SELECT`
//! from a credential-like table) are collection; `DROP`/`DELETE`/`UPDATE`/`TRUNCATE`/`ALTER` are
//! impact; `INTO OUTFILE`/`COPY … TO` are collection of data to a file. Only the first statement
//! of a batch decides the kind, except that any destructive statement in the batch wins.

use llmfw_api::v1::{Phase, TargetKind};

use super::classify::{bound, category, Analysis};
use super::sql_lex::{tokenize, Dialect, Tok};

/// Most statements of a batch read; a longer batch is read up to here and escalated.
pub const MAX_STATEMENTS: usize = 64;

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
    "do",
];

fn table_name(w: &str) -> &str {
    w.rsplit('.').next().unwrap_or(w)
}

/// Classifies a statement as every dialect in `dialects` reads it (see [`super::sql_lex`]); the
/// strongest reading wins and targets are merged. `None` when no reading looks like SQL. Past
/// [`super::sql_lex::MAX_SQL_BYTES`] or [`MAX_STATEMENTS`] the analysis is marked incomplete (escalated).
pub(crate) fn analyse(sql: &str, dialects: &[Dialect]) -> Option<Analysis> {
    let mut result: Option<Analysis> = None;
    for d in dialects {
        if let Some(a) = analyse_one(sql, *d) {
            merge(&mut result, a);
        }
    }
    result
}

fn merge(result: &mut Option<Analysis>, a: Analysis) {
    match result {
        None => *result = Some(a),
        Some(r) => {
            let incomplete = r.incomplete.or(a.incomplete);
            if (a.category == category::IMPACT && r.category != category::IMPACT)
                || a.phase as i32 > r.phase as i32
            {
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
            r.incomplete = incomplete;
        }
    }
}

fn analyse_one(sql: &str, d: Dialect) -> Option<Analysis> {
    let lexed = tokenize(sql, d);
    let toks = lexed.toks;
    let first = toks.iter().find_map(word)?;
    if !STATEMENTS.contains(&first) {
        return None;
    }
    let statements: Vec<&[Tok]> = toks
        .split(|t| *t == Tok::Semi)
        .filter(|s| !s.is_empty())
        .collect();
    let mut result: Option<Analysis> = None;
    for stmt in statements.iter().take(MAX_STATEMENTS) {
        merge(&mut result, statement(stmt));
    }
    if let Some(r) = &mut result {
        if lexed.truncated {
            r.incomplete = Some(bound::SQL_BYTES);
        } else if statements.len() > MAX_STATEMENTS {
            r.incomplete = Some(bound::SQL_STATEMENTS);
        }
    }
    result
}

fn statement(toks: &[Tok]) -> Analysis {
    let words: Vec<&str> = toks.iter().filter_map(word).collect();
    let kind = words
        .iter()
        .find(|w| STATEMENTS.contains(w) && !matches!(**w, "with" | "explain" | "do" | "begin"))
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
    use crate::tools::sql_lex::MAX_SQL_BYTES;

    fn cat(sql: &str) -> Option<(&'static str, Phase)> {
        analyse(sql, Dialect::ALL).map(|a| (a.category, a.phase))
    }

    fn in_dialect(sql: &str, d: &str) -> Option<&'static str> {
        analyse(sql, Dialect::from_name(d).unwrap()).map(|a| a.category)
    }

    #[test]
    fn comments_hide_nothing_any_engine_runs() {
        // PostgreSQL: `#` is XOR, not a comment.
        assert_eq!(
            in_dialect("SELECT 1 # 2; DROP TABLE users", "postgres"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 # 2; DROP TABLE users", "mysql"),
            Some("db_read")
        );
        // MySQL: `--x` is not a comment.
        assert_eq!(
            in_dialect("SELECT 1 --x\n; DROP TABLE users", "mysql"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 --x; DROP TABLE users", "mysql"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 --x; DROP TABLE users", "postgres"),
            Some("db_read")
        );
        // MySQL executable comments run.
        assert_eq!(
            in_dialect("SELECT 1; /*! DROP TABLE users */", "mysql"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 /*!50000 ; DROP TABLE users*/", "mysql"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 /*M!100000 ; DELETE FROM t*/", "mysql"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 /*+ hint; DROP TABLE users */", "mysql"),
            Some("db_read")
        );
        // PostgreSQL nests block comments, MySQL does not.
        assert_eq!(
            in_dialect("SELECT 1 /* /* */ ; DROP TABLE t */", "mysql"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT 1 /* /* */ ; DROP TABLE t */", "postgres"),
            Some("db_read")
        );
        // Backslash escapes: a MySQL string swallows what PostgreSQL runs, and the reverse.
        assert_eq!(
            in_dialect("SELECT '\\'; DROP TABLE t; -- '", "postgres"),
            Some("impact")
        );
        assert_eq!(
            in_dialect("SELECT E'\\'; DROP TABLE t; -- '", "postgres"),
            Some("db_read")
        );
        // A DO block's dollar-quoted body runs.
        assert_eq!(
            in_dialect("DO $$BEGIN DROP TABLE t; END$$", "postgres"),
            Some("impact")
        );
        // With no dialect configured, every reading counts.
        for sql in [
            "SELECT 1 # 2; DROP TABLE users",
            "SELECT 1 --x; DROP TABLE users",
            "SELECT 1; /*! DROP TABLE users */",
            "SELECT 1 /* /* */ ; DROP TABLE t */",
        ] {
            assert_eq!(cat(sql), Some(("impact", Phase::Unknown)), "{sql}");
        }
        assert_eq!(
            cat("SELECT a FROM t -- DROP TABLE t"),
            Some(("db_read", Phase::Unknown))
        );
    }

    #[test]
    fn past_the_bounds_the_analysis_is_incomplete() {
        let many = "SELECT 1;".repeat(MAX_STATEMENTS) + "DROP TABLE users";
        let a = analyse(&many, Dialect::ALL).unwrap();
        assert_eq!(a.incomplete, Some(bound::SQL_STATEMENTS));
        let long = format!("SELECT '{}'; DROP TABLE users", "x".repeat(MAX_SQL_BYTES));
        let a = analyse(&long, Dialect::ALL).unwrap();
        assert_eq!(a.incomplete, Some(bound::SQL_BYTES));
        assert_eq!(analyse("SELECT 1", Dialect::ALL).unwrap().incomplete, None);
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
        let a = analyse("SELECT * FROM crm.customers", Dialect::ALL).unwrap();
        assert_eq!(
            a.targets,
            vec![("crm.customers".to_owned(), TargetKind::Database)]
        );
    }
}

//! The SQL tokenizer behind [`super::sql`], per dialect where comment and quoting syntax differ.
//!
//! | syntax | PostgreSQL | MySQL / MariaDB | SQLite | SQL Server |
//! |---|---|---|---|---|
//! | `-- x` | comment | comment only before whitespace or a control char (`--x` is `- -x`) | comment | comment |
//! | `#` | operator (XOR) | comment | error | error |
//! | `/* */` | nests | ends at the first `*/`; `/*! … */`, `/*!50001 … */`, `/*M! … */` are **executed** | ends at the first `*/` | nests |
//! | `'…'` | `''` escape; backslash escapes only in `E'…'` | backslash escapes | `''` | `''` |
//! | `"…"` | identifier | string | identifier | identifier |
//! | `$tag$…$tag$` | dollar quote (the body may be code: read as code) | — | — | — |
//!
//! With no dialect configured (`tools.sql_dialect: "any"`, the default), a statement is read in
//! every dialect and the strongest reading decides, so a `DROP` any engine would run is seen.

/// Most bytes of a statement read; longer statements are read up to here and escalated.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// A SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL (also CockroachDB, Redshift).
    Postgres,
    /// MySQL and MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
    /// Microsoft SQL Server.
    MsSql,
}

impl Dialect {
    /// Every dialect, for `any`.
    pub const ALL: &'static [Dialect] = &[
        Dialect::Postgres,
        Dialect::MySql,
        Dialect::Sqlite,
        Dialect::MsSql,
    ];

    /// Parses a config name.
    pub fn from_name(s: &str) -> Option<&'static [Dialect]> {
        Some(match s {
            "any" => Dialect::ALL,
            "postgres" | "postgresql" => &[Dialect::Postgres],
            "mysql" | "mariadb" => &[Dialect::MySql],
            "sqlite" => &[Dialect::Sqlite],
            "mssql" | "sqlserver" => &[Dialect::MsSql],
            _ => return None,
        })
    }
}

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Word(String),
    Star,
    Semi,
    Other,
}

/// Tokens of one reading; `truncated` when the input was longer than [`MAX_SQL_BYTES`].
pub(crate) struct Lexed {
    pub(crate) toks: Vec<Tok>,
    pub(crate) truncated: bool,
}

fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.')
}

/// `$tag$` at `i` (PostgreSQL dollar quote): its length.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if c == b'$' {
            return Some(j + 1 - i);
        }
        if !(c.is_ascii_alphanumeric() || c == b'_') || (j == i + 1 && c.is_ascii_digit()) {
            return None;
        }
        j += 1;
    }
    None
}

/// Tokenises `sql` as `d` reads it.
pub(crate) fn tokenize(sql: &str, d: Dialect) -> Lexed {
    let all = sql.as_bytes();
    let truncated = all.len() > MAX_SQL_BYTES;
    let b = &all[..all.len().min(MAX_SQL_BYTES)];
    let mut out = Vec::new();
    let mut i = 0;
    // Inside a MySQL executable comment: its `*/` closes it.
    let mut exec_comment = false;
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        if c == b'-' && next == Some(b'-') {
            let after = b.get(i + 2).copied();
            let comment = d != Dialect::MySql || after.is_none_or(|a| a <= b' ');
            if comment {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            out.push(Tok::Other);
            i += 1;
        } else if c == b'#' && d == Dialect::MySql {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'*' && next == Some(b'/') && exec_comment {
            exec_comment = false;
            i += 2;
        } else if c == b'/' && next == Some(b'*') {
            let exec = d == Dialect::MySql
                && (b.get(i + 2) == Some(&b'!')
                    || (b.get(i + 2) == Some(&b'M') && b.get(i + 3) == Some(&b'!')));
            if exec && !exec_comment {
                // `/*!50001 DROP …*/`: the body runs; skip the marker and the version.
                i += if b.get(i + 2) == Some(&b'M') { 4 } else { 3 };
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                exec_comment = true;
                continue;
            }
            let nests = matches!(d, Dialect::Postgres | Dialect::MsSql);
            let mut depth = 1usize;
            i += 2;
            while i < b.len() && depth > 0 {
                if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                } else if nests && b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else if c == b'$' && d == Dialect::Postgres && dollar_tag(b, i).is_some() {
            // The body of a dollar quote is read as code (function bodies and DO blocks run).
            out.push(Tok::Other);
            i += dollar_tag(b, i).unwrap_or(1);
        } else if matches!(c, b'\'' | b'"' | b'`') || (c == b'[' && d == Dialect::MsSql) {
            let close = if c == b'[' { b']' } else { c };
            let string = c == b'\'' || (c == b'"' && d == Dialect::MySql);
            let e_string = d == Dialect::Postgres
                && i > 0
                && matches!(b[i - 1], b'e' | b'E')
                && (i < 2 || !word_byte(b[i - 2]));
            let backslash = string && (d == Dialect::MySql || e_string);
            i += 1;
            let start = i;
            while i < b.len() {
                if backslash && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == close {
                    if b.get(i + 1) == Some(&close) && close != b']' {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            let end = i.min(b.len());
            if string {
                out.push(Tok::Other);
            } else {
                let w = String::from_utf8_lossy(&b[start..end]).to_ascii_lowercase();
                out.push(Tok::Word(w));
            }
            i += 1;
        } else if word_byte(c) {
            let start = i;
            while i < b.len() && word_byte(b[i]) {
                if b[i] == b'$' && d == Dialect::Postgres && dollar_tag(b, i).is_some() && i > start
                {
                    break;
                }
                i += 1;
            }
            out.push(Tok::Word(
                String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase(),
            ));
        } else {
            match c {
                b'*' => out.push(Tok::Star),
                b';' => out.push(Tok::Semi),
                c if c.is_ascii_whitespace() => {}
                _ => out.push(Tok::Other),
            }
            i += 1;
        }
    }
    Lexed {
        toks: out,
        truncated,
    }
}

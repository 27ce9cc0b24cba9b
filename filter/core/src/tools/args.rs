//! Classification of generic tools from their arguments (DESIGN §3.4): which kind of tool it is
//! (shell, HTTP, SQL, file — by name tokens, else by argument keys), then what the command, URL,
//! statement or path it carries says. Shell command lines are read by [`super::shell`], SQL by
//! [`super::sql`].

use llmfw_api::v1::{Phase, TargetKind};
use serde_json::Value;

use super::classify::{category, Analysis};
use super::scope::Scope;
use super::url;
use super::{shell, sql};
use crate::config::tools::ToolsConfig;

/// The kind of a generic tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolKind {
    Shell,
    Http,
    Sql,
    File,
}

const SHELL_TOKENS: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "shell",
    "exec",
    "execute",
    "terminal",
    "command",
    "commands",
    "cmd",
    "powershell",
    "pwsh",
    "subprocess",
    "console",
    "run",
    "system",
];
const HTTP_TOKENS: &[&str] = &[
    "http", "https", "fetch", "curl", "wget", "browse", "browser", "url", "web", "webhook",
    "request", "requests", "download", "api",
];
const SQL_TOKENS: &[&str] = &[
    "sql",
    "query",
    "db",
    "database",
    "postgres",
    "postgresql",
    "mysql",
    "sqlite",
    "psql",
    "mssql",
    "oracle",
    "snowflake",
    "bigquery",
];
const FILE_TOKENS: &[&str] = &[
    "file",
    "files",
    "fs",
    "filesystem",
    "path",
    "read",
    "write",
    "cat",
    "open",
    "save",
    "edit",
    "append",
    "directory",
    "dir",
    "folder",
];

const COMMAND_KEYS: &[&str] = &[
    "command",
    "cmd",
    "commandline",
    "command_line",
    "script",
    "code",
    "shell",
    "input",
];
const URL_KEYS: &[&str] = &["url", "uri", "endpoint", "href", "link", "address"];
const BODY_KEYS: &[&str] = &[
    "body",
    "data",
    "json",
    "payload",
    "content",
    "form",
    "files",
    "file",
    "params_body",
];
const SQL_KEYS: &[&str] = &["query", "sql", "statement", "stmt", "q"];
const PATH_KEYS: &[&str] = &[
    "path",
    "file_path",
    "filepath",
    "file",
    "filename",
    "file_name",
    "target_file",
    "source",
    "src",
    "dest",
    "destination",
];

fn name_tokens(tool: &str) -> Vec<String> {
    let lower = tool.to_ascii_lowercase();
    lower
        .split(['_', '-', '.', '/', ':', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn has_any(toks: &[String], set: &[&str]) -> bool {
    toks.iter().any(|t| set.contains(&t.as_str()))
}

/// The generic kind of a tool by its name, if any.
pub(crate) fn kind_by_name(tool: &str) -> Option<ToolKind> {
    let toks = name_tokens(tool);
    if has_any(&toks, SQL_TOKENS) {
        Some(ToolKind::Sql)
    } else if has_any(&toks, HTTP_TOKENS) {
        Some(ToolKind::Http)
    } else if has_any(&toks, SHELL_TOKENS) {
        Some(ToolKind::Shell)
    } else if has_any(&toks, FILE_TOKENS) {
        Some(ToolKind::File)
    } else {
        None
    }
}

fn get_str<'a>(args: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let obj = args.as_object()?;
    keys.iter().find_map(|k| {
        obj.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| v.as_str())
            .filter(|s| !s.trim().is_empty())
    })
}

fn command_of(args: &Value) -> Option<String> {
    if let Some(s) = args.as_str() {
        return Some(s.to_owned());
    }
    if let Some(s) = get_str(args, COMMAND_KEYS) {
        // `{"command": "nmap", "args": ["-sV", "host"]}`
        let extra = args
            .get("args")
            .or_else(|| args.get("arguments"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(shell::quote)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        return Some(if extra.is_empty() {
            s.to_owned()
        } else {
            format!("{s} {extra}")
        });
    }
    // `{"argv": ["nmap", "-sV", "host"]}` or `{"command": [...]}`
    ["argv", "command", "cmd", "args"].iter().find_map(|k| {
        let arr = args.get(*k)?.as_array()?;
        let words: Vec<String> = arr
            .iter()
            .filter_map(Value::as_str)
            .map(shell::quote)
            .collect();
        Some(words.join(" ")).filter(|s| !s.is_empty())
    })
}

/// Classifies a generic tool from its arguments; `None` when the tool is not generic or its
/// arguments hold no command, URL, statement or path.
pub(crate) fn analyse(tool: &str, args: &Value, tools: &ToolsConfig) -> Option<Analysis> {
    let scope = &tools.scope;
    let sql = |s: &str| sql::analyse(s, tools.sql_dialects);
    match kind_by_name(tool) {
        Some(ToolKind::Shell) => command_of(args).map(|c| shell::analyse(&c)),
        Some(ToolKind::Http) => http(tool, args, scope),
        Some(ToolKind::Sql) => get_str(args, SQL_KEYS).and_then(sql),
        Some(ToolKind::File) => file(tool, args),
        None => {
            // Unknown name: let the arguments say what it is.
            if let Some(c) = get_str(args, &["command", "cmd", "commandline", "command_line"]) {
                Some(shell::analyse(c))
            } else if get_str(args, &["method"]).is_some() && get_str(args, URL_KEYS).is_some() {
                http(tool, args, scope)
            } else {
                get_str(args, &["sql", "statement"]).and_then(sql)
            }
        }
    }
}

fn http(tool: &str, args: &Value, scope: &Scope) -> Option<Analysis> {
    let url = get_str(args, URL_KEYS)?;
    let method = get_str(args, &["method", "http_method", "verb"])
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| {
            let toks = name_tokens(tool);
            if toks.iter().any(|t| t == "post" || t == "upload") {
                "POST".to_owned()
            } else if toks.iter().any(|t| t == "put") {
                "PUT".to_owned()
            } else {
                "GET".to_owned()
            }
        });
    let has_body = args.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| {
            BODY_KEYS.iter().any(|b| k.eq_ignore_ascii_case(b))
                && !v.is_null()
                && v.as_str().is_none_or(|s| !s.is_empty())
                && v.as_object().is_none_or(|m| !m.is_empty())
        })
    });
    let kind = if url.contains("://") {
        TargetKind::Url
    } else {
        TargetKind::Host
    };
    let writes = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
    let in_scope = if kind == TargetKind::Url {
        scope.contains_url(url)
    } else {
        scope.contains_host(url)
    };
    let a = if writes && has_body && !in_scope {
        Analysis::new(Phase::Exfiltration, category::EXFILTRATION)
    } else if writes || method == "DELETE" {
        Analysis::new(Phase::Unknown, category::NETWORK_WRITE)
    } else {
        Analysis::new(Phase::Unknown, category::NETWORK_READ)
    };
    let mut a = a.with_target(url, kind);
    if kind == TargetKind::Url {
        // The address the client reaches (WHATWG reading: `http:0x7f.1/` is 127.0.0.1).
        if let Some(ip) = url::host_of(url).ok().and_then(|h| h.ip()) {
            a.add_target(&ip.to_string(), TargetKind::Ip);
        }
    }
    Some(a)
}

fn file(tool: &str, args: &Value) -> Option<Analysis> {
    let path = get_str(args, PATH_KEYS)?;
    let toks = name_tokens(tool);
    let mode = get_str(args, &["mode"]).unwrap_or("").to_ascii_lowercase();
    let writes = has_any(
        &toks,
        &[
            "write", "save", "create", "edit", "append", "put", "update", "replace",
        ],
    ) || mode.contains('w')
        || mode.contains('a');
    let deletes = has_any(&toks, &["delete", "remove", "rm", "unlink"]);
    let a = if deletes {
        Analysis::new(Phase::Unknown, category::IMPACT)
    } else if writes {
        Analysis::new(Phase::Unknown, category::FILE_WRITE)
    } else if shell::sensitive_path(path) {
        Analysis::new(Phase::Collection, category::COLLECTION)
    } else {
        Analysis::new(Phase::Unknown, category::FILE_READ)
    };
    Some(a.with_target(path, TargetKind::Path))
}

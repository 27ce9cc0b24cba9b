//! The `tools` section of the plugin config: deny/allow globs, per-tool argument rules, the scope
//! (testlab) and classification overrides. Parsed strictly, compiled once; errors name the field.

use serde::Deserialize;
use serde_json::Value;

use super::{invalid, ConfigError};
use crate::tools::schema::Schema;
use crate::tools::scope::{normalize_path, Cidr, Scope};
use crate::tools::sql_lex::Dialect;
use crate::tools::{DenyList, Glob};
use crate::verdict::Action;
use llmfw_api::v1::Phase;

/// `tools` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTools {
    pub(crate) deny: Option<Vec<String>>,
    allow: Option<Vec<String>>,
    rules: Option<Vec<RawRule>>,
    scope: Option<RawScope>,
    classes: Option<Vec<RawClass>>,
    duplicate_keys: Option<String>,
    analysis_bound: Option<String>,
    sql_dialect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    tool: String,
    schema: Value,
    action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    cidrs: Option<Vec<String>>,
    domains: Option<Vec<String>>,
    url_prefixes: Option<Vec<String>>,
    path_prefixes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    tool: String,
    phase: String,
    category: Option<String>,
}

/// One `tools.rules[]` entry: calls of tools matching `tool` must satisfy `schema`.
#[derive(Debug, Clone)]
pub struct ToolRule {
    /// Tool-name glob.
    pub tool: Glob,
    /// Compiled argument schema.
    pub schema: Schema,
    /// Action for a violation (default block).
    pub action: Action,
}

/// One `tools.classes[]` entry: a tool-name glob with a fixed phase (and category).
#[derive(Debug, Clone)]
pub struct ClassOverride {
    /// Tool-name glob.
    pub tool: Glob,
    /// Phase given to matching tools.
    pub phase: Phase,
    /// Category (default: the phase name).
    pub category: String,
}

/// The compiled `tools` section (the deny list lives in [`super::Config::deny`]).
#[derive(Debug, Clone)]
pub struct ToolsConfig {
    /// Allowed tools; empty = every tool not denied.
    pub allow: DenyList,
    /// Argument rules, checked in order (every matching rule applies).
    pub rules: Vec<ToolRule>,
    /// The authorised scope.
    pub scope: Scope,
    /// Classification overrides, first match wins, checked before the built-in table.
    pub classes: Vec<ClassOverride>,
    /// Action when tool arguments repeat a JSON key (default block).
    pub duplicate_keys: Action,
    /// Action when an analyser stops at a bound before the end of the arguments (default
    /// require_approval; never allow).
    pub analysis_bound: Action,
    /// SQL dialects a statement is read in (`tools.sql_dialect`, default every dialect).
    pub sql_dialects: &'static [Dialect],
}

impl Default for ToolsConfig {
    fn default() -> Self {
        ToolsConfig {
            allow: DenyList::default(),
            rules: Vec::new(),
            scope: Scope::default(),
            classes: Vec::new(),
            duplicate_keys: Action::Block,
            analysis_bound: Action::RequireApproval,
            sql_dialects: Dialect::ALL,
        }
    }
}

/// Parses an action name as used in config.
pub fn parse_action(
    field: &str,
    name: Option<&str>,
    default: Action,
) -> Result<Action, ConfigError> {
    match name {
        None => Ok(default),
        Some("allow") => Ok(Action::Allow),
        Some("warn") => Ok(Action::Warn),
        Some("require_approval") => Ok(Action::RequireApproval),
        Some("block") => Ok(Action::Block),
        Some(other) => Err(invalid(
            field,
            format!(
                "must be \"allow\", \"warn\", \"require_approval\" or \"block\", got {other:?}"
            ),
        )),
    }
}

/// Parses a phase name (`recon`, `exploit`, `lateral`, `collection`, `exfiltration`, `unknown`).
pub fn parse_phase(name: &str) -> Option<Phase> {
    Some(match name {
        "unknown" => Phase::Unknown,
        "recon" => Phase::Recon,
        "exploit" => Phase::Exploit,
        "lateral" => Phase::Lateral,
        "collection" => Phase::Collection,
        "exfiltration" => Phase::Exfiltration,
        _ => return None,
    })
}

fn globs(field: &str, raw: Option<Vec<String>>) -> Result<Vec<Glob>, ConfigError> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| Glob::compile(p).map_err(|e| invalid(format!("{field}[{i}]"), e)))
        .collect()
}

impl RawTools {
    /// Compiles everything but the deny list.
    pub(crate) fn compile(self) -> Result<ToolsConfig, ConfigError> {
        let allow_raw = self.allow.unwrap_or_default();
        let allow = DenyList::compile(&allow_raw)
            .map_err(|(i, problem)| invalid(format!("tools.allow[{i}]"), problem))?;

        let mut rules = Vec::new();
        for (i, r) in self.rules.unwrap_or_default().into_iter().enumerate() {
            let tool =
                Glob::compile(&r.tool).map_err(|e| invalid(format!("tools.rules[{i}].tool"), e))?;
            let schema = Schema::compile(&r.schema, &format!("tools.rules[{i}].schema"))
                .map_err(|(field, problem)| invalid(field, problem))?;
            let action = parse_action(
                &format!("tools.rules[{i}].action"),
                r.action.as_deref(),
                Action::Block,
            )?;
            rules.push(ToolRule {
                tool,
                schema,
                action,
            });
        }

        let s = self.scope.unwrap_or_default();
        let mut cidrs = Vec::new();
        for (i, c) in s.cidrs.unwrap_or_default().iter().enumerate() {
            cidrs.push(Cidr::parse(c).ok_or_else(|| {
                invalid(
                    format!("tools.scope.cidrs[{i}]"),
                    format!("invalid CIDR {c:?} (expected e.g. 10.0.0.0/8 or fd00::/8)"),
                )
            })?);
        }
        let domains = globs("tools.scope.domains", s.domains)?;
        let mut url_prefixes = Vec::new();
        for (i, u) in s.url_prefixes.unwrap_or_default().into_iter().enumerate() {
            let has_host = u
                .split_once("://")
                .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty());
            if !has_host {
                return Err(invalid(
                    format!("tools.scope.url_prefixes[{i}]"),
                    "must be an absolute URL prefix like https://host/path",
                ));
            }
            url_prefixes.push(u.to_ascii_lowercase());
        }
        let mut path_prefixes = Vec::new();
        for (i, p) in s.path_prefixes.unwrap_or_default().iter().enumerate() {
            let norm = normalize_path(p).ok_or_else(|| {
                invalid(
                    format!("tools.scope.path_prefixes[{i}]"),
                    "must be an absolute path",
                )
            })?;
            path_prefixes.push(norm);
        }

        let mut classes = Vec::new();
        for (i, c) in self.classes.unwrap_or_default().into_iter().enumerate() {
            let tool = Glob::compile(&c.tool)
                .map_err(|e| invalid(format!("tools.classes[{i}].tool"), e))?;
            let phase = parse_phase(&c.phase).ok_or_else(|| {
                invalid(
                    format!("tools.classes[{i}].phase"),
                    "must be one of unknown, recon, exploit, lateral, collection, exfiltration",
                )
            })?;
            let category = c.category.unwrap_or_else(|| c.phase.clone());
            if category.is_empty() || category.len() > 64 {
                return Err(invalid(
                    format!("tools.classes[{i}].category"),
                    "must be 1 to 64 bytes",
                ));
            }
            classes.push(ClassOverride {
                tool,
                phase,
                category,
            });
        }

        let duplicate_keys = parse_action(
            "tools.duplicate_keys",
            self.duplicate_keys.as_deref(),
            Action::Block,
        )?;
        let analysis_bound = parse_action(
            "tools.analysis_bound",
            self.analysis_bound.as_deref(),
            Action::RequireApproval,
        )?;
        if analysis_bound == Action::Allow {
            return Err(invalid(
                "tools.analysis_bound",
                "must escalate: \"warn\", \"require_approval\" or \"block\" (a call the analysers did not read to the end is never allowed unseen)",
            ));
        }
        let sql_dialects = match self.sql_dialect.as_deref() {
            None => Dialect::ALL,
            Some(name) => Dialect::from_name(name).ok_or_else(|| {
                invalid(
                    "tools.sql_dialect",
                    format!("must be \"any\", \"postgres\", \"mysql\", \"sqlite\" or \"mssql\", got {name:?}"),
                )
            })?,
        };

        Ok(ToolsConfig {
            allow,
            rules,
            scope: Scope {
                cidrs,
                domains,
                url_prefixes,
                path_prefixes,
            },
            classes,
            duplicate_keys,
            analysis_bound,
            sql_dialects,
        })
    }
}

//! Scenario files: this project's JSONL format and the seed's `phase2_dataset.json`, read into
//! two separate structs: [`Scenario`] (traffic: what the engine may see) and [`Labels`] (ground
//! truth and grouping: read only by scoring). The engine never receives a [`Labels`].
//!
//! JSONL, one object per line: `{"id", "label", "operator", "session"?, "prompt"?, "group"?,
//! "steps": [{"t": seconds, "tool", "arguments": {...}, "result"?}]}`.
//!
//! Seed (JSON array): each event becomes a call of `tool` with arguments
//! `{"target": target, ...meta}` minus meta's `pretext`, `purpose`, `scope` and `phase` keys;
//! `category`, event-level `scope`/`phase`, and the scenario's `label`, `scope`, `authorized`,
//! `difficulty`, `scenario_type` are labels. The removed meta keys (including the seed's
//! `pretext`, which the seed fed to its detector) never reach the engine; claims reach it only as
//! traffic — a JSONL scenario's `prompt` — and are a risk signal, never an authorisation.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One tool call of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Event time (Unix seconds or seconds from start).
    pub t: f64,
    /// Tool name.
    pub tool: String,
    /// Arguments as sent.
    pub arguments: Value,
    /// Text the tool returned (not used by the campaign engine).
    pub result: Option<String>,
    /// Purposes the operator stated with this call (never filled from the seed's label keys).
    pub stated: Vec<String>,
}

/// What the engine may see of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Scenario id (request ids are derived from it).
    pub id: String,
    /// Operator id.
    pub operator: String,
    /// Session id (default: the scenario id).
    pub session: String,
    /// The user's first message, if any.
    pub prompt: Option<String>,
    /// Tool calls in order of occurrence.
    pub steps: Vec<Step>,
}

/// Ground truth and grouping, for scoring only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Scenario id.
    pub id: String,
    /// True if malicious.
    pub malicious: bool,
    /// `benign` or `malicious` as written.
    pub label: String,
    /// Group (seed `difficulty`, JSONL `group`, else `all`).
    pub group: String,
    /// Seed `scenario_type` (finer grouping), if any.
    pub kind: Option<String>,
    /// Per step: the label says this step is exfiltration (seed category `exfil…`).
    pub exfil_steps: Vec<bool>,
}

/// Errors reading a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not JSON / not the expected shape.
    #[error("line {line}: {msg}")]
    Parse {
        /// 1-based line (0 for a JSON array file).
        line: usize,
        /// What is wrong.
        msg: String,
    },
}

#[derive(Deserialize)]
struct JsonlScenario {
    id: String,
    label: String,
    operator: String,
    session: Option<String>,
    prompt: Option<String>,
    group: Option<String>,
    steps: Vec<JsonlStep>,
}

#[derive(Deserialize)]
struct JsonlStep {
    t: f64,
    tool: String,
    #[serde(default)]
    arguments: Value,
    result: Option<String>,
}

#[derive(Deserialize)]
struct SeedScenario {
    campaign_id: String,
    label: String,
    operator_id: String,
    events: Vec<SeedEvent>,
    difficulty: Option<String>,
    scenario_type: Option<String>,
}

#[derive(Deserialize)]
struct SeedEvent {
    t: f64,
    tool: String,
    #[serde(default)]
    category: String,
    target: Option<String>,
    #[serde(default)]
    meta: Map<String, Value>,
}

/// Meta keys that are labels or claims, not arguments.
const SEED_LABEL_KEYS: [&str; 4] = ["pretext", "purpose", "scope", "phase"];

fn seed_step(e: SeedEvent) -> (Step, bool) {
    let mut args = Map::new();
    if let Some(t) = e.target {
        args.insert("target".into(), Value::String(t));
    }
    // `pretext`/`purpose` are removed like the other label keys: the issue's protocol forbids
    // reading them outside scoring, so seed campaigns reach the engine without any claim.
    let stated = Vec::new();
    for (k, v) in e.meta {
        if !SEED_LABEL_KEYS.contains(&k.as_str()) && k != "pretext_signals" {
            args.insert(k, v);
        }
    }
    let exfil = e.category.to_ascii_lowercase().contains("exfil");
    (
        Step {
            t: e.t,
            tool: e.tool,
            arguments: Value::Object(args),
            result: None,
            stated,
        },
        exfil,
    )
}

/// Parses a scenario file: a JSON array (seed format) or JSONL.
pub fn parse(text: &str) -> Result<Vec<(Scenario, Labels)>, ScenarioError> {
    if text.trim_start().starts_with('[') {
        let seeds: Vec<SeedScenario> =
            serde_json::from_str(text).map_err(|e| ScenarioError::Parse {
                line: 0,
                msg: e.to_string(),
            })?;
        return Ok(seeds.into_iter().map(from_seed).collect());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let s: JsonlScenario = serde_json::from_str(line).map_err(|e| ScenarioError::Parse {
            line: i + 1,
            msg: e.to_string(),
        })?;
        let labels = Labels {
            id: s.id.clone(),
            malicious: s.label.eq_ignore_ascii_case("malicious"),
            label: s.label,
            group: s.group.unwrap_or_else(|| "all".into()),
            kind: None,
            exfil_steps: vec![false; s.steps.len()],
        };
        out.push((
            Scenario {
                session: s.session.unwrap_or_else(|| s.id.clone()),
                id: s.id,
                operator: s.operator,
                prompt: s.prompt,
                steps: s
                    .steps
                    .into_iter()
                    .map(|st| Step {
                        t: st.t,
                        tool: st.tool,
                        arguments: st.arguments,
                        result: st.result,
                        stated: Vec::new(),
                    })
                    .collect(),
            },
            labels,
        ));
    }
    Ok(out)
}

fn from_seed(s: SeedScenario) -> (Scenario, Labels) {
    let (steps, exfil_steps): (Vec<Step>, Vec<bool>) = s.events.into_iter().map(seed_step).unzip();
    (
        Scenario {
            id: s.campaign_id.clone(),
            operator: s.operator_id,
            session: s.campaign_id.clone(),
            prompt: None,
            steps,
        },
        Labels {
            id: s.campaign_id,
            malicious: s.label.eq_ignore_ascii_case("malicious"),
            label: s.label,
            group: s.difficulty.unwrap_or_else(|| "all".into()),
            kind: s.scenario_type,
            exfil_steps,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_labels_never_reach_the_traffic() {
        let text = r#"[{"campaign_id":"hc1_0","label":"benign","operator_id":"op_hc1_0",
            "description":"x","difficulty":"hard_fp","scenario_type":"legit","scope":"testlab",
            "authorized":true,"events":[{"t":1.5,"source":"tool","tool":"db_query",
            "category":"exfil","target":"10.0.0.5","scope":"testlab","phase":4,
            "meta":{"query":"SELECT 1","pretext":"authorised_pentest","purpose":"audit",
            "scope":"testlab","phase":4}}]}]"#;
        let got = parse(text).unwrap();
        let (s, l) = &got[0];
        assert_eq!(
            s.steps[0].arguments,
            serde_json::json!({"query": "SELECT 1", "target": "10.0.0.5"})
        );
        assert!(
            s.steps[0].stated.is_empty(),
            "removed meta keys must not reach the engine"
        );
        assert_eq!(s.session, "hc1_0");
        assert!(!l.malicious);
        assert_eq!(l.group, "hard_fp");
        assert_eq!(l.exfil_steps, [true]);
    }

    #[test]
    fn jsonl_format() {
        let text = "{\"id\":\"a\",\"label\":\"malicious\",\"operator\":\"op\",\"prompt\":\"hi\",\
                    \"steps\":[{\"t\":0,\"tool\":\"nmap\",\"arguments\":{\"target\":\"x\"}}]}\n\n";
        let got = parse(text).unwrap();
        assert_eq!(got[0].0.session, "a");
        assert!(got[0].1.malicious);
        assert!(parse("{").is_err());
    }
}

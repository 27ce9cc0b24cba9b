//! A JSON-Schema subset for tool arguments (`tools.rules[].schema`), compiled once at configure
//! time: `type` (name or list), `required`, `enum`, `const`, `pattern` (linear-time `regex-lite`,
//! unanchored as in JSON Schema), `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`,
//! `minLength`/`maxLength` (in characters), `properties`, `additionalProperties` (bool or schema),
//! `items`, `minItems`/`maxItems`. Annotations (`title`, `description`, `$schema`, `$id`,
//! `default`, `examples`, `$comment`) are ignored; any other keyword is a config error, so a typo
//! never silently weakens a rule.
//!
//! Violation messages name schema locations (property names declared in config), never argument
//! content or undeclared keys.

use serde_json::{Map, Value};

/// Deepest schema nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Most violations reported per call.
pub const MAX_VIOLATIONS: usize = 8;

const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "integer", "string",
];
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$schema",
    "$id",
    "default",
    "examples",
    "$comment",
];

/// A compiled schema node.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    types: Vec<&'static str>,
    required: Vec<String>,
    enumeration: Option<Vec<Value>>,
    pattern: Option<regex_lite::Regex>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    properties: Vec<(String, Schema)>,
    /// `None` = any additional property; `Some(None)` = none allowed; `Some(Some(s))` = must match s.
    additional: Option<Option<Box<Schema>>>,
    items: Option<Box<Schema>>,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

type CompileError = (String, String);

fn err(field: &str, problem: impl Into<String>) -> CompileError {
    (field.to_owned(), problem.into())
}

fn number(field: &str, v: &Value) -> Result<f64, CompileError> {
    v.as_f64().ok_or_else(|| err(field, "must be a number"))
}

fn count(field: &str, v: &Value) -> Result<u64, CompileError> {
    v.as_u64()
        .ok_or_else(|| err(field, "must be a non-negative integer"))
}

impl Schema {
    /// Compiles a schema; `field` is its config path for errors (`tools.rules[0].schema`).
    pub fn compile(value: &Value, field: &str) -> Result<Schema, CompileError> {
        Schema::compile_at(value, field, 0)
    }

    fn compile_at(value: &Value, field: &str, depth: usize) -> Result<Schema, CompileError> {
        if depth > MAX_DEPTH {
            return Err(err(field, format!("nests deeper than {MAX_DEPTH} levels")));
        }
        let obj = match value {
            Value::Object(o) => o,
            Value::Bool(true) => return Ok(Schema::default()),
            _ => return Err(err(field, "must be a JSON object (a schema)")),
        };
        let mut s = Schema::default();
        for (k, v) in obj {
            let f = format!("{field}.{k}");
            match k.as_str() {
                "type" => s.types = compile_types(&f, v)?,
                "required" => {
                    let arr = v.as_array().ok_or_else(|| err(&f, "must be an array"))?;
                    for (i, r) in arr.iter().enumerate() {
                        let name = r
                            .as_str()
                            .ok_or_else(|| err(&format!("{f}[{i}]"), "must be a string"))?;
                        s.required.push(name.to_owned());
                    }
                }
                "enum" => {
                    let arr = v.as_array().ok_or_else(|| err(&f, "must be an array"))?;
                    s.enumeration = Some(arr.clone());
                }
                "const" => s.enumeration = Some(vec![v.clone()]),
                "pattern" => {
                    let p = v.as_str().ok_or_else(|| err(&f, "must be a string"))?;
                    let re = regex_lite::RegexBuilder::new(p)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| err(&f, format!("invalid regex: {e}")))?;
                    s.pattern = Some(re);
                }
                "minimum" => s.minimum = Some(number(&f, v)?),
                "maximum" => s.maximum = Some(number(&f, v)?),
                "exclusiveMinimum" => s.exclusive_minimum = Some(number(&f, v)?),
                "exclusiveMaximum" => s.exclusive_maximum = Some(number(&f, v)?),
                "minLength" => s.min_length = Some(count(&f, v)?),
                "maxLength" => s.max_length = Some(count(&f, v)?),
                "minItems" => s.min_items = Some(count(&f, v)?),
                "maxItems" => s.max_items = Some(count(&f, v)?),
                "properties" => {
                    let props = v.as_object().ok_or_else(|| err(&f, "must be an object"))?;
                    for (name, sub) in props {
                        let sub = Schema::compile_at(sub, &format!("{f}.{name}"), depth + 1)?;
                        s.properties.push((name.clone(), sub));
                    }
                }
                "additionalProperties" => {
                    s.additional = match v {
                        Value::Bool(true) => None,
                        Value::Bool(false) => Some(None),
                        other => Some(Some(Box::new(Schema::compile_at(other, &f, depth + 1)?))),
                    }
                }
                "items" => s.items = Some(Box::new(Schema::compile_at(v, &f, depth + 1)?)),
                k if ANNOTATIONS.contains(&k) => {}
                other => {
                    return Err(err(
                        &f,
                        format!("unsupported schema keyword {other:?} (supported: type, required, enum, const, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, properties, additionalProperties, items, minItems, maxItems)"),
                    ))
                }
            }
        }
        Ok(s)
    }

    /// Validates arguments; returns the violations (at most [`MAX_VIOLATIONS`]), empty when valid.
    pub fn validate(&self, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.check(value, "arguments", &mut out);
        out
    }

    fn check(&self, v: &Value, at: &str, out: &mut Vec<String>) {
        if out.len() >= MAX_VIOLATIONS {
            return;
        }
        let mut push = |msg: String| {
            if out.len() < MAX_VIOLATIONS {
                out.push(msg);
            }
        };
        if !self.types.is_empty() && !self.types.iter().any(|t| type_matches(t, v)) {
            push(format!("{at}: must be of type {}", self.types.join(" or ")));
            return;
        }
        if let Some(allowed) = &self.enumeration {
            if !allowed.iter().any(|a| json_eq(a, v)) {
                push(format!("{at}: not one of the allowed values"));
            }
        }
        match v {
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if self.min_length.is_some_and(|m| len < m) {
                    push(format!("{at}: shorter than minLength"));
                }
                if self.max_length.is_some_and(|m| len > m) {
                    push(format!("{at}: longer than maxLength"));
                }
                if self.pattern.as_ref().is_some_and(|re| !re.is_match(s)) {
                    push(format!("{at}: does not match the pattern"));
                }
            }
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    if self.minimum.is_some_and(|m| x < m)
                        || self.exclusive_minimum.is_some_and(|m| x <= m)
                    {
                        push(format!("{at}: below the minimum"));
                    }
                    if self.maximum.is_some_and(|m| x > m)
                        || self.exclusive_maximum.is_some_and(|m| x >= m)
                    {
                        push(format!("{at}: above the maximum"));
                    }
                }
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                if self.min_items.is_some_and(|m| len < m) {
                    push(format!("{at}: fewer items than minItems"));
                }
                if self.max_items.is_some_and(|m| len > m) {
                    push(format!("{at}: more items than maxItems"));
                }
                if let Some(item_schema) = &self.items {
                    for (i, item) in items.iter().enumerate() {
                        item_schema.check(item, &format!("{at}[{i}]"), out);
                    }
                }
            }
            Value::Object(map) => self.check_object(map, at, out),
            _ => {}
        }
    }

    fn check_object(&self, map: &Map<String, Value>, at: &str, out: &mut Vec<String>) {
        for r in &self.required {
            if !map.contains_key(r) && out.len() < MAX_VIOLATIONS {
                out.push(format!("{at}: missing required property {r:?}"));
            }
        }
        for (k, v) in map {
            match self.properties.iter().find(|(name, _)| name == k) {
                Some((name, sub)) => sub.check(v, &format!("{at}.{name}"), out),
                None => match &self.additional {
                    Some(None) if out.len() < MAX_VIOLATIONS => {
                        out.push(format!("{at}: additional property not allowed"));
                    }
                    Some(Some(sub)) => sub.check(v, &format!("{at}.(additional)"), out),
                    _ => {}
                },
            }
        }
    }
}

fn compile_types(field: &str, v: &Value) -> Result<Vec<&'static str>, CompileError> {
    let names: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for n in names {
        let s = n.as_str().unwrap_or("");
        let t = TYPES.iter().find(|t| **t == s).ok_or_else(|| {
            err(
                field,
                format!("unknown type {n} (known: {})", TYPES.join(", ")),
            )
        })?;
        out.push(*t);
    }
    Ok(out)
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

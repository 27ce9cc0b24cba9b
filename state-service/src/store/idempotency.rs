//! Retries of `Evaluate` bound to what was asked, not to the client-chosen id alone.
//!
//! The request id comes from the client (`x-request-id`): reused on a new exchange, it must not
//! return the earlier, allowed verdict for other calls. So every stored event carries the
//! digest of its request ([`request_digest`]: SHA-256 over a length-prefixed encoding of the
//! subject, policy version, pretexts and events), and a stored request id answers with its
//! stored verdict only when the new request has the same digest ([`Prior::Retry`]). A different
//! digest ([`Prior::Conflict`]) is a reuse: the events are evaluated and recorded under the
//! derived id [`conflict_id`] (so they are counted and shown like any other), and every one of
//! them is refused ([`refuse`], reason [`REASON_REQUEST_ID_REUSED`]). Ids are scoped per operator
//! (`operator_id` leads every key); the tenant and session are part of the digest, so the same
//! operator and id under another tenant or session is a conflict too.

use sha2::{Digest, Sha256};

use crate::engine::{Action, Delta, Evaluation, Verdict};
use crate::store::StoredEvent;

/// Reason on every event of a request whose id was already used with other content.
pub const REASON_REQUEST_ID_REUSED: &str =
    "request id reused with different tool calls (idempotency conflict): refused";

/// Hex SHA-256 of everything an evaluation's verdict depends on except its time and id.
pub fn request_digest(eval: &Evaluation) -> String {
    let mut h = Sha256::new();
    let mut put = |field: &str| {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    };
    put("llmfw-request-v1");
    put(&eval.subject.tenant);
    put(&eval.subject.operator);
    put(&eval.subject.session);
    put(&eval.policy_version);
    put(&eval.pretexts.len().to_string());
    for p in &eval.pretexts {
        put(p);
    }
    put(&eval.events.len().to_string());
    for ev in &eval.events {
        put(&ev.call_id);
        put(&ev.tool);
        put(&ev.category);
        put(&ev.phase.map_or(-1, |p| i64::from(p.number())).to_string());
        put(&ev.args_digest);
        put(&ev.targets.len().to_string());
        for t in &ev.targets {
            put(&t.value);
            put(if t.in_scope { "1" } else { "0" });
            put(if t.local { "1" } else { "0" });
        }
    }
    hex::encode(h.finalize())
}

/// What the stored events of a request id say about a new request with that id.
#[derive(Debug, PartialEq)]
pub enum Prior {
    /// Nothing stored under the id.
    Fresh,
    /// The same request again: answer the stored verdict.
    Retry,
    /// The id was used for other content (or before digests were stored).
    Conflict,
}

/// Compares the stored events of the id with the new request's `digest`.
pub fn prior(stored: &[StoredEvent], digest: &str) -> Prior {
    if stored.is_empty() {
        Prior::Fresh
    } else if stored.iter().all(|e| e.request_digest == digest) {
        Prior::Retry
    } else {
        Prior::Conflict
    }
}

/// The id a conflicting request is recorded under: the client's id and the digest's first 16
/// hex digits, so a retry of the conflicting request is itself idempotent.
pub fn conflict_id(request_id: &str, digest: &str) -> String {
    format!("{request_id}~{}", &digest[..digest.len().min(16)])
}

/// `eval` under [`conflict_id`].
pub fn conflict_eval(eval: &Evaluation, digest: &str) -> Evaluation {
    Evaluation {
        request_id: conflict_id(&eval.request_id, digest),
        ..eval.clone()
    }
}

/// Refuses every event of a conflicting request: BLOCK with [`REASON_REQUEST_ID_REUSED`]; no
/// approval is raised and none consumed (a reused id never spends a human's approval).
pub fn refuse(verdict: &mut Verdict, delta: &mut Delta) {
    for ev in &mut verdict.events {
        ev.action = Action::Block;
        ev.approval_id = None;
        ev.reasons.insert(0, REASON_REQUEST_ID_REUSED.to_owned());
    }
    verdict.action = Action::Block;
    verdict.approval_id = None;
    verdict.reasons.retain(|r| r != REASON_REQUEST_ID_REUSED);
    verdict
        .reasons
        .insert(0, REASON_REQUEST_ID_REUSED.to_owned());
    delta.approvals.clear();
    delta.consumed.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Subject, Target, ToolEvent};

    fn eval() -> Evaluation {
        Evaluation {
            subject: Subject {
                tenant: "t".into(),
                operator: "op".into(),
                session: "s".into(),
            },
            request_id: "r1".into(),
            observed_at_ms: 1,
            events: vec![ToolEvent {
                call_id: "c1".into(),
                tool: "get_weather".into(),
                args_digest: "ab".into(),
                targets: vec![Target {
                    value: "x".into(),
                    ..Target::default()
                }],
                ..ToolEvent::default()
            }],
            ..Evaluation::default()
        }
    }

    #[test]
    fn the_digest_covers_subject_and_events_but_not_time_or_id() {
        let base = request_digest(&eval());
        let same = Evaluation {
            request_id: "other".into(),
            observed_at_ms: 99,
            ..eval()
        };
        assert_eq!(request_digest(&same), base);
        let mut changes: Vec<Evaluation> = Vec::new();
        for f in [
            |e: &mut Evaluation| e.subject.tenant = "t2".into(),
            |e: &mut Evaluation| e.subject.operator = "op2".into(),
            |e: &mut Evaluation| e.subject.session = "s2".into(),
            |e: &mut Evaluation| e.policy_version = "v2".into(),
            |e: &mut Evaluation| e.pretexts.push("authorised".into()),
            |e: &mut Evaluation| e.events[0].tool = "delete_files".into(),
            |e: &mut Evaluation| e.events[0].args_digest = "cd".into(),
            |e: &mut Evaluation| e.events[0].call_id = "c2".into(),
            |e: &mut Evaluation| e.events[0].targets[0].in_scope = true,
            |e: &mut Evaluation| e.events.push(ToolEvent::default()),
            // field boundaries are length-prefixed: moving a byte across them changes the digest
            |e: &mut Evaluation| {
                e.subject.tenant = "to".into();
                e.subject.operator = "p".into();
            },
        ] {
            let mut e = eval();
            f(&mut e);
            changes.push(e);
        }
        for e in changes {
            assert_ne!(request_digest(&e), base, "{e:?}");
        }
    }

    #[test]
    fn refusing_blocks_every_event_and_drops_approvals() {
        let mut v = Verdict {
            action: Action::RequireApproval,
            approval_id: Some("a".into()),
            events: vec![crate::engine::EventVerdict {
                call_id: "c1".into(),
                action: Action::RequireApproval,
                approval_id: Some("a".into()),
                risk: 0.5,
                phase: None,
                reasons: Vec::new(),
            }],
            ..Verdict::default()
        };
        let mut d = Delta::default();
        d.consumed.push("g".into());
        refuse(&mut v, &mut d);
        assert_eq!(v.action, Action::Block);
        assert_eq!(v.events[0].action, Action::Block);
        assert_eq!(v.events[0].reasons[0], REASON_REQUEST_ID_REUSED);
        assert_eq!(v.approval_id, None);
        assert!(d.consumed.is_empty() && d.approvals.is_empty());
        assert_eq!(
            conflict_id("r1", "0123456789abcdef0123"),
            "r1~0123456789abcdef"
        );
    }
}

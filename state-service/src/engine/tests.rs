#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// In-memory stand-in for the store: operator → target → phases; (operator, session) → phases.
#[derive(Default)]
struct Mem {
    targets: HashMap<String, HashMap<String, PhaseSet>>,
    sessions: HashMap<(String, String), PhaseSet>,
}

impl Mem {
    fn call(
        &mut self,
        op: &str,
        session: &str,
        req: &str,
        tool: &str,
        target: Option<(&str, bool)>,
    ) -> Verdict {
        let eval = Evaluation {
            subject: Subject {
                tenant: "t".into(),
                operator: op.into(),
                session: session.into(),
            },
            request_id: req.into(),
            observed_at_ms: 1_000,
            events: vec![ToolEvent {
                call_id: "c1".into(),
                tool: tool.into(),
                targets: target
                    .map(|(v, s)| {
                        vec![Target {
                            value: v.into(),
                            in_scope: s,
                        }]
                    })
                    .unwrap_or_default(),
                ..ToolEvent::default()
            }],
        };
        let mut snap = Snapshot {
            targets: self.targets.get(op).cloned().unwrap_or_default(),
            session: self
                .sessions
                .get(&(op.to_string(), session.to_string()))
                .copied()
                .unwrap_or_default(),
        };
        let (verdict, delta) = evaluate(&EngineConfig::default(), &snap, &eval);
        apply(&mut snap, &delta);
        self.targets.insert(op.into(), snap.targets);
        self.sessions
            .insert((op.into(), session.into()), snap.session);
        verdict
    }
}

const T: &str = "corp-a.example.com";

#[test]
fn acceptance_campaign_across_sessions() {
    let mut m = Mem::default();
    let v = m.call("op1", "s1", "r1", "nmap", Some((T, false)));
    assert_eq!(v.action, Action::Allow, "{v:?}");
    assert_eq!(v.max_phase, Some(Phase::Recon));

    let v = m.call("op1", "s1", "r2", "exploit_framework", Some((T, false)));
    assert!(matches!(v.action, Action::Allow | Action::Warn), "{v:?}");

    let v = m.call("op1", "s1", "r3", "data_export", Some((T, false)));
    assert_eq!(v.action, Action::Block, "{v:?}");
    assert_eq!(v.max_phase, Some(Phase::Exfiltration));
    assert!(
        v.reasons
            .iter()
            .any(|r| r
                == "kill chain on corp-a.example.com: recon → exploit → exfiltration (risk 0.75)"),
        "{:?}",
        v.reasons
    );

    // new session, same operator: the campaign state is per operator
    let v = m.call("op1", "s2", "r4", "data_export", Some((T, false)));
    assert_eq!(v.action, Action::Block, "{v:?}");

    // another operator, fresh target, lone exfiltration: not blocked
    let v = m.call(
        "op2",
        "s9",
        "r5",
        "data_export",
        Some(("fresh.example.org", false)),
    );
    assert_ne!(v.action, Action::Block, "{v:?}");
    assert!(v.risk < 0.55);

    // another operator on the same target starts from nothing
    let v = m.call("op2", "s9", "r6", "data_export", Some((T, false)));
    assert_ne!(v.action, Action::Block, "{v:?}");
}

#[test]
fn benign_tool_allows_without_phase() {
    let mut m = Mem::default();
    let v = m.call("op1", "s1", "r1", "get_weather", Some(("berlin", false)));
    assert_eq!(v.action, Action::Allow);
    assert_eq!(v.max_phase, None);
    assert_eq!(v.events[0].phase, None);
    assert!(v.reasons.is_empty());
    assert_eq!(v.risk, 0.0);
}

#[test]
fn in_scope_target_is_never_blocked() {
    let mut m = Mem::default();
    let lab = Some(("10.10.0.5", true));
    m.call("op1", "s1", "r1", "nmap", lab);
    m.call("op1", "s1", "r2", "exploit", lab);
    let v = m.call("op1", "s1", "r3", "data_export", lab);
    assert_eq!(v.action, Action::RequireApproval, "{v:?}");
    let id = v.approval_id.clone().expect("approval id");
    assert_eq!(id.len(), 32);
    assert_eq!(v.events[0].approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(id, approval_id("op1", "r3", "c1"));
}

#[test]
fn targetless_events_progress_over_the_session() {
    let mut m = Mem::default();
    assert_eq!(
        m.call("op1", "s1", "r1", "nmap", None).action,
        Action::Allow
    );
    assert_eq!(
        m.call("op1", "s1", "r2", "exploit", None).action,
        Action::Warn
    );
    assert_eq!(
        m.call("op1", "s1", "r3", "exfiltrate", None).action,
        Action::Block
    );
    // a lone target-less exfiltration in a fresh session is not blocked
    assert_ne!(
        m.call("op1", "s2", "r4", "exfiltrate", None).action,
        Action::Block
    );
}

#[test]
fn events_in_one_request_progress_in_order() {
    let ev = |id: &str, tool: &str| ToolEvent {
        call_id: id.into(),
        tool: tool.into(),
        targets: vec![Target {
            value: T.into(),
            in_scope: false,
        }],
        ..ToolEvent::default()
    };
    let eval = Evaluation {
        subject: Subject {
            operator: "op".into(),
            session: "s".into(),
            ..Subject::default()
        },
        request_id: "r".into(),
        observed_at_ms: 0,
        events: vec![
            ev("a", "nmap"),
            ev("b", "get_weather"),
            ev("c", "ssh_connect"),
            ev("d", "upload"),
        ],
    };
    let (v, d) = evaluate(&EngineConfig::default(), &Snapshot::default(), &eval);
    let actions: Vec<Action> = v.events.iter().map(|e| e.action).collect();
    // nmap 0.06 allow; weather allow; lateral 0.45 approval; exfil 0.65+0.10 block
    assert_eq!(
        actions,
        vec![
            Action::Allow,
            Action::Allow,
            Action::RequireApproval,
            Action::Block
        ]
    );
    assert_eq!(v.action, Action::Block);
    assert_eq!(v.risk, 0.75);
    assert_eq!(d.approvals.len(), 1);
    assert_eq!(d.approvals[0].call_id, "c");
    assert_eq!(v.approval_id.as_deref(), Some(d.approvals[0].id.as_str()));
    assert_eq!(d.targets.len(), 1);
    assert_eq!(d.targets[0].1.len(), 3);
}

#[test]
fn filter_phase_wins_over_tool_name() {
    let eval = Evaluation {
        subject: Subject {
            operator: "op".into(),
            ..Subject::default()
        },
        events: vec![ToolEvent {
            call_id: "x".into(),
            tool: "get_weather".into(),
            phase: Some(Phase::Exploit),
            ..ToolEvent::default()
        }],
        ..Evaluation::default()
    };
    let (v, _) = evaluate(&EngineConfig::default(), &Snapshot::default(), &eval);
    assert_eq!(v.events[0].phase, Some(Phase::Exploit));
}

#[test]
fn engine_is_deterministic() {
    let eval = Evaluation {
        subject: Subject {
            operator: "op".into(),
            ..Subject::default()
        },
        request_id: "r".into(),
        events: vec![ToolEvent {
            call_id: "x".into(),
            tool: "kerberos".into(),
            ..ToolEvent::default()
        }],
        ..Evaluation::default()
    };
    let a = evaluate(&EngineConfig::default(), &Snapshot::default(), &eval);
    let b = evaluate(&EngineConfig::default(), &Snapshot::default(), &eval);
    assert_eq!(a, b);
}

#[test]
fn config_validation() {
    assert!(EngineConfig::default().validate().is_ok());
    let bad = EngineConfig {
        warn_threshold: 0.9,
        ..EngineConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = EngineConfig {
        block_threshold: 1.5,
        ..EngineConfig::default()
    };
    assert!(bad.validate().is_err());
}

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// The in-memory state the evaluation uses (what the stores do in SQL).
#[derive(Default)]
struct Mem(memory::MemState);

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
                            local: false,
                        }]
                    })
                    .unwrap_or_default(),
                ..ToolEvent::default()
            }],
            ..Evaluation::default()
        };
        self.0.step(&EngineConfig::default(), &eval)
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
    // the same operator in a fresh session: progression per operator still blocks
    assert_eq!(
        m.call("op1", "s2", "r4", "exfiltrate", None).action,
        Action::Block
    );
    // a lone target-less exfiltration by a fresh operator is not blocked
    assert_ne!(
        m.call("op2", "s1", "r5", "exfiltrate", None).action,
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
            local: false,
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
        ..Evaluation::default()
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
    assert_eq!(d.targets[0].phases.len(), 3);
    assert_eq!(d.budgets.len(), 3);
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
fn filter_classified_without_phase_is_not_reclassified_by_name() {
    let event = |category: &str| ToolEvent {
        call_id: "x".into(),
        tool: "db_query".into(),
        category: category.into(),
        phase: None,
        ..ToolEvent::default()
    };
    let eval = |e: ToolEvent| Evaluation {
        subject: Subject {
            operator: "op".into(),
            ..Subject::default()
        },
        events: vec![e],
        ..Evaluation::default()
    };
    let cfg = EngineConfig::default();
    let (classified, _) = evaluate(&cfg, &Snapshot::default(), &eval(event("db_read")));
    assert_eq!(
        classified.events[0].phase, None,
        "the filter said: a database read, no phase"
    );
    let (unclassified, _) = evaluate(&cfg, &Snapshot::default(), &eval(event("")));
    assert!(
        unclassified.events[0].phase.is_some(),
        "no classification: the name table decides"
    );
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

#[test]
fn spreading_a_campaign_over_targets_and_sessions_is_still_a_campaign() {
    // recon on A, exploit on B, lateral on C (session 1), exfiltration to D (session 2):
    // no single target progresses, the operator does
    let mut m = Mem::default();
    m.call("op", "s1", "r1", "nmap", Some(("a.example.com", false)));
    m.call("op", "s1", "r2", "exploit", Some(("b.example.com", false)));
    m.call(
        "op",
        "s1",
        "r3",
        "ssh_connect",
        Some(("c.example.com", false)),
    );
    let v = m.call(
        "op",
        "s2",
        "r4",
        "data_export",
        Some(("d.example.com", false)),
    );
    assert_eq!(v.action, Action::Block, "{v:?}");
    assert!(v.reasons.iter().any(|r| r.contains("operator op")), "{v:?}");

    // the same calls with graph and memory switched off: each step looks lone
    let cfg = EngineConfig {
        ablation: Ablation::default()
            .with("graph")
            .unwrap()
            .with("memory")
            .unwrap(),
        ..EngineConfig::default()
    };
    let mut state = memory::MemState::default();
    let mut last = Verdict::default();
    for (i, (tool, t)) in [
        ("nmap", "a.example.com"),
        ("exploit", "b.example.com"),
        ("ssh_connect", "c.example.com"),
        ("data_export", "d.example.com"),
    ]
    .into_iter()
    .enumerate()
    {
        let eval = Evaluation {
            subject: Subject {
                operator: "op".into(),
                session: format!("s{}", i / 3),
                ..Subject::default()
            },
            request_id: format!("r{i}"),
            events: vec![ToolEvent {
                call_id: "c".into(),
                tool: tool.into(),
                targets: vec![Target {
                    value: t.into(),
                    ..Target::default()
                }],
                ..ToolEvent::default()
            }],
            ..Evaluation::default()
        };
        last = state.step(&cfg, &eval);
    }
    assert!(last.action < Action::Block, "{last:?}");
}

#[test]
fn no_gap_escape_the_operator_high_watermark_holds() {
    // after a completed kill chain an hour's pause (the seed's escape) changes nothing, nor do
    // four days: the operator's phase high-watermark is a floor that does not decay (only the
    // latent risk decays, see memory::tests)
    let cfg = EngineConfig::default();
    let mut state = memory::MemState::default();
    let call = |state: &mut memory::MemState, i: usize, at: i64, tool: &str, t: &str| {
        let eval = Evaluation {
            subject: Subject {
                operator: "op".into(),
                session: "s".into(),
                ..Subject::default()
            },
            request_id: format!("r{i}"),
            observed_at_ms: at,
            events: vec![ToolEvent {
                call_id: "c".into(),
                tool: tool.into(),
                targets: vec![Target {
                    value: t.into(),
                    ..Target::default()
                }],
                ..ToolEvent::default()
            }],
            ..Evaluation::default()
        };
        state.step(&cfg, &eval)
    };
    call(&mut state, 0, 0, "nmap", "x.example.com");
    call(&mut state, 1, 1_000, "exploit", "x.example.com");
    assert_eq!(
        call(&mut state, 2, 2_000, "data_export", "x.example.com").action,
        Action::Block
    );
    let hour = 3_600_000;
    let v = call(&mut state, 3, 2_000 + hour, "whois", "y.example.com");
    assert_eq!(v.action, Action::Block, "{v:?}");
    let v = call(&mut state, 4, 2_000 + 96 * hour, "whois", "z.example.com");
    assert_eq!(v.action, Action::Block, "{v:?}");
    assert!(v.reasons[0].starts_with("kill chain on"), "{v:?}");
    // budgets slide by event time: four days later only this scan counts
    assert_eq!(v.budgets[0].used, 1);
}

//! Actions and per-call verdicts. Actions are ordered ALLOW < WARN < REQUIRE_APPROVAL < BLOCK and
//! combine by max.

use llmfw_api::v1 as pb;

/// An enforcement action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Pass unchanged.
    #[default]
    Allow,
    /// Pass, marked with `x-llmfw-decision: warn` and reasons.
    Warn,
    /// Hold the call until a human approves it (replaced by a refusal carrying the approval id).
    RequireApproval,
    /// Remove the call and say why.
    Block,
}

impl Action {
    /// Lower-case name, as used in the `x-llmfw-decision` header and metric names.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::RequireApproval => "require_approval",
            Action::Block => "block",
        }
    }

    /// The protocol value.
    pub fn to_proto(self) -> pb::Action {
        match self {
            Action::Allow => pb::Action::Allow,
            Action::Warn => pb::Action::Warn,
            Action::RequireApproval => pb::Action::RequireApproval,
            Action::Block => pb::Action::Block,
        }
    }

    /// From the protocol's i32; `None` for UNSPECIFIED or unknown values.
    pub fn from_proto(value: i32) -> Option<Action> {
        match pb::Action::try_from(value).ok()? {
            pb::Action::Unspecified => None,
            pb::Action::Allow => Some(Action::Allow),
            pb::Action::Warn => Some(Action::Warn),
            pb::Action::RequireApproval => Some(Action::RequireApproval),
            pb::Action::Block => Some(Action::Block),
        }
    }

    /// True when the call is taken out of the response.
    pub fn removes_call(self) -> bool {
        matches!(self, Action::RequireApproval | Action::Block)
    }
}

/// The verdict on one proposed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallVerdict {
    /// The action.
    pub action: Action,
    /// Human-readable reasons (no user content beyond the tool name).
    pub reasons: Vec<String>,
    /// Approval id when the action is REQUIRE_APPROVAL.
    pub approval_id: Option<String>,
}

impl CallVerdict {
    /// ALLOW with no reasons.
    pub fn allow() -> CallVerdict {
        CallVerdict {
            action: Action::Allow,
            reasons: Vec::new(),
            approval_id: None,
        }
    }

    /// A verdict with one reason.
    pub fn new(action: Action, reason: impl Into<String>) -> CallVerdict {
        CallVerdict {
            action,
            reasons: vec![reason.into()],
            approval_id: None,
        }
    }

    /// Combines two verdicts: max action, reasons of both (stricter first), first approval id.
    pub fn merge(self, other: CallVerdict) -> CallVerdict {
        let (mut hi, lo) = if other.action > self.action {
            (other, self)
        } else {
            (self, other)
        };
        for r in lo.reasons {
            if !hi.reasons.contains(&r) {
                hi.reasons.push(r);
            }
        }
        if hi.approval_id.is_none() {
            hi.approval_id = lo.approval_id;
        }
        hi
    }
}

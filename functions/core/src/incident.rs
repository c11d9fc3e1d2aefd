//! The incident: one per service while BankID logins fail, from the first signal to the report.
//!
//! Pure state and transitions; the adapters load it, call these methods, and save it with a
//! version check. Status moves `open` → `mitigating` (a fix or the fallback was started) →
//! `monitoring` (the fix is live, or an alarm returned to OK: verification runs) → `resolved`
//! (healthy for enough ticks in a row, or a person resolved it). The timeline is append-only and
//! holds no secret: texts are built from verdicts, ids and redacted evidence.

use crate::approval::{token_digest, ApprovalRefusal};
use crate::cause::Cause;
use crate::diagnosis::Diagnosis;
use serde::{Deserialize, Serialize};

/// The timeline keeps at most this many entries (the oldest after the first few are dropped), so
/// the stored record stays far below DynamoDB's 400 KB item limit.
pub const MAX_TIMELINE: usize = 400;
/// Entries from the start of the incident that are never dropped.
const KEEP_FIRST: usize = 20;
/// Redacted evidence lines kept on the incident.
const MAX_EVIDENCE: usize = 5;
/// Distinct actions kept on the record (the first few and the latest): every signal of a long
/// incident plans again, and the record must stay far below DynamoDB's 400 KB item limit.
pub const MAX_ACTIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Mitigating,
    Monitoring,
    Resolved,
}

impl Status {
    pub fn id(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Mitigating => "mitigating",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Signal,
    Diagnosis,
    Action,
    Operation,
    Page,
    Ack,
    Approval,
    Fallback,
    Verification,
    Communication,
    Status,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub at_ms: i64,
    pub kind: EntryKind,
    pub text: String,
}

/// Why an App Runner operation is being followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The runbook's fix (corrected variables or a redeploy).
    Fix,
    /// `NEXT_PUBLIC_SERVICE_MODE=demo`.
    Fallback,
    /// `NEXT_PUBLIC_SERVICE_MODE=live` again.
    Revert,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedOperation {
    pub id: String,
    pub purpose: Purpose,
    pub started_ms: i64,
}

/// The demo-mode fallback, which only a person can approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Fallback {
    None,
    /// Approval asked for; only the token's SHA-256 is kept.
    Requested {
        token_sha256: String,
        requested_ms: i64,
        expires_ms: i64,
    },
    /// Approved; the change waits for App Runner to accept it.
    Approved {
        by: String,
        at_ms: i64,
    },
    /// Demo mode is on (or being switched on).
    Active {
        by: String,
        since_ms: i64,
    },
    /// A return to live mode is due; waits for App Runner to accept it.
    RevertDue {
        by: String,
        at_ms: i64,
    },
    /// Back in live mode.
    Reverted {
        at_ms: i64,
    },
}

/// A rung of the ladder that has been dealt with (fired, or skipped because of an ack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RungDone {
    pub step: crate::ladder::Step,
    pub at_ms: i64,
    pub skipped: bool,
}

/// A page that must go out; kept until SNS accepts it, so a failed publish is retried, not lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwedPage {
    pub key: String,
    pub topic: crate::page::Topic,
    pub subject: String,
    pub sms: String,
    pub body: String,
    pub since_ms: i64,
}

/// One action the remediator took (or refused), for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTaken {
    pub at_ms: i64,
    pub action: String,
    pub decision: String,
    pub outcome: String,
    /// How many more times the same action came to the same decision and outcome since `at_ms`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeats: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ActionTaken {
    /// ` (N more times)` when it repeated, for reports and pages.
    pub fn repeated(&self) -> String {
        match self.repeats {
            0 => String::new(),
            1 => " (once more)".into(),
            n => format!(" ({n} more times)"),
        }
    }
}

/// A drafted message for users or the public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub at_ms: i64,
    pub audience: String,
    pub subject: String,
    pub body: String,
}

/// What a follow-up tick measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// BankID's discovery document and JWKS answer.
    pub bankid_ok: bool,
    /// The app's initiate redirect is right (meaningless while demo mode is on).
    pub login_ok: bool,
    /// BankID error lines in the app's log group over the verification window.
    pub recent_errors: usize,
    /// One line for the timeline: which probe failed and why.
    pub detail: String,
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.bankid_ok && self.login_ok && self.recent_errors == 0
    }
}

/// How recovery is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// Healthy ticks in a row before the incident resolves itself.
    pub healthy_ticks: u32,
    /// How long BankID must be healthy before demo mode is reverted.
    pub revert_after_ms: i64,
}

impl Default for Verification {
    fn default() -> Self {
        Verification {
            healthy_ticks: 3,
            revert_after_ms: 10 * 60_000,
        }
    }
}

/// What a health observation asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    RevertFallback,
    Resolve,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub service_arn: String,
    pub status: Status,
    pub cause: Option<Cause>,
    pub confidence: f64,
    pub opened_ms: i64,
    /// The first failing log line's time, when known: the start of the outage for the report.
    pub first_error_ms: Option<i64>,
    pub mitigated_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub signals: u32,
    pub evidence: Vec<String>,
    pub summary: String,
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
    pub rungs: Vec<RungDone>,
    /// When the last paging message (pager or team) went out, for the repeat interval.
    pub last_page_ms: Option<i64>,
    pub pages_sent: u32,
    pub owed_pages: Vec<OwedPage>,
    /// Keys of every page made for this incident, so none is made twice.
    #[serde(default)]
    pub page_keys: Vec<String>,
    pub operation: Option<TrackedOperation>,
    pub healthy_ticks: u32,
    pub bankid_healthy_since_ms: Option<i64>,
    /// BankID itself was seen failing by a probe while the cause is an outage.
    pub outage_confirmed: bool,
    pub fallback: Fallback,
    /// Digests of approval tokens already used or replaced, to tell "reused" from "wrong".
    pub spent_tokens: Vec<String>,
    pub actions: Vec<ActionTaken>,
    pub drafts: Vec<Draft>,
    pub timeline: Vec<Entry>,
    pub report: Option<String>,
    /// Optimistic concurrency: the stored version this copy was read at.
    pub version: u64,
}

impl Incident {
    /// Opens an incident for a diagnosis that named a cause.
    pub fn open(id: String, service_arn: String, diagnosis: &Diagnosis, now_ms: i64) -> Self {
        let mut incident = Incident {
            id,
            service_arn,
            status: Status::Open,
            cause: diagnosis.cause,
            confidence: diagnosis.confidence,
            opened_ms: now_ms,
            first_error_ms: None,
            mitigated_ms: None,
            resolved_ms: None,
            resolved_by: None,
            signals: 0,
            evidence: Vec::new(),
            summary: diagnosis.summary.clone(),
            acked_by: None,
            acked_ms: None,
            rungs: Vec::new(),
            last_page_ms: None,
            pages_sent: 0,
            owed_pages: Vec::new(),
            page_keys: Vec::new(),
            operation: None,
            healthy_ticks: 0,
            bankid_healthy_since_ms: None,
            outage_confirmed: false,
            fallback: Fallback::None,
            spent_tokens: Vec::new(),
            actions: Vec::new(),
            drafts: Vec::new(),
            timeline: Vec::new(),
            report: None,
            version: 0,
        };
        incident.note(
            now_ms,
            EntryKind::Status,
            format!("incident opened for {}", cause_id(diagnosis.cause)),
        );
        incident
    }

    pub fn is_open(&self) -> bool {
        self.status != Status::Resolved
    }

    /// Appends to the timeline, dropping the oldest entries after the first few when it is full.
    pub fn note(&mut self, at_ms: i64, kind: EntryKind, text: impl Into<String>) {
        if self.timeline.len() >= MAX_TIMELINE {
            self.timeline.remove(KEEP_FIRST);
        }
        self.timeline.push(Entry {
            at_ms,
            kind,
            text: text.into(),
        });
    }

    /// The service's name, from its ARN (`…:service/<name>/<id>`).
    pub fn service_name(&self) -> &str {
        service_name(&self.service_arn)
    }

    pub fn minutes_open(&self, now_ms: i64) -> i64 {
        (now_ms - self.opened_ms).max(0) / 60_000
    }

    /// Folds one more signal in: the diagnosis it carried and where it came from.
    pub fn fold(&mut self, trigger: &str, diagnosis: &Diagnosis, now_ms: i64) {
        self.signals += 1;
        let first = diagnosis
            .first_seen
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis());
        if let Some(first) = first {
            self.first_error_ms = Some(self.first_error_ms.map_or(first, |f| f.min(first)));
        }
        if let Some(cause) = diagnosis.cause {
            if self.cause.is_none() || self.cause == Some(Cause::Unknown) {
                self.cause = Some(cause);
                self.summary = diagnosis.summary.clone();
            }
            if Some(cause) == self.cause {
                self.confidence = self.confidence.max(diagnosis.confidence);
            }
            // A new failure after verification started means it is not over.
            if self.status == Status::Monitoring {
                self.healthy_ticks = 0;
            }
        }
        for e in &diagnosis.evidence {
            if self.evidence.len() < MAX_EVIDENCE && !self.evidence.contains(&e.line) {
                self.evidence.push(e.line.clone());
            }
        }
        self.note(
            now_ms,
            EntryKind::Signal,
            format!(
                "{trigger}: {} lines, {} ({} confidence)",
                diagnosis.lines_examined,
                cause_id(diagnosis.cause),
                diagnosis.confidence
            ),
        );
    }

    /// Records what the remediation engine did with a signal. `started` names an App Runner
    /// operation the fix started; `mitigated` says a fix took effect without one (a purge).
    pub fn record_action(&mut self, action: ActionTaken, started: Option<&str>, mitigated: bool) {
        let at = action.at_ms;
        self.note(
            at,
            EntryKind::Action,
            format!(
                "{}: {} → {}",
                action.action, action.decision, action.outcome
            ),
        );
        if let Some(operation) = started {
            self.track(operation, Purpose::Fix, at);
        }
        if mitigated && self.status == Status::Open {
            self.set_status(Status::Monitoring, at, "the fix took effect: verifying");
            self.mitigated_ms.get_or_insert(at);
        }
        if let Some(same) = self.actions.iter_mut().rev().find(|a| {
            a.action == action.action
                && a.decision == action.decision
                && a.outcome == action.outcome
        }) {
            same.repeats += 1;
            return;
        }
        if self.actions.len() >= MAX_ACTIONS {
            self.actions.remove(KEEP_FIRST);
        }
        self.actions.push(action);
    }

    pub fn track(&mut self, operation: &str, purpose: Purpose, now_ms: i64) {
        self.operation = Some(TrackedOperation {
            id: operation.to_owned(),
            purpose,
            started_ms: now_ms,
        });
        self.healthy_ticks = 0;
        if matches!(self.status, Status::Open | Status::Monitoring) {
            self.set_status(
                Status::Mitigating,
                now_ms,
                format!("App Runner operation {operation} started ({purpose:?})"),
            );
        }
    }

    pub fn set_status(&mut self, status: Status, now_ms: i64, why: impl Into<String>) {
        if self.status == status {
            return;
        }
        self.status = status;
        self.note(
            now_ms,
            EntryKind::Status,
            format!("{}: {}", status.id(), why.into()),
        );
    }

    /// The followed operation finished with `status` (App Runner's: SUCCEEDED, FAILED,
    /// ROLLBACK_SUCCEEDED, …). Returns whether it succeeded.
    pub fn operation_finished(&mut self, status: &str, now_ms: i64) -> bool {
        let Some(op) = self.operation.take() else {
            return false;
        };
        let ok = status == "SUCCEEDED";
        self.note(
            now_ms,
            EntryKind::Operation,
            format!("operation {} ({:?}) finished: {status}", op.id, op.purpose),
        );
        match (op.purpose, ok) {
            (Purpose::Fix, true) => {
                self.mitigated_ms.get_or_insert(now_ms);
                self.set_status(Status::Monitoring, now_ms, "the fix is live: verifying");
            }
            (Purpose::Fallback, true) => {
                self.mitigated_ms.get_or_insert(now_ms);
            }
            (Purpose::Revert, true) => {
                self.fallback = Fallback::Reverted { at_ms: now_ms };
                self.bankid_healthy_since_ms = None;
                self.set_status(Status::Monitoring, now_ms, "live mode restored: verifying");
            }
            (Purpose::Fallback, false) => {
                self.fallback = Fallback::None;
                self.set_status(Status::Open, now_ms, "the fallback did not apply");
            }
            (Purpose::Revert, false) => {
                // Still in demo mode: try the revert again on a later tick.
                if let Fallback::Active { by, .. } = &self.fallback {
                    self.fallback = Fallback::RevertDue {
                        by: by.clone(),
                        at_ms: now_ms,
                    };
                }
            }
            (Purpose::Fix, false) => {
                self.set_status(Status::Open, now_ms, "the fix did not apply");
            }
        }
        ok
    }

    /// An alarm returned to OK: verification starts; it does not resolve by itself.
    pub fn alarm_ok(&mut self, alarm: &str, now_ms: i64) {
        self.note(
            now_ms,
            EntryKind::Signal,
            format!("alarm {alarm} returned to OK"),
        );
        if matches!(self.status, Status::Open | Status::Mitigating) && self.operation.is_none() {
            self.set_status(
                Status::Monitoring,
                now_ms,
                "an alarm returned to OK: verifying",
            );
        }
    }

    /// One tick's health measurement. Says whether demo mode should be reverted or the incident
    /// resolved; the caller carries that out.
    pub fn observe(
        &mut self,
        health: &Health,
        verification: Verification,
        now_ms: i64,
    ) -> Option<FollowUp> {
        if !self.is_open() {
            return None;
        }
        if !health.bankid_ok && self.cause == Some(Cause::BankidOutage) && !self.outage_confirmed {
            self.outage_confirmed = true;
            self.note(
                now_ms,
                EntryKind::Verification,
                format!("BankID outage confirmed by probe: {}", health.detail),
            );
        }
        self.bankid_healthy_since_ms = if health.bankid_ok {
            self.bankid_healthy_since_ms.or(Some(now_ms))
        } else {
            None
        };
        if let Fallback::Active { .. } = self.fallback {
            let since = self.bankid_healthy_since_ms.unwrap_or(now_ms);
            if self.operation.is_none() && now_ms - since >= verification.revert_after_ms {
                return Some(FollowUp::RevertFallback);
            }
            self.note(
                now_ms,
                EntryKind::Verification,
                if health.bankid_ok {
                    format!(
                        "demo mode on; BankID healthy for {} min",
                        (now_ms - since) / 60_000
                    )
                } else {
                    format!("demo mode on; BankID still failing: {}", health.detail)
                },
            );
            return None;
        }
        if matches!(
            self.fallback,
            Fallback::Approved { .. } | Fallback::RevertDue { .. }
        ) {
            return None;
        }
        let was = self.healthy_ticks;
        self.healthy_ticks = if health.healthy() { was + 1 } else { 0 };
        self.note(
            now_ms,
            EntryKind::Verification,
            if health.healthy() {
                format!(
                    "healthy ({} of {} ticks)",
                    self.healthy_ticks, verification.healthy_ticks
                )
            } else {
                format!(
                    "not healthy: {} ({} BankID errors in the logs)",
                    health.detail, health.recent_errors
                )
            },
        );
        if health.healthy() && self.status != Status::Monitoring && self.operation.is_none() {
            self.set_status(Status::Monitoring, now_ms, "healthy again: verifying");
        }
        if self.healthy_ticks >= verification.healthy_ticks && self.operation.is_none() {
            return Some(FollowUp::Resolve);
        }
        None
    }

    pub fn resolve(&mut self, by: &str, note: Option<&str>, now_ms: i64) {
        self.resolved_ms = Some(now_ms);
        self.resolved_by = Some(by.to_owned());
        self.mitigated_ms.get_or_insert(now_ms);
        let why = match note {
            Some(n) if !n.is_empty() => format!("resolved by {by}: {n}"),
            _ => format!("resolved by {by}"),
        };
        self.set_status(Status::Resolved, now_ms, why);
    }

    pub fn ack(&mut self, by: &str, now_ms: i64) -> bool {
        if self.acked_by.is_some() {
            self.note(
                now_ms,
                EntryKind::Ack,
                format!("acknowledged again by {by}"),
            );
            return false;
        }
        self.acked_by = Some(by.to_owned());
        self.acked_ms = Some(now_ms);
        self.note(
            now_ms,
            EntryKind::Ack,
            format!("acknowledged by {by}: paging stops, verification continues"),
        );
        true
    }

    /// Asks for approval: stores the digest of `token` (which the caller sends to the approver).
    pub fn request_fallback(&mut self, token: &str, ttl_ms: i64, now_ms: i64) {
        if let Fallback::Requested { token_sha256, .. } = &self.fallback {
            self.spent_tokens.push(token_sha256.clone());
        }
        self.fallback = Fallback::Requested {
            token_sha256: token_digest(token),
            requested_ms: now_ms,
            expires_ms: now_ms + ttl_ms,
        };
        self.note(
            now_ms,
            EntryKind::Approval,
            format!(
                "approval for demo-mode fallback requested (expires in {} min)",
                ttl_ms / 60_000
            ),
        );
    }

    /// Checks an approval. Every refusal is on the timeline; the token never is.
    pub fn approve_fallback(
        &mut self,
        token: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<(), ApprovalRefusal> {
        let digest = token_digest(token);
        let verdict = match &self.fallback {
            _ if !self.is_open() => Err(ApprovalRefusal::Closed),
            Fallback::Requested {
                token_sha256,
                expires_ms,
                ..
            } => {
                if !crate::approval::digests_equal(token_sha256, &digest) {
                    if self.spent_tokens.contains(&digest) {
                        Err(ApprovalRefusal::Reused)
                    } else {
                        Err(ApprovalRefusal::Wrong)
                    }
                } else if now_ms > *expires_ms {
                    Err(ApprovalRefusal::Expired)
                } else {
                    Ok(())
                }
            }
            _ if self.spent_tokens.contains(&digest) => Err(ApprovalRefusal::Reused),
            Fallback::None => Err(ApprovalRefusal::NotRequested),
            _ => Err(ApprovalRefusal::Wrong),
        };
        match verdict {
            Ok(()) => {
                self.spent_tokens.push(digest);
                self.fallback = Fallback::Approved {
                    by: by.to_owned(),
                    at_ms: now_ms,
                };
                self.note(
                    now_ms,
                    EntryKind::Approval,
                    format!("demo-mode fallback approved by {by}"),
                );
                Ok(())
            }
            Err(refusal) => {
                if refusal == ApprovalRefusal::Expired {
                    if let Fallback::Requested { token_sha256, .. } = &self.fallback {
                        self.spent_tokens.push(token_sha256.clone());
                    }
                    self.fallback = Fallback::None;
                }
                self.note(
                    now_ms,
                    EntryKind::Approval,
                    format!("approval by {by} refused: {refusal}"),
                );
                Err(refusal)
            }
        }
    }

    /// The service is in demo mode once App Runner accepted the change.
    pub fn fallback_started(&mut self, operation: &str, now_ms: i64) {
        let by = match &self.fallback {
            Fallback::Approved { by, .. } => by.clone(),
            _ => "approver".to_owned(),
        };
        self.fallback = Fallback::Active {
            by,
            since_ms: now_ms,
        };
        self.bankid_healthy_since_ms = None;
        self.note(
            now_ms,
            EntryKind::Fallback,
            "demo mode switched on (NEXT_PUBLIC_SERVICE_MODE=demo)",
        );
        self.track(operation, Purpose::Fallback, now_ms);
    }

    /// A return to live mode is due (BankID healthy long enough, or a person asked).
    pub fn revert_due(&mut self, by: &str, now_ms: i64) -> bool {
        if !matches!(self.fallback, Fallback::Active { .. }) {
            return false;
        }
        self.fallback = Fallback::RevertDue {
            by: by.to_owned(),
            at_ms: now_ms,
        };
        self.note(
            now_ms,
            EntryKind::Fallback,
            format!("return to live mode requested by {by}"),
        );
        true
    }

    pub fn revert_started(&mut self, operation: &str, now_ms: i64) {
        if let Fallback::RevertDue { by, .. } = &self.fallback {
            self.fallback = Fallback::Active {
                by: by.clone(),
                since_ms: now_ms,
            };
        }
        self.note(
            now_ms,
            EntryKind::Fallback,
            "live mode being restored (NEXT_PUBLIC_SERVICE_MODE=live)",
        );
        self.track(operation, Purpose::Revert, now_ms);
    }
}

pub fn service_name(arn: &str) -> &str {
    arn.split_once(":service/")
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|n| !n.is_empty())
        .unwrap_or(arn)
}

pub fn cause_id(cause: Option<Cause>) -> &'static str {
    cause.map_or("no cause", |c| c.id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::diagnose_lines;

    pub(crate) const ARN: &str =
        "arn:aws:apprunner:eu-west-1:123456789012:service/drop-production/8f3c2a1b";

    fn outage() -> Incident {
        let d = diagnose_lines(["BankID OAuth error: temporarily_unavailable"; 3]);
        assert_eq!(d.cause, Some(Cause::BankidOutage));
        let mut i = Incident::open("inc-1".into(), ARN.into(), &d, 0);
        i.fold("logs_subscription", &d, 0);
        i
    }

    fn health(bankid_ok: bool, login_ok: bool, errors: usize) -> Health {
        Health {
            bankid_ok,
            login_ok,
            recent_errors: errors,
            detail: "probe".into(),
        }
    }

    #[test]
    fn healthy_ticks_in_a_row_resolve_and_a_bad_one_restarts_the_count() {
        let mut i = outage();
        let v = Verification::default();
        assert_eq!(i.observe(&health(true, true, 0), v, 60_000), None);
        assert_eq!(i.status, Status::Monitoring);
        assert_eq!(i.observe(&health(true, true, 2), v, 120_000), None);
        assert_eq!(i.healthy_ticks, 0);
        assert_eq!(i.observe(&health(true, true, 0), v, 180_000), None);
        assert_eq!(i.observe(&health(true, true, 0), v, 240_000), None);
        assert_eq!(
            i.observe(&health(true, true, 0), v, 300_000),
            Some(FollowUp::Resolve)
        );
    }

    #[test]
    fn an_operation_in_flight_holds_resolution_back() {
        let mut i = outage();
        i.track("op-1", Purpose::Fix, 0);
        assert_eq!(i.status, Status::Mitigating);
        for t in 1..6 {
            assert_eq!(
                i.observe(&health(true, true, 0), Verification::default(), t * 60_000),
                None
            );
        }
        assert!(i.operation_finished("SUCCEEDED", 360_000));
        assert_eq!(i.status, Status::Monitoring);
        assert_eq!(
            i.observe(&health(true, true, 0), Verification::default(), 420_000),
            Some(FollowUp::Resolve)
        );
    }

    #[test]
    fn an_alarm_back_to_ok_starts_verification_without_resolving() {
        let mut i = outage();
        i.alarm_ok("bankid-callback-failures", 1_000);
        assert_eq!(i.status, Status::Monitoring);
        assert!(i.is_open());
    }

    #[test]
    fn demo_mode_is_reverted_after_bankid_is_healthy_long_enough() {
        let mut i = outage();
        let v = Verification::default();
        i.observe(&health(false, false, 5), v, 60_000);
        assert!(i.outage_confirmed);
        i.request_fallback("tok", 30 * 60_000, 60_000);
        i.approve_fallback("tok", "alem", 120_000).unwrap();
        i.fallback_started("op-f", 120_000);
        assert!(i.operation_finished("SUCCEEDED", 180_000));
        assert!(matches!(i.fallback, Fallback::Active { .. }));
        assert_eq!(i.observe(&health(true, false, 0), v, 240_000), None);
        assert_eq!(i.observe(&health(true, false, 0), v, 600_000), None);
        assert_eq!(
            i.observe(&health(true, false, 0), v, 840_000),
            Some(FollowUp::RevertFallback)
        );
        assert!(i.revert_due("remediator", 840_000));
        i.revert_started("op-r", 840_000);
        assert!(i.operation_finished("SUCCEEDED", 900_000));
        assert_eq!(i.fallback, Fallback::Reverted { at_ms: 900_000 });
        assert_eq!(i.status, Status::Monitoring);
    }

    #[test]
    fn approval_tokens_are_single_use_expiring_and_never_on_the_timeline() {
        let mut i = outage();
        assert_eq!(
            i.approve_fallback("tok-a", "alem", 0),
            Err(ApprovalRefusal::NotRequested)
        );
        i.request_fallback("tok-a", 30 * 60_000, 0);
        assert_eq!(
            i.approve_fallback("tok-b", "mallory", 1),
            Err(ApprovalRefusal::Wrong)
        );
        assert_eq!(
            i.approve_fallback("tok-a", "alem", 30 * 60_000 + 1),
            Err(ApprovalRefusal::Expired)
        );
        assert_eq!(
            i.approve_fallback("tok-a", "alem", 30 * 60_000 + 2),
            Err(ApprovalRefusal::Reused)
        );
        i.request_fallback("tok-c", 30 * 60_000, 40 * 60_000);
        assert_eq!(i.approve_fallback("tok-c", "alem", 41 * 60_000), Ok(()));
        assert_eq!(
            i.approve_fallback("tok-c", "alem", 42 * 60_000),
            Err(ApprovalRefusal::Reused)
        );
        let stored = serde_json::to_string(&i).unwrap();
        for token in ["tok-a", "tok-b", "tok-c"] {
            assert!(!stored.contains(token), "{token} stored");
        }
        assert!(
            stored.contains("refused: the token has expired"),
            "{stored}"
        );
    }

    #[test]
    fn repeated_actions_are_counted_and_distinct_ones_bounded() {
        let mut i = outage();
        let taken = |n: usize, outcome: &str| ActionTaken {
            at_ms: n as i64,
            action: format!(
                "page:{}",
                if outcome == "recorded" {
                    "x".into()
                } else {
                    n.to_string()
                }
            ),
            decision: "run".into(),
            outcome: outcome.into(),
            repeats: 0,
        };
        for n in 0..1_000 {
            i.record_action(taken(n, "recorded"), None, false);
        }
        assert_eq!(i.actions.len(), 1);
        assert_eq!(i.actions[0].repeats, 999);
        assert_eq!(i.actions[0].repeated(), " (999 more times)");
        for n in 0..(MAX_ACTIONS * 3) {
            i.record_action(taken(n, "sent"), None, false);
        }
        assert_eq!(i.actions.len(), MAX_ACTIONS);
        assert_eq!(i.actions[0].repeats, 999, "the first actions are kept");
        assert_eq!(
            i.actions.last().unwrap().action,
            format!("page:{}", MAX_ACTIONS * 3 - 1)
        );
    }

    #[test]
    fn the_timeline_is_bounded_and_keeps_its_start() {
        let mut i = outage();
        for n in 0..(MAX_TIMELINE * 2) {
            i.note(n as i64, EntryKind::Verification, format!("tick {n}"));
        }
        assert_eq!(i.timeline.len(), MAX_TIMELINE);
        assert!(i.timeline[0].text.starts_with("incident opened"));
        assert_eq!(
            i.timeline.last().unwrap().text,
            format!("tick {}", MAX_TIMELINE * 2 - 1)
        );
    }

    #[test]
    fn the_service_name_comes_from_the_arn() {
        assert_eq!(service_name(ARN), "drop-production");
        assert_eq!(service_name("not-an-arn"), "not-an-arn");
    }
}

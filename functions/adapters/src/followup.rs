//! The incident desk: opens and folds incidents, follows them up on every tick, and takes the
//! manual actions (ack, resolve, approve and revert the fallback, status, report).
//!
//! Everything that changes an incident runs under the service's lease lock (the one remediation
//! takes) and saves with a version check, so overlapping ticks and retries fire each rung once.
//! Pages are recorded as owed before they are sent and removed once SNS accepts them: a failed
//! publish is retried on the next tick, never lost. The approval request is the exception: it
//! carries the token, which is never stored, so it is sent first and recorded only once sent.

use crate::apprunner::ChangeOutcome;
use crate::engine::{ActionRecord, Outcome, Remediator, Report};
use crate::incidents::{IncidentStore, Opened};
use crate::pager::Pager;
use crate::AdapterError;
use remediator_core::approval::TOKEN_TTL_MS;
use remediator_core::clock::{rfc3339, time_of_day};
use remediator_core::diagnosis::Diagnosis;
use remediator_core::incident::{
    cause_id, ActionTaken, EntryKind, Fallback, FollowUp, Incident, OwedPage, Purpose, Status,
    Verification,
};
use remediator_core::ladder::{Due, Ladder, Step};
use remediator_core::page::{self, PageContext, Topic};
use remediator_core::remedy::Decision;
use remediator_core::settings::Mode;
use serde::Serialize;
use std::future::Future;

/// The window of logs a tick reads to count BankID errors.
const VERIFY_MINUTES: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The action was refused; the reason is also on the incident's timeline.
    #[error("{0}")]
    Refused(String),
    #[error("no incident {0}")]
    NotFound(String),
}

/// An incident as people see it: no token digests, the latest timeline entries.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub id: String,
    pub status: Status,
    pub cause: Option<remediator_core::Cause>,
    pub confidence: f64,
    pub opened: String,
    pub minutes_open: i64,
    pub signals: u32,
    pub acked_by: Option<String>,
    pub fallback: &'static str,
    pub operation: Option<String>,
    pub healthy_ticks: u32,
    pub pages_sent: u32,
    pub pages_owed: usize,
    pub rungs: Vec<String>,
    pub timeline: Vec<String>,
}

impl IncidentView {
    pub fn of(incident: &Incident, now_ms: i64) -> Self {
        const SHOWN: usize = 12;
        let skip = incident.timeline.len().saturating_sub(SHOWN);
        IncidentView {
            id: incident.id.clone(),
            status: incident.status,
            cause: incident.cause,
            confidence: incident.confidence,
            opened: rfc3339(incident.opened_ms),
            minutes_open: incident.minutes_open(now_ms),
            signals: incident.signals,
            acked_by: incident.acked_by.clone(),
            fallback: match incident.fallback {
                Fallback::None => "none",
                Fallback::Requested { .. } => "approval_requested",
                Fallback::Approved { .. } => "approved",
                Fallback::Active { .. } => "active",
                Fallback::RevertDue { .. } => "revert_due",
                Fallback::Reverted { .. } => "reverted",
            },
            operation: incident
                .operation
                .as_ref()
                .map(|o| format!("{} ({:?})", o.id, o.purpose)),
            healthy_ticks: incident.healthy_ticks,
            pages_sent: incident.pages_sent,
            pages_owed: incident.owed_pages.len(),
            rungs: incident
                .rungs
                .iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r.step.id(),
                        if r.skipped { "skipped" } else { "fired" }
                    )
                })
                .collect(),
            timeline: incident.timeline[skip..]
                .iter()
                .map(|e| format!("{} {}", time_of_day(e.at_ms), e.text))
                .collect(),
        }
    }
}

/// The desk's answer to a tick or a manual action.
#[derive(Debug, Clone, Serialize)]
pub struct DeskAnswer {
    pub incident: Option<IncidentView>,
    /// What this call did, in order.
    pub did: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

#[derive(Clone)]
pub struct Desk {
    remediator: Remediator,
    incidents: IncidentStore,
    pager: Pager,
    ladder: Ladder,
    verification: Verification,
    ctx: PageContext,
}

impl Desk {
    pub fn new(remediator: Remediator, incidents: IncidentStore, pager: Pager) -> Self {
        let escalation = &remediator.settings().escalation;
        let ladder = Ladder {
            repeat_unacked_ms: escalation.page_repeat.as_millis() as i64,
            ..Ladder::default()
        };
        let verification = Verification {
            healthy_ticks: escalation.healthy_ticks_to_resolve,
            revert_after_ms: escalation.fallback_revert_after.as_millis() as i64,
        };
        let ctx = PageContext {
            escalate_function: escalation.escalate_function.clone(),
        };
        Desk {
            remediator,
            incidents,
            pager,
            ladder,
            verification,
            ctx,
        }
    }

    pub fn remediator(&self) -> &Remediator {
        &self.remediator
    }

    fn service(&self) -> &str {
        &self.remediator.settings().apprunner_service_arn
    }

    async fn locked<T, F, Fut>(&self, owner: &str, now_ms: i64, work: F) -> Result<T, DeskError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, DeskError>>,
    {
        self.remediator.lock(owner, now_ms).await?;
        let result = work().await;
        let released = self.remediator.unlock(owner).await;
        let value = result?;
        released?;
        Ok(value)
    }

    /// Saves under the lock; a version conflict means a writer without the lock, so retry.
    async fn save(&self, incident: &mut Incident) -> Result<(), DeskError> {
        if self.incidents.save(incident).await? {
            Ok(())
        } else {
            Err(AdapterError::Retryable(format!(
                "incident {} changed while it was being updated",
                incident.id
            ))
            .into())
        }
    }

    /// Folds a triaged signal into the service's open incident, opening one when the diagnosis
    /// names a cause. An alarm back to OK starts verification of an open incident.
    pub async fn fold(
        &self,
        trigger: &str,
        diagnosis: &Diagnosis,
        report: &Report,
        alarms_ok: &[String],
        owner: &str,
        now_ms: i64,
    ) -> Result<Option<IncidentView>, DeskError> {
        if diagnosis.cause.is_none() && alarms_ok.is_empty() && report.actions.is_empty() {
            // Nothing to fold in: answer with the open incident without taking the lock.
            let open = self.incidents.open_for(self.service()).await?;
            return Ok(open.map(|i| IncidentView::of(&i, now_ms)));
        }
        self.locked(owner, now_ms, || async {
            let open = self.incidents.open_for(self.service()).await?;
            let mut incident = match (open, diagnosis.cause) {
                (Some(incident), _) => incident,
                (None, Some(_)) => {
                    let mut fresh = Incident::open(
                        new_incident_id(now_ms)?,
                        self.service().to_owned(),
                        diagnosis,
                        now_ms,
                    );
                    Ladder::mark(&mut fresh, Step::Remediate, false, now_ms);
                    match self.incidents.open(fresh).await? {
                        Opened::New(i) | Opened::Existing(i) => i,
                    }
                }
                (None, None) => return Ok(None),
            };
            if diagnosis.cause.is_some() {
                incident.fold(trigger, diagnosis, now_ms);
            }
            for alarm in alarms_ok {
                incident.alarm_ok(alarm, now_ms);
            }
            if report.duplicate_of.is_none() {
                self.record_report(&mut incident, report, now_ms);
            }
            self.save(&mut incident).await?;
            self.deliver(&mut incident, now_ms).await?;
            Ok(Some(IncidentView::of(&incident, now_ms)))
        })
        .await
    }

    fn record_report(&self, incident: &mut Incident, report: &Report, now_ms: i64) {
        for record in &report.actions {
            let started = match &record.outcome {
                Outcome::Started { operation_id } => Some(operation_id.as_str()),
                _ => None,
            };
            let taken = action_taken(record, now_ms);
            if started.is_some() && incident.actions.iter().any(|a| a.outcome == taken.outcome) {
                // A redelivery that adopted this operation after the first fold: already here.
                continue;
            }
            let mitigated = matches!(record.outcome, Outcome::Purged(_));
            incident.record_action(taken, started, mitigated);
            match &record.action {
                remediator_core::remedy::Action::Page { about } => {
                    let about = serde_json::to_value(about)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let reason = report
                        .plan
                        .iter()
                        .find(|p| p.action == record.action)
                        .map_or("", |p| p.reason.as_str());
                    let owed = page::plan_page(incident, &about, reason, &self.ctx, now_ms);
                    owe(incident, owed);
                }
                remediator_core::remedy::Action::DraftStatusMessage => {
                    let draft = page::status_draft(incident, "users", now_ms);
                    incident.note(
                        now_ms,
                        EntryKind::Communication,
                        format!("status message drafted for users: {}", draft.subject),
                    );
                    incident.drafts.push(draft);
                }
                _ => {}
            }
        }
    }

    /// Sends every owed page; stops at the first that cannot be sent (the rest wait too).
    async fn deliver(&self, incident: &mut Incident, now_ms: i64) -> Result<(), DeskError> {
        if incident.owed_pages.is_empty() {
            return Ok(());
        }
        while let Some(owed) = incident.owed_pages.first().cloned() {
            match self.pager.publish(&owed).await {
                Ok(message_id) => {
                    incident.owed_pages.remove(0);
                    incident.pages_sent += 1;
                    incident.note(
                        now_ms,
                        EntryKind::Page,
                        format!(
                            "sent to the {:?} topic: {} (message {message_id})",
                            owed.topic, owed.subject
                        ),
                    );
                }
                Err(e) if e.retryable() => {
                    incident.note(
                        now_ms,
                        EntryKind::Page,
                        format!("page owed, retried next tick: {e}"),
                    );
                    break;
                }
                Err(e) => {
                    incident.owed_pages.remove(0);
                    incident.note(
                        now_ms,
                        EntryKind::Page,
                        format!("page could not be sent and is dropped: {e}"),
                    );
                }
            }
        }
        self.save(incident).await
    }

    /// One follow-up tick: owed pages, the App Runner operation, the fallback, verification,
    /// the ladder.
    pub async fn tick(&self, owner: &str, now_ms: i64) -> Result<DeskAnswer, DeskError> {
        self.locked(owner, now_ms, || async {
            let Some(mut incident) = self.incidents.open_for(self.service()).await? else {
                return Ok(DeskAnswer {
                    incident: None,
                    did: vec!["no open incident".into()],
                    report: None,
                });
            };
            let mut did = Vec::new();
            self.deliver(&mut incident, now_ms).await?;
            self.follow_operation(&mut incident, &mut did, now_ms)
                .await?;
            if matches!(incident.fallback, Fallback::Approved { .. }) {
                self.start_fallback(&mut incident, &mut did, now_ms).await?;
            }
            if matches!(incident.fallback, Fallback::RevertDue { .. }) {
                self.start_revert(&mut incident, &mut did, now_ms).await?;
            }
            let health = self.remediator.health(now_ms, VERIFY_MINUTES).await?;
            did.push(format!(
                "health: bankid {}, login {}, {} errors in the last {VERIFY_MINUTES} min",
                ok(health.bankid_ok),
                ok(health.login_ok),
                health.recent_errors
            ));
            match incident.observe(&health, self.verification, now_ms) {
                Some(FollowUp::RevertFallback) => {
                    incident.revert_due("the remediator (BankID healthy)", now_ms);
                    self.start_revert(&mut incident, &mut did, now_ms).await?;
                }
                Some(FollowUp::Resolve) => {
                    let note = format!("healthy for {} ticks in a row", incident.healthy_ticks);
                    self.finish(&mut incident, "the remediator", Some(&note), now_ms);
                    did.push(format!("resolved: {note}"));
                }
                None => {}
            }
            for due in self.ladder.due(&incident, now_ms) {
                self.climb(&mut incident, due, &mut did, now_ms).await;
            }
            self.save(&mut incident).await?;
            self.deliver(&mut incident, now_ms).await?;
            let report = incident.report.clone();
            Ok(DeskAnswer {
                incident: Some(IncidentView::of(&incident, now_ms)),
                did,
                report,
            })
        })
        .await
    }

    async fn climb(&self, incident: &mut Incident, due: Due, did: &mut Vec<String>, now_ms: i64) {
        match due {
            Due::Fire(Step::Remediate) => Ladder::mark(incident, Step::Remediate, false, now_ms),
            Due::Fire(step @ (Step::PagePager | Step::PageTeam)) => {
                let topic = if step == Step::PageTeam {
                    Topic::Team
                } else {
                    Topic::Pager
                };
                let owed = page::escalation_page(
                    incident,
                    topic,
                    format!("rung:{}", step.id()),
                    &self.ctx,
                    now_ms,
                );
                owe(incident, owed);
                incident.last_page_ms = Some(now_ms);
                Ladder::mark(incident, step, false, now_ms);
                did.push(format!("rung {}: page owed", step.id()));
            }
            Due::Fire(Step::RequestFallbackApproval) | Due::RenewApproval => {
                if self.request_approval(incident, now_ms).await {
                    Ladder::mark(incident, Step::RequestFallbackApproval, false, now_ms);
                    did.push("approval for the demo-mode fallback requested".into());
                } else {
                    did.push("approval request could not be sent; asked again next tick".into());
                }
            }
            Due::Fire(Step::PublicCommunication) => {
                let draft = page::status_draft(incident, "public", now_ms);
                incident.drafts.push(draft);
                let owed = page::public_communication(incident, now_ms);
                owe(incident, owed);
                incident.note(
                    now_ms,
                    EntryKind::Communication,
                    "public communication drafted for the comms topic",
                );
                Ladder::mark(incident, Step::PublicCommunication, false, now_ms);
                did.push("rung public_communication: draft owed to comms".into());
            }
            Due::Skip(step) => {
                Ladder::mark(incident, step, true, now_ms);
                incident.note(
                    now_ms,
                    EntryKind::Page,
                    format!("{} skipped: acknowledged", step.id()),
                );
                did.push(format!("rung {} skipped (acknowledged)", step.id()));
            }
            Due::RepeatPage => {
                let owed = page::escalation_page(
                    incident,
                    Topic::Pager,
                    format!("repeat:{now_ms}"),
                    &self.ctx,
                    now_ms,
                );
                owe(incident, owed);
                incident.last_page_ms = Some(now_ms);
                did.push("unacknowledged: page repeated".into());
            }
        }
    }

    /// Sends a fresh token to the pager topic and keeps only its digest.
    async fn request_approval(&self, incident: &mut Incident, now_ms: i64) -> bool {
        let token = match new_token() {
            Ok(t) => t,
            Err(e) => {
                incident.note(now_ms, EntryKind::Approval, e.to_string());
                return false;
            }
        };
        let request = page::approval_request(incident, &token, &self.ctx, now_ms);
        match self.pager.publish(&request).await {
            Ok(message_id) => {
                incident.pages_sent += 1;
                incident.request_fallback(&token, TOKEN_TTL_MS, now_ms);
                incident.note(
                    now_ms,
                    EntryKind::Page,
                    format!("approval request sent to the Pager topic (message {message_id})"),
                );
                true
            }
            Err(e) => {
                incident.note(
                    now_ms,
                    EntryKind::Approval,
                    format!("approval request not sent: {e}"),
                );
                false
            }
        }
    }

    async fn follow_operation(
        &self,
        incident: &mut Incident,
        did: &mut Vec<String>,
        now_ms: i64,
    ) -> Result<(), DeskError> {
        let Some(tracked) = incident.operation.clone() else {
            return Ok(());
        };
        let Some(state) = self.remediator.apprunner().operation(&tracked.id).await? else {
            did.push(format!("operation {} not listed yet", tracked.id));
            return Ok(());
        };
        if !state.finished() {
            did.push(format!("operation {} {}", tracked.id, state.status));
            return Ok(());
        }
        let succeeded = incident.operation_finished(&state.status, now_ms);
        did.push(format!(
            "operation {} finished: {}",
            tracked.id, state.status
        ));
        let notice = match (tracked.purpose, succeeded) {
            (Purpose::Fallback, true) => {
                let draft = page::status_draft(incident, "users", now_ms);
                incident.drafts.push(draft);
                Some((
                    "demo mode is on",
                    "users can log in with email/password (the status message for users is drafted); the service returns to live mode once BankID has been healthy long enough",
                ))
            }
            (Purpose::Revert, true) => Some((
                "back in live mode",
                "BankID logins are restored; verification decides when the incident is resolved",
            )),
            (Purpose::Fallback, false) => Some((
                "demo mode failed",
                "the App Runner operation did not succeed; the service is unchanged",
            )),
            (Purpose::Revert, false) => Some((
                "return to live mode failed",
                "the App Runner operation did not succeed; it is tried again on the next tick",
            )),
            (Purpose::Fix, false) => Some((
                "the fix failed",
                "the fix's App Runner operation did not succeed; it is not repeated: a person must act",
            )),
            (Purpose::Fix, true) => None,
        };
        if let Some((headline, detail)) = notice {
            let owed = page::operation_notice(incident, headline, detail, &self.ctx, now_ms);
            owe(incident, owed);
        }
        Ok(())
    }

    async fn start_fallback(
        &self,
        incident: &mut Incident,
        did: &mut Vec<String>,
        now_ms: i64,
    ) -> Result<(), DeskError> {
        if self.remediator.settings().mode == Mode::DryRun {
            incident.fallback = Fallback::None;
            incident.note(
                now_ms,
                EntryKind::Fallback,
                "dry run: demo mode would be switched on now; nothing was sent",
            );
            did.push("dry run: fallback not applied".into());
            return Ok(());
        }
        match self.change_mode(incident, "demo", now_ms).await? {
            Some(operation) => {
                incident.fallback_started(&operation, now_ms);
                did.push(format!("demo mode switched on (operation {operation})"));
            }
            None => did.push("demo mode deferred: an operation is running".into()),
        }
        Ok(())
    }

    async fn start_revert(
        &self,
        incident: &mut Incident,
        did: &mut Vec<String>,
        now_ms: i64,
    ) -> Result<(), DeskError> {
        match self.change_mode(incident, "live", now_ms).await? {
            Some(operation) => {
                incident.revert_started(&operation, now_ms);
                did.push(format!("live mode being restored (operation {operation})"));
            }
            None => did.push("revert deferred: an operation is running".into()),
        }
        Ok(())
    }

    /// The merged UpdateService for the fallback; `None` when App Runner is busy (next tick).
    async fn change_mode(
        &self,
        incident: &mut Incident,
        mode: &str,
        now_ms: i64,
    ) -> Result<Option<String>, DeskError> {
        let action = format!("set_service_mode:{mode}");
        let (outcome, operation) = match self.remediator.set_service_mode(mode).await {
            Ok(ChangeOutcome::Started { operation_id }) => (
                format!("started operation {operation_id}"),
                Some(operation_id),
            ),
            Ok(ChangeOutcome::Deferred { reason }) => (format!("deferred: {reason}"), None),
            Err(e) if e.retryable() => return Err(e.into()),
            Err(e) => {
                incident.record_action(
                    ActionTaken {
                        at_ms: now_ms,
                        action,
                        decision: "run".into(),
                        outcome: format!("failed: {e}"),
                        repeats: 0,
                    },
                    None,
                    false,
                );
                return Err(DeskError::Refused(format!(
                    "NEXT_PUBLIC_SERVICE_MODE could not be set: {e}"
                )));
            }
        };
        incident.record_action(
            ActionTaken {
                at_ms: now_ms,
                action,
                decision: "run (approved)".into(),
                outcome,
                repeats: 0,
            },
            None,
            false,
        );
        Ok(operation)
    }

    fn finish(&self, incident: &mut Incident, by: &str, note: Option<&str>, now_ms: i64) {
        incident.resolve(by, note, now_ms);
        let report = remediator_core::report::render(incident, now_ms);
        let owed = page::resolution_page(incident, &report, now_ms);
        incident.report = Some(report);
        owe(incident, owed);
    }

    async fn load_open(&self, id: &str) -> Result<Incident, DeskError> {
        let incident = self
            .incidents
            .load(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(id.to_owned()))?;
        if incident.service_arn != self.service() {
            return Err(DeskError::NotFound(id.to_owned()));
        }
        if !incident.is_open() {
            return Err(DeskError::Refused(format!("incident {id} is resolved")));
        }
        Ok(incident)
    }

    pub async fn ack(
        &self,
        id: &str,
        by: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<DeskAnswer, DeskError> {
        self.locked(owner, now_ms, || async {
            let mut incident = self.load_open(id).await?;
            let first = incident.ack(by, now_ms);
            self.save(&mut incident).await?;
            Ok(DeskAnswer {
                incident: Some(IncidentView::of(&incident, now_ms)),
                did: vec![if first {
                    format!("acknowledged by {by}: paging stops, verification continues")
                } else {
                    "already acknowledged".into()
                }],
                report: None,
            })
        })
        .await
    }

    pub async fn resolve(
        &self,
        id: &str,
        by: &str,
        note: Option<&str>,
        owner: &str,
        now_ms: i64,
    ) -> Result<DeskAnswer, DeskError> {
        self.locked(owner, now_ms, || async {
            let mut incident = self.load_open(id).await?;
            if matches!(
                incident.fallback,
                Fallback::Active { .. } | Fallback::RevertDue { .. }
            ) {
                return Err(DeskError::Refused(
                    "demo mode is still on: revert_fallback first, then resolve".into(),
                ));
            }
            self.finish(&mut incident, by, note, now_ms);
            self.save(&mut incident).await?;
            self.deliver(&mut incident, now_ms).await?;
            Ok(DeskAnswer {
                incident: Some(IncidentView::of(&incident, now_ms)),
                did: vec![format!("resolved by {by}; report sent to the pager topic")],
                report: incident.report.clone(),
            })
        })
        .await
    }

    pub async fn approve_fallback(
        &self,
        id: &str,
        token: &str,
        by: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<DeskAnswer, DeskError> {
        self.locked(owner, now_ms, || async {
            let mut incident = self.load_open(id).await?;
            if let Err(refusal) = incident.approve_fallback(token, by, now_ms) {
                self.save(&mut incident).await?;
                return Err(DeskError::Refused(format!("approval refused: {refusal}")));
            }
            let mut did = vec![format!("demo-mode fallback approved by {by}")];
            // Approving is answering the page: paging stops, as with an ack.
            if incident.acked_by.is_none() {
                incident.ack(by, now_ms);
            }
            self.start_fallback(&mut incident, &mut did, now_ms).await?;
            self.save(&mut incident).await?;
            self.deliver(&mut incident, now_ms).await?;
            Ok(DeskAnswer {
                incident: Some(IncidentView::of(&incident, now_ms)),
                did,
                report: None,
            })
        })
        .await
    }

    pub async fn revert_fallback(
        &self,
        id: &str,
        by: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<DeskAnswer, DeskError> {
        self.locked(owner, now_ms, || async {
            let mut incident = self.load_open(id).await?;
            if !incident.revert_due(by, now_ms) {
                return Err(DeskError::Refused("demo mode is not on".into()));
            }
            let mut did = Vec::new();
            self.start_revert(&mut incident, &mut did, now_ms).await?;
            self.save(&mut incident).await?;
            Ok(DeskAnswer {
                incident: Some(IncidentView::of(&incident, now_ms)),
                did,
                report: None,
            })
        })
        .await
    }

    /// The incident `id`, or the service's open one.
    pub async fn status(&self, id: Option<&str>, now_ms: i64) -> Result<DeskAnswer, DeskError> {
        let incident = match id {
            Some(id) => Some(
                self.incidents
                    .load(id)
                    .await?
                    .ok_or_else(|| DeskError::NotFound(id.to_owned()))?,
            ),
            None => self.incidents.open_for(self.service()).await?,
        };
        Ok(DeskAnswer {
            did: vec![match &incident {
                Some(i) => format!("incident {} is {}", i.id, i.status.id()),
                None => "no open incident".into(),
            }],
            incident: incident.as_ref().map(|i| IncidentView::of(i, now_ms)),
            report: None,
        })
    }

    /// The stored report of a resolved incident, or one written now for an open one.
    pub async fn report(&self, id: &str, now_ms: i64) -> Result<DeskAnswer, DeskError> {
        let incident = self
            .incidents
            .load(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(id.to_owned()))?;
        let report = incident
            .report
            .clone()
            .unwrap_or_else(|| remediator_core::report::render(&incident, now_ms));
        Ok(DeskAnswer {
            did: vec![format!(
                "report for {} ({})",
                incident.id,
                cause_id(incident.cause)
            )],
            incident: Some(IncidentView::of(&incident, now_ms)),
            report: Some(report),
        })
    }
}

/// Adds a page to the owed list unless one with its key was already made for this incident.
fn owe(incident: &mut Incident, owed: OwedPage) {
    if incident.page_keys.contains(&owed.key) {
        return;
    }
    incident.page_keys.push(owed.key.clone());
    incident.owed_pages.push(owed);
}

fn action_taken(record: &ActionRecord, now_ms: i64) -> ActionTaken {
    let decision = match &record.decision {
        Decision::Run => "run".to_owned(),
        Decision::RecordOnly => "dry run".to_owned(),
        Decision::Refuse { reason } => format!("refused ({reason})"),
    };
    let outcome = match &record.outcome {
        Outcome::Started { operation_id } => format!("started operation {operation_id}"),
        Outcome::Probed { results } => results
            .iter()
            .map(|r| format!("{} {}", r.name, if r.ok { "ok" } else { "failed" }))
            .collect::<Vec<_>>()
            .join(", "),
        Outcome::Purged(p) => format!(
            "{} stale of {} purged from {}",
            p.purged, p.examined, p.store
        ),
        Outcome::Deferred { reason } => format!("deferred: {reason}"),
        Outcome::DryRun => "nothing sent (dry run)".into(),
        Outcome::NotRun => "not run".into(),
        Outcome::Recorded => "recorded".into(),
        Outcome::Failed { error } => format!("failed: {error}"),
    };
    ActionTaken {
        at_ms: now_ms,
        action: record.action.key(),
        decision,
        outcome,
        repeats: 0,
    }
}

fn random_hex(bytes: usize) -> Result<String, AdapterError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| AdapterError::Retryable(format!("no randomness available: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// 128 random bits, hex: the approval token.
fn new_token() -> Result<String, AdapterError> {
    random_hex(16)
}

/// `inc-YYYYMMDD-HHMMSS-xxxx`: sortable, readable on a phone, unique enough with the suffix.
fn new_incident_id(now_ms: i64) -> Result<String, AdapterError> {
    let stamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_else(|| now_ms.to_string());
    Ok(format!("inc-{stamp}-{}", random_hex(2)?))
}

fn ok(flag: bool) -> &'static str {
    if flag {
        "ok"
    } else {
        "failing"
    }
}

//! Acting on a diagnosis: the runbook's checks, the plan, the policy, and the effects, under the
//! service's lease lock and the signal's idempotency key.
//!
//! Order matters for exactly-once effects under retries and concurrency: take the lock, then look
//! for the signal's record (a duplicate stops here), then read the history, decide, write the
//! intent, act, record the history, release; the signal's result is recorded last, when the
//! caller settles it. A deferred change (an App Runner operation already running) writes no
//! record, so the next delivery tries again. A failure to read or write state before the change
//! stops before any effect (fail closed) and is retryable; one after it leaves the intent, and the
//! next delivery adopts the operation the change started instead of sending it again.

use crate::apprunner::{AppRunner, ChangeOutcome};
use crate::logs::AppLogs;
use crate::probes::{ProbeResult, Probes};
use crate::secrets::Secrets;
use crate::sessions::{PurgeReport, SessionStore};
use crate::state::{Intent, Lease, StateStore};
use crate::AdapterError;
use remediator_core::diagnosis::Diagnosis;
use remediator_core::incident::Health;
use remediator_core::remedy::{
    plan, Action, ConfigCheck, Decision, PageAbout, Planned, Policy, CALLBACK_URL_VAR,
    CLIENT_ID_VAR, CLIENT_SECRET_VAR, REPEAT_REFUSAL,
};
use remediator_core::settings::Settings;
use remediator_core::Cause;
use secrecy::SecretString;
use serde::Serialize;
use std::time::Duration;

/// The variable the runbook's demo-mode fallback sets.
pub const SERVICE_MODE_VAR: &str = "NEXT_PUBLIC_SERVICE_MODE";

/// How long a lease lasts: longer than one invocation's work, short enough to recover from a crash.
const LEASE_MS: i64 = 60_000;
/// How long to wait for another invocation's lease before asking Lambda to retry.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// App Runner changes within this window of each other belong to one incident.
const INCIDENT_WINDOW_MS: i64 = 6 * 3_600_000;

/// Everything the engine acts through.
#[derive(Clone)]
pub struct Remediator {
    settings: Settings,
    apprunner: AppRunner,
    secrets: Secrets,
    state: StateStore,
    sessions: SessionStore,
    logs: Option<AppLogs>,
    /// The probe HTTP client, or why it could not be built.
    probes: Result<Probes, String>,
}

/// What became of one planned action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    #[serde(flatten)]
    pub action: Action,
    #[serde(flatten)]
    pub decision: Decision,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// App Runner accepted the change; follow the operation.
    Started {
        operation_id: String,
    },
    /// Probe results, each step with its verdict.
    Probed {
        results: Vec<ProbeResult>,
    },
    /// Stale BankID state removed from the session store.
    Purged(PurgeReport),
    /// An operation was running; the next delivery or tick tries again.
    Deferred {
        reason: String,
    },
    /// `dry_run`: what would have been sent, and nothing was.
    DryRun,
    /// The policy refused it (see the decision's reason).
    NotRun,
    /// Pages, probes and status drafts are recorded here for a person until they are sent.
    Recorded,
    Failed {
        error: String,
    },
}

/// The engine's answer for one signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<ConfigCheck>,
    /// Why the configuration could not be checked (the service or the secret could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_error: Option<String>,
    pub plan: Vec<Planned>,
    pub actions: Vec<ActionRecord>,
    /// Set when this signal was handled before: the earlier result, and no new effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<serde_json::Value>,
    /// A change was deferred: the signal is not settled, so its next delivery tries again.
    #[serde(skip)]
    pub retry_later: bool,
}

/// An App Runner change an earlier invocation sent and could not record.
struct Adopted {
    planned: Planned,
    record: ActionRecord,
}

impl Report {
    /// What is kept for a redelivery to answer with.
    fn recorded(&self) -> serde_json::Value {
        serde_json::json!({"plan": self.plan, "actions": self.actions})
    }
}

impl Remediator {
    pub fn new(
        settings: Settings,
        apprunner: AppRunner,
        secrets: Secrets,
        state: StateStore,
    ) -> Self {
        let sessions = SessionStore::new(settings.sessions.clone());
        // Without an HTTP client a probe reports why; nothing else changes.
        let probes = Probes::new(
            &settings.bankid_issuer,
            &settings.app_base_url,
            &settings.expected_callback_url,
        );
        Remediator {
            settings,
            apprunner,
            secrets,
            state,
            sessions,
            logs: None,
            probes,
        }
    }

    /// Where lines are read from for signals that carry none.
    pub fn with_logs(mut self, logs: AppLogs) -> Self {
        self.logs = Some(logs);
        self
    }

    /// The app's recent BankID lines (the runbook's step 2), when a log group is wired.
    pub async fn recent_lines(
        &self,
        now_ms: i64,
        minutes: u32,
    ) -> Result<Option<remediator_core::signal::LogBatch>, AdapterError> {
        match &self.logs {
            Some(logs) => logs.recent(now_ms, minutes).await.map(Some),
            None => Ok(None),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What [`Remediator::remediate`] would do now: the check, the plan and each action's
    /// decision under the current history. Nothing mutates and nothing is recorded.
    pub async fn preview(
        &self,
        diagnosis: &Diagnosis,
        now_ms: i64,
    ) -> Result<Report, AdapterError> {
        let Some(cause) = diagnosis.cause else {
            return Ok(Report::default());
        };
        let (check, check_error) = self.check_for(cause).await?;
        let planned = plan(diagnosis, check.as_ref());
        let history = self
            .state
            .history(
                &self.settings.apprunner_service_arn,
                now_ms,
                INCIDENT_WINDOW_MS,
            )
            .await?;
        let policy = Policy {
            mode: self.settings.mode,
            budget: self.settings.budget,
        };
        let actions = planned
            .iter()
            .map(|p| {
                let decision = policy.decide(&p.action, &history, now_ms);
                let outcome = match (&decision, p.action.mutates()) {
                    (Decision::Refuse { .. }, _) => Outcome::NotRun,
                    (_, true) => Outcome::DryRun,
                    (_, false) => Outcome::NotRun,
                };
                ActionRecord {
                    action: p.action.clone(),
                    decision,
                    outcome,
                }
            })
            .collect();
        Ok(Report {
            check,
            check_error,
            plan: planned,
            actions,
            ..Report::default()
        })
    }

    /// Plans for `diagnosis`, carries the plan out and settles the signal. `key` identifies the
    /// signal (log event ids, alarm ARN and state time, request id); `owner` this invocation.
    pub async fn remediate(
        &self,
        diagnosis: &Diagnosis,
        key: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<Report, AdapterError> {
        let report = self.act(diagnosis, key, owner, now_ms).await?;
        self.settle(key, &report, now_ms).await?;
        Ok(report)
    }

    /// [`Remediator::remediate`] without settling: the caller records what must not be lost
    /// first (the incident), then calls [`Remediator::settle`]. Until then a redelivery acts
    /// again, adopting an App Runner change already sent rather than sending it twice.
    pub async fn act(
        &self,
        diagnosis: &Diagnosis,
        key: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<Report, AdapterError> {
        let Some(cause) = diagnosis.cause else {
            return Ok(Report::default());
        };
        if let Some(previous) = self.state.handled(key).await? {
            return Ok(Report {
                duplicate_of: Some(previous),
                ..Report::default()
            });
        }
        let (check, check_error) = self.check_for(cause).await?;
        let planned = plan(diagnosis, check.as_ref());
        let mut report = Report {
            check,
            check_error,
            plan: planned.clone(),
            ..Report::default()
        };
        // A change an earlier delivery sent and could not record is settled under the lock,
        // whatever this signal plans: the plan was made from what App Runner shows now. A
        // mutating plan takes the lock anyway and reads the intent there.
        let mutates = planned.iter().any(|p| p.action.mutates());
        let unsettled = !mutates
            && self
                .state
                .intent(&self.settings.apprunner_service_arn)
                .await?
                .is_some();
        if !mutates && !unsettled {
            for p in planned {
                let outcome = self.observe(&p.action).await;
                report.actions.push(ActionRecord {
                    action: p.action,
                    decision: Decision::Run,
                    outcome,
                });
            }
            return Ok(report);
        }

        self.lock(owner, now_ms).await?;
        let result = self.act_locked(&mut report, key, now_ms).await;
        let released = self
            .state
            .release(&self.settings.apprunner_service_arn, owner)
            .await;
        result?;
        released?;
        Ok(report)
    }

    /// Records the signal's result, so a redelivery answers with it and does nothing (pages
    /// included), and removes its intent. A deferred change is not recorded: the next delivery
    /// tries again.
    pub async fn settle(
        &self,
        key: &str,
        report: &Report,
        now_ms: i64,
    ) -> Result<(), AdapterError> {
        if report.duplicate_of.is_some() || (report.plan.is_empty() && report.actions.is_empty()) {
            return Ok(());
        }
        if !report.retry_later {
            self.state
                .record_handled(key, &report.recorded(), now_ms)
                .await?;
        }
        if report.actions.iter().any(|a| a.action.deploys()) {
            self.state
                .clear_intent(&self.settings.apprunner_service_arn, key)
                .await?;
        }
        Ok(())
    }

    /// Releases the service's lock taken with [`Remediator::lock`].
    pub async fn unlock(&self, owner: &str) -> Result<(), AdapterError> {
        self.state
            .release(&self.settings.apprunner_service_arn, owner)
            .await
    }

    pub fn apprunner(&self) -> &AppRunner {
        &self.apprunner
    }

    /// Sets `NEXT_PUBLIC_SERVICE_MODE` through the same merged UpdateService as every fix.
    pub async fn set_service_mode(&self, mode: &str) -> Result<ChangeOutcome, AdapterError> {
        let view = self.apprunner.describe().await?;
        let value = SecretString::from(mode.to_owned());
        self.apprunner
            .update_environment(&view, &[(SERVICE_MODE_VAR, &value)])
            .await
    }

    /// The follow-up's health measurement: the synthetic login check, and BankID error lines
    /// in the app's log group over the last `minutes`.
    pub async fn health(&self, now_ms: i64, minutes: u32) -> Result<Health, AdapterError> {
        let results = match &self.probes {
            Ok(probes) => probes.login_check().await,
            Err(error) => {
                return Ok(Health {
                    bankid_ok: false,
                    login_ok: false,
                    recent_errors: 0,
                    detail: error.clone(),
                })
            }
        };
        let step_ok = |name: &str| results.iter().any(|r| r.name == name && r.ok);
        let bankid_ok = step_ok("discovery") && step_ok("jwks");
        let login_ok = bankid_ok && step_ok("initiate");
        let detail = results.iter().find(|r| !r.ok).map_or_else(
            || "login check passed".to_owned(),
            |r| format!("{}: {}", r.name, r.detail),
        );
        let recent_errors = match self.recent_lines(now_ms, minutes).await? {
            Some(batch) => {
                let mut diagnoser =
                    remediator_core::Diagnoser::new(remediator_core::classify::classifier());
                diagnoser.add_batch(&batch);
                diagnoser.finish().counts.total()
            }
            None => 0,
        };
        Ok(Health {
            bankid_ok,
            login_ok,
            recent_errors,
            detail,
        })
    }

    /// Takes the service's lease lock, waiting a few seconds for another holder; the same lock
    /// serialises remediation, follow-up ticks and manual actions.
    pub async fn lock(&self, owner: &str, now_ms: i64) -> Result<(), AdapterError> {
        let arn = &self.settings.apprunner_service_arn;
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(25);
        loop {
            let waited = started.elapsed().as_millis() as i64;
            if self
                .state
                .acquire(arn, owner, now_ms + waited, LEASE_MS)
                .await?
                == Lease::Acquired
            {
                return Ok(());
            }
            if started.elapsed() >= LOCK_WAIT {
                return Err(AdapterError::Retryable(
                    "another invocation holds the service's lock".into(),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(400));
        }
    }

    async fn act_locked(
        &self,
        report: &mut Report,
        key: &str,
        now_ms: i64,
    ) -> Result<(), AdapterError> {
        if let Some(previous) = self.state.handled(key).await? {
            report.duplicate_of = Some(previous);
            return Ok(());
        }
        let arn = &self.settings.apprunner_service_arn;
        let mut history = self.state.history(arn, now_ms, INCIDENT_WINDOW_MS).await?;
        let to_decide = report.plan.clone();
        if let Some(intent) = self.state.intent(arn).await? {
            if let Some(adopted) = self.adopt(&intent, key, &mut history, now_ms).await? {
                if intent.key == key {
                    // This signal's own change: what it did is the answer; nothing more to do.
                    report.plan = vec![adopted.planned];
                    report.actions = vec![adopted.record];
                    return Ok(());
                }
                report.plan.insert(0, adopted.planned);
                report.actions.push(adopted.record);
            }
        }
        let policy = Policy {
            mode: self.settings.mode,
            budget: self.settings.budget,
        };
        let mut final_result = true;
        for planned in to_decide {
            let decision = policy.decide(&planned.action, &history, now_ms);
            let outcome = match (&decision, planned.action.mutates()) {
                (_, false) => self.observe(&planned.action).await,
                (Decision::Refuse { .. }, true) => Outcome::NotRun,
                (Decision::RecordOnly, true) => Outcome::DryRun,
                (Decision::Run, true) if planned.action.deploys() => {
                    let previous_operation =
                        self.apprunner.latest_operation().await?.map(|op| op.id);
                    let intent = Intent {
                        key: key.to_owned(),
                        action: planned.action.key(),
                        reason: planned.reason.clone(),
                        previous_operation,
                        at_ms: now_ms,
                    };
                    self.state.put_intent(arn, &intent, now_ms).await?;
                    let outcome = self.execute(&planned.action, now_ms).await?;
                    if !matches!(outcome, Outcome::Started { .. }) {
                        // Nothing reached App Runner: nothing to adopt later.
                        self.state.clear_intent(arn, key).await?;
                    }
                    outcome
                }
                (Decision::Run, true) => self.execute(&planned.action, now_ms).await?,
            };
            if matches!(outcome, Outcome::Started { .. }) && planned.action.deploys() {
                self.state
                    .record_deploy(arn, now_ms, INCIDENT_WINDOW_MS)
                    .await?;
                history.deploys_this_incident += 1;
                history.deploys_today += 1;
                history.last_deploy_ms = Some(now_ms);
            }
            if matches!(outcome, Outcome::Started { .. } | Outcome::Purged(_)) {
                // If the same cause is diagnosed again in this incident, this did not help.
                self.state
                    .record_failed_action(arn, &planned.action.key(), now_ms)
                    .await?;
            }
            let repeated =
                matches!(&decision, Decision::Refuse { reason } if reason == REPEAT_REFUSAL);
            if matches!(outcome, Outcome::Deferred { .. }) {
                final_result = false;
            }
            report.actions.push(ActionRecord {
                action: planned.action,
                decision,
                outcome,
            });
            if repeated {
                let page = Action::Page {
                    about: PageAbout::RecurredAfterFix,
                };
                report.plan.push(Planned {
                    action: page.clone(),
                    reason: "the fix already ran in this incident and the failure is back".into(),
                });
                report.actions.push(ActionRecord {
                    action: page,
                    decision: Decision::Run,
                    outcome: Outcome::Recorded,
                });
            }
        }
        report.retry_later = !final_result;
        Ok(())
    }

    /// Settles an intent an earlier invocation left: the operation its change started (the
    /// service's newest, if newer than the one before the change) is adopted and recorded as
    /// that invocation would have; if there is none, the change never reached App Runner. An
    /// operation a person started in between would be adopted too: that errs towards not
    /// sending a second change.
    async fn adopt(
        &self,
        intent: &Intent,
        key: &str,
        history: &mut remediator_core::remedy::History,
        now_ms: i64,
    ) -> Result<Option<Adopted>, AdapterError> {
        let arn = &self.settings.apprunner_service_arn;
        if intent.key != key && self.state.handled(&intent.key).await?.is_some() {
            self.state.clear_intent(arn, &intent.key).await?;
            return Ok(None);
        }
        let started = self
            .apprunner
            .latest_operation()
            .await?
            .filter(|op| intent.previous_operation.as_ref() != Some(&op.id));
        let (Some(operation), Some(action)) = (started, Action::mutating_from_key(&intent.action))
        else {
            self.state.clear_intent(arn, &intent.key).await?;
            return Ok(None);
        };
        if history
            .last_deploy_ms
            .is_none_or(|last| last < intent.at_ms)
        {
            self.state
                .record_deploy(arn, intent.at_ms, INCIDENT_WINDOW_MS)
                .await?;
            history.deploys_this_incident += 1;
            history.deploys_today += 1;
            history.last_deploy_ms = Some(intent.at_ms);
        }
        self.state
            .record_failed_action(arn, &intent.action, intent.at_ms)
            .await?;
        if !history.failed_actions.contains(&intent.action) {
            history.failed_actions.push(intent.action.clone());
        }
        let adopted = Adopted {
            planned: Planned {
                action: action.clone(),
                reason: intent.reason.clone(),
            },
            record: ActionRecord {
                action,
                decision: Decision::Run,
                outcome: Outcome::Started {
                    operation_id: operation.id,
                },
            },
        };
        if intent.key != key {
            // The signal that sent it gets its answer: a redelivery of it is then a duplicate.
            let recorded =
                serde_json::json!({"plan": [&adopted.planned], "actions": [&adopted.record]});
            self.state
                .record_handled(&intent.key, &recorded, now_ms)
                .await?;
            self.state.clear_intent(arn, &intent.key).await?;
        }
        Ok(Some(adopted))
    }

    /// Runs one mutating action. Retryable adapter errors propagate (Lambda retries the signal);
    /// permanent ones become a failed outcome in the report.
    async fn execute(&self, action: &Action, now_ms: i64) -> Result<Outcome, AdapterError> {
        let result = match action {
            Action::UpdateEnvironment { variables } => self.update_environment(variables).await,
            Action::StartDeployment => self.apprunner.start_deployment().await,
            Action::PurgeStaleSessions => {
                // A session store that is down is reported; it blocks nothing else.
                return Ok(match self.sessions.purge_stale(now_ms).await {
                    Ok(report) => Outcome::Purged(report),
                    Err(e) => Outcome::Failed {
                        error: e.to_string(),
                    },
                });
            }
            _ => return Ok(Outcome::Recorded),
        };
        match result {
            Ok(ChangeOutcome::Started { operation_id }) => Ok(Outcome::Started { operation_id }),
            Ok(ChangeOutcome::Deferred { reason }) => Ok(Outcome::Deferred { reason }),
            Err(e) if e.retryable() => Err(e),
            Err(e) => Ok(Outcome::Failed {
                error: e.to_string(),
            }),
        }
    }

    /// Carries out a non-mutating action: probes run; pages and drafts are recorded.
    async fn observe(&self, action: &Action) -> Outcome {
        match (action, &self.probes) {
            (Action::ProbeNetwork, Ok(probes)) => Outcome::Probed {
                results: probes.network().await,
            },
            (Action::ProbeNetwork, Err(error)) => Outcome::Failed {
                error: error.clone(),
            },
            _ => Outcome::Recorded,
        }
    }

    async fn update_environment(
        &self,
        variables: &[&'static str],
    ) -> Result<ChangeOutcome, AdapterError> {
        // Read both again under the lock: what is sent back must be what App Runner has now.
        let view = self.apprunner.describe().await?;
        let secret = self.secrets.bankid().await?;
        let callback = SecretString::from(self.settings.expected_callback_url.clone());
        let values: Vec<(&'static str, &SecretString)> = variables
            .iter()
            .map(|name| match *name {
                CLIENT_ID_VAR => (CLIENT_ID_VAR, &secret.client_id),
                CLIENT_SECRET_VAR => (CLIENT_SECRET_VAR, &secret.client_secret),
                _ => (CALLBACK_URL_VAR, &callback),
            })
            .collect();
        self.apprunner.update_environment(&view, &values).await
    }

    /// The configuration check for the causes it can explain; why it could not be made otherwise.
    async fn check_for(
        &self,
        cause: Cause,
    ) -> Result<(Option<ConfigCheck>, Option<String>), AdapterError> {
        if !matches!(cause, Cause::InvalidCredentials | Cause::CallbackMismatch) {
            return Ok((None, None));
        }
        Ok(match self.check().await? {
            Ok(check) => (Some(check), None),
            Err(reason) => (None, Some(reason)),
        })
    }

    /// The runbook's step 3. A permanent failure (no such service, a malformed secret) yields no
    /// check, so the plan pages instead of guessing; a transient one is retried.
    async fn check(&self) -> Result<Result<ConfigCheck, String>, AdapterError> {
        let view = match self.apprunner.describe().await {
            Ok(v) => v,
            Err(e) if e.retryable() => return Err(e),
            Err(e) => return Ok(Err(e.to_string())),
        };
        let secret = match self.secrets.bankid().await {
            Ok(s) => s,
            Err(e) if e.retryable() => return Err(e),
            Err(e) => return Ok(Err(e.to_string())),
        };
        let in_progress =
            view.status == aws_sdk_apprunner::types::ServiceStatus::OperationInProgress;
        Ok(Ok(ConfigCheck::compare(
            &view.settings,
            &secret,
            &self.settings.expected_callback_url,
        )
        .during_operation(in_progress)))
    }
}

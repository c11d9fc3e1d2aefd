//! Acting on a diagnosis: the runbook's checks, the plan, the policy, and the effects, under the
//! service's lease lock and the signal's idempotency key.
//!
//! Order matters for exactly-once effects under retries and concurrency: take the lock, then look
//! for the signal's record (a duplicate stops here), then read the history, decide, act, record
//! the history and the signal's result, release. A deferred change (an App Runner operation
//! already running) writes no record, so the next delivery tries again. A failure to read or
//! write state stops before any effect (fail closed) and is retryable.

use crate::apprunner::{AppRunner, ChangeOutcome};
use crate::logs::AppLogs;
use crate::probes::{ProbeResult, Probes};
use crate::secrets::Secrets;
use crate::sessions::{PurgeReport, SessionStore};
use crate::state::{Lease, StateStore};
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
            duplicate_of: None,
        })
    }

    /// Plans for `diagnosis` and carries the plan out. `key` identifies the signal (log event ids,
    /// alarm ARN and state time, request id); `owner` identifies this invocation.
    pub async fn remediate(
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
        if !planned.iter().any(|p| p.action.mutates()) {
            for p in planned {
                let outcome = self.observe(&p.action).await;
                report.actions.push(ActionRecord {
                    action: p.action,
                    decision: Decision::Run,
                    outcome,
                });
            }
            // Recorded too, so a redelivery answers the same instead of paging again.
            self.state
                .record_handled(key, &report.recorded(), now_ms)
                .await?;
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
        let policy = Policy {
            mode: self.settings.mode,
            budget: self.settings.budget,
        };
        let mut final_result = true;
        for planned in report.plan.clone() {
            let decision = policy.decide(&planned.action, &history, now_ms);
            let outcome = match (&decision, planned.action.mutates()) {
                (_, false) => self.observe(&planned.action).await,
                (Decision::Refuse { .. }, true) => Outcome::NotRun,
                (Decision::RecordOnly, true) => Outcome::DryRun,
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
        if final_result {
            self.state
                .record_handled(key, &report.recorded(), now_ms)
                .await?;
        }
        Ok(())
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
        Ok(Ok(ConfigCheck::compare(
            &view.settings,
            &secret,
            &self.settings.expected_callback_url,
        )))
    }
}

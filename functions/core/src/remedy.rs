//! From a diagnosis and the runbook's configuration checks to a plan, and the policy every
//! mutating action passes before it may run.
//!
//! Pure: the adapters read App Runner and Secrets Manager and hand in what they saw; nothing here
//! calls out. Secret values stay in [`SecretString`]s, compared and never printed; actions name
//! the variables they change, never their values.

use crate::cause::Cause;
use crate::diagnosis::Diagnosis;
use crate::settings::{Budget, Mode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

pub const CLIENT_ID_VAR: &str = "BANKID_CLIENT_ID";
pub const CLIENT_SECRET_VAR: &str = "BANKID_CLIENT_SECRET";
pub const CALLBACK_URL_VAR: &str = "BANKID_CALLBACK_URL";

/// How the App Runner service receives one BankID setting.
#[derive(Debug, Clone)]
pub enum Setting {
    Missing,
    /// A plain runtime environment variable, with its value.
    Variable(SecretString),
    /// A `RuntimeEnvironmentSecrets` reference (an ARN): the value is read at deploy time.
    SecretReference(String),
}

/// The service's BankID settings, as DescribeService shows them.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub client_id: Setting,
    pub client_secret: Setting,
    pub callback_url: Setting,
}

/// The BankID credentials as Secrets Manager holds them (the source of truth).
#[derive(Debug, Clone)]
pub struct BankidSecret {
    pub client_id: SecretString,
    pub client_secret: SecretString,
    pub callback_url: String,
}

/// One setting compared with the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Matches,
    Differs,
    Missing,
    /// Taken from a Secrets Manager reference at deploy time: a redeploy picks up the current value.
    FromSecretReference,
}

/// The runbook's step 3, answered. Serialisable: it holds verdicts, not values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfigCheck {
    pub client_id: Comparison,
    pub client_secret: Comparison,
    pub callback_url: Comparison,
    /// The secret's own `callback_url` agrees with `EXPECTED_CALLBACK_URL`.
    pub secret_callback_agrees: bool,
    /// App Runner is carrying out an operation: what DescribeService shows is not yet serving.
    pub operation_in_progress: bool,
}

impl ConfigCheck {
    pub fn compare(
        service: &ServiceSettings,
        secret: &BankidSecret,
        expected_callback: &str,
    ) -> Self {
        fn compare(setting: &Setting, truth: &str) -> Comparison {
            match setting {
                Setting::Missing => Comparison::Missing,
                Setting::SecretReference(_) => Comparison::FromSecretReference,
                Setting::Variable(v) if v.expose_secret() == truth => Comparison::Matches,
                Setting::Variable(_) => Comparison::Differs,
            }
        }
        ConfigCheck {
            client_id: compare(&service.client_id, secret.client_id.expose_secret()),
            client_secret: compare(&service.client_secret, secret.client_secret.expose_secret()),
            callback_url: compare(&service.callback_url, expected_callback),
            secret_callback_agrees: secret.callback_url.trim_end_matches('/')
                == expected_callback.trim_end_matches('/'),
            operation_in_progress: false,
        }
    }

    /// The same check, noting that an App Runner operation is still rolling out.
    pub fn during_operation(mut self, in_progress: bool) -> Self {
        self.operation_in_progress = in_progress;
        self
    }

    fn credential_vars_to_fix(&self) -> Vec<&'static str> {
        [
            (CLIENT_ID_VAR, self.client_id),
            (CLIENT_SECRET_VAR, self.client_secret),
        ]
        .into_iter()
        .filter(|(_, c)| matches!(c, Comparison::Differs | Comparison::Missing))
        .map(|(name, _)| name)
        .collect()
    }

    fn credentials_from_references(&self) -> bool {
        self.client_id == Comparison::FromSecretReference
            || self.client_secret == Comparison::FromSecretReference
    }
}

/// What the remediator may do. Mutating actions pass the [`Policy`] first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// UpdateService with these variables set from the secret, merged into the full existing map.
    UpdateEnvironment { variables: Vec<&'static str> },
    /// StartDeployment, so `RuntimeEnvironmentSecrets` references are read again.
    StartDeployment,
    /// Delete stale BankID state and sessions (expired, or older than the state TTL); never a flush.
    PurgeStaleSessions,
    /// DNS, TCP, TLS and HTTP probes towards BankID, reported in the page.
    ProbeNetwork,
    /// A user-facing status message from the runbook's template.
    DraftStatusMessage,
    /// Tell a person: what was seen, what was (not) done, and what to do next.
    Page { about: PageAbout },
    /// Nothing yet: the configuration already matches and an App Runner operation is rolling it
    /// out; the follow-up verifies the outcome.
    AwaitOperation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageAbout {
    /// The service already uses the secret's credentials: the secret itself is wrong.
    SecretItselfWrong,
    /// The service's callback is right: the BankID portal's registered redirect URI is not.
    PortalRedirectUri,
    /// The secret's callback_url disagrees with EXPECTED_CALLBACK_URL: a person must decide.
    CallbackSourcesDisagree,
    /// The runbook's fix already ran in this incident and the failure is back: for state
    /// failures, the session timeout is too short for users finishing BankID (runbook: 15 minutes).
    RecurredAfterFix,
    RateLimited,
    NetworkUnreachable,
    BankidOutage,
    Unrecognised,
}

impl Action {
    /// Whether running it changes anything outside the remediator.
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            Action::UpdateEnvironment { .. } | Action::StartDeployment | Action::PurgeStaleSessions
        )
    }

    /// Whether it deploys (and so counts against the App Runner budget).
    pub fn deploys(&self) -> bool {
        matches!(
            self,
            Action::UpdateEnvironment { .. } | Action::StartDeployment
        )
    }

    /// A stable key for "the same action", used to refuse repeating one that did not help.
    pub fn key(&self) -> String {
        match self {
            Action::UpdateEnvironment { variables } => {
                format!("update_environment:{}", variables.join(","))
            }
            Action::StartDeployment => "start_deployment".into(),
            Action::PurgeStaleSessions => "purge_stale_sessions".into(),
            Action::ProbeNetwork => "probe_network".into(),
            Action::DraftStatusMessage => "draft_status_message".into(),
            Action::AwaitOperation => "await_operation".into(),
            Action::Page { about } => format!(
                "page:{}",
                serde_json::to_value(about)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        }
    }
}

impl Action {
    /// The mutating action a [`Action::key`] names, for an action recorded before it ran and
    /// read back after a crash; `None` for anything else.
    pub fn mutating_from_key(key: &str) -> Option<Action> {
        match key {
            "start_deployment" => Some(Action::StartDeployment),
            "purge_stale_sessions" => Some(Action::PurgeStaleSessions),
            _ => {
                let names = key.strip_prefix("update_environment:")?;
                let variables = names
                    .split(',')
                    .map(|name| {
                        [CLIENT_ID_VAR, CLIENT_SECRET_VAR, CALLBACK_URL_VAR]
                            .into_iter()
                            .find(|known| *known == name)
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Action::UpdateEnvironment { variables })
            }
        }
    }
}

/// An action with the reason it was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    #[serde(flatten)]
    pub action: Action,
    pub reason: String,
}

fn planned(action: Action, reason: impl Into<String>) -> Planned {
    Planned {
        action,
        reason: reason.into(),
    }
}

/// The runbook's fixes for the diagnosed cause. `check` is the configuration check; without it
/// (App Runner or the secret could not be read) configuration causes are paged, never guessed at.
pub fn plan(diagnosis: &Diagnosis, check: Option<&ConfigCheck>) -> Vec<Planned> {
    let Some(cause) = diagnosis.cause else {
        return Vec::new();
    };
    match cause {
        Cause::InvalidCredentials => plan_credentials(check),
        Cause::CallbackMismatch => plan_callback(check),
        Cause::InvalidState => vec![planned(
            Action::PurgeStaleSessions,
            "state checks fail at the callback: remove expired and stale BankID state so users can retry (no flush: live sessions stay)",
        )],
        Cause::RateLimited => vec![planned(
            Action::Page { about: PageAbout::RateLimited },
            "BankID is rate limiting: nothing to change on our side; wait for the reset and page if it persists",
        )],
        Cause::Network => vec![
            planned(Action::ProbeNetwork, "find which layer fails: DNS, TCP, TLS or HTTP"),
            planned(
                Action::Page { about: PageAbout::NetworkUnreachable },
                "BankID cannot be reached: a deploy would not help; the probe results go to a person",
            ),
        ],
        Cause::BankidOutage => vec![
            planned(Action::DraftStatusMessage, "users need to know logins are down and why"),
            planned(
                Action::Page { about: PageAbout::BankidOutage },
                "BankID itself is failing: touch nothing; demo-mode fallback needs approval",
            ),
        ],
        Cause::Unknown => vec![planned(
            Action::Page { about: PageAbout::Unrecognised },
            "BankID logins fail in a way no rule recognises: a person must look at the evidence",
        )],
    }
}

fn plan_credentials(check: Option<&ConfigCheck>) -> Vec<Planned> {
    let Some(check) = check else {
        return vec![planned(
            Action::Page { about: PageAbout::Unrecognised },
            "credentials are rejected but the service or the secret could not be read: nothing is changed blind",
        )];
    };
    let to_fix = check.credential_vars_to_fix();
    if to_fix.is_empty() && check.operation_in_progress {
        return vec![awaiting()];
    }
    if !to_fix.is_empty() {
        return vec![planned(
            Action::UpdateEnvironment {
                variables: to_fix.clone(),
            },
            if to_fix.len() == 1 {
                format!("{} differs from the secret: set it from the secret, every other variable unchanged", to_fix[0])
            } else {
                format!("{} differ from the secret: set them from the secret, every other variable unchanged", to_fix.join(" and "))
            },
        )];
    }
    if check.credentials_from_references() {
        return vec![planned(
            Action::StartDeployment,
            "the service reads the credentials from Secrets Manager references: a deployment picks up the current secret",
        )];
    }
    vec![planned(
        Action::Page { about: PageAbout::SecretItselfWrong },
        "the service already has the secret's credentials and BankID still rejects them: the secret itself is wrong; nothing is changed",
    )]
}

/// Failures while the right configuration is still rolling out are expected, not a new finding.
fn awaiting() -> Planned {
    planned(
        Action::AwaitOperation,
        "the service's configuration already matches and an App Runner operation is rolling it out: failures until it finishes are expected; the follow-up verifies the outcome",
    )
}

fn plan_callback(check: Option<&ConfigCheck>) -> Vec<Planned> {
    let Some(check) = check else {
        return vec![planned(
            Action::Page { about: PageAbout::Unrecognised },
            "the redirect_uri is rejected but the service could not be read: nothing is changed blind",
        )];
    };
    if !check.secret_callback_agrees {
        return vec![planned(
            Action::Page { about: PageAbout::CallbackSourcesDisagree },
            "the secret's callback_url and EXPECTED_CALLBACK_URL disagree: a person must say which is right",
        )];
    }
    match check.callback_url {
        Comparison::Matches | Comparison::FromSecretReference if check.operation_in_progress => {
            vec![awaiting()]
        }
        Comparison::Differs | Comparison::Missing => vec![planned(
            Action::UpdateEnvironment { variables: vec![CALLBACK_URL_VAR] },
            "BANKID_CALLBACK_URL is not the expected callback: set it, every other variable unchanged",
        )],
        Comparison::FromSecretReference => vec![planned(
            Action::StartDeployment,
            "BANKID_CALLBACK_URL comes from a Secrets Manager reference: a deployment picks up the current value",
        )],
        Comparison::Matches => vec![planned(
            Action::Page { about: PageAbout::PortalRedirectUri },
            "the service sends the expected callback and BankID refuses it: the redirect URI registered in the BankID portal must be changed (approval may take 1-2 hours)",
        )],
    }
}

/// What the remediator remembers about past actions, read from the state table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub deploys_this_incident: u32,
    pub deploys_today: u32,
    pub last_deploy_ms: Option<i64>,
    /// Keys of actions that already ran in this incident. The cause being diagnosed again means
    /// they did not lead to recovery, so they are not repeated.
    pub failed_actions: Vec<String>,
}

/// Why an action that already ran is refused.
pub const REPEAT_REFUSAL: &str =
    "this action already ran in this incident and the failure is back: escalating instead";

/// The policy's verdict on one planned action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Run,
    /// `dry_run`: recorded as what would have run.
    RecordOnly,
    Refuse {
        reason: String,
    },
}

/// Mode, budget, cooldown and no-repeat, applied to every mutating action.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub mode: Mode,
    pub budget: Budget,
}

impl Policy {
    pub fn decide(&self, action: &Action, history: &History, now_ms: i64) -> Decision {
        if !action.mutates() {
            return Decision::Run;
        }
        // First, because it escalates: a fix that already ran and did not help is never tried
        // again, whatever the budget says.
        if history.failed_actions.iter().any(|k| *k == action.key()) {
            return Decision::Refuse {
                reason: REPEAT_REFUSAL.into(),
            };
        }
        if action.deploys() {
            let budget = self.budget;
            if history.deploys_this_incident >= budget.updates_per_incident {
                return Decision::Refuse {
                    reason: format!(
                        "{} App Runner changes already made in this incident (limit {})",
                        history.deploys_this_incident, budget.updates_per_incident
                    ),
                };
            }
            if history.deploys_today >= budget.updates_per_day {
                return Decision::Refuse {
                    reason: format!(
                        "{} App Runner changes already made today (limit {})",
                        history.deploys_today, budget.updates_per_day
                    ),
                };
            }
            if let Some(last) = history.last_deploy_ms {
                let cooldown_ms = budget.cooldown.as_millis() as i64;
                let since = now_ms - last;
                if since < cooldown_ms {
                    return Decision::Refuse {
                        reason: format!(
                            "the last App Runner change was {}s ago; the cooldown is {}s",
                            since.max(0) / 1000,
                            cooldown_ms / 1000
                        ),
                    };
                }
            }
        }
        match self.mode {
            Mode::Live => Decision::Run,
            Mode::DryRun => Decision::RecordOnly,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_configuration_still_rolling_out_is_awaited_not_paged() {
        let service = ServiceSettings {
            client_id: Setting::Variable(SecretString::from("drop-prod")),
            client_secret: Setting::Variable(SecretString::from("right-secret")),
            callback_url: Setting::Variable(SecretString::from("https://getdrop.no/cb")),
        };
        let secret = BankidSecret {
            client_id: SecretString::from("drop-prod"),
            client_secret: SecretString::from("right-secret"),
            callback_url: "https://getdrop.no/cb".into(),
        };
        let check = ConfigCheck::compare(&service, &secret, "https://getdrop.no/cb");
        for lines in [
            ["BankID OAuth error: invalid_client"; 3],
            ["redirect_uri_mismatch: redirect_uri does not match"; 3],
        ] {
            let diagnosis = diagnose_lines(lines);
            let settled = plan(&diagnosis, Some(&check));
            assert!(
                matches!(settled[0].action, Action::Page { .. }),
                "{settled:?}"
            );
            let rolling = plan(&diagnosis, Some(&check.during_operation(true)));
            assert_eq!(rolling.len(), 1);
            assert_eq!(rolling[0].action, Action::AwaitOperation, "{rolling:?}");
        }
    }

    #[test]
    fn mutating_actions_read_back_from_their_keys() {
        for action in [
            Action::UpdateEnvironment {
                variables: vec![CLIENT_ID_VAR, CLIENT_SECRET_VAR],
            },
            Action::UpdateEnvironment {
                variables: vec![CALLBACK_URL_VAR],
            },
            Action::StartDeployment,
            Action::PurgeStaleSessions,
        ] {
            assert_eq!(Action::mutating_from_key(&action.key()), Some(action));
        }
        for other in [
            "probe_network",
            "page:rate_limited",
            "update_environment:PATH",
            "",
        ] {
            assert_eq!(Action::mutating_from_key(other), None, "{other}");
        }
    }
    use crate::diagnosis::diagnose_lines;
    use std::time::Duration;

    fn secret() -> BankidSecret {
        BankidSecret {
            client_id: SecretString::from("drop-prod"),
            client_secret: SecretString::from("right-secret"),
            callback_url: "https://getdrop.no/api/auth/bankid/callback".into(),
        }
    }

    fn var(v: &str) -> Setting {
        Setting::Variable(SecretString::from(v.to_owned()))
    }

    fn service(id: Setting, secret: Setting, callback: Setting) -> ServiceSettings {
        ServiceSettings {
            client_id: id,
            client_secret: secret,
            callback_url: callback,
        }
    }

    const CALLBACK: &str = "https://getdrop.no/api/auth/bankid/callback";

    fn diagnosed(line: &str) -> Diagnosis {
        diagnose_lines([line; 3])
    }

    fn kinds(plan: &[Planned]) -> Vec<&Action> {
        plan.iter().map(|p| &p.action).collect()
    }

    #[test]
    fn credentials_that_differ_are_set_from_the_secret() {
        let s = service(var("drop-prod"), var("old-secret"), var(CALLBACK));
        let check = ConfigCheck::compare(&s, &secret(), CALLBACK);
        assert_eq!(check.client_secret, Comparison::Differs);
        let p = plan(
            &diagnosed("BankID OAuth error: invalid_client"),
            Some(&check),
        );
        assert_eq!(
            kinds(&p),
            vec![&Action::UpdateEnvironment {
                variables: vec![CLIENT_SECRET_VAR]
            }]
        );
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            !json.contains("right-secret") && !json.contains("old-secret"),
            "{json}"
        );
    }

    #[test]
    fn credentials_from_references_are_redeployed() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bankid-AbCdEf".to_owned();
        let s = service(
            Setting::SecretReference(arn.clone()),
            Setting::SecretReference(arn),
            var(CALLBACK),
        );
        let check = ConfigCheck::compare(&s, &secret(), CALLBACK);
        let p = plan(
            &diagnosed("BankID OAuth error: invalid_client"),
            Some(&check),
        );
        assert_eq!(kinds(&p), vec![&Action::StartDeployment]);
    }

    #[test]
    fn credentials_equal_to_the_secret_mean_the_secret_is_wrong() {
        let s = service(var("drop-prod"), var("right-secret"), var(CALLBACK));
        let check = ConfigCheck::compare(&s, &secret(), CALLBACK);
        let p = plan(
            &diagnosed("BankID OAuth error: invalid_client"),
            Some(&check),
        );
        assert_eq!(
            kinds(&p),
            vec![&Action::Page {
                about: PageAbout::SecretItselfWrong
            }]
        );
        assert!(p.iter().all(|a| !a.action.mutates()));
    }

    #[test]
    fn callback_wrong_in_the_service_is_fixed_and_right_means_the_portal() {
        let wrong = service(
            var("drop-prod"),
            var("right-secret"),
            var("https://old.getdrop.no/cb"),
        );
        let check = ConfigCheck::compare(&wrong, &secret(), CALLBACK);
        let p = plan(
            &diagnosed("BankID OAuth error: redirect_uri_mismatch"),
            Some(&check),
        );
        assert_eq!(
            kinds(&p),
            vec![&Action::UpdateEnvironment {
                variables: vec![CALLBACK_URL_VAR]
            }]
        );

        let right = service(var("drop-prod"), var("right-secret"), var(CALLBACK));
        let check = ConfigCheck::compare(&right, &secret(), CALLBACK);
        let p = plan(
            &diagnosed("BankID OAuth error: redirect_uri_mismatch"),
            Some(&check),
        );
        assert_eq!(
            kinds(&p),
            vec![&Action::Page {
                about: PageAbout::PortalRedirectUri
            }]
        );

        let check = ConfigCheck::compare(
            &right,
            &secret(),
            "https://new.getdrop.no/api/auth/bankid/callback",
        );
        let p = plan(
            &diagnosed("BankID OAuth error: redirect_uri_mismatch"),
            Some(&check),
        );
        assert_eq!(
            kinds(&p),
            vec![&Action::Page {
                about: PageAbout::CallbackSourcesDisagree
            }]
        );
    }

    #[test]
    fn do_no_harm_causes_never_deploy() {
        for line in [
            "BankID API error: rate_limit_exceeded",
            "[cause]: Error: getaddrinfo ENOTFOUND auth.bankid.no",
            "OPError: expected 200 OK, got: 503 Service Unavailable [bankid]",
            "BankID login failed: the frobnicator said no",
        ] {
            let p = plan(&diagnosed(line), None);
            assert!(!p.is_empty(), "{line}");
            assert!(p.iter().all(|a| !a.action.mutates()), "{line}: {p:?}");
        }
        assert_eq!(
            kinds(&plan(
                &diagnosed("RPError: state mismatch, expected a, got: b"),
                None
            )),
            vec![&Action::PurgeStaleSessions]
        );
        assert!(plan(&diagnose_lines(["GET /api/health 200 1ms"]), None).is_empty());
    }

    #[test]
    fn without_a_config_check_configuration_causes_are_paged_not_guessed() {
        let p = plan(&diagnosed("BankID OAuth error: invalid_client"), None);
        assert!(p.iter().all(|a| !a.action.mutates()), "{p:?}");
    }

    #[test]
    fn policy_budget_cooldown_no_repeat_and_dry_run() {
        let live = Policy {
            mode: Mode::Live,
            budget: Budget::default(),
        };
        let update = Action::UpdateEnvironment {
            variables: vec![CLIENT_SECRET_VAR],
        };
        let now = 1_796_353_920_000;
        assert_eq!(
            live.decide(&update, &History::default(), now),
            Decision::Run
        );

        let dry = Policy {
            mode: Mode::DryRun,
            ..live
        };
        assert_eq!(
            dry.decide(&update, &History::default(), now),
            Decision::RecordOnly
        );
        assert_eq!(
            dry.decide(&Action::ProbeNetwork, &History::default(), now),
            Decision::Run
        );

        let refused = |h: History| matches!(live.decide(&update, &h, now), Decision::Refuse { .. });
        assert!(refused(History {
            deploys_this_incident: 2,
            ..History::default()
        }));
        assert!(refused(History {
            deploys_today: 3,
            ..History::default()
        }));
        assert!(refused(History {
            last_deploy_ms: Some(now - 9 * 60_000),
            ..History::default()
        }));
        assert!(!refused(History {
            last_deploy_ms: Some(now - 11 * 60_000),
            deploys_this_incident: 1,
            deploys_today: 2,
            ..History::default()
        }));
        assert!(refused(History {
            failed_actions: vec![update.key()],
            ..History::default()
        }));

        // The budget rations deploys only: purging stale sessions is not a deploy.
        let spent = History {
            deploys_this_incident: 9,
            deploys_today: 9,
            last_deploy_ms: Some(now),
            ..History::default()
        };
        assert_eq!(
            live.decide(&Action::PurgeStaleSessions, &spent, now),
            Decision::Run
        );

        let no_cooldown = Policy {
            budget: Budget {
                cooldown: Duration::ZERO,
                ..Budget::default()
            },
            ..live
        };
        assert_eq!(
            no_cooldown.decide(
                &update,
                &History {
                    last_deploy_ms: Some(now),
                    ..History::default()
                },
                now
            ),
            Decision::Run
        );
    }
}

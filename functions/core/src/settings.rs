//! The remediator's configuration, read once at cold start from environment variables.
//!
//! Parsing is pure (it takes a lookup function), so every rule is tested without touching the
//! process environment. A missing or malformed value fails fast with its variable's name.

use std::fmt;
use std::time::Duration;

/// The production BankID issuer; `BANKID_ISSUER` overrides it (for the test realm, or a stand-in).
pub const DEFAULT_BANKID_ISSUER: &str = "https://auth.bankid.no/auth/realms/prod";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Act.
    Live,
    /// Plan and record every action, call nothing that mutates.
    DryRun,
}

/// Where BankID sessions and OAuth state live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStoreUrl {
    Redis(String),
    Postgres(String),
    Sqlite(String),
}

/// Where stale BankID state is found in the session store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    pub url: SessionStoreUrl,
    /// Redis: the SCAN pattern of BankID state keys (`SESSION_KEY_PATTERN`, default `bankid:state:*`).
    pub key_pattern: String,
    /// PostgreSQL and SQLite: the table and its expiry column (`SESSION_TABLE`, default
    /// `sessions`; `SESSION_EXPIRES_COLUMN`, default `expires_at`).
    pub table: String,
    pub expires_column: String,
    /// OAuth state older than this is stale (`STATE_TTL_SECONDS`, default 600: the runbook's 10 minutes).
    pub state_ttl: Duration,
}

/// Limits on App Runner changes (the runbook's fixes are deploys: they are rationed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub updates_per_incident: u32,
    pub updates_per_day: u32,
    pub cooldown: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            updates_per_incident: 2,
            updates_per_day: 3,
            cooldown: Duration::from_secs(10 * 60),
        }
    }
}

/// Where pages go and how the follow-up escalates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationSettings {
    /// SNS topics (`PAGER_TOPIC_ARN`, `TEAM_TOPIC_ARN`, `COMMS_TOPIC_ARN`); team and comms fall
    /// back to the pager topic.
    pub pager_topic_arn: Option<String>,
    pub team_topic_arn: Option<String>,
    pub comms_topic_arn: Option<String>,
    /// The function named in the commands pages suggest (`ESCALATE_FUNCTION_NAME`).
    pub escalate_function: String,
    /// An unacknowledged page repeats this often (`PAGE_REPEAT_MINUTES`, default 10).
    pub page_repeat: Duration,
    /// Healthy ticks in a row before an incident resolves (`HEALTHY_TICKS_TO_RESOLVE`, default 3).
    pub healthy_ticks_to_resolve: u32,
    /// BankID healthy this long returns the service from demo mode (`FALLBACK_REVERT_MINUTES`, default 10).
    pub fallback_revert_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub apprunner_service_arn: String,
    pub bankid_secret_id: String,
    pub expected_callback_url: String,
    pub app_base_url: String,
    pub bankid_issuer: String,
    pub sessions: SessionSettings,
    pub app_log_group: String,
    pub state_table: String,
    pub mode: Mode,
    pub budget: Budget,
    pub escalation: EscalationSettings,
}

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(name: &'static str, problem: impl fmt::Display) -> Self {
        ConfigError {
            name,
            problem: problem.to_string(),
        }
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Result<String, ConfigError> {
            match lookup(name) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                Some(_) => Err(ConfigError::new(name, "is empty")),
                None => Err(ConfigError::new(name, "is not set")),
            }
        };
        let optional = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());

        let apprunner_service_arn = get("APPRUNNER_SERVICE_ARN")?;
        if !is_apprunner_service_arn(&apprunner_service_arn) {
            return Err(ConfigError::new(
                "APPRUNNER_SERVICE_ARN",
                "is not an App Runner service ARN (arn:aws:apprunner:<region>:<account>:service/<name>/<id>)",
            ));
        }
        let expected_callback_url =
            https_url("EXPECTED_CALLBACK_URL", get("EXPECTED_CALLBACK_URL")?)?;
        let app_base_url = http_url("APP_BASE_URL", get("APP_BASE_URL")?)?;
        let bankid_issuer = match optional("BANKID_ISSUER") {
            Some(v) => http_url("BANKID_ISSUER", v)?,
            None => DEFAULT_BANKID_ISSUER.to_owned(),
        };
        let sessions = SessionSettings {
            url: session_store(get("SESSION_STORE_URL")?)?,
            key_pattern: optional("SESSION_KEY_PATTERN").unwrap_or_else(|| "bankid:state:*".into()),
            table: identifier("SESSION_TABLE", optional("SESSION_TABLE"), "sessions")?,
            expires_column: identifier(
                "SESSION_EXPIRES_COLUMN",
                optional("SESSION_EXPIRES_COLUMN"),
                "expires_at",
            )?,
            state_ttl: Duration::from_secs(u64::from(number(
                "STATE_TTL_SECONDS",
                optional("STATE_TTL_SECONDS"),
                600,
            )?)),
        };
        let mode = match optional("REMEDIATOR_MODE").as_deref().map(str::trim) {
            None | Some("live") => Mode::Live,
            Some("dry_run") => Mode::DryRun,
            Some(_) => {
                return Err(ConfigError::new(
                    "REMEDIATOR_MODE",
                    "must be live or dry_run",
                ))
            }
        };
        let defaults = Budget::default();
        let budget = Budget {
            updates_per_incident: number(
                "MAX_UPDATES_PER_INCIDENT",
                optional("MAX_UPDATES_PER_INCIDENT"),
                defaults.updates_per_incident,
            )?,
            updates_per_day: number(
                "MAX_UPDATES_PER_DAY",
                optional("MAX_UPDATES_PER_DAY"),
                defaults.updates_per_day,
            )?,
            cooldown: Duration::from_secs(
                60 * u64::from(number(
                    "UPDATE_COOLDOWN_MINUTES",
                    optional("UPDATE_COOLDOWN_MINUTES"),
                    10,
                )?),
            ),
        };
        let topic = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match optional(name) {
                Some(arn) if arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns") => {
                    Ok(Some(arn.trim().to_owned()))
                }
                Some(_) => Err(ConfigError::new(
                    name,
                    "is not an SNS topic ARN (arn:aws:sns:…)",
                )),
                None => Ok(None),
            }
        };
        let escalation = EscalationSettings {
            pager_topic_arn: topic("PAGER_TOPIC_ARN")?,
            team_topic_arn: topic("TEAM_TOPIC_ARN")?,
            comms_topic_arn: topic("COMMS_TOPIC_ARN")?,
            escalate_function: optional("ESCALATE_FUNCTION_NAME")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| "bankid-remediator-escalate".into()),
            page_repeat: Duration::from_secs(
                60 * u64::from(number(
                    "PAGE_REPEAT_MINUTES",
                    optional("PAGE_REPEAT_MINUTES"),
                    10,
                )?),
            ),
            healthy_ticks_to_resolve: number(
                "HEALTHY_TICKS_TO_RESOLVE",
                optional("HEALTHY_TICKS_TO_RESOLVE"),
                3,
            )?
            .max(1),
            fallback_revert_after: Duration::from_secs(
                60 * u64::from(number(
                    "FALLBACK_REVERT_MINUTES",
                    optional("FALLBACK_REVERT_MINUTES"),
                    10,
                )?),
            ),
        };
        Ok(Settings {
            apprunner_service_arn,
            bankid_secret_id: get("BANKID_SECRET_ID")?,
            expected_callback_url,
            app_base_url,
            bankid_issuer,
            sessions,
            app_log_group: get("APP_LOG_GROUP")?,
            state_table: get("STATE_TABLE")?,
            mode,
            budget,
            escalation,
        })
    }
}

/// What the synthetic login check needs, and nothing else (the canary has no other access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTargets {
    pub bankid_issuer: String,
    pub app_base_url: String,
    pub expected_callback_url: String,
}

impl ProbeTargets {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Result<String, ConfigError> {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::new(name, "is not set"))
        };
        Ok(ProbeTargets {
            bankid_issuer: match lookup("BANKID_ISSUER").filter(|v| !v.trim().is_empty()) {
                Some(v) => http_url("BANKID_ISSUER", v.trim().to_owned())?,
                None => DEFAULT_BANKID_ISSUER.to_owned(),
            },
            app_base_url: http_url("APP_BASE_URL", get("APP_BASE_URL")?)?,
            expected_callback_url: https_url(
                "EXPECTED_CALLBACK_URL",
                get("EXPECTED_CALLBACK_URL")?,
            )?,
        })
    }
}

fn is_apprunner_service_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "apprunner"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("service/")
            .is_some_and(|rest| rest.split('/').filter(|s| !s.is_empty()).count() == 2)
}

fn http_url(name: &'static str, value: String) -> Result<String, ConfigError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(ConfigError::new(
            name,
            "must be an http(s):// URL with a host",
        )),
    }
}

fn https_url(name: &'static str, value: String) -> Result<String, ConfigError> {
    if value.starts_with("https://") {
        http_url(name, value)
    } else {
        Err(ConfigError::new(
            name,
            "must be an https:// URL (BankID redirects only there)",
        ))
    }
}

fn session_store(value: String) -> Result<SessionStoreUrl, ConfigError> {
    let name = "SESSION_STORE_URL";
    if value.starts_with("redis://") || value.starts_with("rediss://") {
        Ok(SessionStoreUrl::Redis(value))
    } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        Ok(SessionStoreUrl::Postgres(value))
    } else if let Some(path) = value.strip_prefix("sqlite://") {
        if path.is_empty() {
            Err(ConfigError::new(name, "sqlite:// needs a file path"))
        } else {
            Ok(SessionStoreUrl::Sqlite(path.to_owned()))
        }
    } else {
        Err(ConfigError::new(
            name,
            "must start with redis://, rediss://, postgres://, postgresql:// or sqlite://",
        ))
    }
}

/// A table or column name, spliced into SQL: letters, digits and underscores only.
fn identifier(
    name: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    let valid = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && value.len() <= 63;
    if valid {
        Ok(value)
    } else {
        Err(ConfigError::new(
            name,
            "must be a plain SQL identifier (letters, digits, _)",
        ))
    }
}

fn number(name: &'static str, value: Option<String>, default: u32) -> Result<u32, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| ConfigError::new(name, "must be a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                "APPRUNNER_SERVICE_ARN",
                "arn:aws:apprunner:eu-west-1:123456789012:service/drop-production/8f3c2a1b9d7e4f60"
                    .to_owned(),
            ),
            ("BANKID_SECRET_ID", "bankid/oauth".to_owned()),
            (
                "EXPECTED_CALLBACK_URL",
                "https://getdrop.no/api/auth/bankid/callback".to_owned(),
            ),
            ("APP_BASE_URL", "https://getdrop.no/".to_owned()),
            ("SESSION_STORE_URL", "redis://127.0.0.1:6379/0".to_owned()),
            (
                "APP_LOG_GROUP",
                "/aws/apprunner/drop-production/8f3c/application".to_owned(),
            ),
            ("STATE_TABLE", "bankid-remediator".to_owned()),
        ])
    }

    fn parse(env: &HashMap<&'static str, String>) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn defaults_fill_what_is_optional() {
        let s = parse(&base()).unwrap();
        assert_eq!(s.bankid_issuer, DEFAULT_BANKID_ISSUER);
        assert_eq!(s.mode, Mode::Live);
        assert_eq!(s.budget, Budget::default());
        assert_eq!(s.app_base_url, "https://getdrop.no");
        assert!(matches!(s.sessions.url, SessionStoreUrl::Redis(_)));
        assert_eq!(s.sessions.key_pattern, "bankid:state:*");
        assert_eq!(
            (
                s.sessions.table.as_str(),
                s.sessions.expires_column.as_str()
            ),
            ("sessions", "expires_at")
        );
        assert_eq!(s.sessions.state_ttl, Duration::from_secs(600));
    }

    #[test]
    fn every_required_variable_is_named_when_missing() {
        for name in [
            "APPRUNNER_SERVICE_ARN",
            "BANKID_SECRET_ID",
            "EXPECTED_CALLBACK_URL",
            "APP_BASE_URL",
            "SESSION_STORE_URL",
            "APP_LOG_GROUP",
            "STATE_TABLE",
        ] {
            let mut env = base();
            env.remove(name);
            let e = parse(&env).unwrap_err();
            assert_eq!((e.name, e.problem.as_str()), (name, "is not set"));
            env.insert(name, "  ".into());
            assert_eq!(parse(&env).unwrap_err().problem, "is empty");
        }
    }

    #[test]
    fn malformed_values_are_refused_by_name() {
        for (name, value) in [
            (
                "APPRUNNER_SERVICE_ARN",
                "arn:aws:lambda:eu-west-1:123456789012:function:x",
            ),
            ("APPRUNNER_SERVICE_ARN", "drop-production"),
            (
                "EXPECTED_CALLBACK_URL",
                "http://getdrop.no/api/auth/bankid/callback",
            ),
            ("APP_BASE_URL", "getdrop.no"),
            ("BANKID_ISSUER", "auth.bankid.no"),
            ("SESSION_STORE_URL", "memcached://x"),
            ("SESSION_STORE_URL", "sqlite://"),
            ("REMEDIATOR_MODE", "yolo"),
            ("MAX_UPDATES_PER_DAY", "three"),
            ("UPDATE_COOLDOWN_MINUTES", "-1"),
            ("SESSION_TABLE", "sessions; DROP TABLE users"),
            ("SESSION_EXPIRES_COLUMN", "1col"),
            ("STATE_TTL_SECONDS", "ten minutes"),
        ] {
            let mut env = base();
            env.insert(name, value.into());
            let e = parse(&env).unwrap_err();
            assert_eq!(e.name, name, "{value}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("configuration: {name} ")));
        }
    }

    #[test]
    fn every_store_scheme_and_mode_parses() {
        let mut env = base();
        env.insert("SESSION_STORE_URL", "sqlite:///tmp/sessions.db".into());
        env.insert("REMEDIATOR_MODE", "dry_run".into());
        env.insert("UPDATE_COOLDOWN_MINUTES", "0".into());
        let s = parse(&env).unwrap();
        assert_eq!(
            s.sessions.url,
            SessionStoreUrl::Sqlite("/tmp/sessions.db".into())
        );
        assert_eq!(s.mode, Mode::DryRun);
        assert_eq!(s.budget.cooldown, Duration::ZERO);
        env.insert(
            "SESSION_STORE_URL",
            "postgresql://127.0.0.1:5432/test".into(),
        );
        assert!(matches!(
            parse(&env).unwrap().sessions.url,
            SessionStoreUrl::Postgres(_)
        ));
    }
}

//! The canary Lambda: the runbook's synthetic BankID login test, every 5 minutes.
//!
//! Discovery, JWKS and the app's initiate redirect ([`remediator_adapters::probes::Probes`]).
//! Each run prints one Embedded Metric Format line, `BankIdLoginHealthy` 1 or 0 (an alarm on
//! it pages), and on failure one log line worded so the classifier recognises the cause when the
//! line reaches triage through a subscription.

use lambda_runtime::LambdaEvent;
use remediator_adapters::probes::{ProbeResult, Probes};
use remediator_core::metrics::NAMESPACE;
use remediator_core::settings::{ConfigError, ProbeTargets};
use serde::Serialize;
use serde_json::{json, Value};

/// The metric an alarm watches: 1 healthy, 0 failing.
pub const METRIC: &str = "BankIdLoginHealthy";

#[derive(Debug, Serialize)]
pub struct CanaryResult {
    pub healthy: bool,
    pub results: Vec<ProbeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

pub struct Canary {
    function_name: String,
    probes: Result<Probes, String>,
}

impl Canary {
    pub fn from_env() -> Result<Self, ConfigError> {
        let targets = ProbeTargets::from_lookup(|name| std::env::var(name).ok())?;
        let function_name =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "canary".to_owned());
        Ok(Canary::new(function_name, &targets))
    }

    pub fn new(function_name: impl Into<String>, targets: &ProbeTargets) -> Self {
        Canary {
            function_name: function_name.into(),
            probes: Probes::new(
                &targets.bankid_issuer,
                &targets.app_base_url,
                &targets.expected_callback_url,
            ),
        }
    }

    /// Runs the login check; never fails: a failing check is the result.
    pub async fn check(&self) -> CanaryResult {
        let results = match &self.probes {
            Ok(probes) => probes.login_check().await,
            Err(error) => vec![ProbeResult {
                name: "discovery",
                ok: false,
                detail: error.clone(),
                millis: 0,
            }],
        };
        let healthy = results.len() == 3 && results.iter().all(|r| r.ok);
        let failure = failure_line(&results);
        CanaryResult {
            healthy,
            results,
            failure,
        }
    }

    pub async fn handle(
        &self,
        _event: LambdaEvent<Value>,
    ) -> Result<CanaryResult, std::convert::Infallible> {
        let result = self.check().await;
        println!("{}", emf(&self.function_name, result.healthy, now_ms()));
        match &result.failure {
            Some(line) => tracing::error!(healthy = false, "{line}"),
            None => tracing::info!(healthy = true, "BankID canary: login check passed"),
        }
        Ok(result)
    }
}

/// The log line for a failed check, worded after the runbook's own strings so that triage
/// classifies it: BankID answering with an error is an outage, not reaching it is the network,
/// a wrong redirect is a callback mismatch, anything else on the app's side is unknown.
pub fn failure_line(results: &[ProbeResult]) -> Option<String> {
    let failed = results.iter().find(|r| !r.ok)?;
    let reached = !(failed.detail.contains("could not connect")
        || failed.detail.contains("timed out")
        || failed.detail.contains("no answer"));
    let tail = match failed.name {
        "discovery" | "jwks" if reached => "Authentication service unavailable",
        "discovery" | "jwks" => "Connection timeout",
        _ if failed.detail.contains("redirect_uri") => "redirect_uri_mismatch",
        _ => "the app did not redirect to BankID",
    };
    Some(format!(
        "BankID canary: login check failed at {}: {} ({tail})",
        failed.name, failed.detail
    ))
}

/// One EMF line: `BankIdLoginHealthy` by function.
pub fn emf(function: &str, healthy: bool, timestamp_ms: i64) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": METRIC, "Unit": "Count"}],
            }],
        },
        "Function": function,
        METRIC: u8::from(healthy),
    })
    .to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use remediator_core::diagnosis::diagnose_lines;

    fn failing(name: &'static str, detail: &str) -> Vec<ProbeResult> {
        vec![ProbeResult {
            name,
            ok: false,
            detail: detail.into(),
            millis: 3,
        }]
    }

    #[test]
    fn failure_lines_classify_as_the_cause_they_describe() {
        for (results, cause) in [
            (
                failing("discovery", "https://auth.bankid.no/auth/realms/prod/.well-known/openid-configuration answered 503 Service Unavailable"),
                "bankid_outage",
            ),
            (
                failing("discovery", "https://auth.bankid.no/auth/realms/prod/.well-known/openid-configuration: could not connect"),
                "network",
            ),
            (
                failing("initiate", "the redirect_uri is not the expected callback"),
                "callback_mismatch",
            ),
            (
                failing("initiate", "the app answered 500 Internal Server Error instead of a redirect"),
                "unknown",
            ),
        ] {
            let line = failure_line(&results).unwrap();
            // An outage needs a small cluster of lines, as a real run of failing checks gives.
            let d = diagnose_lines([line.as_str(), line.as_str(), line.as_str()]);
            assert_eq!(d.cause.map(|c| c.id()), Some(cause), "{line}");
        }
        assert_eq!(failure_line(&[]), None);
    }

    #[test]
    fn the_metric_line_declares_its_value() {
        let v: Value = serde_json::from_str(&emf("canary", false, 5)).unwrap();
        assert_eq!(v[METRIC], 0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            METRIC
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "BankIdRemediator"
        );
    }
}

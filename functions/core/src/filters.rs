//! CloudWatch Logs filter patterns, from the same cause table the classifier uses: the
//! subscription filter that sends BankID lines to triage, one metric filter per cause (whose
//! alarms invoke triage), and the runbook's "OAuth callback failures" metric.
//!
//! CloudWatch terms are case-sensitive substrings, so each term is spelled as apps log it. A
//! metric filter only counts: the classifier still decides what a line means. A test over the
//! labelled corpus keeps them agreeing (a cause's term never appears in a line of another cause),
//! and a test over `infra/template.yaml` keeps the template using exactly these patterns.

use crate::cause::Cause;

/// Terms at least one of which every BankID failure line contains: the subscription filter and
/// the FilterLogEvents read. Broad on purpose: narrowing is the classifier's job.
pub const SUBSCRIPTION_TERMS: &[&str] = &[
    "bankid",
    "BankID",
    "BANKID",
    "Bankid",
    "OPError",
    "RPError",
    "next-auth",
    "[auth]",
    "oauth",
    "OAuth",
    "OAUTH",
    "invalid_client",
    "unauthorized_client",
    "invalid_grant",
    "redirect_uri",
    "checks.state",
    "Invalid state parameter",
    "Authentication service unavailable",
    "rate_limit_exceeded",
    "temporarily_unavailable",
];

/// Lines a metric filter counts for each cause. `unknown` has none: no term can name what no
/// rule recognises.
pub fn metric_terms(cause: Cause) -> &'static [&'static str] {
    match cause {
        Cause::BankidOutage => &[
            "Authentication service unavailable",
            "temporarily_unavailable",
            "503 Service Unavailable",
            "502 Bad Gateway",
            "504 Gateway Timeout",
        ],
        Cause::InvalidCredentials => &[
            "invalid_client",
            "unauthorized_client",
            "Invalid client credentials",
        ],
        Cause::CallbackMismatch => &[
            "redirect_uri_mismatch",
            "invalid_redirect_uri",
            "Invalid parameter: redirect_uri",
        ],
        Cause::InvalidState => &[
            "invalid_state",
            "Invalid state parameter",
            "checks.state",
            "state mismatch",
        ],
        Cause::RateLimited => &["rate_limit_exceeded", "Too Many Requests", "slow_down"],
        Cause::Network => &[
            "ETIMEDOUT",
            "ENOTFOUND",
            "Connection timeout",
            "BankID API timeout",
        ],
        Cause::Unknown => &[],
    }
}

/// The runbook's "OAuth callback failures": any failure logged at the BankID callback.
pub const CALLBACK_FAILURE_TERMS: &[&str] = &[
    "oauth_callback_error",
    "OAUTH_CALLBACK_ERROR",
    "CallbackRouteError",
    "callback failed",
];

/// The runbook's alarm: more than this many callback failures in a minute.
pub const CALLBACK_FAILURES_PER_MINUTE: u32 = 5;

/// The metric namespace of the app's log-derived metrics (the functions' own EMF metrics live
/// in [`crate::metrics::NAMESPACE`]).
pub const APP_METRICS_NAMESPACE: &str = "BankIdRemediator/App";

/// A CloudWatch Logs pattern matching a line with any of `terms`.
pub fn any_of(terms: &[&str]) -> String {
    terms
        .iter()
        .map(|t| format!("?\"{t}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn subscription_pattern() -> String {
    any_of(SUBSCRIPTION_TERMS)
}

/// The metric filter pattern of a cause, if it has one.
pub fn metric_pattern(cause: Cause) -> Option<String> {
    let terms = metric_terms(cause);
    (!terms.is_empty()).then(|| any_of(terms))
}

pub fn callback_failures_pattern() -> String {
    any_of(CALLBACK_FAILURE_TERMS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::diagnose_lines;

    #[test]
    fn patterns_are_valid_cloudwatch_or_terms_within_the_length_limit() {
        let mut patterns = vec![subscription_pattern(), callback_failures_pattern()];
        patterns.extend(Cause::ALL.into_iter().filter_map(metric_pattern));
        for p in patterns {
            assert!(p.len() <= 1024, "{p}");
            for term in p.split(" ?") {
                let term = term.trim_start_matches('?');
                assert!(term.starts_with('"') && term.ends_with('"'), "{term}");
                assert!(!term[1..term.len() - 1].contains('"'), "{term}");
            }
        }
    }

    #[test]
    fn every_metric_term_alone_in_a_bankid_line_is_its_cause() {
        for cause in Cause::ALL {
            for term in metric_terms(cause) {
                let line = format!("BankID login failed: {term}");
                let lines = [line.as_str(); 5];
                assert_eq!(diagnose_lines(lines).cause, Some(cause), "{line}");
            }
        }
    }
}

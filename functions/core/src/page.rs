//! What people are told: pages to the pager, team and comms topics, and drafted status messages.
//!
//! Every page has a short `sms` text (at most [`SMS_LIMIT`] characters: cause, service, minutes,
//! incident id) and a full body: cause, redacted evidence, what was done and its outcome, and the
//! exact command to run next. Texts are built only from the incident's verdicts, ids and
//! redacted evidence, so no secret can reach them; the approval token is the one exception, sent
//! only in the approval request to the pager topic.

use crate::cause::Cause;
use crate::clock::{time_of_day, utc};
use crate::incident::{cause_id, Incident, OwedPage};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// SMS messages longer than this are split or cut by carriers.
pub const SMS_LIMIT: usize = 140;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// The on-call approver: SMS and chat.
    Pager,
    /// The whole team, for a call.
    Team,
    /// Public communication drafts.
    Comms,
}

/// Names used in the commands a page tells people to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageContext {
    /// The function that takes manual actions (`ack`, `approve_fallback`, …).
    pub escalate_function: String,
}

impl PageContext {
    /// The exact `aws lambda invoke` line for a manual action; fields keep the order given.
    pub fn command(&self, fields: &[(&str, &str)]) -> String {
        let payload: Vec<String> = fields
            .iter()
            .map(|(name, value)| {
                format!(
                    "{}:{}",
                    serde_json::Value::from(*name),
                    serde_json::Value::from(*value)
                )
            })
            .collect();
        format!(
            "aws lambda invoke --function-name {} --cli-binary-format raw-in-base64-out --payload '{{{}}}' /dev/stdout",
            self.escalate_function,
            payload.join(",")
        )
    }
}

/// Cuts `text` to at most [`SMS_LIMIT`] characters, marking the cut.
pub fn sms(text: &str) -> String {
    if text.chars().count() <= SMS_LIMIT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(SMS_LIMIT - 1).collect();
    cut.push('…');
    cut
}

fn sms_line(incident: &Incident, what: &str, now_ms: i64) -> String {
    sms(&format!(
        "BankID {} on {}, {} min: {what}. {}",
        cause_id(incident.cause),
        incident.service_name(),
        incident.minutes_open(now_ms),
        incident.id
    ))
}

/// The part every page shares: what is failing, the evidence and what was done.
fn situation(incident: &Incident, now_ms: i64) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "BankID logins are failing on {}: {} (confidence {:.2}).",
        incident.service_name(),
        cause_id(incident.cause),
        incident.confidence
    );
    let _ = writeln!(body, "{}", incident.summary);
    let _ = writeln!(
        body,
        "Incident {}: {}, opened {} ({} min ago), {} signals.",
        incident.id,
        incident.status.id(),
        utc(incident.opened_ms),
        incident.minutes_open(now_ms),
        incident.signals
    );
    if let Some(by) = &incident.acked_by {
        let _ = writeln!(body, "Acknowledged by {by}.");
    }
    let _ = writeln!(body, "\nEvidence (redacted):");
    if incident.evidence.is_empty() {
        let _ = writeln!(body, "- none carried by the signals");
    }
    for line in &incident.evidence {
        let _ = writeln!(body, "- {line}");
    }
    let _ = writeln!(body, "\nWhat was done:");
    if incident.actions.is_empty() {
        let _ = writeln!(body, "- nothing yet");
    }
    for a in incident.actions.iter().rev().take(8).rev() {
        let _ = writeln!(
            body,
            "- {} {}: {} → {}{}",
            time_of_day(a.at_ms),
            a.action,
            a.decision,
            a.outcome,
            a.repeated()
        );
    }
    if let Some(op) = &incident.operation {
        let _ = writeln!(
            body,
            "- App Runner operation {} ({:?}) is in progress",
            op.id, op.purpose
        );
    }
    if let Some(draft) = incident.drafts.last() {
        let _ = writeln!(
            body,
            "\nDrafted for {} (review before posting):\nSubject: {}\n{}",
            draft.audience, draft.subject, draft.body
        );
    }
    body
}

fn next_steps(incident: &Incident, ctx: &PageContext) -> String {
    let mut body = String::from("\nNext:\n");
    if incident.acked_by.is_none() {
        let _ = writeln!(
            body,
            "Acknowledge (stops repeat pages; verification continues):\n  {}",
            ctx.command(&[
                ("action", "ack"),
                ("incident", &incident.id),
                ("by", "<your name>")
            ])
        );
    }
    let _ = writeln!(
        body,
        "Status:\n  {}",
        ctx.command(&[("action", "status"), ("incident", &incident.id)])
    );
    let _ = writeln!(
        body,
        "Resolve by hand once logins work:\n  {}",
        ctx.command(&[
            ("action", "resolve"),
            ("incident", &incident.id),
            ("by", "<your name>"),
            ("note", "<what fixed it>"),
        ])
    );
    if let Some(advice) = cause_advice(incident.cause) {
        let _ = writeln!(body, "Runbook: {advice}");
    }
    body
}

/// What the runbook asks a person to do for each cause, where the remediator cannot.
fn cause_advice(cause: Option<Cause>) -> Option<&'static str> {
    Some(match cause? {
        Cause::BankidOutage => "BankID itself is failing: nothing to change on our side. Check whether BankID works elsewhere (e.g. skatteetaten.no). Demo-mode fallback needs approval.",
        Cause::InvalidCredentials => "if the service already has the secret's credentials, the secret itself is wrong: get the right ones from the BankID portal (Vaultwarden item \"BankID OAuth\") and update the secret.",
        Cause::CallbackMismatch => "if the service sends the expected callback, the redirect URI registered in the BankID portal must be changed (approval may take 1-2 hours).",
        Cause::InvalidState => "if state failures recur after the purge, raise the session timeout to 15 minutes (src/lib/auth.ts).",
        Cause::RateLimited => "wait for the reset (about 60 s); if it persists, add backoff and contact BankID support (support@bankid.no).",
        Cause::Network => "check the VPC connector's security group egress and DNS towards BankID; the probe results are above.",
        Cause::Unknown => "read the evidence above and the app's logs; no rule recognised the failure.",
    })
}

fn page(
    topic: Topic,
    key: String,
    subject: String,
    sms: String,
    body: String,
    now_ms: i64,
) -> OwedPage {
    OwedPage {
        key,
        topic,
        // SNS subjects must be at most 100 characters.
        subject: subject.chars().take(100).collect(),
        sms,
        body,
        since_ms: now_ms,
    }
}

/// The immediate page a remediation plan asked for (the secret itself is wrong, the portal's
/// redirect URI, probe results, …): `reason` is the plan's reason.
pub fn plan_page(
    incident: &Incident,
    about: &str,
    reason: &str,
    ctx: &PageContext,
    now_ms: i64,
) -> OwedPage {
    let mut body = situation(incident, now_ms);
    let _ = writeln!(body, "\nWhy you are paged now: {reason}");
    body.push_str(&next_steps(incident, ctx));
    page(
        Topic::Pager,
        format!("plan:{about}"),
        format!(
            "BankID {} on {}: {}",
            cause_id(incident.cause),
            incident.service_name(),
            about.replace('_', " ")
        ),
        sms_line(incident, &about.replace('_', " "), now_ms),
        body,
        now_ms,
    )
}

/// The 5-minute rung, the 30-minute rung and repeats.
pub fn escalation_page(
    incident: &Incident,
    topic: Topic,
    key: String,
    ctx: &PageContext,
    now_ms: i64,
) -> OwedPage {
    let what = match topic {
        Topic::Team => "unresolved, team call now",
        _ if incident.status == crate::incident::Status::Open => "not resolved",
        _ => "being fixed, not yet verified",
    };
    let mut body = situation(incident, now_ms);
    if topic == Topic::Team {
        let _ = writeln!(
            body,
            "\nLogins have been failing for {} minutes: the runbook calls for a team call now.",
            incident.minutes_open(now_ms)
        );
    }
    body.push_str(&next_steps(incident, ctx));
    page(
        topic,
        key,
        format!(
            "BankID {} on {}: {what}",
            cause_id(incident.cause),
            incident.service_name()
        ),
        sms_line(incident, what, now_ms),
        body,
        now_ms,
    )
}

/// The 15-minute rung: asks for approval of the demo-mode fallback, with the token.
pub fn approval_request(
    incident: &Incident,
    token: &str,
    ctx: &PageContext,
    now_ms: i64,
) -> OwedPage {
    let mut body = situation(incident, now_ms);
    let _ = writeln!(
        body,
        "\nBankID's outage is confirmed by the probes. The runbook's emergency workaround is demo mode (NEXT_PUBLIC_SERVICE_MODE=demo), which may bypass KYC checks: it needs your approval and is never switched on automatically. Once BankID is healthy again the service returns to live mode by itself."
    );
    let _ = writeln!(
        body,
        "\nApprove (single use, valid for 30 minutes):\n  {}",
        ctx.command(&[
            ("action", "approve_fallback"),
            ("incident", &incident.id),
            ("token", token),
            ("by", "<your name>"),
        ])
    );
    body.push_str(&next_steps(incident, ctx));
    page(
        Topic::Pager,
        "approval".into(),
        format!(
            "Approve demo-mode fallback for {}?",
            incident.service_name()
        ),
        sms_line(incident, "approve demo fallback? see chat", now_ms),
        body,
        now_ms,
    )
}

/// Tells the pager what became of an App Runner change the follow-up made (the fallback, its
/// revert, a failed fix): `headline` goes into the subject and SMS, `detail` into the body.
pub fn operation_notice(
    incident: &Incident,
    headline: &str,
    detail: &str,
    ctx: &PageContext,
    now_ms: i64,
) -> OwedPage {
    let mut body = situation(incident, now_ms);
    let _ = writeln!(body, "\n{headline}: {detail}");
    body.push_str(&next_steps(incident, ctx));
    page(
        Topic::Pager,
        format!("operation:{now_ms}"),
        format!("{}: {headline}", incident.service_name()),
        sms_line(incident, headline, now_ms),
        body,
        now_ms,
    )
}

/// The resolution notice, carrying the report.
pub fn resolution_page(incident: &Incident, report: &str, now_ms: i64) -> OwedPage {
    page(
        Topic::Pager,
        "resolved".into(),
        format!(
            "Resolved: BankID {} on {}",
            cause_id(incident.cause),
            incident.service_name()
        ),
        sms_line(incident, "resolved, report sent", now_ms),
        report.to_owned(),
        now_ms,
    )
}

/// The 1-hour rung: the public communication draft, for the comms topic.
pub fn public_communication(incident: &Incident, now_ms: i64) -> OwedPage {
    let draft = status_draft(incident, "public", now_ms);
    let body = format!(
        "Draft for e-mail and social media (review before sending):\n\nSubject: {}\n\n{}\n\nUpdate every 30 minutes until resolved.",
        draft.subject, draft.body
    );
    page(
        Topic::Comms,
        "public_communication".into(),
        format!("Draft: {}", draft.subject),
        sms_line(incident, "public message drafted", now_ms),
        body,
        now_ms,
    )
}

/// Minutes the runbook expects recovery to take for a cause, when it says.
pub fn eta_minutes(cause: Option<Cause>) -> Option<u32> {
    Some(match cause? {
        Cause::BankidOutage => 120,
        Cause::InvalidCredentials => 10,
        Cause::CallbackMismatch => 15,
        Cause::InvalidState => 5,
        Cause::RateLimited => 5,
        Cause::Network => 60,
        Cause::Unknown => return None,
    })
}

/// A status message for users, from the runbook's templates, with an ETA.
pub fn status_draft(incident: &Incident, audience: &str, now_ms: i64) -> crate::incident::Draft {
    let eta = match eta_minutes(incident.cause) {
        Some(m) => format!("{m} minutes"),
        None => "as soon as possible".into(),
    };
    let (subject, body) = match (&incident.fallback, incident.cause) {
        (crate::incident::Fallback::Active { .. }, _) => (
            "Temporary login method available".to_owned(),
            "Due to a BankID outage, we've enabled demo login. Use email/password to access your account. BankID will be restored as soon as possible.".to_owned(),
        ),
        (_, Some(Cause::BankidOutage)) => (
            "Login temporarily unavailable".to_owned(),
            format!("BankID authentication is experiencing issues. We're monitoring the situation and will restore service as soon as BankID is back online. Estimated: {eta}."),
        ),
        _ => (
            "Login temporarily unavailable".to_owned(),
            format!("Logging in with BankID is not working right now. We are fixing it and expect logins to work again within {eta}. Please try again later."),
        ),
    };
    crate::incident::Draft {
        at_ms: now_ms,
        audience: audience.to_owned(),
        subject,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::diagnose_lines;

    fn incident() -> Incident {
        let d = diagnose_lines([
            "BankID OAuth error: invalid_client client_secret=hunter2-very-secret",
        ]);
        let mut i = Incident::open(
            "inc-20261204-185100-a1b2".into(),
            "arn:aws:apprunner:eu-west-1:123456789012:service/drop-production-with-a-rather-long-service-name/8f3c".into(),
            &d,
            1_764_874_260_000,
        );
        i.fold("logs_subscription", &d, 1_764_874_260_000);
        i
    }

    #[test]
    fn sms_texts_fit_in_140_characters_and_name_cause_service_minutes_and_incident() {
        let i = incident();
        let ctx = PageContext {
            escalate_function: "bankid-remediator-escalate".into(),
        };
        let now = i.opened_ms + 65 * 60_000;
        let pages = [
            escalation_page(&i, Topic::Pager, "rung".into(), &ctx, now),
            escalation_page(&i, Topic::Team, "team".into(), &ctx, now),
            approval_request(&i, "0123456789abcdef0123456789abcdef", &ctx, now),
            public_communication(&i, now),
            plan_page(&i, "secret_itself_wrong", "why", &ctx, now),
        ];
        for p in &pages {
            assert!(p.sms.chars().count() <= SMS_LIMIT, "{}", p.sms);
            assert!(p.sms.contains("invalid_credentials"), "{}", p.sms);
            assert!(p.subject.chars().count() <= 100);
            assert!(!p.body.contains("hunter2"), "{}", p.body);
            assert!(!p.sms.contains("hunter2"));
        }
        assert!(pages[0].sms.contains("65 min"), "{}", pages[0].sms);
        let short = sms_line(&incident(), "not resolved", i.opened_ms + 5 * 60_000);
        assert!(short.ends_with("inc-20261204-185100-a1b2"), "{short}");
        assert!(pages[0].body.contains(
            r#"aws lambda invoke --function-name bankid-remediator-escalate --cli-binary-format raw-in-base64-out --payload '{"action":"ack","incident":"inc-20261204-185100-a1b2","by":"<your name>"}' /dev/stdout"#
        ), "{}", pages[0].body);
        // The token goes only into the approval request's body.
        assert!(pages[2].body.contains("0123456789abcdef0123456789abcdef"));
        assert!(!pages[2].sms.contains("0123456789abcdef"));
    }

    #[test]
    fn sms_cuts_on_a_character_boundary() {
        let long = "ø".repeat(200);
        let cut = sms(&long);
        assert_eq!(cut.chars().count(), SMS_LIMIT);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn status_drafts_follow_the_runbook_templates_with_an_eta() {
        let d = diagnose_lines(["BankID OAuth error: temporarily_unavailable"; 3]);
        let mut i = Incident::open("inc".into(), "arn".into(), &d, 0);
        let draft = status_draft(&i, "users", 0);
        assert_eq!(draft.subject, "Login temporarily unavailable");
        assert!(
            draft.body.contains("Estimated: 120 minutes"),
            "{}",
            draft.body
        );
        i.fallback = crate::incident::Fallback::Active {
            by: "alem".into(),
            since_ms: 0,
        };
        assert_eq!(
            status_draft(&i, "users", 0).subject,
            "Temporary login method available"
        );
    }
}

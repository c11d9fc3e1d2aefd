//! The incident report, in markdown: what the runbook's post-incident section asks for, written
//! from the incident record (so it holds nothing the record does not: no secret).

use crate::clock::utc;
use crate::incident::{cause_id, Incident};
use std::fmt::Write;

/// The runbook's recovery target.
pub const TARGET_MINUTES: i64 = 15;

fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Renders the report. `now_ms` stands in for the resolution time of an incident still open.
pub fn render(incident: &Incident, now_ms: i64) -> String {
    let mut md = String::new();
    let end = incident.resolved_ms.unwrap_or(now_ms);
    let start = incident
        .first_error_ms
        .map_or(incident.opened_ms, |f| f.min(incident.opened_ms));
    let _ = writeln!(
        md,
        "# Incident {}: BankID {} on {}\n",
        incident.id,
        cause_id(incident.cause),
        incident.service_name()
    );
    let _ = writeln!(md, "{}\n", incident.summary);
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let _ = writeln!(md, "| Status | {} |", incident.status.id());
    let _ = writeln!(md, "| Service | `{}` |", incident.service_arn);
    let _ = writeln!(
        md,
        "| Cause | `{}` (confidence {:.2}) |",
        cause_id(incident.cause),
        incident.confidence
    );
    if let Some(first) = incident.first_error_ms.filter(|f| *f <= incident.opened_ms) {
        let _ = writeln!(md, "| First failing login | {} |", utc(first));
    }
    let _ = writeln!(
        md,
        "| Detected (incident opened) | {} |",
        utc(incident.opened_ms)
    );
    if let Some(m) = incident.mitigated_ms {
        let _ = writeln!(md, "| Mitigated | {} |", utc(m));
    }
    match (incident.resolved_ms, &incident.resolved_by) {
        (Some(r), Some(by)) => {
            let _ = writeln!(md, "| Resolved | {} by {by} |", utc(r));
        }
        _ => {
            let _ = writeln!(md, "| Resolved | not yet (report as of {}) |", utc(now_ms));
        }
    }
    if let Some(by) = &incident.acked_by {
        let _ = writeln!(
            md,
            "| Acknowledged | {} by {by} |",
            incident.acked_ms.map(utc).unwrap_or_default()
        );
    }
    let _ = writeln!(md, "| Signals folded in | {} |", incident.signals);
    let _ = writeln!(
        md,
        "| Pages sent before this report | {} |",
        incident.pages_sent
    );

    let _ = writeln!(md, "\n## Time to detect, mitigate, recover\n");
    let _ = writeln!(
        md,
        "| | time | against the {TARGET_MINUTES}-minute target |\n| --- | --- | --- |"
    );
    let detect = incident.opened_ms - start;
    let _ = writeln!(md, "| Detect | {} | |", duration(detect));
    if let Some(m) = incident.mitigated_ms {
        let _ = writeln!(md, "| Mitigate | {} | |", duration(m - start));
    }
    let recover = end - start;
    let verdict = if recover <= TARGET_MINUTES * 60_000 {
        "met".to_owned()
    } else {
        format!("missed by {}", duration(recover - TARGET_MINUTES * 60_000))
    };
    let _ = writeln!(md, "| Recover | {} | {verdict} |", duration(recover));

    let _ = writeln!(md, "\n## Evidence (redacted)\n");
    if incident.evidence.is_empty() {
        let _ = writeln!(md, "None carried by the signals.");
    }
    for line in &incident.evidence {
        let _ = writeln!(md, "- `{}`", line.replace('`', "'"));
    }

    let _ = writeln!(md, "\n## Actions and outcomes\n");
    if incident.actions.is_empty() {
        let _ = writeln!(md, "None.");
    }
    for a in &incident.actions {
        let _ = writeln!(
            md,
            "- {} `{}`: {} → {}{}",
            utc(a.at_ms),
            a.action,
            a.decision,
            a.outcome,
            a.repeated()
        );
    }
    if !incident.drafts.is_empty() {
        let _ = writeln!(md, "\n## Drafted messages\n");
        for d in &incident.drafts {
            let _ = writeln!(
                md,
                "- {} ({}): **{}**: {}",
                utc(d.at_ms),
                d.audience,
                d.subject,
                d.body
            );
        }
    }

    let _ = writeln!(md, "\n## Timeline\n");
    for e in &incident.timeline {
        let _ = writeln!(
            md,
            "- {} [{}] {}",
            utc(e.at_ms),
            serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            e.text
        );
    }

    let _ = writeln!(md, "\n## Post-incident follow-ups (runbook)\n");
    let _ = writeln!(md, "- [ ] Root cause: what triggered the failure? Why was it not detected sooner? What prevented faster recovery?");
    let _ = writeln!(md, "- [ ] Monitoring: the synthetic BankID login check (every 5 minutes) and the OAuth callback failures > 5/min alarm are in place; did they fire first?");
    let _ = writeln!(md, "- [ ] Runbook: add the failure mode if it was new; improve the diagnosis steps that helped.");
    if recover > 30 * 60_000 {
        let _ = writeln!(md, "- [ ] Team debrief (outage over 30 minutes): review this timeline, identify improvements, update on-call procedures.");
    }
    if incident.cause == Some(crate::Cause::BankidOutage) {
        let _ = writeln!(
            md,
            "- [ ] Document the BankID outage's duration and user impact."
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::diagnose_lines;
    use crate::incident::ActionTaken;

    #[test]
    fn the_report_has_timings_against_the_target_evidence_actions_and_follow_ups() {
        let d = diagnose_lines([
            "2026-12-04T18:50:00.000Z BankID OAuth error: invalid_client code=abc123secret",
        ]);
        let mut i = Incident::open(
            "inc-1".into(),
            "arn:aws:apprunner:eu-west-1:1:service/drop-production/8f".into(),
            &d,
            1_764_874_260_000,
        );
        i.fold("logs_subscription", &d, i.opened_ms);
        i.record_action(
            ActionTaken {
                at_ms: i.opened_ms + 1_000,
                action: "update_environment BANKID_CLIENT_SECRET".into(),
                decision: "run".into(),
                outcome: "started operation op-1".into(),
                repeats: 0,
            },
            Some("op-1"),
            false,
        );
        i.operation_finished("SUCCEEDED", i.opened_ms + 4 * 60_000);
        i.resolve(
            "remediator",
            Some("healthy for 3 ticks"),
            i.opened_ms + 20 * 60_000,
        );
        let md = render(&i, 0);
        assert!(md.starts_with("# Incident inc-1: BankID invalid_credentials on drop-production"));
        assert!(md.contains("| Mitigate | 4 min 0 s |"), "{md}");
        assert!(
            md.contains("| Recover | 20 min 0 s | missed by 5 min 0 s |"),
            "{md}"
        );
        assert!(
            md.contains("update_environment BANKID_CLIENT_SECRET`: run → started operation op-1")
        );
        assert!(
            md.contains("[status] resolved: resolved by remediator: healthy for 3 ticks"),
            "{md}"
        );
        assert!(md.contains("Root cause"));
        assert!(!md.contains("abc123secret"), "{md}");
        assert!(!md.contains("Team debrief"));
    }
}

//! Incidents end to end on the local stack, with an injected clock: triage opens the incident,
//! escalate ticks minute by minute in milliseconds, pages arrive in an SQS queue subscribed to
//! the SNS topics in moto and are read back.

use local_stack::stack::{ReceivedPage, Stack, RIGHT_SECRET};
use remediator_core::page::SMS_LIMIT;
use remediator_core::settings::Mode;
use remediator_tests::lambdas;
use remediator_tests::scenario::{
    event, manual, open, stack, tick, token_from, MIN, OPERATION, T0, WRONG_SECRET,
};
use serde_json::json;
use std::sync::Arc;

fn assert_no_secret(what: &str, text: &str) {
    for secret in [RIGHT_SECRET, WRONG_SECRET] {
        assert!(!text.contains(secret), "{what} carries a secret: {text}");
    }
}

fn assert_pages_are_well_formed(pages: &[ReceivedPage]) {
    for p in pages {
        assert!(
            p.sms.chars().count() <= SMS_LIMIT,
            "SMS of {} chars: {}",
            p.sms.chars().count(),
            p.sms
        );
        assert!(!p.sms.is_empty() && !p.body.is_empty(), "{p:?}");
        assert_no_secret("a page", &format!("{} {} {}", p.subject, p.sms, p.body));
    }
}

#[tokio::test]
async fn wrong_credentials_are_fixed_verified_resolved_and_reported() {
    let stack = stack(WRONG_SECRET).await;
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let out = triage
        .triage(event("logs-invalid-credentials.json"), "req-1", T0)
        .await
        .unwrap();
    let incident = out.response.incident.clone().unwrap();
    assert_eq!(incident.status.id(), "mitigating");
    assert_no_secret(
        "the response",
        &serde_json::to_string(&out.response).unwrap(),
    );
    assert_eq!(stack.emulator.updates().len(), 1);

    // Redelivery folds into the same incident and changes nothing.
    let again = triage
        .triage(event("logs-invalid-credentials.json"), "req-2", T0 + 5_000)
        .await
        .unwrap();
    assert_eq!(again.response.incident.unwrap().id, incident.id);
    assert_eq!(stack.emulator.updates().len(), 1);

    tokio::time::sleep(OPERATION * 3).await;
    let first = tick(&escalate, 1).await;
    assert!(
        first.did.iter().any(|d| d.contains("finished: SUCCEEDED")),
        "{:?}",
        first.did
    );
    assert_eq!(first.incident.as_ref().unwrap().status.id(), "monitoring");
    tick(&escalate, 2).await;
    let resolved = tick(&escalate, 3).await;
    let view = resolved.incident.unwrap();
    assert_eq!(view.status.id(), "resolved", "{:?}", view.timeline);
    let report = resolved
        .report
        .expect("the report comes with the resolution");
    assert!(report.contains(&format!(
        "# Incident {}: BankID invalid_credentials on drop-production",
        incident.id
    )));
    assert!(report.contains("update_environment:BANKID_CLIENT_SECRET`: run → started operation"));
    // The first failing line in the recorded event is at 03:12:01.9; recovery counts from there.
    assert!(
        report.contains("| First failing login | 2026-12-04 03:12:01 UTC |"),
        "{report}"
    );
    assert!(report.contains("| Detect | 2 min 58 s | |"), "{report}");
    assert!(
        report.contains("| Recover | 5 min 58 s | met |"),
        "{report}"
    );
    assert!(report.contains("Post-incident follow-ups"));
    assert_no_secret("the report", &report);

    // Resolved before the 5-minute rung: the only page is the resolution with the report.
    let pages = stack.pages().await.unwrap();
    assert_pages_are_well_formed(&pages);
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0].topic, "pager");
    assert!(pages[0]
        .subject
        .starts_with("Resolved: BankID invalid_credentials"));
    assert_eq!(pages[0].body, report);
    // The next tick finds nothing to do.
    assert!(tick(&escalate, 4).await.incident.is_none());
    // The stored report is the one that was sent.
    let stored = manual(
        &escalate,
        json!({"action": "report", "incident": incident.id}),
        5,
    )
    .await
    .unwrap();
    assert_eq!(stored.report.unwrap(), report);
}

#[tokio::test]
async fn an_outage_pages_asks_for_approval_falls_back_and_reverts_by_itself() {
    let stack = stack(RIGHT_SECRET).await;
    let bankid = stack.bankid.clone().unwrap();
    bankid.set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let id = open(&triage, "logs-bankid-outage.json").await;

    let mut approval = None;
    for minute in 1..=15 {
        let answer = tick(&escalate, minute).await;
        if minute == 15 {
            approval = Some(answer);
        }
    }
    let approval = approval.unwrap();
    assert!(
        approval
            .did
            .contains(&"approval for the demo-mode fallback requested".to_owned()),
        "{:?}",
        approval.did
    );
    assert!(
        stack.emulator.updates().is_empty(),
        "an outage touches nothing"
    );
    let pages = stack.pages().await.unwrap();
    assert_pages_are_well_formed(&pages);
    let subjects: Vec<(&str, &str)> = pages
        .iter()
        .map(|p| (p.topic.as_str(), p.subject.as_str()))
        .collect();
    assert_eq!(
        subjects,
        vec![
            (
                "pager",
                "BankID bankid_outage on drop-production: bankid outage"
            ),
            (
                "pager",
                "BankID bankid_outage on drop-production: not resolved"
            ),
            ("pager", "Approve demo-mode fallback for drop-production?"),
            (
                "pager",
                "BankID bankid_outage on drop-production: not resolved"
            ),
        ]
    );
    let token = token_from(&pages[2].body);
    assert!(!pages[2].sms.contains(&token));

    // A wrong token is refused, and says so on the timeline.
    let wrong = manual(
        &escalate,
        json!({"action": "approve_fallback", "incident": id, "token": "0".repeat(32), "by": "mallory"}),
        16,
    )
    .await
    .unwrap_err();
    assert_eq!(
        wrong,
        "approval refused: the token is not the one sent for this incident"
    );
    let approved = manual(
        &escalate,
        json!({"action": "approve_fallback", "incident": id, "token": token, "by": "alem"}),
        16,
    )
    .await
    .unwrap();
    assert!(
        approved.did[1].starts_with("demo mode switched on"),
        "{:?}",
        approved.did
    );
    assert_eq!(stack.service_modes(), vec!["demo"]);
    let reused = manual(
        &escalate,
        json!({"action": "approve_fallback", "incident": id, "token": token, "by": "alem"}),
        16,
    )
    .await
    .unwrap_err();
    assert_eq!(
        reused,
        "approval refused: the token was already used or replaced"
    );

    tokio::time::sleep(OPERATION * 3).await;
    tick(&escalate, 17).await;
    bankid.set_up(true);
    let mut minute = 18;
    while stack.service_modes().len() < 2 {
        tick(&escalate, minute).await;
        minute += 1;
        assert!(minute < 40, "demo mode never reverted");
    }
    // Healthy from minute 18, reverted after the 10 minutes the runbook's default asks.
    assert_eq!(minute - 1, 28);
    assert_eq!(stack.service_modes(), vec!["demo", "live"]);
    tokio::time::sleep(OPERATION * 3).await;
    let mut last = tick(&escalate, minute).await;
    while last.incident.as_ref().unwrap().status.id() != "resolved" {
        minute += 1;
        assert!(minute < 45, "never resolved: {:?}", last.incident);
        last = tick(&escalate, minute).await;
    }
    let report = last.report.unwrap();
    for expected in [
        "set_service_mode:demo",
        "set_service_mode:live",
        "demo-mode fallback approved by alem",
        "approval by mallory refused: the token is not the one sent for this incident",
        "Document the BankID outage",
        "Team debrief",
    ] {
        assert!(
            report.contains(expected),
            "{expected} missing from:\n{report}"
        );
    }
    assert!(!report.contains(&token), "the token is in the report");
    let pages = stack.pages().await.unwrap();
    assert_pages_are_well_formed(&pages);
    let texts: Vec<String> = pages
        .iter()
        .map(|p| format!("{}|{}", p.topic, p.subject))
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("demo mode is on")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("back in live mode")),
        "{texts:?}"
    );
    // Approving answered the page: no repeats and no team call after it.
    assert!(
        !texts
            .iter()
            .any(|t| t.starts_with("team|") || t.ends_with("not resolved")),
        "{texts:?}"
    );
    assert!(report.contains("acknowledged by alem"), "{report}");
    for p in &pages {
        assert!(
            !p.body.contains(&token),
            "the token went out again: {}",
            p.subject
        );
    }
    // Nothing stored holds the token or a secret: scan the whole table.
    let items = stack
        .dynamodb_client()
        .scan()
        .table_name(local_stack::stack::TABLE)
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", items.items);
    assert!(!dump.contains(&token));
    assert_no_secret("the state table", &dump);
}

#[tokio::test]
async fn overlapping_ticks_fire_each_rung_once() {
    let stack = stack(RIGHT_SECRET).await;
    stack.bankid.as_ref().unwrap().set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    open(&triage, "logs-bankid-outage.json").await;
    stack.pages().await.unwrap();
    let escalate = Arc::new(escalate);
    let mut ticks = tokio::task::JoinSet::new();
    for n in 0..6 {
        let escalate = escalate.clone();
        ticks.spawn(async move {
            escalate
                .escalate(
                    json!({"action": "tick"}),
                    &format!("overlap-{n}"),
                    T0 + 5 * MIN + n,
                )
                .await
        });
    }
    let mut fired = 0;
    while let Some(result) = ticks.join_next().await {
        let answer = result.unwrap().expect("every overlapping tick completes");
        fired += answer
            .did
            .iter()
            .filter(|d| d.starts_with("rung page_pager"))
            .count();
    }
    assert_eq!(fired, 1);
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(pages[0].subject.ends_with("not resolved"));
}

#[tokio::test]
async fn an_ack_stops_paging_but_not_verification() {
    let stack = stack(RIGHT_SECRET).await;
    let bankid = stack.bankid.clone().unwrap();
    bankid.set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let id = open(&triage, "logs-bankid-outage.json").await;
    for minute in 1..=5 {
        tick(&escalate, minute).await;
    }
    assert_eq!(
        stack.pages().await.unwrap().len(),
        2,
        "plan page and the 5-minute rung"
    );
    let acked = manual(
        &escalate,
        json!({"action": "ack", "incident": id, "by": "john"}),
        6,
    )
    .await
    .unwrap();
    assert_eq!(acked.incident.unwrap().acked_by.as_deref(), Some("john"));
    for minute in 7..=14 {
        tick(&escalate, minute).await;
    }
    assert!(
        stack.pages().await.unwrap().is_empty(),
        "no repeat after the ack"
    );
    bankid.set_up(true);
    let mut minute = 15;
    let mut answer = tick(&escalate, minute).await;
    while answer.incident.as_ref().unwrap().status.id() != "resolved" {
        minute += 1;
        assert!(minute < 40);
        answer = tick(&escalate, minute).await;
    }
    // The approval request needs a confirmed outage still going: BankID came back first.
    let view = answer.incident.unwrap();
    assert!(
        view.rungs.contains(&"page_pager fired".to_owned()),
        "{:?}",
        view.rungs
    );
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "only the resolution: {pages:?}");
    assert!(pages[0].subject.starts_with("Resolved"));
}

#[tokio::test]
async fn approval_tokens_expire_and_manual_actions_name_what_is_wrong() {
    let stack = stack(RIGHT_SECRET).await;
    stack.bankid.as_ref().unwrap().set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let id = open(&triage, "logs-bankid-outage.json").await;
    for minute in [1, 15] {
        tick(&escalate, minute).await;
    }
    let pages = stack.pages().await.unwrap();
    let request = pages
        .iter()
        .find(|p| p.subject.starts_with("Approve demo-mode fallback"))
        .expect("the approval request was sent");
    let token = token_from(&request.body);
    let expired = manual(
        &escalate,
        json!({"action": "approve_fallback", "incident": id, "token": token, "by": "alem"}),
        46,
    )
    .await
    .unwrap_err();
    assert_eq!(
        expired,
        "approval refused: the token has expired (tokens last 30 minutes)"
    );
    let status = manual(&escalate, json!({"action": "status", "incident": id}), 46)
        .await
        .unwrap();
    let timeline = status.incident.unwrap().timeline.join("\n");
    assert!(
        timeline.contains("approval by alem refused: the token has expired"),
        "{timeline}"
    );
    assert!(stack.emulator.updates().is_empty());

    let unknown = manual(
        &escalate,
        json!({"action": "ack", "incident": "inc-20261204-000000-ffff", "by": "john"}),
        47,
    )
    .await
    .unwrap_err();
    assert_eq!(unknown, "no incident inc-20261204-000000-ffff");
    let not_on = manual(
        &escalate,
        json!({"action": "revert_fallback", "incident": id, "by": "john"}),
        47,
    )
    .await
    .unwrap_err();
    assert_eq!(not_on, "demo mode is not on");
    let misrouted = manual(&escalate, json!({"action": "classify", "lines": ["x"]}), 47)
        .await
        .unwrap_err();
    assert!(misrouted.contains("go to triage"), "{misrouted}");
    let resolved = manual(
        &escalate,
        json!({"action": "resolve", "incident": id, "by": "john", "note": "BankID confirmed recovery"}),
        48,
    )
    .await
    .unwrap();
    assert!(resolved
        .report
        .unwrap()
        .contains("resolved by john: BankID confirmed recovery"));
    let again = manual(
        &escalate,
        json!({"action": "ack", "incident": id, "by": "john"}),
        49,
    )
    .await
    .unwrap_err();
    assert_eq!(again, format!("incident {id} is resolved"));
}

#[tokio::test]
async fn demo_mode_blocks_a_manual_resolve_until_reverted_and_dry_run_never_applies_it() {
    // Live: approve, then a person returns to live mode by hand before resolving.
    let stack = stack(RIGHT_SECRET).await;
    stack.bankid.as_ref().unwrap().set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let id = open(&triage, "logs-bankid-outage.json").await;
    for minute in [1, 15] {
        tick(&escalate, minute).await;
    }
    let pages = stack.pages().await.unwrap();
    let request = pages
        .iter()
        .find(|p| p.subject.starts_with("Approve demo-mode fallback"))
        .unwrap();
    let token = token_from(&request.body);
    manual(
        &escalate,
        json!({"action": "approve_fallback", "incident": id, "token": token, "by": "alem"}),
        16,
    )
    .await
    .unwrap();
    let refused = manual(
        &escalate,
        json!({"action": "resolve", "incident": id, "by": "john"}),
        17,
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused,
        "demo mode is still on: revert_fallback first, then resolve"
    );
    tokio::time::sleep(OPERATION * 3).await;
    tick(&escalate, 18).await;
    let reverted = manual(
        &escalate,
        json!({"action": "revert_fallback", "incident": id, "by": "alem"}),
        19,
    )
    .await
    .unwrap();
    assert!(
        reverted.did[0].starts_with("live mode being restored"),
        "{:?}",
        reverted.did
    );
    assert_eq!(stack.service_modes(), vec!["demo", "live"]);
    tokio::time::sleep(OPERATION * 3).await;
    tick(&escalate, 20).await;
    manual(
        &escalate,
        json!({"action": "resolve", "incident": id, "by": "john"}),
        21,
    )
    .await
    .unwrap();

    // Dry run: the approval is recorded, nothing is sent to App Runner.
    let stack = stack_for_dry_run().await;
    let (triage, escalate) = lambdas(&stack, Mode::DryRun);
    let id = open(&triage, "logs-bankid-outage.json").await;
    for minute in [1, 15] {
        tick(&escalate, minute).await;
    }
    let pages = stack.pages().await.unwrap();
    let request = pages
        .iter()
        .find(|p| p.subject.starts_with("Approve demo-mode fallback"))
        .unwrap();
    let approved = manual(
        &escalate,
        json!({"action": "approve_fallback", "incident": id, "token": token_from(&request.body), "by": "alem"}),
        16,
    )
    .await
    .unwrap();
    assert!(
        approved
            .did
            .contains(&"dry run: fallback not applied".to_owned()),
        "{:?}",
        approved.did
    );
    assert!(stack.emulator.updates().is_empty());
}

async fn stack_for_dry_run() -> Stack {
    let stack = stack(RIGHT_SECRET).await;
    stack.bankid.as_ref().unwrap().set_up(false);
    stack
}

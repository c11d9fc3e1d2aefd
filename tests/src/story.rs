//! The demo's incident stories on the local stack, on an accelerated clock (one tick is one
//! minute of incident time and takes milliseconds), printed as a timeline people can read.
//!
//! 1. A wrong client secret: diagnosis, the merged UpdateService, the operation followed to
//!    SUCCEEDED, verification, resolution, the report.
//! 2. A BankID outage: nothing deployed, the pager paged at 5 minutes, approval for demo mode
//!    requested at 15, approved through a manual invoke, the fallback applied, BankID back, demo
//!    mode reverted by itself, verification, the report.

use crate::{fixtures_dir, lambdas};
use escalate::Escalate;
use local_stack::stack::{Stack, RIGHT_SECRET};
use remediator_adapters::followup::DeskAnswer;
use remediator_core::settings::Mode;
use serde_json::{json, Value};
use std::time::Duration;

/// 2026-12-04 03:15:00 UTC, minutes after the recorded events' failures began.
const T0: i64 = 1_796_354_100_000;
const MIN: i64 = 60_000;
/// App Runner operations take this long in the emulator.
const OPERATION: Duration = Duration::from_millis(200);

fn clock(ms: i64) -> String {
    remediator_core::clock::format(ms, "%H:%M")
}

fn event(name: &str) -> Result<Value, String> {
    let bytes = std::fs::read(fixtures_dir().join("events").join(name))
        .map_err(|e| format!("{name}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))
}

/// Prints what a tick or manual action did, leaving out repeated health lines.
struct Printer {
    last_health: String,
}

impl Printer {
    fn answer(&mut self, at: i64, label: &str, answer: &DeskAnswer) {
        for line in &answer.did {
            if line.starts_with("health:") {
                if *line == self.last_health {
                    continue;
                }
                self.last_health = line.clone();
            }
            println!("  {}  {label:<9} {line}", clock(at));
        }
        if let Some(i) = &answer.incident {
            if i.status.id() == "resolved" {
                println!("  {}  {label:<9} incident {} resolved", clock(at), i.id);
            }
        }
    }
}

async fn tick(escalate: &Escalate, minute: i64) -> Result<DeskAnswer, String> {
    escalate
        .escalate(
            json!({"action": "tick"}),
            &format!("demo-tick-{minute}"),
            T0 + minute * MIN,
        )
        .await
        .map_err(|e| format!("tick at minute {minute}: {e}"))
}

/// Prints the pages that arrived in the queue; returns the approval token if one carried it.
async fn print_pages(stack: &Stack) -> Result<Option<String>, String> {
    let mut token = None;
    for page in stack.pages().await? {
        println!("            page → {} topic: {}", page.topic, page.subject);
        println!(
            "                   SMS ({} chars): {}",
            page.sms.chars().count(),
            page.sms
        );
        if let Some(start) = page.body.find("\"token\":\"") {
            token = Some(
                page.body[start + 9..]
                    .chars()
                    .take_while(|c| *c != '"')
                    .collect(),
            );
            println!(
                "                   carries a single-use token, valid 30 minutes (shown only in this page)"
            );
        }
    }
    Ok(token)
}

fn print_report(report: &str) {
    println!("\n  ┌ incident report (stored on the incident, sent to the pager topic)");
    for line in report.lines() {
        println!("  │ {line}");
    }
    println!("  └");
}

pub async fn wrong_secret() -> Result<(), String> {
    println!("━━ Story 1: a rotated client secret never reached the service (1 tick = 1 minute)\n");
    let stack = Stack::start("old-secret-4b1d", OPERATION)
        .await?
        .with_bankid()
        .await?;
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let mut printer = Printer {
        last_health: String::new(),
    };
    // The app keeps logging the failure until the fix is live; verification reads these.
    stack
        .write_app_logs(&["BankID OAuth error: invalid_client"; 4], T0, 30_000)
        .await?;
    let out = triage
        .triage(event("logs-invalid-credentials.json")?, "demo-logs", T0)
        .await
        .map_err(|e| e.to_string())?;
    let r = &out.response;
    println!(
        "  {}  triage    logs-invalid-credentials.json: {} (confidence {:.2})",
        clock(T0),
        r.diagnosis.cause.map_or("no cause", |c| c.id()),
        r.diagnosis.confidence
    );
    for a in &r.report.actions {
        println!(
            "  {}  remediate {} → {}",
            clock(T0),
            a.action.key(),
            serde_json::to_string(&a.outcome).unwrap_or_default()
        );
    }
    if let Some(i) = &r.incident {
        println!(
            "  {}  incident  {} opened, {}",
            clock(T0),
            i.id,
            i.status.id()
        );
    }
    print_pages(&stack).await?;
    tokio::time::sleep(OPERATION * 2).await;
    let mut minute = 1;
    loop {
        let answer = tick(&escalate, minute).await?;
        printer.answer(T0 + minute * MIN, "tick", &answer);
        if let Some(report) = &answer.report {
            print_pages(&stack).await?;
            print_report(report);
            break;
        }
        minute += 1;
        if minute > 10 {
            return Err("the incident did not resolve in 10 minutes".into());
        }
    }
    let updates = stack.emulator.updates();
    println!(
        "\n  App Runner received {} UpdateService; BANKID_CLIENT_SECRET now matches the secret: {}\n",
        updates.len(),
        updates.last().is_some_and(|u| u["SourceConfiguration"]["ImageRepository"]
            ["ImageConfiguration"]["RuntimeEnvironmentVariables"]["BANKID_CLIENT_SECRET"]
            == RIGHT_SECRET)
    );
    Ok(())
}

pub async fn outage() -> Result<(), String> {
    println!("━━ Story 2: BankID itself is down (1 tick = 1 minute)\n");
    let stack = Stack::start(RIGHT_SECRET, OPERATION)
        .await?
        .with_bankid()
        .await?;
    let bankid = stack.bankid.clone().ok_or("no BankID stand-in")?;
    bankid.set_up(false);
    println!(
        "  {}  bankid    the stand-in answers 503 to discovery and JWKS",
        clock(T0)
    );
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let mut printer = Printer {
        last_health: String::new(),
    };
    let out = triage
        .triage(event("logs-bankid-outage.json")?, "demo-logs", T0)
        .await
        .map_err(|e| e.to_string())?;
    let r = &out.response;
    println!(
        "  {}  triage    logs-bankid-outage.json: {} (confidence {:.2}); nothing is deployed",
        clock(T0),
        r.diagnosis.cause.map_or("no cause", |c| c.id()),
        r.diagnosis.confidence
    );
    let id = r
        .incident
        .as_ref()
        .map(|i| i.id.clone())
        .unwrap_or_default();
    println!("  {}  incident  {id} opened", clock(T0));
    print_pages(&stack).await?;

    let mut token = None;
    // While BankID is down the app logs a failure every minute; verification reads these.
    let outage_lines = ["BankID OAuth error: temporarily_unavailable"; 3];
    for minute in 1..=15 {
        stack
            .write_app_logs(&outage_lines, T0 + minute * MIN, 10_000)
            .await?;
        let answer = tick(&escalate, minute).await?;
        printer.answer(T0 + minute * MIN, "tick", &answer);
        if let Some(t) = print_pages(&stack).await? {
            token = Some(t);
        }
    }
    let token = token.ok_or("no approval request was sent")?;

    let approve_at = T0 + 16 * MIN;
    println!(
        "  {}  alem      aws lambda invoke --function-name bankid-remediator-escalate --payload '{{\"action\":\"approve_fallback\",\"incident\":\"{id}\",\"token\":\"…\",\"by\":\"alem\"}}'",
        clock(approve_at)
    );
    let approved = escalate
        .escalate(
            json!({"action": "approve_fallback", "incident": id, "token": token, "by": "alem"}),
            "demo-approve",
            approve_at,
        )
        .await
        .map_err(|e| e.to_string())?;
    printer.answer(approve_at, "approve", &approved);
    let reused = escalate
        .escalate(
            json!({"action": "approve_fallback", "incident": id, "token": token, "by": "alem"}),
            "demo-approve-again",
            approve_at,
        )
        .await;
    if let Err(e) = reused {
        println!(
            "  {}  approve   the same token again: {e}",
            clock(approve_at)
        );
    }
    tokio::time::sleep(OPERATION * 2).await;

    let mut minute = 17;
    let report = loop {
        if minute == 20 {
            bankid.set_up(true);
            println!(
                "  {}  bankid    BankID answers again",
                clock(T0 + minute * MIN)
            );
        }
        if minute < 20 {
            stack
                .write_app_logs(&outage_lines, T0 + minute * MIN, 10_000)
                .await?;
        }
        let before = stack.emulator.updates().len();
        let answer = tick(&escalate, minute).await?;
        printer.answer(T0 + minute * MIN, "tick", &answer);
        print_pages(&stack).await?;
        if let Some(report) = answer.report {
            break report;
        }
        if stack.emulator.updates().len() > before {
            tokio::time::sleep(OPERATION * 2).await;
        }
        minute += 1;
        if minute > 60 {
            return Err("the incident did not resolve within the hour".into());
        }
    };
    print_report(&report);
    let modes = stack.service_modes();
    println!(
        "\n  App Runner received {} UpdateService, NEXT_PUBLIC_SERVICE_MODE {}; every other variable kept\n",
        modes.len(),
        modes.join(" → ")
    );
    Ok(())
}

//! The secret-leak sweep: every scenario runs through the Lambda entry points with a recognisable
//! client secret (the right one and the wrong one) and a real approval token, with every log
//! line of every crate captured at the most verbose level the functions can be configured with
//! (TRACE, the SDK capped as in production). The app's own log lines carry both secrets in the
//! shapes apps leak them in. Neither secret may appear in any log line, page,
//! response, error, report or state record; the token only in the approval request it was made
//! for.

use escalate::Escalate;
use lambda_runtime::{Context, LambdaEvent};
use local_stack::stack::{Stack, RIGHT_SECRET, TABLE};
use remediator_core::settings::Mode;
use remediator_tests::scenario::{
    event, stack, token_from, DOWN, MIN, OPERATION, T0, WRONG_SECRET,
};
use remediator_tests::{desk_with, lambdas};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use triage::Triage;

/// Everything the functions, the SDK and the HTTP stack logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the sweep has seen, by where it was seen.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }
}

fn invocation(payload: Value, request_id: &str) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    LambdaEvent::new(payload, context)
}

async fn triage_at(t: &Triage, seen: &mut Seen, payload: Value, id: &str, at: i64) {
    let out = t.handle_at(invocation(payload, id), at).await;
    let text = match out {
        Ok(response) => serde_json::to_string(&response).unwrap(),
        Err(e) => e.to_string(),
    };
    seen.add(format!("triage response {id}"), text);
}

async fn escalate_at(
    e: &Escalate,
    seen: &mut Seen,
    payload: Value,
    id: &str,
    at: i64,
) -> Option<Value> {
    let out = e.handle_at(invocation(payload, id), at).await;
    let (text, value) = match out {
        Ok(answer) => {
            let value = serde_json::to_value(&answer).unwrap();
            (value.to_string(), Some(value))
        }
        Err(e) => (e.to_string(), None),
    };
    seen.add(format!("escalate response {id}"), text);
    value
}

/// The scheduled tick at `minute` through the logging entry point.
async fn tick_at(e: &Escalate, seen: &mut Seen, minute: i64) -> Option<Value> {
    escalate_at(
        e,
        seen,
        json!({"action": "tick"}),
        &format!("tick-{minute}"),
        T0 + minute * MIN,
    )
    .await
}

async fn state_table(stack: &Stack, seen: &mut Seen, what: &str) {
    let items = stack
        .dynamodb_client()
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    seen.add(
        format!("state table after {what}"),
        format!("{:?}", items.items()),
    );
}

async fn pages(stack: &Stack, seen: &mut Seen) -> Vec<local_stack::stack::ReceivedPage> {
    let pages = stack.pages().await.unwrap();
    for p in &pages {
        seen.add(
            format!("page {}", p.subject),
            format!("{}\n{}\n{}", p.subject, p.sms, p.body),
        );
    }
    pages
}

/// A wrong secret fixed, verified, resolved and reported; classify and plan by hand; the state
/// table and SNS down.
async fn credentials(seen: &mut Seen) {
    let stack = stack(WRONG_SECRET).await;
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let leaky = format!(
        "BankID OAuth error: invalid_client POST /token client_secret={WRONG_SECRET} \
         {{\"client_secret\": \"{RIGHT_SECRET}\"}} Authorization: Basic {RIGHT_SECRET}"
    );
    triage_at(
        &triage,
        seen,
        json!({"action": "classify", "lines": [leaky]}),
        "classify",
        T0,
    )
    .await;
    triage_at(&triage, seen, json!({"action": "plan"}), "plan", T0).await;
    triage_at(
        &triage,
        seen,
        event("logs-invalid-credentials.json"),
        "logs",
        T0,
    )
    .await;
    stack
        .write_app_logs(&[leaky.as_str(); 3], T0, 30_000)
        .await
        .unwrap();
    triage_at(&triage, seen, event("alarm-action.json"), "alarm", T0 + MIN).await;
    tokio::time::sleep(OPERATION * 3).await;
    let mut id = None;
    for minute in 1..=6 {
        let answer = tick_at(&escalate, seen, minute).await;
        id = id.or_else(|| answer.and_then(|a| a["incident"]["id"].as_str().map(str::to_owned)));
    }
    let id = id.expect("an incident");
    escalate_at(
        &escalate,
        seen,
        json!({"action": "report", "incident": id}),
        "report",
        T0 + 7 * MIN,
    )
    .await;
    escalate_at(
        &escalate,
        seen,
        json!({"action": "status"}),
        "status",
        T0 + 7 * MIN,
    )
    .await;
    // Dependencies down: the errors say what failed, never with what.
    let table_down =
        Triage::new("triage").with_desk(desk_with(&stack, Mode::Live, &stack.moto.endpoint, DOWN));
    triage_at(
        &table_down,
        seen,
        event("logs-invalid-credentials.json"),
        "table-down",
        T0 + 8 * MIN,
    )
    .await;
    let sns_down = Escalate::new(desk_with(&stack, Mode::Live, DOWN, &stack.moto.endpoint));
    escalate_at(
        &sns_down,
        seen,
        json!({"action": "tick"}),
        "sns-down",
        T0 + 9 * MIN,
    )
    .await;
    pages(&stack, seen).await;
    state_table(&stack, seen, "the credentials story").await;
}

/// A BankID outage: approval requested, a wrong token, the right one, the same one again,
/// demo mode, BankID back, the automatic revert, the report. Returns the token.
async fn outage(seen: &mut Seen) -> String {
    let stack = stack(RIGHT_SECRET).await;
    let bankid = stack.bankid.clone().unwrap();
    bankid.set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    triage_at(&triage, seen, event("logs-bankid-outage.json"), "logs", T0).await;
    for minute in [1, 5, 15] {
        tick_at(&escalate, seen, minute).await;
    }
    let request = pages(&stack, seen)
        .await
        .into_iter()
        .find(|p| p.subject.starts_with("Approve demo-mode fallback"))
        .expect("an approval request");
    let token = token_from(&request.body);
    let status = escalate_at(
        &escalate,
        seen,
        json!({"action": "status"}),
        "status",
        T0 + 15 * MIN,
    )
    .await
    .unwrap();
    let id = status["incident"]["id"].as_str().unwrap().to_owned();
    let wrong: String = token.chars().rev().collect();
    for (n, attempt) in [wrong.as_str(), token.as_str(), token.as_str()]
        .into_iter()
        .enumerate()
    {
        escalate_at(
            &escalate,
            seen,
            json!({"action": "approve_fallback", "incident": id, "token": attempt, "by": "alem"}),
            &format!("approve-{n}"),
            T0 + 16 * MIN,
        )
        .await;
    }
    tokio::time::sleep(OPERATION * 3).await;
    bankid.set_up(true);
    for minute in 17..=32 {
        tick_at(&escalate, seen, minute).await;
        tokio::time::sleep(OPERATION).await;
    }
    escalate_at(
        &escalate,
        seen,
        json!({"action": "report", "incident": id}),
        "report",
        T0 + 33 * MIN,
    )
    .await;
    assert_eq!(
        stack.service_modes(),
        vec!["demo", "live"],
        "the story ran to its end"
    );
    pages(&stack, seen).await;
    state_table(&stack, seen, "the outage story").await;
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_any_log_line_page_response_record_or_report() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter(remediator_adapters::logging::filter(
                tracing_subscriber::filter::LevelFilter::TRACE,
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let mut seen = Seen::default();
    credentials(&mut seen).await;
    let token = outage(&mut seen).await;
    let lines = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        lines.contains("triaged") && lines.contains("escalated"),
        "the functions logged"
    );
    for line in lines.lines() {
        seen.add("log line", line);
    }

    let mut leaks = Vec::new();
    for (what, text) in &seen.0 {
        for (name, secret) in [
            ("the right secret", RIGHT_SECRET),
            ("the wrong secret", WRONG_SECRET),
        ] {
            if text.contains(secret) {
                leaks.push(format!("{name} in {what}: {text}"));
            }
        }
        if text.contains(&token) && !what.starts_with("page Approve demo-mode fallback") {
            leaks.push(format!("the approval token in {what}: {text}"));
        }
    }
    assert!(
        seen.0.len() > 100,
        "only {} things were swept",
        seen.0.len()
    );
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

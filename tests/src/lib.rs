//! Shared helpers for the integration tests and the demo: where fixtures live and how to read
//! them, and the Lambdas wired to a local stack without touching the process environment.
//!
//! - `tests/fixtures/lines/corpus.tsv`: labelled log lines (`<cause|none>\t<line>`).
//! - `tests/fixtures/sources/logs-*.json`: readable CloudWatch Logs payloads; `make fixtures`
//!   encodes each into `tests/fixtures/events/logs-*.json` (base64 + gzip, as CloudWatch sends).
//! - `tests/fixtures/events/*.json`: one real wire-format event per trigger shape and cause,
//!   usable as is with `cargo lambda invoke triage --data-file …`.

use local_stack::stack::{Stack, APP_LOG_GROUP, SECRET_ID, TABLE};
use remediator_adapters::apprunner::AppRunner;
use remediator_adapters::engine::Remediator;
use remediator_adapters::followup::Desk;
use remediator_adapters::incidents::IncidentStore;
use remediator_adapters::logs::AppLogs;
use remediator_adapters::pager::{Pager, Topics};
use remediator_adapters::secrets::Secrets;
use remediator_adapters::state::StateStore;
use remediator_core::settings::{Mode, Settings};
use std::path::PathBuf;

pub mod load;
pub mod scenario;
pub mod story;

/// The incident desk a deployed remediator would have for `stack`.
pub fn desk(stack: &Stack, mode: Mode) -> Desk {
    desk_with(stack, mode, &stack.moto.endpoint, &stack.moto.endpoint)
}

/// The same desk with SNS and DynamoDB at other endpoints (a closed port: the service is down).
pub fn desk_with(stack: &Stack, mode: Mode, sns_endpoint: &str, dynamodb_endpoint: &str) -> Desk {
    desk_from(
        stack,
        stack.settings(mode),
        sns_endpoint,
        local_stack::clients::dynamodb(dynamodb_endpoint),
    )
}

/// A desk with these settings and this DynamoDB client (other timeouts, another endpoint).
pub fn desk_from(
    stack: &Stack,
    settings: Settings,
    sns_endpoint: &str,
    dynamodb: aws_sdk_dynamodb::Client,
) -> Desk {
    let remediator = Remediator::new(
        settings,
        AppRunner::new(stack.apprunner_client(), &stack.service_arn),
        Secrets::new(stack.secrets_client(), SECRET_ID),
        StateStore::new(dynamodb.clone(), TABLE),
    )
    .with_logs(AppLogs::new(stack.logs_client(), APP_LOG_GROUP));
    let pager = Pager::new(
        local_stack::clients::sns(sns_endpoint),
        Topics {
            pager: Some(stack.topics.pager.clone()),
            team: Some(stack.topics.team.clone()),
            comms: Some(stack.topics.comms.clone()),
        },
    );
    Desk::new(remediator, IncidentStore::new(dynamodb, TABLE), pager)
}

/// Triage and escalate as deployed for `stack`.
pub fn lambdas(stack: &Stack, mode: Mode) -> (triage::Triage, escalate::Escalate) {
    let desk = desk(stack, mode);
    (
        triage::Triage::new("triage").with_desk(desk.clone()),
        escalate::Escalate::new(desk),
    )
}

/// `tests/fixtures`, wherever the workspace is checked out.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every event fixture, sorted by file name.
pub fn event_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir().join("events"))
        .expect("tests/fixtures/events exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// One labelled line of the corpus.
#[derive(Debug, Clone)]
pub struct LabelledLine {
    /// 1-based line number in the corpus file.
    pub file_line: usize,
    /// A cause id, or `none`.
    pub label: String,
    pub line: String,
}

/// The labelled corpus, comments and blank lines skipped.
pub fn corpus() -> Vec<LabelledLine> {
    let path = fixtures_dir().join("lines/corpus.tsv");
    let text = std::fs::read_to_string(&path).expect("corpus.tsv is UTF-8");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let (label, line) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("corpus.tsv:{}: no TAB after the label", i + 1));
            LabelledLine {
                file_line: i + 1,
                label: label.to_owned(),
                line: line.to_owned(),
            }
        })
        .collect()
}

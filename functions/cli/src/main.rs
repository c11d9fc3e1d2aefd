//! `remediator`: the remediator's engine from a laptop.
//!
//! - `classify [FILE|-]`: one JSON diagnosis of a log file.
//! - `classify --per-line [FILE|-]`: JSON Lines, `{"line": N, "cause": "<id>" | null}` per input line.
//! - `decode EVENT.json`: the signals the triage Lambda would see for an event.
//! - `encode-logs PAYLOAD.json`: a CloudWatch Logs subscription event from a readable payload.
//! - `filter-patterns`: the CloudWatch Logs patterns `infra/template.yaml` must use, as JSON.
//!
//! Against the deployed resources, configured from the same environment variables as the
//! Lambdas (and the standard AWS ones), through the same handlers:
//! - `diagnose`, `plan`: the triage function's manual actions (plan mutates nothing).
//! - `status`, `report`, `ack`, `resolve`, `approve-fallback`, `revert-fallback`, `tick`: the
//!   escalate function's. `report` prints the markdown report.
//!
//! Bad input, bad configuration and refusals exit 2 with a one-line error on stderr; output goes
//! to stdout only on success.

use clap::{Parser, Subcommand};
use remediator_core::classify::classifier;
use remediator_core::decode::{self, MAX_LINE_BYTES};
use remediator_core::diagnosis::Diagnoser;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "remediator",
    version,
    about = "Classify BankID login failures and decode the events that report them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose a log file: which cause, how sure, with redacted evidence.
    Classify {
        /// One JSON object per input line instead of one diagnosis.
        #[arg(long)]
        per_line: bool,
        /// Log file, one event per line; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// Print the signals an event decodes into, exactly as the triage Lambda sees them.
    Decode {
        /// Event JSON (a fixture, a captured payload); `-` reads stdin.
        event: PathBuf,
    },
    /// Wrap a readable CloudWatch Logs payload ({"messageType","logGroup","logEvents",…}) into the
    /// base64+gzip subscription event CloudWatch delivers.
    EncodeLogs {
        /// The payload JSON; `-` reads stdin.
        payload: PathBuf,
    },
    /// The CloudWatch Logs filter patterns (subscription, per-cause metrics, callback failures),
    /// from the cause table: what `infra/template.yaml` must use.
    FilterPatterns,
    /// Diagnose the app's recent logs now (the runbook's steps 2 and 3).
    Diagnose {
        #[arg(long, default_value_t = 10)]
        minutes: u32,
    },
    /// What would be done now for the recent logs; nothing mutates.
    Plan {
        #[arg(long, default_value_t = 10)]
        minutes: u32,
    },
    /// The open incident, or the one named.
    Status { incident: Option<String> },
    /// The incident's markdown report.
    Report { incident: String },
    /// Acknowledge: paging stops, verification continues.
    Ack {
        incident: String,
        #[arg(long)]
        by: String,
    },
    /// Resolve by hand.
    Resolve {
        incident: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Approve the demo-mode fallback with the token from the approval page.
    ApproveFallback {
        incident: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        by: String,
    },
    /// Return the service to live mode now.
    RevertFallback {
        incident: String,
        #[arg(long)]
        by: String,
    },
    /// Run one follow-up tick now.
    Tick,
}

/// A failure to report on one line and exit 2.
struct BadInput(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify { per_line, file } => classify(per_line, file),
        Command::Decode { event } => decode(&event),
        Command::EncodeLogs { payload } => encode_logs(&payload),
        Command::FilterPatterns => filter_patterns(),
        Command::Diagnose { minutes } => {
            triage_action(json!({"action": "diagnose", "minutes": minutes}))
        }
        Command::Plan { minutes } => triage_action(json!({"action": "plan", "minutes": minutes})),
        Command::Status { incident } => match incident {
            Some(id) => escalate_action(json!({"action": "status", "incident": id})),
            None => escalate_action(json!({"action": "status"})),
        },
        Command::Report { incident } => {
            escalate_action(json!({"action": "report", "incident": incident}))
        }
        Command::Ack { incident, by } => {
            escalate_action(json!({"action": "ack", "incident": incident, "by": by}))
        }
        Command::Resolve { incident, by, note } => {
            let mut payload = json!({"action": "resolve", "incident": incident, "by": by});
            if let Some(note) = note {
                payload["note"] = note.into();
            }
            escalate_action(payload)
        }
        Command::ApproveFallback {
            incident,
            token,
            by,
        } => escalate_action(
            json!({"action": "approve_fallback", "incident": incident, "token": token, "by": by}),
        ),
        Command::RevertFallback { incident, by } => {
            escalate_action(json!({"action": "revert_fallback", "incident": incident, "by": by}))
        }
        Command::Tick => escalate_action(json!({"action": "tick"})),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(BadInput(message)) => {
            eprintln!("remediator: {message}");
            ExitCode::from(2)
        }
    }
}

fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, BadInput> {
    let mut bytes = Vec::new();
    match path {
        None => io::stdin().read_to_end(&mut bytes).map(|_| ()),
        Some(p) if p.as_os_str() == "-" => io::stdin().read_to_end(&mut bytes).map(|_| ()),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ())),
    }
    .map_err(|e| {
        let name = path.map_or("stdin".into(), |p| p.display().to_string());
        BadInput(format!("cannot read {name}: {e}"))
    })?;
    Ok(bytes)
}

/// Splits input into lines (LF or CRLF), refusing what the Lambda would refuse.
fn lines(bytes: &[u8]) -> Result<Vec<&str>, BadInput> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let n = i + 1;
            if raw.len() > MAX_LINE_BYTES {
                return Err(BadInput(format!(
                    "line {n} is {} bytes; lines longer than {MAX_LINE_BYTES} bytes are not classified",
                    raw.len()
                )));
            }
            std::str::from_utf8(raw).map_err(|e| {
                BadInput(format!(
                    "line {n} is not valid UTF-8 (first bad byte at column {})",
                    e.valid_up_to() + 1
                ))
            })
        })
        .collect()
}

#[derive(Serialize)]
struct LineVerdict {
    line: usize,
    cause: Option<&'static str>,
}

fn classify(per_line: bool, file: Option<PathBuf>) -> Result<(), BadInput> {
    let bytes = read_input(file.as_ref())?;
    let lines = lines(&bytes)?;
    let batch = decode::batch_from_lines(lines);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if per_line {
        let mut causes = vec![None; batch.len()];
        classifier().classify_batch(&batch, |i, m| causes[i] = Some(m.cause.id()));
        for (i, cause) in causes.into_iter().enumerate() {
            write_json_line(&mut out, &LineVerdict { line: i + 1, cause })?;
        }
    } else {
        let mut diagnoser = Diagnoser::new(classifier());
        diagnoser.add_batch(&batch);
        write_json_pretty(&mut out, &diagnoser.finish())?;
    }
    out.flush().map_err(write_error)
}

fn decode(event: &PathBuf) -> Result<(), BadInput> {
    let bytes = read_input(Some(event))?;
    let decoded = decode::decode_slice(&bytes).map_err(|e| BadInput(e.to_string()))?;
    write_json_pretty(&mut io::stdout().lock(), &decoded)
}

fn encode_logs(payload: &PathBuf) -> Result<(), BadInput> {
    let bytes = read_input(Some(payload))?;
    let event = decode::encode_logs_event(&bytes).map_err(|e| BadInput(e.to_string()))?;
    write_json_pretty(&mut io::stdout().lock(), &event)
}

fn filter_patterns() -> Result<(), BadInput> {
    use remediator_core::filters;
    let metrics: serde_json::Map<String, Value> = remediator_core::Cause::ALL
        .into_iter()
        .filter_map(|c| filters::metric_pattern(c).map(|p| (c.id().to_owned(), p.into())))
        .collect();
    let min_lines: serde_json::Map<String, Value> = remediator_core::Cause::ALL
        .into_iter()
        .map(|c| (c.id().to_owned(), c.spec().min_lines.into()))
        .collect();
    write_json_pretty(
        &mut io::stdout().lock(),
        &json!({
            "namespace": filters::APP_METRICS_NAMESPACE,
            "subscription": filters::subscription_pattern(),
            "callback_failures": filters::callback_failures_pattern(),
            "callback_failures_per_minute": filters::CALLBACK_FAILURES_PER_MINUTE,
            "metrics": metrics,
            "min_lines": min_lines,
        }),
    )
}

fn runtime() -> Result<tokio::runtime::Runtime, BadInput> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BadInput(format!("starting the runtime: {e}")))
}

/// Identifies this run as the lock owner and in the incident's timeline.
fn request_id() -> String {
    format!("cli-{}-{}", std::process::id(), triage::now_ms())
}

/// Runs a manual action through the triage handler, configured from the environment.
fn triage_action(payload: Value) -> Result<(), BadInput> {
    let response = runtime()?.block_on(async {
        let triage = triage::Triage::from_env()
            .await
            .map_err(|e| BadInput(e.to_string()))?;
        triage
            .triage(payload, &request_id(), triage::now_ms())
            .await
            .map(|outcome| outcome.response)
            .map_err(|e| BadInput(e.to_string()))
    })?;
    write_json_pretty(&mut io::stdout().lock(), &response)
}

/// Runs a manual action through the escalate handler; a report prints as markdown.
fn escalate_action(payload: Value) -> Result<(), BadInput> {
    let markdown = payload["action"] == "report";
    let answer = runtime()?.block_on(async {
        let escalate = escalate::Escalate::from_env()
            .await
            .map_err(|e| BadInput(e.to_string()))?;
        escalate
            .escalate(payload, &request_id(), escalate::now_ms())
            .await
            .map_err(|e| BadInput(e.to_string()))
    })?;
    match (&answer.report, markdown) {
        (Some(report), true) => io::stdout()
            .lock()
            .write_all(report.as_bytes())
            .map_err(write_error),
        _ => write_json_pretty(&mut io::stdout().lock(), &answer),
    }
}

fn write_json_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), BadInput> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| BadInput(format!("writing output: {e}")))?;
    out.write_all(b"\n").map_err(write_error)
}

fn write_json_pretty(out: &mut impl Write, value: &impl Serialize) -> Result<(), BadInput> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|e| BadInput(format!("writing output: {e}")))?;
    out.write_all(b"\n").map_err(write_error)
}

fn write_error(e: io::Error) -> BadInput {
    BadInput(format!("writing output: {e}"))
}

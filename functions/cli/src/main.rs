//! `remediator`: the remediator's engine from a laptop.
//!
//! - `classify [FILE|-]`: one JSON diagnosis of a log file.
//! - `classify --per-line [FILE|-]`: JSON Lines, `{"line": N, "cause": "<id>" | null}` per input line.
//! - `decode EVENT.json`: the signals the triage Lambda would see for an event.
//! - `encode-logs PAYLOAD.json`: a CloudWatch Logs subscription event from a readable payload.
//!
//! Bad input exits 2 with a one-line error on stderr; output goes to stdout only on success.

use clap::{Parser, Subcommand};
use remediator_core::classify::classifier;
use remediator_core::decode::{self, MAX_LINE_BYTES};
use remediator_core::diagnosis::Diagnoser;
use serde::Serialize;
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
}

/// A failure to report on one line and exit 2.
struct BadInput(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify { per_line, file } => classify(per_line, file),
        Command::Decode { event } => decode(&event),
        Command::EncodeLogs { payload } => encode_logs(&payload),
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

//! From classified lines to one diagnosis per batch.
//!
//! Precedence (the cause table in [`crate::cause`] holds the numbers):
//! 1. A cause counts only with at least its `min_lines` in the batch: one stray 503 or one user's
//!    state failure is noise, while a single `invalid_client` is proof.
//! 2. Among the causes that count, the tier decides: configuration (BankID answered and refused
//!    our client id, secret or redirect_uri) beats external trouble (outage, rate limit, network),
//!    which beats session trouble (state), which beats unrecognised failures. BankID answering
//!    `invalid_client` proves it is up and reachable, so a credentials signal wins over any amount
//!    of network noise around it.
//! 3. Inside a tier the cause with more lines wins; a tie goes to the lower `rank`.
//!
//! Confidence is the winner's mean rule strength scaled by its share of the recognised lines and
//! by how far it clears its threshold. Generic wrapper lines (`unknown`) do not dilute the share
//! of a specific cause: a library logs one of them around every specific error.

use crate::cause::{Cause, CAUSES};
use crate::classify::{Classifier, LineMatch};
use crate::decode::format_epoch_ms;
use crate::redact::{redact, truncate};
use crate::signal::LogBatch;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Evidence samples kept per diagnosis.
pub const MAX_EVIDENCE: usize = 5;
/// Longest evidence line, after redaction.
pub const MAX_EVIDENCE_BYTES: usize = 400;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// `None` when no cause reached its threshold: nothing to act on.
    pub cause: Option<Cause>,
    /// 0..1, two decimals.
    pub confidence: f64,
    pub counts: CauseCounts,
    /// Lines looked at, matched or not.
    pub lines_examined: usize,
    /// Lines too long to classify (see [`crate::decode::MAX_LINE_BYTES`]).
    pub lines_rejected: usize,
    pub evidence: Vec<Evidence>,
    /// First and last line of the diagnosed cause (RFC 3339), when the lines carry timestamps.
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// One sentence for people.
    pub summary: String,
}

/// Lines per cause, serialised as an object with every cause id present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CauseCounts(pub [usize; 7]);

impl CauseCounts {
    pub fn get(&self, cause: Cause) -> usize {
        self.0[cause.index()]
    }
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

impl Serialize for CauseCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Cause::ALL.len()))?;
        for cause in Cause::ALL {
            map.serialize_entry(cause.id(), &self.get(cause))?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub cause: Cause,
    pub rule: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Redacted and shortened.
    pub line: String,
}

struct Sample {
    rule: &'static str,
    timestamp_ms: Option<i64>,
    line: String,
}

/// Accumulates classified lines; [`Diagnoser::finish`] gives the diagnosis.
pub struct Diagnoser<'c> {
    classifier: &'c Classifier,
    counts: CauseCounts,
    strength: [f64; 7],
    seen: [(Option<i64>, Option<i64>); 7],
    samples: [Vec<Sample>; 7],
    lines_examined: usize,
    lines_rejected: usize,
}

impl<'c> Diagnoser<'c> {
    pub fn new(classifier: &'c Classifier) -> Self {
        Diagnoser {
            classifier,
            counts: CauseCounts::default(),
            strength: [0.0; 7],
            seen: [(None, None); 7],
            samples: Default::default(),
            lines_examined: 0,
            lines_rejected: 0,
        }
    }

    /// Classifies a whole batch in one pass.
    pub fn add_batch(&mut self, batch: &LogBatch) {
        self.lines_rejected += batch.rejected.len();
        self.lines_examined += batch.len();
        let classifier = self.classifier;
        classifier.classify_batch(batch, |i, m| {
            let line = batch.line(i);
            self.record(m, line.message, line.timestamp_ms);
        });
    }

    pub fn add_line(&mut self, message: &str, timestamp_ms: Option<i64>) {
        self.lines_examined += 1;
        if let Some(m) = self.classifier.classify(message) {
            self.record(m, message, timestamp_ms);
        }
    }

    fn record(&mut self, m: LineMatch, message: &str, timestamp_ms: Option<i64>) {
        let i = m.cause.index();
        self.counts.0[i] += 1;
        self.strength[i] += f64::from(m.strength);
        if let Some(ts) = timestamp_ms {
            let (first, last) = &mut self.seen[i];
            *first = Some(first.map_or(ts, |f| f.min(ts)));
            *last = Some(last.map_or(ts, |l| l.max(ts)));
        }
        let samples = &mut self.samples[i];
        // Keep distinct messages, and prefer one per rule so evidence shows the variety.
        if samples.iter().any(|s| s.line == message) {
            return;
        }
        if samples.len() < MAX_EVIDENCE {
            samples.push(Sample {
                rule: m.rule,
                timestamp_ms,
                line: message.to_owned(),
            });
        } else if !samples.iter().any(|s| s.rule == m.rule) {
            if let Some(pos) = duplicate_rule_position(samples) {
                samples[pos] = Sample {
                    rule: m.rule,
                    timestamp_ms,
                    line: message.to_owned(),
                };
            }
        }
    }

    pub fn finish(self) -> Diagnosis {
        let winner = self.winner();
        let counts = self.counts;
        let confidence = winner.map_or(0.0, |cause| self.confidence(cause));
        let mut evidence = Vec::with_capacity(MAX_EVIDENCE);
        let order = winner
            .into_iter()
            .chain(Cause::ALL.into_iter().filter(|c| Some(*c) != winner));
        for cause in order {
            for sample in &self.samples[cause.index()] {
                if evidence.len() == MAX_EVIDENCE {
                    break;
                }
                evidence.push(Evidence {
                    cause,
                    rule: sample.rule,
                    timestamp: sample.timestamp_ms.and_then(format_epoch_ms),
                    line: truncate(&redact(&sample.line), MAX_EVIDENCE_BYTES).into_owned(),
                });
            }
        }
        let (first, last) = match winner {
            Some(cause) => self.seen[cause.index()],
            None => self.seen.iter().fold((None, None), |(f, l), (sf, sl)| {
                (min_opt(f, *sf), max_opt(l, *sl))
            }),
        };
        Diagnosis {
            cause: winner,
            confidence,
            counts,
            lines_examined: self.lines_examined,
            lines_rejected: self.lines_rejected,
            evidence,
            first_seen: first.and_then(format_epoch_ms),
            last_seen: last.and_then(format_epoch_ms),
            summary: self.summary(winner, confidence),
        }
    }

    fn winner(&self) -> Option<Cause> {
        CAUSES
            .iter()
            .filter(|spec| self.counts.get(spec.cause) >= spec.min_lines.max(1))
            .min_by(|a, b| {
                a.tier
                    .cmp(&b.tier)
                    .then(self.counts.get(b.cause).cmp(&self.counts.get(a.cause)))
                    .then(a.rank.cmp(&b.rank))
            })
            .map(|spec| spec.cause)
    }

    fn confidence(&self, cause: Cause) -> f64 {
        let n = self.counts.get(cause) as f64;
        let strength = self.strength[cause.index()] / n;
        let competing = if cause == Cause::Unknown {
            self.counts.total()
        } else {
            self.counts.total() - self.counts.get(Cause::Unknown)
        } as f64;
        let share = n / competing;
        let volume = (n / (2.0 * cause.spec().min_lines as f64)).min(1.0);
        let c = strength * (0.4 + 0.3 * share + 0.3 * volume);
        (c * 100.0).round() / 100.0
    }

    fn summary(&self, winner: Option<Cause>, confidence: f64) -> String {
        let total = self.counts.total();
        match winner {
            Some(cause) => format!(
                "{cause}: {} of {total} BankID failure lines in {} examined (confidence {confidence:.2}); {}",
                self.counts.get(cause),
                self.lines_examined,
                cause.spec().summary
            ),
            None if total == 0 => format!(
                "no BankID failure in {} lines examined",
                self.lines_examined
            ),
            None => {
                let below: Vec<String> = Cause::ALL
                    .into_iter()
                    .filter(|c| self.counts.get(*c) > 0)
                    .map(|c| format!("{c} {}/{}", self.counts.get(c), c.spec().min_lines))
                    .collect();
                format!(
                    "{total} BankID failure lines in {} examined, none reaching its threshold ({}): treated as noise",
                    self.lines_examined,
                    below.join(", ")
                )
            }
        }
    }
}

fn duplicate_rule_position(samples: &[Sample]) -> Option<usize> {
    (0..samples.len())
        .rev()
        .find(|&i| samples[..i].iter().any(|s| s.rule == samples[i].rule))
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Diagnoses plain lines with the built-in rules.
pub fn diagnose_lines<'a, I: IntoIterator<Item = &'a str>>(lines: I) -> Diagnosis {
    let mut d = Diagnoser::new(crate::classify::classifier());
    for line in lines {
        d.add_line(line, None);
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVALID_CLIENT: &str = "OPError: invalid_client (Invalid client credentials)";
    const TIMEOUT: &str = "[cause]: Error: connect ETIMEDOUT auth.bankid.no:443";
    const BANKID_503: &str =
        "GET https://auth.bankid.no/auth/realms/prod/.well-known/openid-configuration 503";
    const STATE: &str = "RPError: state mismatch, expected abc, got: def";
    const RATE: &str = "BankID API error: rate_limit_exceeded";

    fn diagnose(lines: &[&str]) -> Diagnosis {
        diagnose_lines(lines.iter().copied())
    }

    #[test]
    fn a_credentials_signal_beats_network_noise() {
        let mut lines = vec![TIMEOUT; 40];
        lines.push(INVALID_CLIENT);
        let d = diagnose(&lines);
        assert_eq!(d.cause, Some(Cause::InvalidCredentials));
        assert_eq!(d.counts.get(Cause::Network), 40);
        assert!(
            d.confidence < 0.7,
            "mixed batch must not look certain: {}",
            d.confidence
        );
        assert_eq!(d.evidence[0].cause, Cause::InvalidCredentials);
    }

    #[test]
    fn one_stray_503_is_not_an_outage() {
        let d = diagnose(&[BANKID_503, "GET /api/health 200 2ms"]);
        assert_eq!(d.cause, None);
        assert_eq!(d.confidence, 0.0);
        assert_eq!(d.counts.get(Cause::BankidOutage), 1);
        assert!(d.summary.contains("bankid_outage 1/3"), "{}", d.summary);
        let d = diagnose(&[BANKID_503; 3]);
        assert_eq!(d.cause, Some(Cause::BankidOutage));
    }

    #[test]
    fn within_the_external_tier_the_larger_count_wins() {
        let mut lines = vec![RATE; 5];
        lines.extend([BANKID_503; 3]);
        assert_eq!(diagnose(&lines).cause, Some(Cause::RateLimited));
        lines.extend([BANKID_503; 3]);
        assert_eq!(diagnose(&lines).cause, Some(Cause::BankidOutage));
    }

    #[test]
    fn external_trouble_beats_state_failures() {
        let mut lines = vec![STATE; 10];
        lines.extend([TIMEOUT; 2]);
        assert_eq!(diagnose(&lines).cause, Some(Cause::Network));
        assert_eq!(diagnose(&[STATE; 10]).cause, Some(Cause::InvalidState));
        assert_eq!(diagnose(&[STATE; 2]).cause, None);
    }

    #[test]
    fn a_clean_batch_is_confident_and_an_empty_one_has_no_cause() {
        let d = diagnose(&[INVALID_CLIENT; 4]);
        assert_eq!(d.confidence, 0.95);
        let d = diagnose(&[]);
        assert_eq!((d.cause, d.confidence, d.lines_examined), (None, 0.0, 0));
        assert_eq!(d.summary, "no BankID failure in 0 lines examined");
    }

    #[test]
    fn evidence_is_bounded_distinct_and_redacted() {
        let lines: Vec<String> = (0..20)
            .map(|i| {
                format!(
                    "BankID OAuth error: invalid_client client_secret=s3cr3t{i} user 0101701234{}",
                    i % 10
                )
            })
            .collect();
        let d = diagnose_lines(lines.iter().map(String::as_str));
        assert_eq!(d.evidence.len(), MAX_EVIDENCE);
        for e in &d.evidence {
            assert!(
                !e.line.contains("s3cr3t") && !e.line.contains("0101701234"),
                "{}",
                e.line
            );
        }
    }

    #[test]
    fn timestamps_bound_the_diagnosed_cause() {
        let mut d = Diagnoser::new(crate::classify::classifier());
        d.add_line(INVALID_CLIENT, Some(1_764_849_660_000));
        d.add_line(INVALID_CLIENT, Some(1_764_849_600_000));
        d.add_line(TIMEOUT, Some(1_764_849_500_000));
        let d = d.finish();
        assert_eq!(d.first_seen.as_deref(), Some("2025-12-04T12:00:00.000Z"));
        assert_eq!(d.last_seen.as_deref(), Some("2025-12-04T12:01:00.000Z"));
    }
}

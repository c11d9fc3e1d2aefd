//! Per-line classification: which cause, by which rule, if any.
//!
//! Every needle of every rule goes into one ASCII-case-insensitive Aho-Corasick automaton, so a
//! line is scanned once whatever the number of rules; the rules then only test bits. Lines with no
//! needle at all (most of a busy log group) cost one scan and nothing else.

use crate::cause::Cause;
use crate::rules::{Rule, Verdict, AUTH_CONTEXT, FAILURE_MARKERS, RULES, UNRECOGNISED_RULE};
use crate::signal::LogBatch;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};
use std::ops::Range;
use std::sync::LazyLock;

/// Needles beyond this would not fit the per-line bit set.
const MAX_NEEDLES: usize = 64 * WORDS;
const WORDS: usize = 8;

/// The verdict for one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineMatch {
    pub cause: Cause,
    pub rule: &'static str,
    pub strength: f32,
}

/// The compiled rule table. Build once (see [`classifier`]) and share.
pub struct Classifier {
    /// Needles of which every classifiable line holds at least one: the auth context and the
    /// vocabulary of rules that need no context. Most log lines hold none and stop here.
    gate: AhoCorasick,
    automaton: AhoCorasick,
    needles: Vec<Needle>,
    rules: Vec<CompiledRule>,
    context: Vec<usize>,
    failure: Vec<usize>,
}

struct Needle {
    word_start: bool,
    word_end: bool,
}

struct CompiledRule {
    rule: &'static Rule,
    /// Lower-cased `any` needles of an anchored rule, tested against the line's start instead.
    prefixes: Vec<String>,
    any: Vec<usize>,
    and_any: Vec<usize>,
    unless: Vec<usize>,
}

#[derive(Default)]
struct Hits([u64; WORDS]);

impl Hits {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn any(&self, ids: &[usize]) -> bool {
        ids.iter().any(|&i| self.has(i))
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

thread_local! {
    static LOWERED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    Classifier::new(RULES).expect("the built-in rule table compiles (checked by tests)")
});

/// The classifier for the built-in rule table.
pub fn classifier() -> &'static Classifier {
    &CLASSIFIER
}

/// Classifies one line with the built-in rules.
pub fn classify_line(line: &str) -> Option<LineMatch> {
    CLASSIFIER.classify(line)
}

#[derive(Debug, thiserror::Error)]
pub enum RuleTableError {
    #[error("rule {0}: has no needles")]
    Empty(&'static str),
    #[error("the rule table has {0} distinct needles; at most {MAX_NEEDLES} fit")]
    TooManyNeedles(usize),
    #[error("rule ids must be unique: {0} repeats")]
    DuplicateId(&'static str),
    #[error("building the automaton: {0}")]
    Automaton(String),
}

impl Classifier {
    pub fn new(rules: &'static [Rule]) -> Result<Self, RuleTableError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut needles: Vec<Needle> = Vec::new();
        let mut intern = |raw: &str| -> usize {
            let (word_start, body) = match raw.strip_prefix(r"\b") {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            let (word_end, body) = match body.strip_suffix(r"\b") {
                Some(rest) => (true, rest),
                None => (false, body),
            };
            let key = body.to_ascii_lowercase();
            if let Some(i) = patterns.iter().zip(&needles).position(|(p, n)| {
                *p == key && n.word_start == word_start && n.word_end == word_end
            }) {
                return i;
            }
            patterns.push(key);
            needles.push(Needle {
                word_start,
                word_end,
            });
            patterns.len() - 1
        };
        let mut gate: Vec<String> = AUTH_CONTEXT.iter().map(|n| bare(n)).collect();
        for rule in rules {
            if matches!(rule.verdict, Verdict::Cause(_)) && !rule.needs_context {
                gate.extend(rule.any.iter().map(|n| bare(n)));
            }
        }
        // A needle that contains another gate needle adds nothing to a necessary condition.
        gate.sort_by_key(String::len);
        gate.dedup();
        let mut minimal: Vec<String> = Vec::with_capacity(gate.len());
        for needle in gate {
            if !minimal.iter().any(|m| needle.contains(m.as_str())) {
                minimal.push(needle);
            }
        }
        let gate = minimal;
        let context = AUTH_CONTEXT.iter().map(|n| intern(n)).collect();
        let failure = FAILURE_MARKERS.iter().map(|n| intern(n)).collect();
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            if rule.any.is_empty() {
                return Err(RuleTableError::Empty(rule.id));
            }
            if rules[..i].iter().any(|r| r.id == rule.id) || rule.id == UNRECOGNISED_RULE {
                return Err(RuleTableError::DuplicateId(rule.id));
            }
            let (prefixes, any) = if rule.anchored {
                (
                    rule.any.iter().map(|n| n.to_ascii_lowercase()).collect(),
                    Vec::new(),
                )
            } else {
                (Vec::new(), rule.any.iter().map(|n| intern(n)).collect())
            };
            compiled.push(CompiledRule {
                rule,
                prefixes,
                any,
                and_any: rule.and_any.iter().map(|n| intern(n)).collect(),
                unless: rule.unless.iter().map(|n| intern(n)).collect(),
            });
        }
        if patterns.len() > MAX_NEEDLES {
            return Err(RuleTableError::TooManyNeedles(patterns.len()));
        }
        let gate = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&gate)
            .map_err(|e| RuleTableError::Automaton(e.to_string()))?;
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| RuleTableError::Automaton(e.to_string()))?;
        Ok(Classifier {
            gate,
            automaton,
            needles,
            rules: compiled,
            context,
            failure,
        })
    }

    /// The cause of one line, or `None` when the line is not a BankID failure.
    pub fn classify(&self, line: &str) -> Option<LineMatch> {
        with_lowered(line, |lowered| {
            if self.gate.is_match(lowered) {
                self.classify_lowered(lowered)
            } else {
                None
            }
        })
    }

    /// Classifies every line of `text` found at `spans` (sorted, not overlapping, separated by
    /// at least one byte no needle contains, such as `\n`), calling `found` with the index of each
    /// line that has a cause. One lower-cased copy and one gate pass serve the whole batch, so
    /// ordinary lines cost a few bytes of SIMD scanning each.
    pub fn classify_spans(
        &self,
        text: &str,
        spans: &[Range<usize>],
        mut found: impl FnMut(usize, LineMatch),
    ) {
        with_lowered(text, |lowered| {
            let mut at = 0;
            while at < lowered.len() {
                let Some(hit) = self.gate.find(Input::new(lowered).range(at..)) else {
                    break;
                };
                let i = spans.partition_point(|s| s.end <= hit.start());
                let Some(span) = spans.get(i) else { break };
                if hit.start() < span.start {
                    // Not reachable with newline separators; stay correct with any other.
                    at = span.start;
                    continue;
                }
                if let Some(m) = self.classify_lowered(&lowered[span.clone()]) {
                    found(i, m);
                }
                at = span.end;
            }
        })
    }

    /// Classifies every line of a batch in one pass; `found` gets each classified line's index.
    pub fn classify_batch(&self, batch: &LogBatch, found: impl FnMut(usize, LineMatch)) {
        let (text, spans) = batch.text_and_spans();
        let spans: Vec<Range<usize>> = spans.collect();
        self.classify_spans(text, &spans, found);
    }

    /// The rules, for a lower-cased line that passed the gate.
    fn classify_lowered(&self, lowered: &[u8]) -> Option<LineMatch> {
        let hits = self.scan(lowered);
        if hits.is_empty() {
            return None;
        }
        let in_context = hits.any(&self.context);
        for compiled in &self.rules {
            let rule = compiled.rule;
            let fired = if rule.anchored {
                starts_with_any(lowered, &compiled.prefixes)
            } else {
                hits.any(&compiled.any)
            };
            if !fired
                || (rule.needs_context && !in_context)
                || (!compiled.and_any.is_empty() && !hits.any(&compiled.and_any))
                || hits.any(&compiled.unless)
            {
                continue;
            }
            return match rule.verdict {
                Verdict::Cause(cause) => Some(LineMatch {
                    cause,
                    rule: rule.id,
                    strength: rule.strength,
                }),
                Verdict::NotBankId => None,
            };
        }
        if in_context && hits.any(&self.failure) {
            return Some(LineMatch {
                cause: Cause::Unknown,
                rule: UNRECOGNISED_RULE,
                strength: 0.5,
            });
        }
        None
    }

    fn scan(&self, bytes: &[u8]) -> Hits {
        let mut hits = Hits::default();
        for m in self.automaton.find_overlapping_iter(bytes) {
            let id = m.pattern().as_usize();
            if hits.has(id) {
                continue;
            }
            let needle = &self.needles[id];
            if needle.word_start && m.start() > 0 && is_word(bytes[m.start() - 1]) {
                continue;
            }
            if needle.word_end && m.end() < bytes.len() && is_word(bytes[m.end()]) {
                continue;
            }
            hits.set(id);
        }
        hits
    }
}

/// A needle without its word-boundary marks: the gate only needs a superset.
fn bare(needle: &str) -> String {
    let n = needle.strip_prefix(r"\b").unwrap_or(needle);
    n.strip_suffix(r"\b").unwrap_or(n).to_ascii_lowercase()
}

/// Prefix test on a lower-cased line, after leading whitespace.
fn starts_with_any(lowered: &[u8], prefixes: &[String]) -> bool {
    let start = lowered.trim_ascii_start();
    prefixes.iter().any(|p| start.starts_with(p.as_bytes()))
}

/// Runs `f` on an ASCII-lower-cased copy of `text` kept per thread: the automata are
/// case-sensitive because the gate's SIMD prefilter only works that way, and ASCII lower-casing
/// keeps every byte offset.
fn with_lowered<R>(text: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    LOWERED.with(|cell| {
        let mut fresh = Vec::new();
        // A nested call (a callback that classifies again) gets its own buffer.
        let mut kept = cell.try_borrow_mut();
        let lowered = match kept.as_deref_mut() {
            Ok(buffer) => buffer,
            Err(_) => &mut fresh,
        };
        lowered.clear();
        lowered.extend_from_slice(text.as_bytes());
        lowered.make_ascii_lowercase();
        f(lowered)
    })
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_table_compiles() {
        Classifier::new(RULES).unwrap();
    }

    /// Every rule's own examples are its fixtures: each must be classified by that very rule.
    #[test]
    fn every_rule_matches_its_examples() {
        let c = classifier();
        for rule in RULES {
            assert!(
                !rule.examples.is_empty(),
                "rule {} has no examples",
                rule.id
            );
            for example in rule.examples {
                let got = c.classify(example);
                match rule.verdict {
                    Verdict::Cause(cause) => {
                        let got =
                            got.unwrap_or_else(|| panic!("{}: no match for {example:?}", rule.id));
                        assert_eq!((got.rule, got.cause), (rule.id, cause), "{example:?}");
                    }
                    Verdict::NotBankId => assert_eq!(got, None, "{}: {example:?}", rule.id),
                }
            }
        }
    }

    #[test]
    fn word_boundaries_on_numbers() {
        assert_eq!(
            classify_line(
                "POST https://auth.bankid.no/auth/realms/prod/protocol/openid-connect/token 429"
            )
            .map(|m| m.cause),
            Some(Cause::RateLimited)
        );
        assert_eq!(classify_line("bankid request id 14290 took 3 ms"), None);
    }

    #[test]
    fn plain_lines_are_not_classified() {
        for line in [
            "",
            "ready - started server on 0.0.0.0:3000",
            "GET /api/health 200 3ms",
            "Error: connect ECONNREFUSED 127.0.0.1:6379",
        ] {
            assert_eq!(classify_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn a_batch_gives_the_same_verdicts_as_line_by_line() {
        let lines = [
            "GET /api/health 200 2ms",
            "BankID OAuth error: invalid_client",
            "",
            "    at Client.grant (/app/node_modules/openid-client/lib/client.js:401:20)",
            "bankid bankid bankid: nothing wrong",
            "OPError: expected 200 OK, got: 503 Service Unavailable [bankid]",
            "RPError: state mismatch, expected a, got: b",
        ];
        let batch = crate::decode::batch_from_lines(lines);
        let mut got = vec![None; lines.len()];
        classifier().classify_batch(&batch, |i, m| {
            // Classifying inside the callback must not trip over the shared buffer.
            assert_eq!(classify_line(lines[i]), Some(m));
            got[i] = Some(m);
        });
        let expected: Vec<_> = lines.iter().map(|l| classify_line(l)).collect();
        assert_eq!(got, expected);
        assert_eq!(got.iter().flatten().count(), 3);
    }

    #[test]
    fn a_bankid_failure_no_rule_knows_is_unknown() {
        let m = classify_line("BankID login failed: the frobnicator rejected the widget").unwrap();
        assert_eq!((m.cause, m.rule), (Cause::Unknown, UNRECOGNISED_RULE));
    }
}

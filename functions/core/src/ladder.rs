//! The runbook's escalation table as data, and what is due on a tick.
//!
//! | after | step |
//! | --- | --- |
//! | 0 min | diagnose and auto-remediate (done when the incident opens) |
//! | 5 min | page the on-call approver (pager topic: SMS and chat) |
//! | 15 min | if the BankID outage is confirmed: request approval for the demo-mode fallback |
//! | 30 min | page the team for a call |
//! | 1 h | draft the public communication (comms topic) |
//!
//! Each rung is dealt with once: fired, or skipped when an ack has stopped paging. An
//! unacknowledged page repeats every `repeat_unacked_ms`. Verification is not a rung: an ack
//! never stops it.

use crate::cause::Cause;
use crate::incident::{Fallback, Incident, RungDone};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Remediate,
    PagePager,
    RequestFallbackApproval,
    PageTeam,
    PublicCommunication,
}

impl Step {
    /// Paging steps stop once someone has acknowledged.
    pub fn pages(self) -> bool {
        matches!(self, Step::PagePager | Step::PageTeam)
    }

    pub fn id(self) -> &'static str {
        match self {
            Step::Remediate => "remediate",
            Step::PagePager => "page_pager",
            Step::RequestFallbackApproval => "request_fallback_approval",
            Step::PageTeam => "page_team",
            Step::PublicCommunication => "public_communication",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    pub after_ms: i64,
    pub step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    pub rungs: Vec<Rung>,
    pub repeat_unacked_ms: i64,
}

impl Default for Ladder {
    fn default() -> Self {
        const MIN: i64 = 60_000;
        Ladder {
            rungs: vec![
                Rung {
                    after_ms: 0,
                    step: Step::Remediate,
                },
                Rung {
                    after_ms: 5 * MIN,
                    step: Step::PagePager,
                },
                Rung {
                    after_ms: 15 * MIN,
                    step: Step::RequestFallbackApproval,
                },
                Rung {
                    after_ms: 30 * MIN,
                    step: Step::PageTeam,
                },
                Rung {
                    after_ms: 60 * MIN,
                    step: Step::PublicCommunication,
                },
            ],
            repeat_unacked_ms: 10 * MIN,
        }
    }
}

/// What a tick must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Fire(Step),
    /// Record the rung as skipped: it pages and someone acknowledged.
    Skip(Step),
    /// The last page was not acknowledged: send it again.
    RepeatPage,
    /// The approval request expired unanswered while the outage goes on: ask again.
    RenewApproval,
}

impl Ladder {
    /// The rungs and repeats due at `now_ms`, in ladder order. Pure: the caller records them
    /// with [`Ladder::mark`] and saves the incident under its version check.
    pub fn due(&self, incident: &Incident, now_ms: i64) -> Vec<Due> {
        if !incident.is_open() {
            return Vec::new();
        }
        let elapsed = now_ms - incident.opened_ms;
        let done = |step: Step| incident.rungs.iter().any(|r| r.step == step);
        let mut due = Vec::new();
        for rung in &self.rungs {
            if rung.after_ms > elapsed || done(rung.step) {
                continue;
            }
            match rung.step {
                step if step.pages() && incident.acked_by.is_some() => due.push(Due::Skip(step)),
                Step::RequestFallbackApproval => {
                    // Only for a confirmed outage that is still going on, and never when a
                    // fallback is already underway.
                    if outage_ongoing(incident) && incident.fallback == Fallback::None {
                        due.push(Due::Fire(rung.step));
                    }
                }
                step => due.push(Due::Fire(step)),
            }
        }
        let paged = incident.rungs.iter().any(|r| r.step.pages() && !r.skipped);
        let fired_now = due.iter().any(|d| matches!(d, Due::Fire(s) if s.pages()));
        if paged && !fired_now && incident.acked_by.is_none() {
            if let Some(last) = incident.last_page_ms {
                if now_ms - last >= self.repeat_unacked_ms {
                    due.push(Due::RepeatPage);
                }
            }
        }
        if let Fallback::Requested { expires_ms, .. } = incident.fallback {
            if now_ms > expires_ms && outage_ongoing(incident) {
                due.push(Due::RenewApproval);
            }
        }
        due
    }

    /// Records that a rung was dealt with.
    pub fn mark(incident: &mut Incident, step: Step, skipped: bool, now_ms: i64) {
        if incident.rungs.iter().any(|r| r.step == step) {
            return;
        }
        incident.rungs.push(RungDone {
            step,
            at_ms: now_ms,
            skipped,
        });
    }
}

/// A BankID outage that a probe confirmed and that the last probe still saw.
fn outage_ongoing(incident: &Incident) -> bool {
    incident.cause == Some(Cause::BankidOutage)
        && incident.outage_confirmed
        && incident.bankid_healthy_since_ms.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::diagnose_lines;
    use crate::incident::Health;

    const MIN: i64 = 60_000;

    fn incident(lines: &[&str]) -> Incident {
        let d = diagnose_lines(lines.iter().copied());
        let mut i = Incident::open(
            "inc".into(),
            "arn:aws:apprunner:eu-west-1:1:service/drop/1".into(),
            &d,
            0,
        );
        Ladder::mark(&mut i, Step::Remediate, false, 0);
        i
    }

    fn outage() -> Incident {
        incident(&["BankID OAuth error: temporarily_unavailable"; 3])
    }

    /// Runs one tick the way the follow-up does: fire what is due, record it.
    fn tick(ladder: &Ladder, i: &mut Incident, now: i64) -> Vec<Due> {
        let due = ladder.due(i, now);
        for d in &due {
            match *d {
                Due::Fire(step) => {
                    Ladder::mark(i, step, false, now);
                    if step.pages() {
                        i.last_page_ms = Some(now);
                    }
                    if step == Step::RequestFallbackApproval {
                        i.request_fallback("t", 30 * MIN, now);
                    }
                }
                Due::Skip(step) => Ladder::mark(i, step, true, now),
                Due::RepeatPage => i.last_page_ms = Some(now),
                Due::RenewApproval => i.request_fallback("t2", 30 * MIN, now),
            }
        }
        due
    }

    #[test]
    fn the_runbook_timing_table_minute_by_minute() {
        let ladder = Ladder::default();
        let mut i = outage();
        i.observe(
            &Health {
                bankid_ok: false,
                login_ok: false,
                recent_errors: 9,
                detail: "discovery: HTTP 503".into(),
            },
            Default::default(),
            MIN,
        );
        let mut fired = Vec::new();
        for minute in 0..=70 {
            for d in tick(&ladder, &mut i, minute * MIN) {
                fired.push((minute, d));
            }
        }
        assert_eq!(
            fired,
            vec![
                (5, Due::Fire(Step::PagePager)),
                (15, Due::Fire(Step::RequestFallbackApproval)),
                (15, Due::RepeatPage),
                (25, Due::RepeatPage),
                (30, Due::Fire(Step::PageTeam)),
                (40, Due::RepeatPage),
                (46, Due::RenewApproval),
                (50, Due::RepeatPage),
                (60, Due::Fire(Step::PublicCommunication)),
                (60, Due::RepeatPage),
                (70, Due::RepeatPage),
            ]
        );
    }

    #[test]
    fn an_ack_skips_paging_rungs_and_stops_repeats_but_not_the_rest() {
        let ladder = Ladder::default();
        let mut i = outage();
        i.outage_confirmed = true;
        assert_eq!(
            tick(&ladder, &mut i, 5 * MIN),
            vec![Due::Fire(Step::PagePager)]
        );
        i.ack("alem", 6 * MIN);
        let mut later = Vec::new();
        for minute in 7..=61 {
            later.extend(tick(&ladder, &mut i, minute * MIN));
        }
        assert_eq!(
            later,
            vec![
                Due::Fire(Step::RequestFallbackApproval),
                Due::Skip(Step::PageTeam),
                Due::RenewApproval,
                Due::Fire(Step::PublicCommunication),
            ]
        );
    }

    #[test]
    fn no_fallback_is_asked_for_without_a_confirmed_outage() {
        let ladder = Ladder::default();
        let mut creds = incident(&["BankID OAuth error: invalid_client"]);
        let mut outage = outage();
        for minute in 0..=20 {
            for i in [&mut creds, &mut outage] {
                assert!(!tick(&ladder, i, minute * MIN)
                    .contains(&Due::Fire(Step::RequestFallbackApproval)));
            }
        }
        // Confirmed but BankID is back by the time the rung is due: not asked for.
        outage.outage_confirmed = true;
        outage.bankid_healthy_since_ms = Some(20 * MIN);
        assert!(!tick(&ladder, &mut outage, 20 * MIN)
            .contains(&Due::Fire(Step::RequestFallbackApproval)));
        // Failing again: asked for then, once.
        outage.bankid_healthy_since_ms = None;
        assert!(tick(&ladder, &mut outage, 21 * MIN)
            .contains(&Due::Fire(Step::RequestFallbackApproval)));
        assert!(!tick(&ladder, &mut outage, 22 * MIN)
            .contains(&Due::Fire(Step::RequestFallbackApproval)));
    }

    #[test]
    fn a_late_tick_catches_up_each_rung_once_and_a_resolved_incident_has_none() {
        let ladder = Ladder::default();
        let mut i = incident(&["BankID OAuth error: invalid_client"]);
        assert_eq!(
            tick(&ladder, &mut i, 61 * MIN),
            vec![
                Due::Fire(Step::PagePager),
                Due::Fire(Step::PageTeam),
                Due::Fire(Step::PublicCommunication)
            ]
        );
        assert_eq!(tick(&ladder, &mut i, 61 * MIN), vec![]);
        i.resolve("john", None, 62 * MIN);
        assert_eq!(tick(&ladder, &mut i, 200 * MIN), vec![]);
    }
}

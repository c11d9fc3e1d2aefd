//! The failure causes and the table that says how much evidence each needs and how they rank.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why BankID logins fail. The snake_case ids are stable: they appear in JSON, metrics and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    BankidOutage,
    InvalidCredentials,
    CallbackMismatch,
    InvalidState,
    RateLimited,
    Network,
    Unknown,
}

/// How a cause competes when a batch holds lines of several causes (see [`CAUSES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// BankID answered and refused our configuration: proof that beats any noise around it.
    Configuration,
    /// BankID or the path to it is failing; among these the most frequent wins.
    External,
    /// The app's own session handling.
    Session,
    /// A BankID failure that no rule explains.
    Unrecognised,
}

/// One row of the cause table.
#[derive(Debug, Clone, Copy)]
pub struct CauseSpec {
    pub cause: Cause,
    pub tier: Tier,
    /// Lines needed in one batch before the cause is diagnosed; fewer is treated as noise.
    pub min_lines: usize,
    /// Breaks ties inside a tier (lower wins).
    pub rank: u8,
    /// One sentence for people: what the cause means.
    pub summary: &'static str,
}

/// The cause table. Order is the order of [`Cause::ALL`].
///
/// Thresholds: one `invalid_client` is proof (BankID answered), while a single 503, timeout or state
/// failure happens on healthy days (a user's network, a user who waited too long), so those need a
/// small cluster before they count.
pub const CAUSES: [CauseSpec; 7] = [
    CauseSpec {
        cause: Cause::BankidOutage,
        tier: Tier::External,
        min_lines: 3,
        rank: 0,
        summary: "BankID itself is failing (5xx, temporarily_unavailable, discovery down)",
    },
    CauseSpec {
        cause: Cause::InvalidCredentials,
        tier: Tier::Configuration,
        min_lines: 1,
        rank: 0,
        summary: "BankID rejects the client id or secret (invalid_client, 401 from the token endpoint)",
    },
    CauseSpec {
        cause: Cause::CallbackMismatch,
        tier: Tier::Configuration,
        min_lines: 1,
        rank: 1,
        summary: "the redirect_uri sent to BankID is not the one registered in the BankID portal",
    },
    CauseSpec {
        cause: Cause::InvalidState,
        tier: Tier::Session,
        min_lines: 3,
        rank: 0,
        summary: "the callback's state, nonce or PKCE check fails (session lost or expired before the callback)",
    },
    CauseSpec {
        cause: Cause::RateLimited,
        tier: Tier::External,
        min_lines: 2,
        rank: 1,
        summary: "BankID is rate limiting our client (429, rate_limit_exceeded, slow_down)",
    },
    CauseSpec {
        cause: Cause::Network,
        tier: Tier::External,
        min_lines: 2,
        rank: 2,
        summary: "BankID cannot be reached (DNS, TCP, TLS or timeouts)",
    },
    CauseSpec {
        cause: Cause::Unknown,
        tier: Tier::Unrecognised,
        min_lines: 2,
        rank: 0,
        summary: "BankID logins fail in a way no rule recognises",
    },
];

impl Cause {
    /// Every cause, in the order of [`CAUSES`].
    pub const ALL: [Cause; 7] = [
        Cause::BankidOutage,
        Cause::InvalidCredentials,
        Cause::CallbackMismatch,
        Cause::InvalidState,
        Cause::RateLimited,
        Cause::Network,
        Cause::Unknown,
    ];

    /// The stable id, as used in JSON, metrics and pages.
    pub const fn id(self) -> &'static str {
        match self {
            Cause::BankidOutage => "bankid_outage",
            Cause::InvalidCredentials => "invalid_credentials",
            Cause::CallbackMismatch => "callback_mismatch",
            Cause::InvalidState => "invalid_state",
            Cause::RateLimited => "rate_limited",
            Cause::Network => "network",
            Cause::Unknown => "unknown",
        }
    }

    /// Position in [`Cause::ALL`] and [`CAUSES`], for dense per-cause arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn spec(self) -> &'static CauseSpec {
        &CAUSES[self.index()]
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A cause id that is not one of [`Cause::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown cause {0:?}; expected one of bankid_outage, invalid_credentials, callback_mismatch, invalid_state, rate_limited, network, unknown")]
pub struct UnknownCause(pub String);

impl FromStr for Cause {
    type Err = UnknownCause;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cause::ALL
            .into_iter()
            .find(|c| c.id() == s)
            .ok_or_else(|| UnknownCause(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_follow_the_order_of_all() {
        for (i, cause) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(CAUSES[i].cause, cause);
            assert_eq!(cause.index(), i);
        }
    }

    #[test]
    fn ids_round_trip_through_serde_and_from_str() {
        for cause in Cause::ALL {
            let json = serde_json::to_string(&cause).unwrap();
            assert_eq!(json, format!("\"{}\"", cause.id()));
            assert_eq!(cause.id().parse::<Cause>().unwrap(), cause);
        }
        assert!("outage".parse::<Cause>().is_err());
    }

    #[test]
    fn ranks_are_unique_within_a_tier() {
        for a in CAUSES {
            for b in CAUSES {
                if a.cause != b.cause && a.tier == b.tier {
                    assert_ne!(a.rank, b.rank, "{} and {}", a.cause, b.cause);
                }
            }
        }
    }
}

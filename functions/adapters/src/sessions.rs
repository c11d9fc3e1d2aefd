//! Session stores: purge stale BankID state, targeted, in bounded batches; never a flush.
//!
//! The runbook's `redis-cli FLUSHDB` logs out every user. Here only what is stale goes:
//! - Redis: keys matching the BankID state pattern (SCAN, never KEYS) whose JSON value says they
//!   expired (`expires_at`, `expiresAt` or `expires`, epoch seconds or milliseconds or RFC 3339),
//!   or that have been idle longer than the state TTL; removed with UNLINK in batches.
//! - PostgreSQL and SQLite: rows of the session table whose expiry column is in the past,
//!   deleted in batches of [`BATCH`].

use crate::AdapterError;
use remediator_core::settings::{SessionSettings, SessionStoreUrl};
use serde::Serialize;

/// Keys or rows removed per round trip.
pub const BATCH: usize = 500;
/// A purge stops after this many rounds, so one invocation stays bounded.
const MAX_ROUNDS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub store: &'static str,
    /// Keys or rows looked at (Redis) or matched (SQL).
    pub examined: u64,
    pub purged: u64,
}

#[derive(Clone)]
pub struct SessionStore {
    settings: SessionSettings,
}

impl SessionStore {
    pub fn new(settings: SessionSettings) -> Self {
        SessionStore { settings }
    }

    pub async fn purge_stale(&self, now_ms: i64) -> Result<PurgeReport, AdapterError> {
        match &self.settings.url {
            SessionStoreUrl::Redis(url) => self.purge_redis(url, now_ms).await,
            SessionStoreUrl::Postgres(url) => self.purge_postgres(url).await,
            SessionStoreUrl::Sqlite(path) => self.purge_sqlite(path.clone()).await,
        }
    }

    async fn purge_redis(&self, url: &str, now_ms: i64) -> Result<PurgeReport, AdapterError> {
        let unreachable = |e: redis::RedisError| {
            AdapterError::Retryable(format!("session store (Redis): {}", redis_reason(&e)))
        };
        let client = redis::Client::open(url).map_err(|e| {
            AdapterError::Permanent(format!(
                "SESSION_STORE_URL is not a Redis URL ({})",
                redis_reason(&e)
            ))
        })?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(unreachable)?;
        let ttl_seconds = self.settings.state_ttl.as_secs();
        let mut cursor: u64 = 0;
        let mut report = PurgeReport {
            store: "redis",
            examined: 0,
            purged: 0,
        };
        for _ in 0..MAX_ROUNDS {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&self.settings.key_pattern)
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut conn)
                .await
                .map_err(unreachable)?;
            let mut stale = Vec::new();
            for key in keys {
                report.examined += 1;
                let idle: Option<u64> = redis::cmd("OBJECT")
                    .arg("IDLETIME")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(unreachable)?;
                let Some(idle) = idle else { continue }; // gone meanwhile
                                                         // GET refreshes the idle time, so it is read after OBJECT IDLETIME.
                let value: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .or_else(|e| {
                        if e.kind() == redis::ErrorKind::TypeError {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(unreachable)?;
                let expired = value
                    .as_deref()
                    .and_then(expiry_ms)
                    .is_some_and(|t| t < now_ms);
                if expired || idle > ttl_seconds {
                    stale.push(key);
                }
            }
            for chunk in stale.chunks(BATCH) {
                let removed: u64 = redis::cmd("UNLINK")
                    .arg(chunk)
                    .query_async(&mut conn)
                    .await
                    .map_err(unreachable)?;
                report.purged += removed;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(report)
    }

    async fn purge_postgres(&self, url: &str) -> Result<PurgeReport, AdapterError> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| {
                AdapterError::Retryable(format!(
                    "session store (PostgreSQL): cannot connect ({})",
                    pg_reason(&e)
                ))
            })?;
        let driver = tokio::spawn(connection);
        let (table, column) = (&self.settings.table, &self.settings.expires_column);
        let sql = format!(
            "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {column} < now() LIMIT {BATCH})"
        );
        let mut report = PurgeReport {
            store: "postgres",
            examined: 0,
            purged: 0,
        };
        let result = async {
            for _ in 0..MAX_ROUNDS {
                let n = client.execute(sql.as_str(), &[]).await.map_err(|e| {
                    AdapterError::Permanent(format!(
                        "session store (PostgreSQL): {}",
                        pg_reason(&e)
                    ))
                })?;
                report.examined += n;
                report.purged += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            Ok(())
        }
        .await;
        drop(client);
        driver.abort();
        result.map(|()| report)
    }

    async fn purge_sqlite(&self, path: String) -> Result<PurgeReport, AdapterError> {
        let (table, column) = (
            self.settings.table.clone(),
            self.settings.expires_column.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let fail = |e: rusqlite::Error| AdapterError::Permanent(format!("session store (SQLite): {e}"));
            let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
                .map_err(|e| AdapterError::Permanent(format!("session store (SQLite): cannot open {path}: {e}")))?;
            conn.busy_timeout(std::time::Duration::from_secs(2)).map_err(fail)?;
            // Expiry stored as text (datetime('now') style, as the runbook's query assumes) or as
            // epoch seconds or milliseconds: each compared as what it is, never text against number.
            let sql = format!(
                "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE \
                 (typeof({column}) = 'text' AND julianday({column}) < julianday('now')) OR \
                 (typeof({column}) IN ('integer', 'real') AND \
                  (CASE WHEN {column} > 100000000000 THEN {column} / 1000 ELSE {column} END) < CAST(strftime('%s', 'now') AS INTEGER)) \
                 LIMIT {BATCH})"
            );
            let mut report = PurgeReport { store: "sqlite", examined: 0, purged: 0 };
            for _ in 0..MAX_ROUNDS {
                let n = conn.execute(&sql, []).map_err(fail)? as u64;
                report.examined += n;
                report.purged += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            Ok(report)
        })
        .await
        .map_err(|e| AdapterError::Permanent(format!("session store (SQLite): {e}")))?
    }
}

/// A Redis error's reason, redacted in case it echoes a URL with a password.
fn redis_reason(e: &redis::RedisError) -> String {
    remediator_core::redact::redact(&e.to_string()).into_owned()
}

/// A PostgreSQL error's reason without the connection string (which may hold a password).
fn pg_reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let text = e.to_string();
            remediator_core::redact::redact(&text).into_owned()
        }
    }
}

/// The expiry a session or state value carries, in epoch milliseconds.
fn expiry_ms(value: &str) -> Option<i64> {
    let json: serde_json::Value = serde_json::from_str(value).ok()?;
    let field = ["expires_at", "expiresAt", "expires"]
        .iter()
        .find_map(|k| json.get(k))?;
    match field {
        serde_json::Value::Number(n) => {
            let n = n.as_f64()? as i64;
            Some(if n > 100_000_000_000 { n } else { n * 1000 })
        }
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::expiry_ms;

    #[test]
    fn expiry_is_read_in_every_usual_spelling() {
        assert_eq!(
            expiry_ms(r#"{"expires_at": 1796353920}"#),
            Some(1_796_353_920_000)
        );
        assert_eq!(
            expiry_ms(r#"{"expiresAt": 1796353920000}"#),
            Some(1_796_353_920_000)
        );
        assert_eq!(
            expiry_ms(r#"{"expires": "2026-12-04T03:12:00Z"}"#),
            Some(1_796_353_920_000)
        );
        assert_eq!(expiry_ms(r#"{"state": "abc"}"#), None);
        assert_eq!(expiry_ms("not json"), None);
    }
}

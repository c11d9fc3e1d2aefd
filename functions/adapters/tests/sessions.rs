//! Stale-state purges against real Redis and PostgreSQL servers and a SQLite file.
//! Fresh entries survive, and are counted to prove it.

use remediator_adapters::sessions::SessionStore;
use remediator_core::settings::{SessionSettings, SessionStoreUrl};
use std::time::Duration;

const REDIS: &str = "redis://127.0.0.1:6379/9";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}_{}_{nanos}", std::process::id())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn settings(url: SessionStoreUrl, pattern: &str, table: &str, ttl: Duration) -> SessionSettings {
    SessionSettings {
        url,
        key_pattern: pattern.into(),
        table: table.into(),
        expires_column: "expires_at".into(),
        state_ttl: ttl,
    }
}

#[tokio::test]
async fn redis_purges_only_stale_bankid_state() {
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis on 127.0.0.1:6379");
    let prefix = unique("t");
    let now = now_ms();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for i in 0..5 {
        let value = format!(r#"{{"expires_at":{}}}"#, now + 600_000);
        pairs.push((format!("{prefix}:bankid:state:fresh{i}"), value));
    }
    for i in 0..3 {
        let value = format!(r#"{{"expiresAt":{}}}"#, now - 1_000);
        pairs.push((format!("{prefix}:bankid:state:old{i}"), value));
    }
    pairs.push((format!("{prefix}:bankid:state:plain"), "not json".into()));
    let expired = format!(r#"{{"expires_at":{}}}"#, now - 1_000);
    pairs.push((format!("{prefix}:session:user1"), expired));
    for (key, value) in &pairs {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    let store = SessionStore::new(settings(
        SessionStoreUrl::Redis(REDIS.into()),
        &format!("{prefix}:bankid:state:*"),
        "sessions",
        Duration::from_secs(600),
    ));
    let report = store.purge_stale(now).await.unwrap();
    assert_eq!((report.examined, report.purged), (9, 3));
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left.len(),
        7,
        "5 fresh states, the plain one and the user session survive: {left:?}"
    );
    assert!(left.iter().all(|k| !k.contains(":old")));

    // Idle past the state TTL counts as stale too.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let short = SessionStore::new(settings(
        SessionStoreUrl::Redis(REDIS.into()),
        &format!("{prefix}:bankid:state:*"),
        "sessions",
        Duration::from_secs(1),
    ));
    assert_eq!(short.purge_stale(now_ms()).await.unwrap().purged, 6);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left,
        vec![format!("{prefix}:session:user1")],
        "the user's session is never touched"
    );
    let _: () = redis::cmd("DEL")
        .arg(&left)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_deletes_expired_rows_in_batches() {
    let (client, connection) = tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(connection);
    let table = unique("sessions");
    client.batch_execute(&format!(
        "CREATE TABLE {table} (sid text PRIMARY KEY, expires_at timestamptz NOT NULL);
         INSERT INTO {table} SELECT 'old' || g, now() - interval '1 hour' FROM generate_series(1, 1200) g;
         INSERT INTO {table} SELECT 'fresh' || g, now() + interval '1 hour' FROM generate_series(1, 10) g;"
    )).await.unwrap();
    let store = SessionStore::new(settings(
        SessionStoreUrl::Postgres(POSTGRES.into()),
        "",
        &table,
        Duration::from_secs(600),
    ));
    let report = store.purge_stale(now_ms()).await.unwrap();
    assert_eq!(report.purged, 1200);
    let left: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 10);

    let missing = SessionStore::new(settings(
        SessionStoreUrl::Postgres(POSTGRES.into()),
        "",
        "no_such_table",
        Duration::from_secs(600),
    ));
    let e = missing.purge_stale(now_ms()).await.unwrap_err();
    assert!(!e.retryable() && e.to_string().contains("42P01"), "{e}");
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_deletes_expired_rows_whatever_the_expiry_type() {
    let dir = std::env::temp_dir().join(unique("sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sessions.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE sessions (sid TEXT PRIMARY KEY, expires_at);
         INSERT INTO sessions VALUES ('old-text-1', datetime('now', '-1 hour')), ('old-text-2', datetime('now', '-20 minutes')),
           ('old-seconds', CAST(strftime('%s', 'now') AS INTEGER) - 60), ('old-millis', CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 60000),
           ('fresh-text', datetime('now', '+1 hour')), ('fresh-seconds', CAST(strftime('%s', 'now') AS INTEGER) + 600),
           ('fresh-millis', CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 600000);",
    ).unwrap();
    let store = SessionStore::new(settings(
        SessionStoreUrl::Sqlite(path.to_string_lossy().into()),
        "",
        "sessions",
        Duration::from_secs(600),
    ));
    assert_eq!(store.purge_stale(now_ms()).await.unwrap().purged, 4);
    let mut left: Vec<String> = conn
        .prepare("SELECT sid FROM sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    left.sort();
    assert_eq!(left, vec!["fresh-millis", "fresh-seconds", "fresh-text"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn unreachable_or_missing_stores_are_clear_errors() {
    let port = local_stack::free_port().unwrap();
    let redis = SessionStore::new(settings(
        SessionStoreUrl::Redis(format!("redis://127.0.0.1:{port}")),
        "bankid:state:*",
        "sessions",
        Duration::from_secs(600),
    ));
    let e = redis.purge_stale(now_ms()).await.unwrap_err();
    assert!(
        e.retryable() && e.to_string().starts_with("session store (Redis)"),
        "{e}"
    );

    let pg = SessionStore::new(settings(
        SessionStoreUrl::Postgres(format!("postgres://user:hunter2@127.0.0.1:{port}/test")),
        "",
        "sessions",
        Duration::from_secs(600),
    ));
    let e = pg.purge_stale(now_ms()).await.unwrap_err();
    assert!(e.retryable() && !e.to_string().contains("hunter2"), "{e}");

    let sqlite = SessionStore::new(settings(
        SessionStoreUrl::Sqlite("/nonexistent/dir/sessions.db".into()),
        "",
        "sessions",
        Duration::from_secs(600),
    ));
    let e = sqlite.purge_stale(now_ms()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot open /nonexistent/dir/sessions.db"),
        "{e}"
    );
}

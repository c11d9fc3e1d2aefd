//! The functions' log subscriber. Lambda's log level (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`,
//! else INFO) and format (`AWS_LAMBDA_LOG_FORMAT=JSON`) apply to everything except the AWS SDK
//! and HTTP crates, which stay at DEBUG at most: at TRACE they log whole response bodies, and
//! those hold the app's raw log lines and the incident records. Only a level is read from the
//! environment, never per-crate directives, so no setting can lift the cap.

use std::str::FromStr;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Crates whose TRACE output includes request or response bodies.
pub const BODY_LOGGING_CRATES: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_sdk_apprunner",
    "aws_sdk_cloudwatchlogs",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "aws_sdk_sns",
    "aws_config",
    "aws_runtime",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
];

/// Everything at `level`; the body-logging crates at `level` or DEBUG, whichever is quieter.
pub fn filter(level: LevelFilter) -> EnvFilter {
    let capped = level.min(LevelFilter::DEBUG);
    BODY_LOGGING_CRATES
        .iter()
        .fold(EnvFilter::new(level.to_string()), |filter, krate| {
            filter.add_directive(
                format!("{krate}={capped}")
                    .parse()
                    .expect("a crate name and a level make a directive"),
            )
        })
}

/// The level Lambda's settings ask for; INFO when unset or not a level.
pub fn configured_level() -> LevelFilter {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the subscriber for a function's cold start.
pub fn init() {
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(configured_level()));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_never_logs_at_trace_whatever_the_level() {
        let trace = filter(LevelFilter::TRACE).to_string();
        assert!(trace.contains("aws_smithy_runtime=debug"), "{trace}");
        assert!(
            trace.starts_with("trace") || trace.contains(",trace") || trace.contains("trace,"),
            "{trace}"
        );
        let warn = filter(LevelFilter::WARN).to_string();
        assert!(warn.contains("aws_smithy_runtime=warn"), "{warn}");
    }
}

//! CloudWatch Logs: the app's recent BankID lines, for signals that carry none (an alarm, a
//! manual `diagnose`): the runbook's step 2, `aws logs filter-log-events`.

use crate::AdapterError;
use aws_sdk_cloudwatchlogs::Client;
use remediator_core::signal::LogBatch;

/// At most this many events are read per diagnosis: enough to diagnose, bounded in time and memory.
pub const MAX_EVENTS: usize = 10_000;

/// The filter pattern: any of the BankID terms (see [`remediator_core::filters`]).
pub fn filter_pattern() -> String {
    remediator_core::filters::subscription_pattern()
}

#[derive(Clone)]
pub struct AppLogs {
    client: Client,
    log_group: String,
}

impl AppLogs {
    pub fn new(client: Client, log_group: impl Into<String>) -> Self {
        AppLogs {
            client,
            log_group: log_group.into(),
        }
    }

    /// The app's BankID-related lines of the last `minutes`, oldest first, at most [`MAX_EVENTS`].
    pub async fn recent(&self, now_ms: i64, minutes: u32) -> Result<LogBatch, AdapterError> {
        let mut batch = LogBatch::new(Some(self.log_group.clone()), None);
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .filter_log_events()
                .log_group_name(&self.log_group)
                .start_time(now_ms - i64::from(minutes) * 60_000)
                .end_time(now_ms)
                .filter_pattern(filter_pattern())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AdapterError::from_sdk("CloudWatch Logs FilterLogEvents", e))?;
            for event in page.events.unwrap_or_default() {
                if batch.len() + batch.rejected.len() >= MAX_EVENTS {
                    return Ok(batch);
                }
                if let Some(message) = event.message.as_deref() {
                    batch.push(
                        event.event_id.as_deref(),
                        event.timestamp,
                        message.trim_end_matches('\n'),
                    );
                }
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(batch),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filter_pattern_fits_cloudwatch_limits() {
        let p = super::filter_pattern();
        assert!(p.len() <= 1024, "{} characters", p.len());
        assert!(p.starts_with("?\"bankid\" ?\"BankID\""));
    }
}

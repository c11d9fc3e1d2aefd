//! SNS pages: one message per page, `MessageStructure=json`, so SMS subscribers get the short
//! text and every other protocol (chat, e-mail, SQS) the full body.

use crate::AdapterError;
use aws_sdk_sns::Client;
use remediator_core::incident::OwedPage;
use remediator_core::page::Topic;

/// The three topics' ARNs. A topic left unset is reported when a page for it is due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    pub pager: Option<String>,
    pub team: Option<String>,
    pub comms: Option<String>,
}

impl Topics {
    fn arn(&self, topic: Topic) -> Option<&str> {
        match topic {
            Topic::Pager => self.pager.as_deref(),
            Topic::Team => self.team.as_deref().or(self.pager.as_deref()),
            Topic::Comms => self.comms.as_deref().or(self.pager.as_deref()),
        }
    }
}

#[derive(Clone)]
pub struct Pager {
    client: Client,
    topics: Topics,
}

impl Pager {
    pub fn new(client: Client, topics: Topics) -> Self {
        Pager { client, topics }
    }

    /// Publishes one page; returns SNS's message id.
    pub async fn publish(&self, page: &OwedPage) -> Result<String, AdapterError> {
        let Some(arn) = self.topics.arn(page.topic) else {
            return Err(AdapterError::Permanent(format!(
                "no SNS topic is configured for {:?} pages (PAGER_TOPIC_ARN)",
                page.topic
            )));
        };
        // Queue subscribers (bots, archives) get the page structured: both texts and the topic.
        let structured = serde_json::json!({
            "topic": page.topic,
            "subject": page.subject,
            "sms": page.sms,
            "body": page.body,
        });
        let message = serde_json::json!({
            "default": page.body,
            "sms": page.sms,
            "email": page.body,
            "sqs": structured.to_string(),
        });
        let out = self
            .client
            .publish()
            .topic_arn(arn)
            .subject(subject(&page.subject))
            .message_structure("json")
            .message(message.to_string())
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("SNS Publish", e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}

/// SNS subjects are ASCII without control characters, under 100 characters.
fn subject(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(99)
        .collect()
}

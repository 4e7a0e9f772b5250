//! Announcements and Slack: which SLACK integrations hear about an event, and the message.

pub mod announce;
pub mod pacer;
pub mod slack;

//! Announcements: which SLACK integrations hear about an event, and the pace of Slack sends.

pub mod announce;
pub mod pacer;

//! What preparing an outbox row needs and gives, shared by the row kinds' preparations
//! (`prepare`, `runner`): where the answer comes from, the environment, and the outcome.

use crate::db::outbox::Finish;
use crate::domain::hosts::AllowedHosts;
use crate::domain::secrets::SecretBox;
use crate::pipeline::notify::pacer;
use crate::remote::Request;
use crate::remote::create_once::CreateOnce;
use crate::remote::forge::Forge;
use crate::remote::github_app::AppAuth;

/// Which remote's rules read the answer.
#[derive(Debug, Clone, Copy)]
pub enum Remote {
    /// GitHub's or GitLab's API.
    Forge(Forge),
    /// An incoming webhook.
    Slack,
    /// The Web API with a bot token.
    SlackApi,
    /// An HTTP runner (`eval.dispatch`, `deploy.dispatch`).
    Runner,
}

impl Remote {
    pub fn label(self) -> &'static str {
        match self {
            Remote::Forge(forge) => forge.label(),
            Remote::Slack | Remote::SlackApi => "slack",
            Remote::Runner => "runner",
        }
    }
}

/// What preparing a row needs besides the row and the database.
pub struct Env<'a> {
    /// Opens credentials (sealed inline values, named secrets).
    pub secrets: &'a SecretBox,
    /// The hosts whose answers may be kept and shown.
    pub allowed: &'a AllowedHosts,
    /// This server's public base URL (an HTTP runner's callback).
    pub public_url: &'a str,
}

pub enum Prepared {
    /// With Slack's turn for the URL, when it is a Slack message: ended once it was sent.
    Send(Request, Remote, Option<pacer::Turn>),
    /// A request that creates what an earlier attempt may have created (a results comment):
    /// the sender first looks for it.
    SendCreatingOnce(Request, Remote, CreateOnce),
    /// A request to GitHub as an App's installation: the sender adds the installation token
    /// (and, for a check run or a comment, first looks for the one an earlier attempt
    /// created).
    SendAsApp(Request, AppAuth, Option<CreateOnce>),
    /// Settled without a request (a missing credential, a deployment already created, a
    /// Slack webhook still within its second).
    Settled(Finish),
}

/// A row that ends without a request, failed for `error`.
pub fn failed(error: impl Into<String>) -> Prepared {
    Prepared::Settled(Finish::Failed {
        error: error.into(),
        status: None,
    })
}

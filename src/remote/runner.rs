//! An HTTP runner (an eval platform's endpoint that takes `eval_run.requested`): how its
//! request is signed and its answers read. 2xx: it has the run; 429 pauses the runner for its
//! `Retry-After`; 5xx is retried; any other answer will not change by sending again.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Answer, accepted, read_other, said};
use crate::remote::agent::Reply;

pub fn read(reply: Reply) -> Answer {
    match reply.status {
        200..=299 => accepted(reply),
        429 => Answer::Pause {
            status: 429,
            error: format!("the runner's rate limit (429): {}", said(&reply)),
            wait: Duration::from_secs(reply.retry_after.unwrap_or(1).max(1)),
        },
        _ => read_other("the runner", &reply),
    }
}

/// The Standard Webhooks signature of `body` sent as message `id` at `timestamp` (seconds):
/// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under `key`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the Standard Webhooks specification.
    #[test]
    fn signs_as_the_standard_webhooks_specification_shows() {
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}

//! Encryption at rest for secret values: ChaCha20-Poly1305 under a master key that is read from
//! `PROVENANT_MASTER_KEY` or generated once into the data folder (owner-only permissions).
//! Each value gets a random nonce, and its name is authenticated with it, so a ciphertext
//! copied to another name does not decrypt.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const KEY_FILE: &str = "master-key";
const NONCE_LEN: usize = 12;

pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Keys the fingerprints that name a token's queue (derived from the master key, so a
    /// fingerprint cannot be used to check guesses of a token offline).
    fingerprints: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    pub fn new(key: [u8; 32]) -> Self {
        SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            fingerprints: keyed_hash(&key, b"provenant: destination fingerprints"),
        }
    }

    /// A short, stable name for a credential that reveals nothing about it without the master
    /// key: the first 16 hex digits of an HMAC-SHA256 under a key derived from it.
    pub fn fingerprint(&self, credential: &str) -> String {
        hex::encode(keyed_hash(&self.fingerprints, credential.as_bytes()))[..16].to_string()
    }

    /// The configured key (64 hex characters or base64 of 32 bytes), or the one kept in the
    /// data folder, generated on first use.
    pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<Self> {
        if let Some(found) = Self::load(Some(data_dir), configured)? {
            return Ok(found);
        }
        let path = data_dir.join(KEY_FILE);
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
        crate::base::files::write_owner_only(&path, &hex::encode(key))?;
        tracing::info!(path = %path.display(), "generated a master key for secrets; back it up with the database");
        Ok(Self::new(key))
    }

    /// The configured key, or the one kept in the data folder; None when there is neither
    /// (nothing is generated: for reading an installation, as `doctor` does).
    pub fn load(data_dir: Option<&Path>, configured: Option<&str>) -> anyhow::Result<Option<Self>> {
        if configured.is_some() {
            return Self::configured(configured).map(Some);
        }
        let Some(path) = data_dir.map(|d| d.join(KEY_FILE)) else {
            return Ok(None);
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_key(&text)
                .map(|k| Some(Self::new(k)))
                .with_context(|| format!("{} does not hold a valid key", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The key given by `--master-key`; an error when none was, or it is not a key.
    pub fn configured(configured: Option<&str>) -> anyhow::Result<Self> {
        let text = configured.ok_or_else(|| anyhow::anyhow!("no master key was given"))?;
        parse_key(text)
            .map(Self::new)
            .context("PROVENANT_MASTER_KEY must be 32 bytes as 64 hex characters or base64")
    }

    /// `nonce || ciphertext+tag`.
    pub fn encrypt(&self, name: &str, value: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn decrypt(&self, name: &str, blob: &[u8]) -> anyhow::Result<String> {
        if blob.len() < NONCE_LEN {
            bail!("stored secret {name} is truncated");
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "secret {name} cannot be decrypted: wrong master key or damaged data"
                )
            })?;
        String::from_utf8(plain).context("secret is not UTF-8")
    }
}

fn keyed_hash(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_are_bound_to_their_name() {
        let sb = SecretBox::new([7; 32]);
        let blob = sb.encrypt("GITHUB_TOKEN", "ghp_secret").expect("encrypt");
        assert!(!blob.windows(10).any(|w| w == b"ghp_secret"));
        assert_eq!(
            sb.decrypt("GITHUB_TOKEN", &blob).expect("decrypt"),
            "ghp_secret"
        );
        assert!(sb.decrypt("OTHER", &blob).is_err());
        assert!(
            SecretBox::new([8; 32])
                .decrypt("GITHUB_TOKEN", &blob)
                .is_err()
        );
    }

    #[test]
    fn fingerprints_are_keyed_by_the_master_key() {
        let a = SecretBox::new([1; 32]);
        assert_eq!(a.fingerprint("ghp_x"), a.fingerprint("ghp_x"));
        assert_eq!(a.fingerprint("ghp_x").len(), 16);
        assert_ne!(
            a.fingerprint("ghp_x"),
            SecretBox::new([2; 32]).fingerprint("ghp_x")
        );
        use sha2::Digest;
        let unsalted = hex::encode(sha2::Sha256::digest(b"ghp_x"));
        assert_ne!(a.fingerprint("ghp_x"), unsalted[..16]);
    }

    #[test]
    fn keys_parse_from_hex_or_base64() {
        assert_eq!(parse_key(&"ab".repeat(32)), Some([0xab; 32]));
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert_eq!(parse_key(&b64), Some([1; 32]));
        assert_eq!(parse_key("short"), None);
    }
}

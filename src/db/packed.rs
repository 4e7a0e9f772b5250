//! Payloads are stored compressed when that pays: webhook JSON shrinks to a tenth or less with
//! zstd at its fastest level, which cuts the bytes the delivery writer syncs and the size of the
//! database file. The API always gives back the exact bytes received.

use std::cell::RefCell;

use zstd::bulk::{Compressor, Decompressor};

/// How a stored payload is encoded (`event_bodies.encoding`); `None` is the raw bytes.
pub const ZSTD: &str = "zstd";

/// Bodies smaller than this are stored as they are: too little to gain.
const MIN_COMPRESS: usize = 256;
/// zstd's fastest level: about 0.1 ms for GitHub's 21 KB pull request payload.
const LEVEL: i32 = 1;

/// A body ready to store: its bytes and how they are encoded.
#[derive(Debug, Clone)]
pub struct Packed {
    pub encoding: Option<&'static str>,
    pub bytes: Vec<u8>,
}

/// Compresses `body` unless it is small or does not compress (already-compressed data,
/// random bytes): then the raw bytes are kept.
pub fn pack(body: Vec<u8>) -> Packed {
    if body.len() >= MIN_COMPRESS
        && let Ok(small) = compress(&body)
        // Worth it only when it saves at least an eighth.
        && small.len() < body.len() - body.len() / 8
    {
        return Packed {
            encoding: Some(ZSTD),
            bytes: small,
        };
    }
    Packed {
        encoding: None,
        bytes: body,
    }
}

/// The exact bytes received. A stored payload that cannot be decoded is a corrupt row: the
/// error names it rather than returning wrong bytes.
pub fn unpack(encoding: Option<&str>, stored: Vec<u8>) -> Result<Vec<u8>, String> {
    match encoding {
        None => Ok(stored),
        Some(ZSTD) => {
            // The frame header carries the original size (bulk compression writes it); the
            // bound stops a corrupt header from asking for gigabytes.
            let size = zstd::zstd_safe::get_frame_content_size(&stored)
                .ok()
                .flatten()
                .ok_or("the stored payload's zstd frame has no size")?;
            if size > MAX_UNPACKED as u64 {
                return Err(format!("the stored payload claims {size} bytes"));
            }
            decompress(&stored, size as usize)
                .map_err(|e| format!("the stored payload does not decompress: {e}"))
        }
        Some(other) => Err(format!("unknown payload encoding `{other}`")),
    }
}

thread_local! {
    // A zstd context holds hundreds of kilobytes of tables; making one per call cost more
    // than the compression itself. Each receiving thread keeps one.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some(c) => c,
            None => slot.insert(Compressor::new(LEVEL)?),
        };
        compressor.compress(body)
    })
}

fn decompress(stored: &[u8], size: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with_borrow_mut(|slot| {
        let decompressor = match slot {
            Some(d) => d,
            None => slot.insert(Decompressor::new()?),
        };
        decompressor.decompress(stored, size)
    })
}

/// Larger than any body the receiver accepts (its limit is configurable up to this).
const MAX_UNPACKED: usize = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_compressed_and_comes_back_exactly() {
        let body = serde_json::to_vec_pretty(&serde_json::json!({
            "action": "opened",
            "items": (0..200).map(|i| serde_json::json!({"n": i, "label": "same text again"})).collect::<Vec<_>>(),
        }))
        .expect("json");
        let packed = pack(body.clone());
        assert_eq!(packed.encoding, Some(ZSTD));
        assert!(
            packed.bytes.len() * 5 < body.len(),
            "{}",
            packed.bytes.len()
        );
        assert_eq!(unpack(packed.encoding, packed.bytes).expect("unpack"), body);
    }

    #[test]
    fn small_and_incompressible_bodies_are_kept_raw() {
        let small = b"{\"a\":1}".to_vec();
        let packed = pack(small.clone());
        assert_eq!((packed.encoding, packed.bytes), (None, small));
        let mut noise = vec![0u8; 4096];
        getrandom::fill(&mut noise).expect("random");
        let packed = pack(noise.clone());
        assert_eq!((packed.encoding, packed.bytes), (None, noise));
    }

    #[test]
    fn a_corrupt_stored_payload_is_an_error_not_wrong_bytes() {
        assert!(unpack(Some(ZSTD), b"not zstd at all".to_vec()).is_err());
        assert!(unpack(Some("brotli"), vec![1, 2, 3]).is_err());
    }
}

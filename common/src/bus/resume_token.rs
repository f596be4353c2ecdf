//! Resume tokens (the `twinwire-resume` header, issue 16): a session's exact position in every
//! shard's journal, signed so that a client cannot move it. A position is a vector `p_k` ("replay
//! shard k's journal after `p_k`"); most shards share one value, so a token holds a base `B` and
//! only the shards above it:
//!
//! ```text
//! version (1 byte) | B.ms, B.seq (varints) | bitmap length (varint) | bitmap of listed shards
//! | per listed shard, in shard order: varint zigzag(ms − previous ms) << 1 | has_seq, then varint
//!   seq if has_seq (the previous ms of the first listed shard is B.ms)
//! | HMAC-SHA256(secret, everything before)[..12]
//! ```
//!
//! then base64url without padding. A listed position's seq is written only when it is not 0 (the
//! common case: one event per shard and millisecond), and each ms is written as its difference to
//! the previous shard's, because positions cluster (shards fanned out in the same rounds): 64
//! shards all listed within 4 s of each other take 2 bytes each, about 210 characters, under the
//! contract's 256; usually far fewer shards are listed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The contract's bound on a token (issue 16: at most 256 bytes).
pub const MAX_TOKEN_CHARS: usize = 256;
const VERSION: u8 = 1;
const MAC_BYTES: usize = 12;
/// Shards a token can name; bounds the bitmap a decoder accepts.
const MAX_SHARDS: usize = 4096;

/// A journal id `(ms, seq)`.
pub type StreamIdPair = (u64, u64);

/// A session's position: every shard at `base`, except the listed ones (each above `base`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResumePosition {
    pub base: StreamIdPair,
    /// `(shard, position)`, sorted by shard, each position above `base`.
    pub shards: Vec<(u32, StreamIdPair)>,
}

impl ResumePosition {
    /// Where shard `k`'s replay starts (exclusive).
    pub fn of(&self, shard: u32) -> StreamIdPair {
        self.shards
            .binary_search_by_key(&shard, |s| s.0)
            .map(|i| self.shards[i].1)
            .unwrap_or(self.base)
    }
}

/// How far shard k is fanned out, from what the `JOURNAL_WATERMARK` script read (its `fanned`
/// marker, newest journal id, and Redis's clock): `fanned`, or, when everything journaled is
/// fanned, just below Redis's clock (its next entry gets an id at or above it), so an idle shard's
/// watermark stays young. `None`: nothing is known to be fanned.
pub fn journal_watermark(
    fanned: Option<StreamIdPair>,
    tail: Option<StreamIdPair>,
    now_ms: u64,
) -> Option<StreamIdPair> {
    if tail.is_none() || tail == fanned {
        Some(fanned.unwrap_or((0, 0)).max((now_ms.saturating_sub(1), 0)))
    } else {
        fanned
    }
}

/// Why a token was refused (all map to 400 `gateway:resume.invalid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is longer than {MAX_TOKEN_CHARS} characters")]
    TooLong,
    #[error("the token is not base64url")]
    NotBase64,
    #[error("the token's integrity check failed")]
    BadMac,
    #[error("the token is malformed")]
    Malformed,
}

/// Signs and checks tokens with the key all gateways share.
#[derive(Clone)]
pub struct TokenKey {
    key: Vec<u8>,
}

impl TokenKey {
    pub fn new(key: &[u8]) -> TokenKey {
        TokenKey { key: key.to_vec() }
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_BYTES] {
        // HMAC accepts keys of any length.
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        m.update(payload);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// The token for `pos`; `None` when it would exceed [`MAX_TOKEN_CHARS`] (the caller then
    /// sends no token rather than a lossy one).
    pub fn encode(&self, pos: &ResumePosition) -> Option<String> {
        let mut b = Vec::with_capacity(64);
        b.push(VERSION);
        varint(&mut b, pos.base.0);
        varint(&mut b, pos.base.1);
        let bitmap_len = pos.shards.last().map_or(0, |(s, _)| *s as usize / 8 + 1);
        varint(&mut b, bitmap_len as u64);
        let start = b.len();
        b.resize(start + bitmap_len, 0);
        for (s, _) in &pos.shards {
            b[start + *s as usize / 8] |= 1 << (s % 8);
        }
        let mut previous = pos.base.0;
        for (_, (ms, seq)) in &pos.shards {
            let d = zigzag(
                i64::try_from(*ms)
                    .ok()?
                    .checked_sub(i64::try_from(previous).ok()?)?,
            );
            previous = *ms;
            let has_seq = u64::from(*seq != 0);
            varint(&mut b, d.checked_mul(2)? | has_seq);
            if *seq != 0 {
                varint(&mut b, *seq);
            }
        }
        let mac = self.mac(&b);
        b.extend_from_slice(&mac);
        let t = URL_SAFE_NO_PAD.encode(&b);
        (t.len() <= MAX_TOKEN_CHARS).then_some(t)
    }

    pub fn decode(&self, token: &str) -> Result<ResumePosition, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::TooLong);
        }
        let b = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::NotBase64)?;
        if b.len() < 1 + MAC_BYTES {
            return Err(TokenError::Malformed);
        }
        let (payload, mac) = b.split_at(b.len() - MAC_BYTES);
        // Constant-time comparison through the MAC's own verifier.
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        m.update(payload);
        m.verify_truncated_left(mac)
            .map_err(|_| TokenError::BadMac)?;
        parse(payload).ok_or(TokenError::Malformed)
    }
}

fn parse(payload: &[u8]) -> Option<ResumePosition> {
    let mut r = Reader { b: payload, i: 0 };
    if r.byte()? != VERSION {
        return None;
    }
    let base = (r.varint()?, r.varint()?);
    let bitmap_len = usize::try_from(r.varint()?).ok()?;
    if bitmap_len > MAX_SHARDS / 8 {
        return None;
    }
    let bitmap = r.take(bitmap_len)?.to_vec();
    let mut shards = Vec::new();
    let mut previous = i64::try_from(base.0).ok()?;
    for (i, byte) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                let v = r.varint()?;
                let ms_signed = previous.checked_add(unzigzag(v >> 1))?;
                previous = ms_signed;
                let ms = u64::try_from(ms_signed).ok()?;
                let seq = if v & 1 == 1 { r.varint()? } else { 0 };
                if (ms, seq) <= base {
                    return None;
                }
                shards.push(((i * 8 + bit) as u32, (ms, seq)));
            }
        }
    }
    (r.i == payload.len()).then_some(ResumePosition { base, shards })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            v |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::new(b"secret")
    }

    #[test]
    fn tokens_round_trip_and_stay_in_the_alphabet() {
        let p = ResumePosition {
            base: (1_700_000_000_000, 3),
            shards: vec![(0, (1_700_000_000_000, 4)), (63, (1_700_000_005_000, 0))],
        };
        let t = key().encode(&p).unwrap();
        assert!(t
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(key().decode(&t), Ok(p.clone()));
        assert_eq!(p.of(63), (1_700_000_005_000, 0));
        assert_eq!(p.of(5), (1_700_000_000_000, 3));
    }

    #[test]
    fn all_64_shards_within_4_seconds_of_each_other_fit() {
        let base = (1_700_000_000_000, 0);
        let p = ResumePosition {
            base,
            // Far from the base, alternating between two clusters 4 s apart.
            shards: (0..64)
                .map(|s| (s, (base.0 + 60_000 + u64::from(s % 2) * 4000, 0)))
                .collect(),
        };
        let t = key().encode(&p).unwrap();
        assert!(t.len() <= MAX_TOKEN_CHARS, "{}", t.len());
    }

    #[test]
    fn modified_foreign_or_garbage_tokens_are_refused() {
        let p = ResumePosition {
            base: (10, 0),
            shards: vec![(2, (12, 1))],
        };
        let t = key().encode(&p).unwrap();
        let mut b = URL_SAFE_NO_PAD.decode(&t).unwrap();
        b[2] ^= 1;
        let flipped = URL_SAFE_NO_PAD.encode(&b);
        assert_eq!(key().decode(&flipped), Err(TokenError::BadMac));
        assert_eq!(TokenKey::new(b"other").decode(&t), Err(TokenError::BadMac));
        assert_eq!(key().decode("garbage!"), Err(TokenError::NotBase64));
        assert_eq!(key().decode("abc"), Err(TokenError::Malformed));
        assert_eq!(key().decode(&"A".repeat(300)), Err(TokenError::TooLong));
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, 1, -1, 63, -64, 1 << 40, -(1 << 40)] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    proptest! {
        #[test]
        fn any_position_round_trips(base_ms in 0u64..1u64 << 50, base_seq in 0u64..5,
                                    listed in proptest::collection::btree_map(0u32..64, (1u64..100_000, 0u64..3), 0..64)) {
            let p = ResumePosition {
                base: (base_ms, base_seq),
                shards: listed.into_iter().map(|(s, (d, seq))| (s, (base_ms + d, seq))).collect(),
            };
            if let Some(t) = key().encode(&p) {
                prop_assert!(t.len() <= MAX_TOKEN_CHARS);
                prop_assert_eq!(key().decode(&t), Ok(p));
            }
        }

        #[test]
        fn decoding_any_string_never_panics(s in "[A-Za-z0-9_-]{0,300}") {
            let _ = key().decode(&s);
        }
    }
}

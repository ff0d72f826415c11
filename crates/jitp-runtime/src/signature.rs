//! Signed bundles: Ed25519 public keys, key ids and the signature
//! envelope, and [`Bundle::from_bytes_verified`].
//!
//! A signed bundle is an 84-byte envelope followed by the bundle's bytes,
//! unchanged (all integers little-endian):
//!
//! | bytes  | field                                              |
//! |--------|----------------------------------------------------|
//! | 0..8   | magic `JITPSIGN`                                   |
//! | 8..12  | envelope version, `u32` (1)                        |
//! | 12..20 | the signing key's [`KeyId`]                        |
//! | 20..84 | Ed25519 signature (64 bytes)                       |
//! | 84..   | the bundle (`JITPBNDL`, version, checksum, body)   |
//!
//! The signature is over every byte of the file except the signature
//! itself: bytes `0..20` followed by the bundle (`84..`), so the magic, the
//! version, the key id and every byte of the bundle are covered. It is
//! checked with Ed25519's strict verification (no malleable or small-order
//! encodings). Only verification lives here; signing is the `jitp`
//! command's (`jitp build --sign`).
//!
//! Key files are text: an optional `#` comment line, then one line
//! `jitp-ed25519-public-v1 ` followed by the 32-byte public key in 64
//! lowercase hex digits. A key's id is the first 8 bytes of the SHA-256 of
//! its 32 bytes, written as 16 hex digits.

// Input from files and the network: no panicking access.
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bundle::{read_file, MAGIC};
use crate::{Bundle, BundleError, BundleErrorKind};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// The first bytes of a signed bundle.
pub const SIGNED_MAGIC: &[u8; 8] = b"JITPSIGN";
/// The envelope version this build reads and writes.
pub const ENVELOPE_VERSION: u32 = 1;
/// Bytes before the bundle in a signed file.
pub const ENVELOPE_LEN: usize = 84;
/// The first word of a public key file's key line.
pub const PUBLIC_KEY_TAG: &str = "jitp-ed25519-public-v1";

/// A key's id: the first 8 bytes of the SHA-256 of its public key. Shown
/// as 16 lowercase hex digits.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of the Ed25519 public key `public`.
    pub fn of(public: &[u8; 32]) -> KeyId {
        let digest = Sha256::digest(public);
        let mut id = [0u8; 8];
        for (d, s) in id.iter_mut().zip(digest.iter()) {
            *d = *s;
        }
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    message: String,
}

impl KeyError {
    fn new(message: impl Into<String>) -> KeyError {
        KeyError {
            message: message.into(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyError {}

/// Decodes exactly `N` bytes from lowercase or uppercase hex.
pub fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (nibble(*hi)?, nibble(*lo)?),
            _ => return None,
        };
        *o = hi << 4 | lo;
    }
    Some(out)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The one key line of a key file, after its tag: comment and blank
/// lines skipped, anything else refused.
pub fn key_line<'a>(text: &'a str, tag: &str) -> Result<&'a str, String> {
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if found.is_some() {
            return Err("more than one key line".into());
        }
        let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) else {
            let first = line.split_whitespace().next().unwrap_or_default();
            return Err(format!("expected a `{tag}` line, found `{first}`"));
        };
        found = Some(rest.trim());
    }
    found.ok_or_else(|| format!("no `{tag}` line"))
}

/// An Ed25519 public key that bundles (and decision logs) are checked
/// against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    /// The key with these 32 bytes; refused if they are not a valid
    /// Ed25519 point or are of small order (a weak key).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::new("not a valid ed25519 public key"))?;
        if key.is_weak() {
            return Err(KeyError::new("a weak (small-order) ed25519 public key"));
        }
        Ok(PublicKey {
            key,
            id: KeyId::of(bytes),
        })
    }

    /// Parses a public key file's text (see the module documentation).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let line = key_line(text, PUBLIC_KEY_TAG).map_err(KeyError::new)?;
        let bytes = hex_bytes::<32>(line)
            .ok_or_else(|| KeyError::new("the key is not 64 hex digits (32 bytes)".to_string()))?;
        PublicKey::from_bytes(&bytes)
    }

    /// Reads a public key file (at most 4 KiB).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<PublicKey, KeyError> {
        use std::io::Read as _;
        let path = path.as_ref();
        let fail = |m: String| KeyError::new(format!("`{}`: {m}", path.display()));
        let file = std::fs::File::open(path)
            .map_err(|e| fail(format!("cannot read it: {}", e.to_string().to_lowercase())))?;
        let mut text = String::new();
        file.take(4096)
            .read_to_string(&mut text)
            .map_err(|e| fail(format!("cannot read it: {}", e.to_string().to_lowercase())))?;
        PublicKey::parse(&text).map_err(|e| fail(e.message))
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The public key file's text.
    pub fn to_text(&self) -> String {
        format!(
            "# jitp public key, id {}\n{PUBLIC_KEY_TAG} {}\n",
            self.id,
            hex(self.as_bytes())
        )
    }

    /// Whether `signature` (64 bytes) is this key's signature of
    /// `message`, by strict Ed25519 verification.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify_strict(message, &Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// The parts of a signed bundle.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The signing key's id.
    pub key_id: KeyId,
    /// The signature.
    pub signature: [u8; 64],
    /// The bundle's own bytes.
    pub bundle: &'a [u8],
    /// Bytes `0..20`: magic, version and key id.
    header: &'a [u8],
}

fn refused(kind: BundleErrorKind, message: impl Into<String>) -> BundleError {
    BundleError::new(kind, None, message)
}

impl<'a> Envelope<'a> {
    /// Splits a signed bundle; `None` when `bytes` are not signed (do not
    /// start with [`SIGNED_MAGIC`]).
    pub fn split(bytes: &'a [u8]) -> Result<Option<Envelope<'a>>, BundleError> {
        if !bytes.starts_with(SIGNED_MAGIC) {
            return Ok(None);
        }
        let (Some(header), Some(sig), Some(bundle)) = (
            bytes.get(..20),
            bytes.get(20..ENVELOPE_LEN),
            bytes.get(ENVELOPE_LEN..),
        ) else {
            return Err(refused(
                BundleErrorKind::Truncated,
                "the signature envelope is truncated",
            ));
        };
        let word = |r: std::ops::Range<usize>| header.get(r).unwrap_or_default();
        let version = <[u8; 4]>::try_from(word(8..12)).map_or(0, u32::from_le_bytes);
        if version != ENVELOPE_VERSION {
            return Err(refused(
                BundleErrorKind::UnsupportedVersion {
                    found: version,
                    supported: ENVELOPE_VERSION,
                },
                format!(
                    "signature envelope version {version}; this build reads version {ENVELOPE_VERSION}"
                ),
            ));
        }
        let key_id = KeyId(<[u8; 8]>::try_from(word(12..20)).unwrap_or_default());
        let signature = <[u8; 64]>::try_from(sig).unwrap_or([0; 64]);
        Ok(Some(Envelope {
            key_id,
            signature,
            bundle,
            header,
        }))
    }

    /// What the signature covers: every byte but the signature's own.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.header.len() + self.bundle.len());
        m.extend_from_slice(self.header);
        m.extend_from_slice(self.bundle);
        m
    }
}

/// What a signer signs for `bundle` under `key_id`: the envelope's first
/// 20 bytes, then the bundle.
pub fn signing_input(key_id: KeyId, bundle: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20 + bundle.len());
    m.extend_from_slice(SIGNED_MAGIC);
    m.extend_from_slice(&ENVELOPE_VERSION.to_le_bytes());
    m.extend_from_slice(&key_id.0);
    m.extend_from_slice(bundle);
    m
}

/// The signed file: envelope, then `bundle`.
pub fn envelope(key_id: KeyId, signature: &[u8; 64], bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_LEN + bundle.len());
    out.extend_from_slice(SIGNED_MAGIC);
    out.extend_from_slice(&ENVELOPE_VERSION.to_le_bytes());
    out.extend_from_slice(&key_id.0);
    out.extend_from_slice(signature);
    out.extend_from_slice(bundle);
    out
}

impl Bundle {
    /// Loads a signed bundle, checking its signature against `keys` before
    /// anything else: refused with [`BundleErrorKind::Unsigned`] if it
    /// carries no signature, [`BundleErrorKind::UnknownKey`] if the key that
    /// signed it is not among `keys`, [`BundleErrorKind::BadSignature`] if
    /// the signature does not verify (any byte changed); then checked and
    /// verified as [`Bundle::from_bytes`] does.
    pub fn from_bytes_verified(bytes: &[u8], keys: &[PublicKey]) -> Result<Bundle, BundleError> {
        let Some(envelope) = Envelope::split(bytes)? else {
            return Err(if bytes.starts_with(MAGIC) {
                refused(
                    BundleErrorKind::Unsigned,
                    "the bundle is not signed, and only signed bundles are trusted",
                )
            } else {
                refused(
                    BundleErrorKind::NotABundle,
                    "not a jitp bundle (bad magic bytes)",
                )
            });
        };
        let Some(key) = keys.iter().find(|k| k.id() == envelope.key_id) else {
            return Err(refused(
                BundleErrorKind::UnknownKey,
                format!(
                    "the bundle is signed by key `{}`, which is not trusted",
                    envelope.key_id
                ),
            ));
        };
        if !key.verify(&envelope.signed_bytes(), &envelope.signature) {
            return Err(refused(
                BundleErrorKind::BadSignature,
                format!(
                    "the signature by key `{}` does not verify: the bundle was changed after it was signed",
                    envelope.key_id
                ),
            ));
        }
        let mut bundle = Bundle::from_bytes(envelope.bundle)?;
        bundle.signer = Some(envelope.key_id);
        Ok(bundle)
    }

    /// Reads a bundle file and loads it with
    /// [`Bundle::from_bytes_verified`].
    pub fn from_file_verified(
        path: impl AsRef<std::path::Path>,
        keys: &[PublicKey],
    ) -> Result<Bundle, BundleError> {
        Bundle::from_bytes_verified(&read_file(path.as_ref())?, keys)
    }

    /// The id of the trusted key whose signature was verified when this
    /// bundle was loaded ([`Bundle::from_bytes_verified`]); `None` for a
    /// bundle loaded without checking a signature.
    pub fn signer(&self) -> Option<KeyId> {
        self.signer
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    fn key(seed: u8) -> (SigningKey, PublicKey) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let pk = PublicKey::from_bytes(sk.verifying_key().as_bytes()).unwrap();
        (sk, pk)
    }

    fn sign(sk: &SigningKey, bundle: &[u8]) -> Vec<u8> {
        let id = KeyId::of(sk.verifying_key().as_bytes());
        let sig = sk.sign(&signing_input(id, bundle)).to_bytes();
        envelope(id, &sig, bundle)
    }

    fn small_bundle() -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/guards.jitb");
        std::fs::read(p).unwrap()
    }

    #[test]
    fn a_signed_bundle_loads_with_its_signer_and_without_checking() {
        let (sk, pk) = key(7);
        let bundle = small_bundle();
        let signed = sign(&sk, &bundle);
        let b = Bundle::from_bytes_verified(&signed, std::slice::from_ref(&pk)).unwrap();
        assert_eq!(b.signer(), Some(pk.id()));
        let plain = Bundle::from_bytes(&signed).unwrap();
        assert_eq!(plain.signer(), None);
        assert_eq!(plain.revision(), b.revision());
        assert_eq!(PublicKey::parse(&pk.to_text()).unwrap(), pk);
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let (sk, pk) = key(7);
        let signed = sign(&sk, &small_bundle());
        let keys = [pk];
        for at in 0..signed.len() {
            for flip in [0x01u8, 0x80] {
                let mut b = signed.clone();
                b[at] ^= flip;
                let e = Bundle::from_bytes_verified(&b, &keys)
                    .err()
                    .unwrap_or_else(|| panic!("byte {at} ^ {flip:#x} accepted"));
                assert!(
                    matches!(
                        e.kind,
                        BundleErrorKind::BadSignature
                            | BundleErrorKind::UnknownKey
                            | BundleErrorKind::UnsupportedVersion { .. }
                            | BundleErrorKind::NotABundle
                    ),
                    "byte {at}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn unsigned_foreign_and_truncated_bundles_are_refused_by_kind() {
        let (sk, pk) = key(7);
        let (other, other_pk) = key(9);
        let bundle = small_bundle();
        let kind = |bytes: &[u8], keys: &[PublicKey]| {
            Bundle::from_bytes_verified(bytes, keys).err().unwrap().kind
        };
        assert_eq!(
            kind(&bundle, std::slice::from_ref(&pk)),
            BundleErrorKind::Unsigned
        );
        let foreign = sign(&other, &bundle);
        assert_eq!(
            kind(&foreign, std::slice::from_ref(&pk)),
            BundleErrorKind::UnknownKey
        );
        // Rotation: either of two trusted keys.
        let both = [pk.clone(), other_pk];
        assert!(Bundle::from_bytes_verified(&foreign, &both).is_ok());
        let signed = sign(&sk, &bundle);
        assert!(Bundle::from_bytes_verified(&signed, &both).is_ok());
        for cut in [9, 20, 40, 83] {
            assert_eq!(
                kind(&signed[..cut], std::slice::from_ref(&pk)),
                BundleErrorKind::Truncated
            );
        }
        // Cutting the bundle, or dropping signature bytes (shifting the
        // rest), breaks the signature.
        assert_eq!(
            kind(&signed[..signed.len() - 1], std::slice::from_ref(&pk)),
            BundleErrorKind::BadSignature
        );
        let mut short_sig = signed[..60].to_vec();
        short_sig.extend_from_slice(&signed[84..]);
        assert_eq!(
            kind(&short_sig, std::slice::from_ref(&pk)),
            BundleErrorKind::BadSignature
        );
        // A key file in another format is refused with a message.
        assert!(PublicKey::parse("ssh-ed25519 AAAA").is_err());
        assert!(PublicKey::parse(&format!("{PUBLIC_KEY_TAG} 00")).is_err());
    }
}

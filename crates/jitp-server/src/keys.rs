//! Ed25519 secret keys: generating a key pair (`jitp keygen`), reading a
//! secret key file, signing bundles (`jitp build --sign`) and decision
//! log records.
//!
//! A secret key file is text: an optional `#` comment line, then one line
//! `jitp-ed25519-secret-v1 ` followed by the 32-byte Ed25519 seed in 64
//! lowercase hex digits. It is created with mode 0600 and never
//! overwritten. The public half is in the format of
//! [`jitp_runtime::PublicKey`].

use ed25519_dalek::{Signer as _, SigningKey};
use jitp_runtime::signature::{self, hex, hex_bytes, key_line, KeyId};
use jitp_runtime::PublicKey;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The first word of a secret key file's key line.
pub const SECRET_KEY_TAG: &str = "jitp-ed25519-secret-v1";

/// An Ed25519 signing key with its public half.
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public.id())
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| format!("cannot read the system's random source: {e}"))?;
        SecretKey::from_seed(&seed)
    }

    fn from_seed(seed: &[u8; 32]) -> Result<SecretKey, String> {
        let key = SigningKey::from_bytes(seed);
        let public =
            PublicKey::from_bytes(key.verifying_key().as_bytes()).map_err(|e| e.to_string())?;
        Ok(SecretKey { key, public })
    }

    /// Parses a secret key file's text.
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        let line = key_line(text, SECRET_KEY_TAG)?;
        let seed = hex_bytes::<32>(line)
            .ok_or_else(|| "the key is not 64 hex digits (32 bytes)".to_string())?;
        SecretKey::from_seed(&seed)
    }

    /// Reads a secret key file (at most 4 KiB).
    pub fn from_file(path: &Path) -> Result<SecretKey, String> {
        use std::io::Read as _;
        let fail = |m: String| format!("`{}`: {m}", path.display());
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(4096).read_to_string(&mut text))
            .map_err(|e| fail(format!("cannot read it: {}", e.to_string().to_lowercase())))?;
        if text.contains(signature::PUBLIC_KEY_TAG) {
            return Err(fail(
                "this is a public key; signing needs the secret key (`NAME.key`)".into(),
            ));
        }
        SecretKey::parse(&text).map_err(fail)
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.public.id()
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// `bundle` (a bundle's bytes, unsigned) in a signature envelope.
    pub fn sign_bundle(&self, bundle: &[u8]) -> Vec<u8> {
        let sig = self.sign(&signature::signing_input(self.id(), bundle));
        signature::envelope(self.id(), &sig, bundle)
    }

    fn to_text(&self) -> String {
        format!(
            "# jitp secret key, id {} (keep it secret)\n{SECRET_KEY_TAG} {}\n",
            self.id(),
            hex(self.key.as_bytes())
        )
    }

    /// Writes `NAME.key` (mode 0600) and `NAME.pub`, refusing to replace
    /// either; returns their paths.
    pub fn write_pair(&self, name: &Path) -> Result<(PathBuf, PathBuf), String> {
        let with = |ext: &str| {
            let mut p = name.as_os_str().to_owned();
            p.push(ext);
            PathBuf::from(p)
        };
        let (secret, public) = (with(".key"), with(".pub"));
        for p in [&secret, &public] {
            if p.symlink_metadata().is_ok() {
                return Err(format!(
                    "`{}` already exists; it is not replaced\nhelp: choose another name or move the old key away",
                    p.display()
                ));
            }
        }
        let create = |path: &Path, text: &str, mode: u32| -> Result<(), String> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(mode);
            }
            #[cfg(not(unix))]
            let _ = mode;
            let fail = |e: std::io::Error| {
                format!(
                    "cannot write `{}`: {}",
                    path.display(),
                    e.to_string().to_lowercase()
                )
            };
            let mut f = options.open(path).map_err(fail)?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(fail)
        };
        create(&secret, &self.to_text(), 0o600)?;
        if let Err(e) = create(&public, &self.public.to_text(), 0o644) {
            let _ = std::fs::remove_file(&secret);
            return Err(e);
        }
        Ok((secret, public))
    }
}

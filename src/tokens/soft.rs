//! The software token: one private key in an age-encrypted file (scrypt
//! passphrase), with its public half in a plain `.pub` file beside it.
//!
//! It exists for rehearsals, tests and encrypted backups. It is **not** for
//! production root keys: those are born on hardware and never leave it.

use super::{Signer, TokenError};
use crate::fsio::{self, FileError};
use crate::keys::{Algorithm, PublicKey};
use crate::secret::Secret;
use age::secrecy::SecretString;
use p256::ecdsa::signature::Signer as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use zeroize::Zeroizing;

const MAGIC: &str = "ceremony-soft-key v1";

/// The private key, which zeroizes on drop (both dalek and p256 keys do).
enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// An opened software key.
pub struct SoftToken {
    path: PathBuf,
    public: PublicKey,
    key: PrivateKey,
}

impl std::fmt::Debug for SoftToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftToken")
            .field("path", &self.path)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The `.pub` file beside the key file.
#[derive(Serialize, Deserialize)]
struct PublicFile {
    format: String,
    algorithm: String,
    public: String,
}

/// Where the public half of a software key lives.
pub fn public_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn name(path: &Path) -> String {
    format!("soft:{}", path.display())
}

fn file_err(path: &Path) -> impl FnOnce(FileError) -> TokenError + '_ {
    move |e| match e {
        FileError::Exists { path } => TokenError::Exists { path },
        other => TokenError::Io {
            token: name(path),
            op: "write",
            reason: other.to_string(),
        },
    }
}

/// The scrypt work factor (log2 of N) for key files this process writes; 0 means
/// age's own, calibrated to about a second of work.
static KEY_FILE_WORK_FACTOR: AtomicU8 = AtomicU8::new(0);

/// The work factor of a rehearsal's key files: about a millisecond, instead of a
/// second of CPU and up to a gigabyte of memory for each key opened.
pub const REHEARSAL_WORK_FACTOR: u8 = 10;

/// For `ceremony rehearse` only, whose keys live in a temporary directory and are
/// destroyed with it: key files this process writes from now on take
/// [`REHEARSAL_WORK_FACTOR`]. Backups are never affected.
pub fn use_rehearsal_work_factor() {
    KEY_FILE_WORK_FACTOR.store(REHEARSAL_WORK_FACTOR, Ordering::Relaxed);
}

/// How this process derives key-file keys from passphrases, for the transcript.
pub fn key_file_kdf() -> String {
    match KEY_FILE_WORK_FACTOR.load(Ordering::Relaxed) {
        0 => "scrypt, age's work factor (about a second)".into(),
        f => format!("scrypt, work factor 2^{f} (a rehearsal's disposable keys)"),
    }
}

fn random32() -> Zeroizing<[u8; 32]> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::fill(b.as_mut()).expect("system randomness");
    b
}

impl PrivateKey {
    fn generate(algorithm: Algorithm) -> Result<Self, TokenError> {
        match algorithm {
            Algorithm::Ed25519 => Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &random32(),
            ))),
            Algorithm::EcdsaP256 => loop {
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(random32().as_ref()) {
                    break Ok(PrivateKey::P256(k));
                }
            },
            Algorithm::EcdsaP384 | Algorithm::Rsa => Err(TokenError::Unsupported {
                token: "software key".into(),
                what: format!("{algorithm} keys (ed25519 and ecdsa-p256 are)"),
            }),
        }
    }

    fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Option<Self> {
        match algorithm {
            Algorithm::Ed25519 => {
                let arr: &[u8; 32] = bytes.try_into().ok()?;
                Some(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                    arr,
                )))
            }
            Algorithm::EcdsaP256 => p256::ecdsa::SigningKey::from_slice(bytes)
                .ok()
                .map(PrivateKey::P256),
            Algorithm::EcdsaP384 | Algorithm::Rsa => None,
        }
    }

    fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            PrivateKey::Ed25519(k) => Zeroizing::new(k.to_bytes().to_vec()),
            PrivateKey::P256(k) => Zeroizing::new(k.to_bytes().to_vec()),
        }
    }

    fn public(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => {
                PublicKey::ed25519(k.verifying_key().as_bytes()).expect("valid point")
            }
            PrivateKey::P256(k) => PublicKey::from_p256(k.verifying_key()),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
            PrivateKey::P256(_) => Algorithm::EcdsaP256,
        }
    }
}

fn age_passphrase(passphrase: &Secret) -> SecretString {
    SecretString::from(passphrase.expose_secret().to_owned())
}

/// The key file's plaintext (zeroized when dropped).
fn plaintext(key: &PrivateKey) -> Zeroizing<String> {
    let secret = key.secret_bytes();
    let mut plain = Zeroizing::new(String::new());
    plain.push_str(MAGIC);
    plain.push_str("\nalgorithm ");
    plain.push_str(key.algorithm().name());
    plain.push_str("\nprivate ");
    plain.push_str(&Zeroizing::new(hex::encode(secret.as_slice())));
    plain.push('\n');
    plain
}

/// Parse a key file's plaintext.
fn parse_plaintext(plain: &[u8]) -> Option<PrivateKey> {
    let text = std::str::from_utf8(plain).ok()?;
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return None;
    }
    let algorithm = lines
        .next()
        .and_then(|l| l.strip_prefix("algorithm "))
        .and_then(|a| Algorithm::parse(a).ok())?;
    let private_hex = lines.next().and_then(|l| l.strip_prefix("private "))?;
    let private = Zeroizing::new(hex::decode(private_hex).ok()?);
    PrivateKey::from_bytes(algorithm, &private)
}

/// How [`SoftToken::export_pem`] writes a key: always encrypted PKCS#8 in PEM
/// (`ENCRYPTED PRIVATE KEY`), never the key in the clear.
pub enum ExportForm<'a> {
    /// What the Notary client's `notary key import` reads: PBES2 with
    /// PBKDF2-HMAC-SHA1 (the only PRF Notary's decoder uses) and AES-256-CBC, the
    /// `role`, `gun` and `path` (the key's Notary ID) headers, and Ed25519 in
    /// Notary's own form (OID 1.3.6.1.4.1.11591.15.1, public ‖ seed ‖ public).
    Notary {
        role: &'a str,
        gun: &'a str,
        key_id: &'a str,
    },
    /// Standard encrypted PKCS#8 (RFC 5958, Ed25519 as RFC 8410), PBKDF2-HMAC-SHA256
    /// and AES-256-CBC: what OpenSSL, Python's `cryptography` and TUF tools read.
    Pkcs8,
}

/// PBKDF2 iterations of an exported key (OWASP's 2023 figure for HMAC-SHA256;
/// Notary's decoder takes any count).
const EXPORT_ITERATIONS: u32 = 600_000;

/// Notary's object identifier for Ed25519 private keys in PKCS#8.
const NOTARY_ED25519_OID: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.15.1");

/// RFC 8410's object identifier for Ed25519.
const ED25519_OID: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");

/// A version 1 PKCS#8 document: algorithm `oid` (no parameters) and the private
/// key octets, zeroized when dropped.
fn pkcs8_der(
    oid: pkcs8::ObjectIdentifier,
    private_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, pkcs8::der::Error> {
    use pkcs8::der::Encode as _;
    let info = pkcs8::PrivateKeyInfoRef::new(
        pkcs8::AlgorithmIdentifierRef {
            oid,
            parameters: None,
        },
        pkcs8::der::asn1::OctetStringRef::new(private_key)?,
    );
    Ok(Zeroizing::new(info.to_der()?))
}

impl SoftToken {
    /// The key, encrypted to `passphrase`, as a PEM file's text in `form`.
    pub fn export_pem(
        &self,
        form: &ExportForm<'_>,
        passphrase: &Secret,
    ) -> Result<Zeroizing<String>, TokenError> {
        use pkcs8::pkcs5::pbes2;
        let failed = |reason: String| TokenError::Malformed {
            token: name(&self.path),
            reason: format!("exporting the key failed: {reason}"),
        };
        // The unencrypted PKCS#8 document, zeroized when dropped.
        let plain: Zeroizing<Vec<u8>> = match (&self.key, form) {
            (PrivateKey::P256(k), _) => {
                use p256::pkcs8::EncodePrivateKey as _;
                let secret = p256::SecretKey::from(k.as_nonzero_scalar());
                Zeroizing::new(
                    secret
                        .to_pkcs8_der()
                        .map_err(|e| failed(e.to_string()))?
                        .as_bytes()
                        .to_vec(),
                )
            }
            (PrivateKey::Ed25519(k), ExportForm::Pkcs8) => {
                // Version 1, the seed alone (RFC 8410): OpenSSL and Python's
                // `cryptography` refuse the version 2 form with the public key.
                // Built here, in zeroized buffers: the `ed25519` crate's
                // `KeypairBytes` is not wiped when dropped (this release has no
                // `zeroize` feature to turn on).
                let mut curve_private = Zeroizing::new(Vec::with_capacity(34));
                curve_private.extend_from_slice(&[0x04, 0x20]);
                curve_private.extend_from_slice(k.as_bytes());
                pkcs8_der(ED25519_OID, &curve_private).map_err(|e| failed(e.to_string()))?
            }
            (PrivateKey::Ed25519(k), ExportForm::Notary { .. }) => {
                let public = k.verifying_key().to_bytes();
                let mut raw = Zeroizing::new(Vec::with_capacity(96));
                raw.extend_from_slice(&public);
                raw.extend_from_slice(k.as_bytes());
                raw.extend_from_slice(&public);
                pkcs8_der(NOTARY_ED25519_OID, &raw).map_err(|e| failed(e.to_string()))?
            }
        };
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).expect("system randomness");
        getrandom::fill(&mut iv).expect("system randomness");
        let prf = match form {
            ExportForm::Notary { .. } => pbes2::Pbkdf2Prf::HmacWithSha1,
            ExportForm::Pkcs8 => pbes2::Pbkdf2Prf::HmacWithSha256,
        };
        let params = pbes2::Parameters {
            kdf: pbes2::Pbkdf2Params {
                salt: pbes2::Salt::new(salt).map_err(|e| failed(e.to_string()))?,
                iteration_count: EXPORT_ITERATIONS,
                key_length: None,
                prf,
            }
            .into(),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv },
        };
        let encrypted = pkcs8::PrivateKeyInfoRef::try_from(plain.as_slice())
            .and_then(|info| {
                info.encrypt_with_params(params, passphrase.expose_secret().as_bytes())
            })
            .map_err(|e| failed(e.to_string()))?;
        let headers = match form {
            ExportForm::Notary { role, gun, key_id } => {
                format!("gun: {gun}\npath: {key_id}\nrole: {role}\n\n")
            }
            ExportForm::Pkcs8 => String::new(),
        };
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(encrypted.as_bytes());
        let mut pem = Zeroizing::new(String::from("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        pem.push_str(&headers);
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END ENCRYPTED PRIVATE KEY-----\n");
        Ok(pem)
    }
}

/// Who can open a backup: an age X25519 recipient (a custodian's public key), or
/// a passphrase a custodian types.
pub enum BackupRecipient {
    X25519(Box<age::x25519::Recipient>),
    Passphrase(Secret),
}

impl std::fmt::Debug for BackupRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupRecipient::X25519(r) => write!(f, "X25519({r})"),
            BackupRecipient::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
        }
    }
}

/// What opens a backup to check it.
pub enum BackupIdentity {
    X25519(Secret),
    Passphrase(Secret),
}

/// A key generated in software on the air-gapped machine, for teams that load one
/// root key into a token and keep encrypted backups with custodians. The private
/// key zeroizes when this is dropped; it is written only encrypted.
pub struct GeneratedKey {
    key: PrivateKey,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedKey({:?})", self.key.public())
    }
}

impl GeneratedKey {
    pub fn generate(algorithm: Algorithm) -> Result<Self, TokenError> {
        Ok(GeneratedKey {
            key: PrivateKey::generate(algorithm)?,
        })
    }

    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    /// Load the key into a software token (`path`, encrypted to `passphrase`).
    pub fn load_into_soft_token(&self, path: &Path, passphrase: &Secret) -> Result<(), TokenError> {
        for p in [path.to_owned(), public_path(path)] {
            if p.exists() {
                return Err(TokenError::Exists {
                    path: p.display().to_string(),
                });
            }
        }
        SoftToken::write(path, &self.key, passphrase)
    }

    /// The key, encrypted to one backup recipient (the format of a key file).
    pub fn encrypt_backup(&self, to: &BackupRecipient) -> Result<Vec<u8>, TokenError> {
        let plain = plaintext(&self.key);
        let err = |e: age::EncryptError| TokenError::Io {
            token: "backup".into(),
            op: "encrypt",
            reason: e.to_string(),
        };
        match to {
            BackupRecipient::X25519(r) => age::encrypt(r.as_ref(), plain.as_bytes()).map_err(err),
            BackupRecipient::Passphrase(p) => {
                let r = age::scrypt::Recipient::new(age_passphrase(p));
                age::encrypt(&r, plain.as_bytes()).map_err(err)
            }
        }
    }
}

/// Decrypt a backup and check it holds the private half of `expected`.
pub fn check_backup(
    ciphertext: &[u8],
    identity: &BackupIdentity,
    expected: &PublicKey,
    name: &str,
) -> Result<(), TokenError> {
    let wrong = || TokenError::Malformed {
        token: name.to_owned(),
        reason: "the backup does not open with the custodian's identity or passphrase".into(),
    };
    let plain = Zeroizing::new(match identity {
        BackupIdentity::X25519(secret) => {
            let id: age::x25519::Identity =
                secret
                    .expose_secret()
                    .trim()
                    .parse()
                    .map_err(|_| TokenError::Malformed {
                        token: name.to_owned(),
                        reason: "that is not an age identity (AGE-SECRET-KEY-1…)".into(),
                    })?;
            age::decrypt(&id, ciphertext).map_err(|_| wrong())?
        }
        BackupIdentity::Passphrase(p) => {
            let id = age::scrypt::Identity::new(age_passphrase(p));
            age::decrypt(&id, ciphertext).map_err(|_| wrong())?
        }
    });
    let key = parse_plaintext(&plain).ok_or_else(|| TokenError::Malformed {
        token: name.to_owned(),
        reason: "the backup decrypts, but does not hold a ceremony key".into(),
    })?;
    if &key.public() != expected {
        return Err(TokenError::Malformed {
            token: name.to_owned(),
            reason: "the backup holds a different key than the one generated".into(),
        });
    }
    Ok(())
}

impl SoftToken {
    /// Generate a new key and write it, encrypted to `passphrase`, to `path`
    /// (mode 0600, never over an existing file), and its public half to `path.pub`.
    pub fn generate(
        path: &Path,
        algorithm: Algorithm,
        passphrase: &Secret,
    ) -> Result<PublicKey, TokenError> {
        if passphrase.is_empty() {
            return Err(TokenError::Malformed {
                token: name(path),
                reason: "an empty passphrase is not allowed".into(),
            });
        }
        let pub_path = public_path(path);
        for p in [path, pub_path.as_path()] {
            if p.exists() {
                return Err(TokenError::Exists {
                    path: p.display().to_string(),
                });
            }
        }
        let key = PrivateKey::generate(algorithm)?;
        Self::write(path, &key, passphrase)?;
        Ok(key.public())
    }

    /// Write an existing private key (an encrypted backup). Same rules as
    /// [`SoftToken::generate`].
    fn write(path: &Path, key: &PrivateKey, passphrase: &Secret) -> Result<(), TokenError> {
        let pub_path = public_path(path);
        let plain = plaintext(key);
        let mut recipient = age::scrypt::Recipient::new(age_passphrase(passphrase));
        match KEY_FILE_WORK_FACTOR.load(Ordering::Relaxed) {
            0 => {}
            factor => recipient.set_work_factor(factor),
        }
        let ciphertext =
            age::encrypt(&recipient, plain.as_bytes()).map_err(|e| TokenError::Io {
                token: name(path),
                op: "encrypt",
                reason: e.to_string(),
            })?;
        let public = key.public();
        let public_file = PublicFile {
            format: MAGIC.into(),
            algorithm: public.algorithm().name().into(),
            public: hex::encode(public.as_bytes()),
        };
        let mut pub_json = serde_json::to_vec_pretty(&public_file).expect("serialises");
        pub_json.push(b'\n');
        fsio::write_new(path, &ciphertext, 0o600).map_err(file_err(path))?;
        fsio::write_new(&pub_path, &pub_json, 0o644).map_err(file_err(&pub_path))?;
        Ok(())
    }

    /// Read the public half without the passphrase.
    pub fn read_public(path: &Path) -> Result<PublicKey, TokenError> {
        let pub_path = public_path(path);
        let bytes = read_key_file(path, &pub_path, "read public key file")?;
        let malformed = |reason: String| TokenError::Malformed {
            token: name(path),
            reason: format!("{}: {reason}", pub_path.display()),
        };
        let file: PublicFile =
            serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
        if file.format != MAGIC {
            return Err(malformed(format!("unknown format {:?}", file.format)));
        }
        let algorithm = Algorithm::parse(&file.algorithm).map_err(|e| malformed(e.to_string()))?;
        let raw =
            hex::decode(&file.public).map_err(|_| malformed("public key is not hex".into()))?;
        PublicKey::from_bytes(algorithm, &raw).map_err(|e| malformed(e.to_string()))
    }

    /// Open (decrypt) a software key.
    pub fn open(path: &Path, passphrase: &Secret) -> Result<SoftToken, TokenError> {
        let ciphertext = read_key_file(path, path, "read key file")?;
        let identity = age::scrypt::Identity::new(age_passphrase(passphrase));
        let plain = Zeroizing::new(age::decrypt(&identity, &ciphertext).map_err(|e| match e {
            age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed
            | age::DecryptError::NoMatchingKeys => {
                TokenError::WrongPassphrase { token: name(path) }
            }
            other => TokenError::Malformed {
                token: name(path),
                reason: format!("not an age-encrypted key file: {other}"),
            },
        })?);
        let key = parse_plaintext(&plain).ok_or_else(|| TokenError::Malformed {
            token: name(path),
            reason: "decrypted, but the contents are not a ceremony key".into(),
        })?;
        let public = key.public();
        if let Ok(listed) = Self::read_public(path)
            && listed != public
        {
            return Err(TokenError::Malformed {
                token: name(path),
                reason: format!(
                    "{} does not hold this key's public half (was it replaced?)",
                    public_path(path).display()
                ),
            });
        }
        Ok(SoftToken {
            path: path.to_owned(),
            public,
            key,
        })
    }
}

impl Signer for SoftToken {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} software key)",
            name(&self.path),
            self.public.algorithm()
        )
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        Ok(match &self.key {
            PrivateKey::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(message).to_bytes().to_vec()
            }
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
        })
    }
}
/// Read a file of the software key at `key`: a regular file of sane size only (a
/// FIFO or a device put in its place is refused by name, never waited on).
fn read_key_file(key: &Path, file: &Path, op: &'static str) -> Result<Vec<u8>, TokenError> {
    fsio::read_regular(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => TokenError::Malformed {
            token: name(key),
            reason: format!("{}: {e}", file.display()),
        },
        _ => TokenError::Io {
            token: name(key),
            op,
            reason: format!("{}: {e}", file.display()),
        },
    })
}

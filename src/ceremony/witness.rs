//! Witnesses who sign: at the end of a ceremony each witness may sign the
//! transcript's final hash with a key of their own, on a token (software,
//! PKCS#11, YubiKey PIV) or an OpenSSH key (an `sshsig`, which `ssh-keygen -Y
//! verify` checks). The signatures travel in the export (`witnesses.json`,
//! `witnesses/`), outside the transcript they vouch for; `transcript verify
//! --witness KEY` checks them against the transcript's verified final hash.

use crate::error::{Error, Result};
use crate::keys::{PublicKey, SignatureEncoding};
use crate::tuf::cjson;
use crate::tuf::metadata::Flavour;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;

/// The file in an export listing the witnesses' signatures.
pub const WITNESS_FILE: &str = "witnesses.json";
/// Its format.
pub const FORMAT: &str = "ceremony-witnesses/1";
/// The directory of the export holding the signed message and the `sshsig` files.
pub const WITNESS_DIR: &str = "witnesses";
/// The message every witness signs, as a file of the export (for `ssh-keygen -Y verify`).
pub const MESSAGE_FILE: &str = "witnesses/message";
/// The `sshsig` namespace of a witness signature.
pub const SSH_NAMESPACE: &str = "ceremony-transcript-witness";
/// The `type` inside the signed message: a witness signature is never mistaken
/// for a signature over metadata or a transcript seal.
pub const MESSAGE_TYPE: &str = "ceremony-transcript-witness v1";

/// The exact bytes a witness signs for a transcript whose final hash is `final_hash`
/// (64 hex digits): the canonical JSON of `{"final_hash": …, "type": …}`.
pub fn message(final_hash: &str) -> Vec<u8> {
    cjson::encode(&json!({ "final_hash": final_hash, "type": MESSAGE_TYPE })).expect("strings only")
}

/// `witnesses.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFile {
    pub format: String,
    /// The final hash of the transcript the witnesses signed.
    pub transcript_final_hash: String,
    pub signatures: Vec<WitnessSignature>,
}

/// One witness's signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSignature {
    /// The participant (a witness of the script).
    pub participant: String,
    /// The name they typed at sign-in, if the script has a sign-in step.
    #[serde(default)]
    pub name: Option<String>,
    /// `sshsig` (an OpenSSH key) or `raw` (a token key's signature over the message).
    pub method: String,
    /// `sshsig`: the OpenSSH public key line. `raw`: the key's algorithm and
    /// public key (hex), as a transcript seal records them.
    pub public_key: String,
    #[serde(default)]
    pub algorithm: Option<String>,
    /// SHA-256 fingerprint (OpenSSH form) or TUF key ID.
    pub key: String,
    /// `sshsig`: the signature file in the export. `raw`: the signature, hex.
    pub signature: String,
    /// What the key is on, as the token describes itself.
    pub signer: String,
    pub signed_at: String,
}

/// A key a witness is expected to have signed with, as `--witness` gives it.
pub enum WitnessKey {
    Ssh(ssh_key::PublicKey),
    Raw(Box<PublicKey>),
}

impl WitnessKey {
    /// Read an OpenSSH public key (`ssh-ed25519 AAAA…`, e.g. `id_ed25519.pub`) or a
    /// key file the tool reads elsewhere (a TUF key object, a PEM public key).
    pub fn read(path: &Path) -> Result<WitnessKey> {
        let bytes = crate::inputs::read_file(path)?;
        let bad = |reason: String| Error::Read {
            path: path.display().to_string(),
            reason,
        };
        let text = String::from_utf8_lossy(&bytes);
        let line = text.trim();
        if line.starts_with("ssh-") || line.starts_with("ecdsa-") {
            let key = ssh_key::PublicKey::from_openssh(line)
                .map_err(|e| bad(format!("not an OpenSSH public key: {e}")))?;
            return Ok(WitnessKey::Ssh(key));
        }
        let key = crate::tuf::key::read_key_object(&bytes, Flavour::Tuf).map_err(bad)?;
        let decoded = crate::tuf::key::decode_key(&key, Flavour::Tuf).map_err(bad)?;
        Ok(WitnessKey::Raw(Box::new(decoded.public)))
    }

    pub fn describe(&self) -> String {
        match self {
            WitnessKey::Ssh(k) => {
                format!("OpenSSH key {}", k.fingerprint(ssh_key::HashAlg::Sha256))
            }
            WitnessKey::Raw(k) => format!(
                "{} key {}",
                k.algorithm(),
                crate::ceremony::transcript::tuf_key_id_of(k)
            ),
        }
    }
}

/// Check that a witness signature in the export at `dir` by `key` verifies over
/// `final_hash` (the transcript's, as just verified). Returns the signature found.
pub fn check(
    dir: &Path,
    file: &WitnessFile,
    final_hash: &str,
    key: &WitnessKey,
) -> Result<WitnessSignature> {
    if file.transcript_final_hash != final_hash {
        return Err(Error::Usage(format!(
            "{}: the witnesses signed final hash {}, but the transcript ends in {final_hash}: \
             they did not sign this transcript",
            dir.join(WITNESS_FILE).display(),
            file.transcript_final_hash
        )));
    }
    let msg = message(final_hash);
    let mut reasons = Vec::new();
    for sig in &file.signatures {
        let verdict = match (key, sig.method.as_str()) {
            (WitnessKey::Ssh(k), "sshsig") => {
                let Ok(theirs) = ssh_key::PublicKey::from_openssh(&sig.public_key) else {
                    continue;
                };
                if theirs.key_data() != k.key_data() {
                    continue;
                }
                if !sig.signature.starts_with("witnesses/")
                    || crate::transfer::bundle::check_relative(&sig.signature).is_err()
                {
                    reasons.push(format!(
                        "{}'s signature file {:?} is not in {WITNESS_DIR}/",
                        sig.participant, sig.signature
                    ));
                    continue;
                }
                let path = dir.join(&sig.signature);
                let pem = crate::inputs::read_file(&path)?;
                ssh_key::SshSig::from_pem(&pem)
                    .map_err(|e| e.to_string())
                    .and_then(|s| k.verify(SSH_NAMESPACE, &msg, &s).map_err(|e| e.to_string()))
            }
            (WitnessKey::Raw(k), "raw") => {
                if sig.public_key != hex::encode(k.as_bytes()) {
                    continue;
                }
                hex::decode(&sig.signature)
                    .map_err(|e| e.to_string())
                    .and_then(|s| {
                        k.verify(&msg, &s, SignatureEncoding::raw_for(k.algorithm()))
                            .map_err(|e| e.to_string())
                    })
            }
            _ => continue,
        };
        match verdict {
            Ok(()) => return Ok(sig.clone()),
            Err(e) => reasons.push(format!("{}'s signature: {e}", sig.participant)),
        }
    }
    Err(Error::Usage(format!(
        "no witness signature by {} verifies over this transcript's final hash {final_hash}{}",
        key.describe(),
        if reasons.is_empty() {
            " (no witness signed with that key)".to_owned()
        } else {
            format!(" ({})", reasons.join("; "))
        }
    )))
}

/// Read `witnesses.json` from an export.
pub fn read(dir: &Path) -> Result<Option<WitnessFile>> {
    let path = dir.join(WITNESS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = crate::inputs::read_file(&path)?;
    let file: WitnessFile = serde_json::from_slice(&bytes).map_err(|e| Error::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if file.format != FORMAT {
        return Err(Error::Read {
            path: path.display().to_string(),
            reason: format!("format {:?}, not {FORMAT:?}", file.format),
        });
    }
    Ok(Some(file))
}

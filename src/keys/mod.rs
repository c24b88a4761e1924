//! Public keys and signature schemes: Ed25519 and ECDSA P-256, and software
//! verification of every signature before anything trusts it.

use p256::ecdsa::signature::Verifier;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};

/// The signature algorithms `ceremony` signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Ed25519,
    EcdsaP256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-p256",
        }
    }

    pub fn parse(s: &str) -> Result<Self, KeyError> {
        match s {
            "ed25519" => Ok(Algorithm::Ed25519),
            "ecdsa-p256" | "p256" | "ecdsa" | "ecdsa-sha2-nistp256" => Ok(Algorithm::EcdsaP256),
            other => Err(KeyError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How an ECDSA signature is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureEncoding {
    /// Ed25519's 64 bytes.
    Ed25519,
    /// ECDSA as ASN.1 DER (TUF).
    EcdsaDer,
    /// ECDSA as raw r‖s, 64 bytes for P-256 (Notary, PKCS#11, PIV after conversion).
    EcdsaRaw,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("unknown key algorithm {0:?} (known: ed25519, ecdsa-p256)")]
    UnknownAlgorithm(String),
    #[error("malformed {algorithm} public key: {reason}")]
    MalformedPublicKey {
        algorithm: Algorithm,
        reason: String,
    },
    #[error("malformed {0} signature")]
    MalformedSignature(Algorithm),
    #[error("{0} signature does not verify")]
    BadSignature(Algorithm),
    #[error("a {key} key cannot check a {encoding:?} signature")]
    SchemeMismatch {
        key: Algorithm,
        encoding: SignatureEncoding,
    },
}

/// A public key. Ed25519 keys are the 32-byte point; P-256 keys the 65-byte
/// uncompressed SEC1 point.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: Algorithm,
    bytes: Vec<u8>,
    /// Ed25519: the point, decompressed once when the key was read.
    ed25519: Option<ed25519_dalek::VerifyingKey>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.algorithm.hash(state);
        self.bytes.hash(state);
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey({}:{})",
            self.algorithm,
            hex::encode(&self.bytes)
        )
    }
}

/// Decompress an Ed25519 public key, remembering the last few hundred: a
/// decompression costs about a third of a verification, and a batch ceremony
/// reads the same handful of keys in every one of thousands of roots. (A pure
/// function of the bytes, so remembering it changes nothing but the time.)
fn decompressed(arr: &[u8; 32]) -> Result<ed25519_dalek::VerifyingKey, KeyError> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>> = Mutex::new(None);
    if let Some(vk) = SEEN
        .lock()
        .ok()
        .and_then(|seen| seen.as_ref().and_then(|m| m.get(arr).copied()))
    {
        return Ok(vk);
    }
    let vk =
        ed25519_dalek::VerifyingKey::from_bytes(arr).map_err(|e| KeyError::MalformedPublicKey {
            algorithm: Algorithm::Ed25519,
            reason: e.to_string(),
        })?;
    if let Ok(mut seen) = SEEN.lock() {
        let map = seen.get_or_insert_with(HashMap::new);
        if map.len() >= 512 {
            map.clear();
        }
        map.insert(*arr, vk);
    }
    Ok(vk)
}

impl PublicKey {
    pub fn ed25519(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::MalformedPublicKey {
            algorithm: Algorithm::Ed25519,
            reason: format!("expected 32 bytes, got {}", bytes.len()),
        })?;
        let vk = decompressed(&arr)?;
        // A small-order point (the identity among them) lets a fixed signature
        // "verify" for any message in lenient verifiers: never a key we accept.
        if vk.is_weak() {
            return Err(KeyError::MalformedPublicKey {
                algorithm: Algorithm::Ed25519,
                reason: "a small-order point (a weak key: a fixed signature would verify \
                         for any message)"
                    .into(),
            });
        }
        Ok(PublicKey {
            algorithm: Algorithm::Ed25519,
            bytes: arr.to_vec(),
            ed25519: Some(vk),
        })
    }

    /// A P-256 key from a SEC1 point (compressed or uncompressed).
    pub fn p256_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| {
            KeyError::MalformedPublicKey {
                algorithm: Algorithm::EcdsaP256,
                reason: "not a point on P-256".into(),
            }
        })?;
        Ok(Self::from_p256(&vk))
    }

    pub fn from_p256(vk: &p256::ecdsa::VerifyingKey) -> Self {
        PublicKey {
            algorithm: Algorithm::EcdsaP256,
            bytes: vk.to_sec1_point(false).as_bytes().to_vec(),
            ed25519: None,
        }
    }

    /// A public key from a DER SubjectPublicKeyInfo (P-256 or Ed25519).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(vk) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::from_p256(&vk));
        }
        if let Ok(vk) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Self::ed25519(vk.as_bytes());
        }
        Err(KeyError::MalformedPublicKey {
            algorithm: Algorithm::EcdsaP256,
            reason: "not a P-256 or Ed25519 SubjectPublicKeyInfo".into(),
        })
    }

    pub fn from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        if let Ok(vk) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim()) {
            return Ok(Self::from_p256(&vk));
        }
        Err(KeyError::MalformedPublicKey {
            algorithm: Algorithm::EcdsaP256,
            reason: "not a P-256 SubjectPublicKeyInfo in PEM".into(),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw public bytes (Ed25519 point, or uncompressed SEC1 point).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn p256(&self) -> p256::ecdsa::VerifyingKey {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&self.bytes).expect("validated at construction")
    }

    pub fn p256_verifying_key(&self) -> Option<p256::ecdsa::VerifyingKey> {
        (self.algorithm == Algorithm::EcdsaP256).then(|| self.p256())
    }

    /// DER SubjectPublicKeyInfo.
    pub fn to_spki_der(&self) -> Vec<u8> {
        match self.algorithm {
            Algorithm::EcdsaP256 => self
                .p256()
                .to_public_key_der()
                .expect("P-256 SPKI encodes")
                .as_bytes()
                .to_vec(),
            Algorithm::Ed25519 => {
                let vk = self.ed25519.as_ref().expect("set at construction");
                vk.to_public_key_der()
                    .expect("Ed25519 SPKI encodes")
                    .as_bytes()
                    .to_vec()
            }
        }
    }

    /// PEM SubjectPublicKeyInfo, laid out as python `cryptography` writes it.
    pub fn to_spki_pem(&self) -> String {
        match self.algorithm {
            Algorithm::EcdsaP256 => self
                .p256()
                .to_public_key_pem(LineEnding::LF)
                .expect("P-256 SPKI encodes"),
            Algorithm::Ed25519 => {
                let vk = self.ed25519.as_ref().expect("set at construction");
                vk.to_public_key_pem(LineEnding::LF)
                    .expect("Ed25519 SPKI encodes")
            }
        }
    }

    /// Check `signature` over `message`. ECDSA uses SHA-256 of the message.
    pub fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        encoding: SignatureEncoding,
    ) -> Result<(), KeyError> {
        match (self.algorithm, encoding) {
            (Algorithm::Ed25519, SignatureEncoding::Ed25519) => {
                let vk = self.ed25519.as_ref().expect("set at construction");
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::Ed25519))?;
                vk.verify_strict(message, &sig)
                    .map_err(|_| KeyError::BadSignature(Algorithm::Ed25519))
            }
            (Algorithm::EcdsaP256, SignatureEncoding::EcdsaDer) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP256))?;
                self.p256()
                    .verify(message, &sig)
                    .map_err(|_| KeyError::BadSignature(Algorithm::EcdsaP256))
            }
            (Algorithm::EcdsaP256, SignatureEncoding::EcdsaRaw) => {
                let sig = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP256))?;
                self.p256()
                    .verify(message, &sig)
                    .map_err(|_| KeyError::BadSignature(Algorithm::EcdsaP256))
            }
            (key, encoding) => Err(KeyError::SchemeMismatch { key, encoding }),
        }
    }
}

/// Convert a raw r‖s ECDSA P-256 signature to ASN.1 DER.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    let sig = p256::ecdsa::Signature::from_slice(raw)
        .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP256))?;
    Ok(sig.to_der().as_bytes().to_vec())
}

/// Convert an ASN.1 DER ECDSA P-256 signature to raw r‖s.
pub fn ecdsa_der_to_raw(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let sig = p256::ecdsa::Signature::from_der(der)
        .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP256))?;
    Ok(sig.to_bytes().to_vec())
}

//! Public keys and signature schemes, and software verification of every
//! signature before anything trusts it. Tokens make Ed25519 and ECDSA P-256 keys;
//! roots written by other producers also hold ECDSA P-384 and RSA keys (RSA-PSS
//! and PKCS#1 v1.5, as securesystemslib defines them), which we verify.

use p256::ecdsa::signature::Verifier;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};

/// The signature algorithms `ceremony` signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    /// RSA of at least 2048 bits; the padding is the signature encoding's.
    Rsa,
}

/// The smallest RSA modulus we accept, in bits.
pub const RSA_MIN_BITS: usize = 2048;

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::EcdsaP384 => "ecdsa-p384",
            Algorithm::Rsa => "rsa",
        }
    }

    pub fn parse(s: &str) -> Result<Self, KeyError> {
        match s {
            "ed25519" => Ok(Algorithm::Ed25519),
            "ecdsa-p256" | "p256" | "ecdsa" | "ecdsa-sha2-nistp256" => Ok(Algorithm::EcdsaP256),
            "ecdsa-p384" | "p384" | "ecdsa-sha2-nistp384" => Ok(Algorithm::EcdsaP384),
            "rsa" => Ok(Algorithm::Rsa),
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
    /// RSASSA-PSS with MGF1 of the same hash, any salt length (securesystemslib
    /// verifies with `PSS.AUTO`).
    RsaPss(RsaHash),
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15(RsaHash),
}

impl SignatureEncoding {
    /// How a token's raw signature with a key of `algorithm` is laid out: what a
    /// PKCS#11 token or a PIV card returns (after DER is turned into r‖s).
    pub fn raw_for(algorithm: Algorithm) -> SignatureEncoding {
        match algorithm {
            Algorithm::Ed25519 => SignatureEncoding::Ed25519,
            Algorithm::EcdsaP256 | Algorithm::EcdsaP384 => SignatureEncoding::EcdsaRaw,
            Algorithm::Rsa => SignatureEncoding::RsaPss(RsaHash::Sha256),
        }
    }
}

/// The hash of an RSA signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaHash {
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("unknown key algorithm {0:?} (known: ed25519, ecdsa-p256, ecdsa-p384, rsa)")]
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

    /// A public key from the bytes [`PublicKey::as_bytes`] gives for its algorithm
    /// (a point for Ed25519 and ECDSA, a DER SubjectPublicKeyInfo for RSA).
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        match algorithm {
            Algorithm::Ed25519 => Self::ed25519(bytes),
            Algorithm::EcdsaP256 => Self::p256_sec1(bytes),
            Algorithm::EcdsaP384 => Self::p384_sec1(bytes),
            Algorithm::Rsa => {
                use rsa::pkcs8::DecodePublicKey as _;
                let key = rsa::RsaPublicKey::from_public_key_der(bytes).map_err(|e| {
                    KeyError::MalformedPublicKey {
                        algorithm: Algorithm::Rsa,
                        reason: e.to_string(),
                    }
                })?;
                Self::from_rsa(&key)
            }
        }
    }

    /// A P-384 key from a SEC1 point (compressed or uncompressed).
    pub fn p384_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| {
            KeyError::MalformedPublicKey {
                algorithm: Algorithm::EcdsaP384,
                reason: "not a point on P-384".into(),
            }
        })?;
        Ok(PublicKey {
            algorithm: Algorithm::EcdsaP384,
            bytes: vk.to_sec1_point(false).as_bytes().to_vec(),
            ed25519: None,
        })
    }

    /// An RSA key from its modulus and public exponent, big-endian (as a PKCS#11
    /// token holds them).
    pub fn rsa_from_components(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        let n = rsa::BoxedUint::from_be_slice_vartime(modulus);
        let e = rsa::BoxedUint::from_be_slice_vartime(exponent);
        let key = rsa::RsaPublicKey::new(n, e).map_err(|e| KeyError::MalformedPublicKey {
            algorithm: Algorithm::Rsa,
            reason: e.to_string(),
        })?;
        Self::from_rsa(&key)
    }

    fn from_rsa(key: &rsa::RsaPublicKey) -> Result<Self, KeyError> {
        use rsa::traits::PublicKeyParts;
        let bits = key.n().bit_width() as usize;
        if bits < RSA_MIN_BITS {
            return Err(KeyError::MalformedPublicKey {
                algorithm: Algorithm::Rsa,
                reason: format!(
                    "an RSA key of {bits} bits is a weak key: at least {RSA_MIN_BITS} bits are needed"
                ),
            });
        }
        use rsa::pkcs8::EncodePublicKey as _;
        let der = key
            .to_public_key_der()
            .map_err(|e| KeyError::MalformedPublicKey {
                algorithm: Algorithm::Rsa,
                reason: e.to_string(),
            })?;
        Ok(PublicKey {
            algorithm: Algorithm::Rsa,
            bytes: der.as_bytes().to_vec(),
            ed25519: None,
        })
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
        if let Ok(vk) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Self::p384_sec1(vk.to_sec1_point(false).as_bytes());
        }
        {
            use rsa::pkcs8::DecodePublicKey as _;
            if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(der) {
                return Self::from_rsa(&key);
            }
        }
        Err(KeyError::MalformedPublicKey {
            algorithm: Algorithm::EcdsaP256,
            reason: "not a P-256 or Ed25519 SubjectPublicKeyInfo".into(),
        })
    }

    /// A public key from a PEM SubjectPublicKeyInfo (P-256, P-384, RSA or Ed25519).
    pub fn from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        let malformed = |reason: String| KeyError::MalformedPublicKey {
            algorithm: Algorithm::EcdsaP256,
            reason,
        };
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| malformed(format!("not a SubjectPublicKeyInfo in PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(malformed(format!(
                "the PEM label is {label:?}, not \"PUBLIC KEY\""
            )));
        }
        Self::from_spki_der(&der)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw public bytes (Ed25519 point, or uncompressed SEC1 point).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn p384(&self) -> p384::ecdsa::VerifyingKey {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(&self.bytes).expect("validated at construction")
    }

    fn rsa(&self) -> rsa::RsaPublicKey {
        use rsa::pkcs8::DecodePublicKey as _;
        rsa::RsaPublicKey::from_public_key_der(&self.bytes).expect("validated at construction")
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
            Algorithm::Rsa => self.bytes.clone(),
            Algorithm::EcdsaP384 => self
                .p384()
                .to_public_key_der()
                .expect("P-384 SPKI encodes")
                .as_bytes()
                .to_vec(),
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
            Algorithm::Rsa | Algorithm::EcdsaP384 => {
                der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.to_spki_der())
                    .expect("SPKI encodes as PEM")
            }
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
            (Algorithm::EcdsaP384, SignatureEncoding::EcdsaRaw) => {
                let sig = p384::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP384))?;
                self.p384()
                    .verify(message, &sig)
                    .map_err(|_| KeyError::BadSignature(Algorithm::EcdsaP384))
            }
            (Algorithm::EcdsaP384, SignatureEncoding::EcdsaDer) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP384))?;
                self.p384()
                    .verify(message, &sig)
                    .map_err(|_| KeyError::BadSignature(Algorithm::EcdsaP384))
            }
            (Algorithm::Rsa, SignatureEncoding::RsaPss(hash)) => {
                use rsa::pss::{Signature, VerifyingKey};
                let sig = Signature::try_from(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::Rsa))?;
                let key = self.rsa();
                let ok = match hash {
                    RsaHash::Sha256 => VerifyingKey::<sha2::Sha256>::new_with_auto_salt_len(key)
                        .verify(message, &sig),
                    RsaHash::Sha384 => VerifyingKey::<sha2::Sha384>::new_with_auto_salt_len(key)
                        .verify(message, &sig),
                    RsaHash::Sha512 => VerifyingKey::<sha2::Sha512>::new_with_auto_salt_len(key)
                        .verify(message, &sig),
                };
                ok.map_err(|_| KeyError::BadSignature(Algorithm::Rsa))
            }
            (Algorithm::Rsa, SignatureEncoding::RsaPkcs1v15(hash)) => {
                use rsa::pkcs1v15::{Signature, VerifyingKey};
                let sig = Signature::try_from(signature)
                    .map_err(|_| KeyError::MalformedSignature(Algorithm::Rsa))?;
                let key = self.rsa();
                let ok = match hash {
                    RsaHash::Sha256 => VerifyingKey::<sha2::Sha256>::new(key).verify(message, &sig),
                    RsaHash::Sha384 => VerifyingKey::<sha2::Sha384>::new(key).verify(message, &sig),
                    RsaHash::Sha512 => VerifyingKey::<sha2::Sha512>::new(key).verify(message, &sig),
                };
                ok.map_err(|_| KeyError::BadSignature(Algorithm::Rsa))
            }
            (key, encoding) => Err(KeyError::SchemeMismatch { key, encoding }),
        }
    }
}

/// Convert a raw r‖s ECDSA signature (P-256: 64 bytes, P-384: 96) to ASN.1 DER.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    if raw.len() == 96 {
        let sig = p384::ecdsa::Signature::from_slice(raw)
            .map_err(|_| KeyError::MalformedSignature(Algorithm::EcdsaP384))?;
        return Ok(sig.to_der().as_bytes().to_vec());
    }
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

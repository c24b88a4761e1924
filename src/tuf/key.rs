//! Keys as metadata sees them: the JSON key objects of each flavour, their key IDs,
//! and the public key inside.

use super::cjson;
use super::fields;
use super::json::parse_strict;
use super::metadata::{Flavour, Key, KeyVal};
use super::notary::RootCertificate;
use crate::keys::{Algorithm, PublicKey, SignatureEncoding};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const KEYTYPE_ED25519: &str = "ed25519";
pub const KEYTYPE_ECDSA: &str = "ecdsa";
pub const KEYTYPE_ECDSA_LEGACY: &str = "ecdsa-sha2-nistp256";
pub const KEYTYPE_ECDSA_X509: &str = "ecdsa-x509";
pub const SCHEME_ED25519: &str = "ed25519";
pub const SCHEME_ECDSA_P256: &str = "ecdsa-sha2-nistp256";

/// What a key object holds, decoded.
#[derive(Debug, Clone)]
pub struct DecodedKey {
    pub public: PublicKey,
    /// How signatures by this key are encoded on the wire in its flavour.
    pub encoding: SignatureEncoding,
    /// Notary root keys carry a certificate.
    pub certificate: Option<RootCertificate>,
}

/// The TUF key object for a public key.
pub fn tuf_key(public: &PublicKey) -> Key {
    let (keytype, scheme, value) = match public.algorithm() {
        Algorithm::Ed25519 => (
            KEYTYPE_ED25519,
            SCHEME_ED25519,
            hex::encode(public.as_bytes()),
        ),
        Algorithm::EcdsaP256 => (KEYTYPE_ECDSA, SCHEME_ECDSA_P256, public.to_spki_pem()),
    };
    Key {
        keytype: keytype.into(),
        scheme: Some(scheme.into()),
        keyval: KeyVal {
            public: value,
            unknown: Map::new(),
        },
        unknown: Map::new(),
    }
}

/// The Notary key object for an online role's public key (targets, snapshot,
/// timestamp, delegations): the key itself, not a certificate.
pub fn notary_key(public: &PublicKey) -> Key {
    let (keytype, value) = match public.algorithm() {
        Algorithm::Ed25519 => (KEYTYPE_ED25519, B64.encode(public.as_bytes())),
        Algorithm::EcdsaP256 => (KEYTYPE_ECDSA, B64.encode(public.to_spki_der())),
    };
    notary_key_object(keytype, value)
}

/// The Notary key object for a root certificate (`ecdsa-x509`, base64 of the PEM).
pub fn notary_x509_key(cert_pem: &str) -> Key {
    notary_key_object(KEYTYPE_ECDSA_X509, B64.encode(cert_pem.as_bytes()))
}

fn notary_key_object(keytype: &str, public: String) -> Key {
    let mut keyval_unknown = Map::new();
    keyval_unknown.insert("private".into(), Value::Null);
    Key {
        keytype: keytype.into(),
        scheme: None,
        keyval: KeyVal {
            public,
            unknown: keyval_unknown,
        },
        unknown: Map::new(),
    }
}

/// The key ID of a key object in its flavour.
///
/// TUF: SHA-256 of the canonical JSON of `{keytype, scheme, keyval}` (securesystemslib).
/// Notary: SHA-256 of the canonical JSON of `{keytype, keyval: {private: null, public}}`.
pub fn key_id(key: &Key, flavour: Flavour) -> String {
    let value = match flavour {
        Flavour::Tuf => json!({
            "keytype": key.keytype,
            "scheme": key.scheme,
            "keyval": key.keyval,
        }),
        Flavour::Notary => json!({
            "keytype": key.keytype,
            "keyval": {"private": null, "public": key.keyval.public},
        }),
    };
    let bytes = cjson::encode(&value).expect("key objects hold no numbers");
    hex::encode(Sha256::digest(&bytes))
}

/// Read a key object from a file's bytes (a key file, a request's key): strict
/// JSON, no field a client would read as another, the key decodes. The one
/// reader of standalone key objects.
pub fn read_key_object(bytes: &[u8], flavour: Flavour) -> Result<Key, String> {
    let value = parse_strict(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    fields::check_key(&value, flavour).map_err(|e| e.to_string())?;
    let key: Key = serde_json::from_value(value).map_err(|e| format!("not a key object: {e}"))?;
    decode_key(&key, flavour).map_err(|reason| format!("not a usable {flavour} key: {reason}"))?;
    Ok(key)
}

/// Decode the public key a key object carries, checking its type and scheme.
pub fn decode_key(key: &Key, flavour: Flavour) -> Result<DecodedKey, String> {
    match flavour {
        Flavour::Tuf => decode_tuf(key),
        Flavour::Notary => decode_notary(key),
    }
}

fn decode_tuf(key: &Key) -> Result<DecodedKey, String> {
    let scheme = key.scheme.as_deref().ok_or("has no scheme")?;
    match (key.keytype.as_str(), scheme) {
        (KEYTYPE_ED25519, SCHEME_ED25519) => {
            let bytes = hex::decode(&key.keyval.public)
                .map_err(|_| "ed25519 public key is not hex".to_string())?;
            let public = PublicKey::ed25519(&bytes).map_err(|e| e.to_string())?;
            Ok(DecodedKey {
                public,
                encoding: SignatureEncoding::Ed25519,
                certificate: None,
            })
        }
        (KEYTYPE_ECDSA | KEYTYPE_ECDSA_LEGACY, SCHEME_ECDSA_P256) => {
            let public = PublicKey::from_spki_pem(&key.keyval.public).map_err(|e| e.to_string())?;
            Ok(DecodedKey {
                public,
                encoding: SignatureEncoding::EcdsaDer,
                certificate: None,
            })
        }
        (keytype, scheme) => Err(format!(
            "unsupported key type {keytype:?} with scheme {scheme:?} \
             (supported: ed25519/ed25519, ecdsa/ecdsa-sha2-nistp256)"
        )),
    }
}

fn decode_notary(key: &Key) -> Result<DecodedKey, String> {
    let raw = B64
        .decode(&key.keyval.public)
        .map_err(|_| "public key is not base64".to_string())?;
    match key.keytype.as_str() {
        KEYTYPE_ED25519 => Ok(DecodedKey {
            public: PublicKey::ed25519(&raw).map_err(|e| e.to_string())?,
            encoding: SignatureEncoding::Ed25519,
            certificate: None,
        }),
        KEYTYPE_ECDSA => Ok(DecodedKey {
            public: PublicKey::from_spki_der(&raw).map_err(|e| e.to_string())?,
            encoding: SignatureEncoding::EcdsaRaw,
            certificate: None,
        }),
        KEYTYPE_ECDSA_X509 => {
            let pem =
                std::str::from_utf8(&raw).map_err(|_| "certificate is not PEM text".to_string())?;
            let cert = RootCertificate::from_pem(pem).map_err(|e| e.to_string())?;
            Ok(DecodedKey {
                public: cert.public_key.clone(),
                encoding: SignatureEncoding::EcdsaRaw,
                certificate: Some(cert),
            })
        }
        other => Err(format!(
            "unsupported key type {other:?} (supported: ecdsa-x509, ecdsa, ed25519)"
        )),
    }
}

/// The `method` Notary writes beside a signature.
pub fn notary_method(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Ed25519 => "eddsa",
        Algorithm::EcdsaP256 => "ecdsa",
    }
}

/// Encode signature bytes for the wire.
pub fn encode_sig(bytes: &[u8], flavour: Flavour) -> String {
    match flavour {
        Flavour::Tuf => hex::encode(bytes),
        Flavour::Notary => B64.encode(bytes),
    }
}

/// Decode a wire signature.
pub fn decode_sig(sig: &str, flavour: Flavour) -> Result<Vec<u8>, String> {
    match flavour {
        Flavour::Tuf => hex::decode(sig).map_err(|_| "signature is not hex".to_string()),
        Flavour::Notary => B64
            .decode(sig)
            .map_err(|_| "signature is not base64".to_string()),
    }
}

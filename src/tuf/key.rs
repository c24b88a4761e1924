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
pub const KEYTYPE_ECDSA_P384_LEGACY: &str = "ecdsa-sha2-nistp384";
pub const SCHEME_ECDSA_P384: &str = "ecdsa-sha2-nistp384";
pub const KEYTYPE_RSA: &str = "rsa";
pub const SCHEME_RSA_PSS_SHA256: &str = "rsassa-pss-sha256";

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
        Algorithm::EcdsaP384 => (KEYTYPE_ECDSA, SCHEME_ECDSA_P384, public.to_spki_pem()),
        Algorithm::Rsa => (KEYTYPE_RSA, SCHEME_RSA_PSS_SHA256, public.to_spki_pem()),
    };
    Key {
        keytype: keytype.into(),
        scheme: Some(scheme.into()),
        keyval: KeyVal {
            public: Some(value),
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
        Algorithm::EcdsaP256 | Algorithm::EcdsaP384 => {
            (KEYTYPE_ECDSA, B64.encode(public.to_spki_der()))
        }
        Algorithm::Rsa => (KEYTYPE_RSA, B64.encode(public.to_spki_der())),
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
            public: Some(public),
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
    cjson::encode(&value).map_err(|e| e.to_string())?;
    let key: Key = serde_json::from_value(value).map_err(|e| format!("not a key object: {e}"))?;
    decode_key(&key, flavour).map_err(|reason| format!("not a usable {flavour} key: {reason}"))?;
    Ok(key)
}

/// Is `keyid` derived from `key` by a rule some producer uses? The standard rule
/// ([`key_id`]), or the hash of the key object as written, all its fields
/// included (older python-tuf and go-tuf hashed `keyid_hash_algorithms` with the
/// key; tuf-on-ci's keys carry `x-tuf-on-ci-*` fields). A key ID no rule derives
/// is still taken as given (TAP 12); `verify` notes it.
pub fn derived_id(key: &Key, keyid: &str, flavour: Flavour) -> bool {
    if key_id(key, flavour) == keyid {
        return true;
    }
    serde_json::to_value(key)
        .ok()
        .and_then(|v| cjson::encode(&v).ok())
        .is_some_and(|bytes| hex::encode(Sha256::digest(&bytes)) == keyid)
}

/// Decode the public key a key object carries, checking its type and scheme.
pub fn decode_key(key: &Key, flavour: Flavour) -> Result<DecodedKey, String> {
    match flavour {
        Flavour::Tuf => decode_tuf(key),
        Flavour::Notary => decode_notary(key),
    }
}

/// What a TUF key's type and scheme promise, before its value is read.
enum TufScheme {
    Ed25519,
    Ecdsa(Algorithm),
    Rsa(SignatureEncoding),
}

fn tuf_scheme(keytype: &str, scheme: &str) -> Option<TufScheme> {
    use crate::keys::RsaHash::*;
    Some(match (keytype, scheme) {
        (KEYTYPE_ED25519, SCHEME_ED25519) => TufScheme::Ed25519,
        (KEYTYPE_ECDSA | KEYTYPE_ECDSA_LEGACY, SCHEME_ECDSA_P256) => {
            TufScheme::Ecdsa(Algorithm::EcdsaP256)
        }
        (KEYTYPE_ECDSA | KEYTYPE_ECDSA_P384_LEGACY, SCHEME_ECDSA_P384) => {
            TufScheme::Ecdsa(Algorithm::EcdsaP384)
        }
        (KEYTYPE_RSA, "rsassa-pss-sha256") => TufScheme::Rsa(SignatureEncoding::RsaPss(Sha256)),
        (KEYTYPE_RSA, "rsassa-pss-sha384") => TufScheme::Rsa(SignatureEncoding::RsaPss(Sha384)),
        (KEYTYPE_RSA, "rsassa-pss-sha512") => TufScheme::Rsa(SignatureEncoding::RsaPss(Sha512)),
        (KEYTYPE_RSA, "rsa-pkcs1v15-sha256") => {
            TufScheme::Rsa(SignatureEncoding::RsaPkcs1v15(Sha256))
        }
        (KEYTYPE_RSA, "rsa-pkcs1v15-sha384") => {
            TufScheme::Rsa(SignatureEncoding::RsaPkcs1v15(Sha384))
        }
        (KEYTYPE_RSA, "rsa-pkcs1v15-sha512") => {
            TufScheme::Rsa(SignatureEncoding::RsaPkcs1v15(Sha512))
        }
        _ => return None,
    })
}

/// The key types and schemes we verify, for messages.
pub const SUPPORTED_TUF_SCHEMES: &str = "ed25519/ed25519, ecdsa or ecdsa-sha2-nistp256 with \
     ecdsa-sha2-nistp256, ecdsa or ecdsa-sha2-nistp384 with ecdsa-sha2-nistp384, rsa with \
     rsassa-pss-sha256/384/512 or rsa-pkcs1v15-sha256/384/512";

/// Is this key's type and scheme one we verify? `None` if so, else why not.
pub fn unsupported(key: &Key, flavour: Flavour) -> Option<String> {
    match flavour {
        Flavour::Notary => None,
        Flavour::Tuf => {
            let scheme = key.scheme.as_deref().unwrap_or("");
            tuf_scheme(&key.keytype, scheme).is_none().then(|| {
                format!(
                    "key type {:?} with scheme {scheme:?} is not one we verify \
                     (supported: {SUPPORTED_TUF_SCHEMES})",
                    key.keytype
                )
            })
        }
    }
}

/// An ECDSA public key as TUF producers write it: SPKI PEM (python-tuf,
/// securesystemslib, tuf-on-ci), or the older hex SEC1 point (go-tuf before 0.6).
fn ecdsa_public(value: &str) -> Result<PublicKey, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return PublicKey::from_spki_pem(value).map_err(|e| e.to_string());
    }
    let bytes =
        hex::decode(value).map_err(|_| "ECDSA public key is neither PEM nor hex".to_string())?;
    PublicKey::p256_sec1(&bytes)
        .or_else(|_| PublicKey::p384_sec1(&bytes))
        .map_err(|e| e.to_string())
}

fn decode_tuf(key: &Key) -> Result<DecodedKey, String> {
    let scheme_name = key.scheme.as_deref().ok_or("has no scheme")?;
    let Some(scheme) = tuf_scheme(&key.keytype, scheme_name) else {
        return Err(unsupported(key, Flavour::Tuf).unwrap_or_default());
    };
    let value = key
        .keyval
        .public
        .as_deref()
        .ok_or("keyval has no public key")?;
    let (public, encoding) = match scheme {
        TufScheme::Ed25519 => {
            let bytes =
                hex::decode(value).map_err(|_| "ed25519 public key is not hex".to_string())?;
            let public = PublicKey::ed25519(&bytes).map_err(|e| e.to_string())?;
            (public, SignatureEncoding::Ed25519)
        }
        TufScheme::Ecdsa(algorithm) => (
            of_algorithm(ecdsa_public(value)?, algorithm, scheme_name)?,
            SignatureEncoding::EcdsaDer,
        ),
        TufScheme::Rsa(encoding) => {
            let public = PublicKey::from_spki_pem(value).map_err(|e| e.to_string())?;
            (of_algorithm(public, Algorithm::Rsa, scheme_name)?, encoding)
        }
    };
    Ok(DecodedKey {
        public,
        encoding,
        certificate: None,
    })
}

/// The key a scheme names must be of the scheme's algorithm (a P-384 key under
/// `ecdsa-sha2-nistp256` is refused, as securesystemslib refuses it).
fn of_algorithm(
    public: PublicKey,
    algorithm: Algorithm,
    scheme: &str,
) -> Result<PublicKey, String> {
    if public.algorithm() != algorithm {
        return Err(format!(
            "the key is {}, but its scheme {scheme:?} needs {algorithm}",
            public.algorithm()
        ));
    }
    Ok(public)
}

fn decode_notary(key: &Key) -> Result<DecodedKey, String> {
    let raw = B64
        .decode(
            key.keyval
                .public
                .as_deref()
                .ok_or("keyval has no public key")?,
        )
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
        Algorithm::EcdsaP256 | Algorithm::EcdsaP384 => "ecdsa",
        Algorithm::Rsa => "rsapss",
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

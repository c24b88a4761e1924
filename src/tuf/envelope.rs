//! The signed envelope every metadata file shares — `{"signatures": [...],
//! "signed": {...}}` — read strictly and written the way each flavour needs.

use super::cjson;
use super::fields;
use super::json::parse_strict;
use super::metadata::{Flavour, MetadataError, Signature};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A parsed envelope: `signed` exactly as read, the signatures, the flavour its
/// `_type` names, and any other top-level fields (kept for the round trip).
pub struct Envelope {
    pub signed: Value,
    pub signatures: Vec<Signature>,
    pub flavour: Flavour,
    pub unknown: Map<String, Value>,
}

/// Parse `bytes` as the envelope of `role` metadata (`root`, `targets`, …).
pub fn parse(bytes: &[u8], file: &str, role: &str) -> Result<Envelope, MetadataError> {
    let value = parse_strict(bytes).map_err(|e| MetadataError::Json {
        file: file.to_owned(),
        reason: e.to_string(),
    })?;
    let envelope_err = |reason: &str| MetadataError::Envelope {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    let Value::Object(mut envelope) = value else {
        return Err(envelope_err("the top level is not an object"));
    };
    let signed = envelope
        .remove("signed")
        .ok_or_else(|| envelope_err("no \"signed\" field"))?;
    let signatures = envelope
        .remove("signatures")
        .ok_or_else(|| envelope_err("no \"signatures\" field"))?;
    let type_name = signed
        .get("_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let flavour = Flavour::from_type(&type_name, role).ok_or_else(|| MetadataError::WrongType {
        file: file.to_owned(),
        found: type_name,
        role: role.to_owned(),
        notary: Flavour::Notary.type_name(role),
    })?;
    fields::check_envelope(&envelope, &signatures, flavour).map_err(|error| {
        MetadataError::Field {
            file: file.to_owned(),
            error,
        }
    })?;
    let signatures: Vec<Signature> = typed(&signatures, file, "signatures")?;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = signatures.iter().find(|s| !seen.insert(s.keyid.as_str())) {
        return Err(MetadataError::DuplicateSignature {
            file: file.to_owned(),
            keyid: twice.keyid.clone(),
        });
    }
    Ok(Envelope {
        signed,
        signatures,
        flavour,
        unknown: envelope,
    })
}

/// The typed view of a JSON value, naming `what` and the path inside it where
/// the value does not fit (`roles.root.threshold: invalid type: …`).
pub fn typed<T: DeserializeOwned>(
    value: &Value,
    file: &str,
    what: &str,
) -> Result<T, MetadataError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        MetadataError::Malformed {
            file: file.to_owned(),
            what: what.to_owned(),
            reason: if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            },
        }
    })
}

/// The canonical bytes of `signed`: what signatures cover.
pub fn canonical(signed: &Value, file: &str) -> Result<Vec<u8>, MetadataError> {
    cjson::encode(signed).map_err(|e| MetadataError::Canonical {
        file: file.to_owned(),
        reason: e.to_string(),
    })
}

/// The whole document, ready to write. TUF documents are pretty-printed; Notary
/// documents are written exactly as Notary re-serialises them
/// (`{"signed":<canonical>,"signatures":[...]}`, no whitespace), because the
/// Notary server hashes its own re-serialisation when it builds snapshots.
pub fn write(
    flavour: Flavour,
    signed: &Value,
    signatures: &[Signature],
    unknown: &Map<String, Value>,
    file: &str,
) -> Result<Vec<u8>, MetadataError> {
    match flavour {
        Flavour::Tuf => {
            let mut envelope = unknown.clone();
            envelope.insert(
                "signatures".into(),
                serde_json::to_value(signatures).expect("signatures serialise"),
            );
            envelope.insert("signed".into(), signed.clone());
            let mut out = serde_json::to_vec_pretty(&Value::Object(envelope)).expect("serialises");
            out.push(b'\n');
            Ok(out)
        }
        Flavour::Notary => {
            let mut out = b"{\"signed\":".to_vec();
            out.extend(canonical(signed, file)?);
            out.extend_from_slice(b",\"signatures\":");
            out.extend(serde_json::to_vec(signatures).expect("signatures serialise"));
            out.push(b'}');
            Ok(out)
        }
    }
}

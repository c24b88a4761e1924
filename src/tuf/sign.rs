//! Signing metadata: canonicalise → sign on the token → verify in software →
//! check the key is authorised → only then add the signature.

use super::document::RootDocument;
use super::key::{decode_key, encode_sig, notary_method};
use super::metadata::{Flavour, MetadataError, Signature};
use super::verify::verify_one;
use crate::keys::{Algorithm, ecdsa_raw_to_der};
use crate::tokens::{Signer, TokenError};
use serde_json::Map;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(
        "{file}: the key on {token} is not a root key of version {version}{previous}; \
         add it with `ceremony root add-key` first"
    )]
    NotAuthorised {
        file: String,
        token: String,
        version: u64,
        previous: String,
    },
    #[error("{file}: already signed by key {keyid}")]
    AlreadySigned { file: String, keyid: String },
    #[error(
        "{token} returned a signature that does not verify against its own public key ({reason}); \
         the signature was discarded and nothing was written"
    )]
    BadTokenSignature { token: String, reason: String },
}

/// Find the key IDs under which `signer`'s public key is a root key of `doc`.
fn root_key_ids(doc: &RootDocument, signer: &dyn Signer) -> Vec<String> {
    let role = &doc.root().roles["root"];
    role.keyids
        .iter()
        .filter(|id| {
            doc.root()
                .keys
                .get(*id)
                .and_then(|k| decode_key(k, doc.flavour()).ok())
                .is_some_and(|d| &d.public == signer.public_key())
        })
        .cloned()
        .collect()
}

/// Sign a root with the key on `signer`. The key must be a root key of this root,
/// or of `previous` (a cross-signature for a rotation). Returns the key ID.
pub fn sign_root(
    doc: &mut RootDocument,
    signer: &mut dyn Signer,
    previous: Option<&RootDocument>,
) -> Result<String, SignError> {
    let mut ids = root_key_ids(doc, signer);
    if ids.is_empty()
        && let Some(prev) = previous
    {
        ids = root_key_ids(prev, signer);
    }
    let Some(keyid) = ids.into_iter().next() else {
        return Err(SignError::NotAuthorised {
            file: doc.name.clone(),
            token: signer.describe(),
            version: doc.version(),
            previous: previous
                .map(|p| format!(" nor of version {}", p.version()))
                .unwrap_or_default(),
        });
    };
    if doc.signatures.iter().any(|s| s.keyid == keyid) {
        return Err(SignError::AlreadySigned {
            file: doc.name.clone(),
            keyid,
        });
    }
    let message = doc.canonical_signed()?;
    let signature = sign_message(&message, signer, doc.flavour(), keyid.clone())?;
    // Verify against the key object exactly as the root lists it.
    let key_object = doc
        .root()
        .keys
        .get(&keyid)
        .or_else(|| previous.and_then(|p| p.root().keys.get(&keyid)))
        .expect("key ID found above");
    let decoded = decode_key(key_object, doc.flavour()).expect("decoded above");
    verify_one(&message, &signature, &decoded, doc.flavour()).map_err(|reason| {
        SignError::BadTokenSignature {
            token: signer.describe(),
            reason,
        }
    })?;
    doc.signatures.push(signature);
    Ok(keyid)
}

/// Sign `message` on the token and encode the result for `flavour`, verifying the
/// raw signature against the token's public key first.
pub fn sign_message(
    message: &[u8],
    signer: &mut dyn Signer,
    flavour: Flavour,
    keyid: String,
) -> Result<Signature, SignError> {
    sign_message_checking(message, signer, flavour, keyid, true)
}

/// [`sign_message`], where `check` says whether to verify the token's signature
/// here. Only a caller that verifies every signature itself before anything is
/// written out (the batch ceremony's verify step) passes `false`.
pub fn sign_message_checking(
    message: &[u8],
    signer: &mut dyn Signer,
    flavour: Flavour,
    keyid: String,
    check: bool,
) -> Result<Signature, SignError> {
    let raw = signer.sign(message)?;
    let public = signer.public_key().clone();
    let raw_encoding = crate::keys::SignatureEncoding::raw_for(public.algorithm());
    if check {
        public
            .verify(message, &raw, raw_encoding)
            .map_err(|e| SignError::BadTokenSignature {
                token: signer.describe(),
                reason: e.to_string(),
            })?;
    }
    let (bytes, method) = match (flavour, public.algorithm()) {
        (Flavour::Tuf, Algorithm::EcdsaP256 | Algorithm::EcdsaP384) => (
            ecdsa_raw_to_der(&raw).map_err(|e| SignError::BadTokenSignature {
                token: signer.describe(),
                reason: e.to_string(),
            })?,
            None,
        ),
        (Flavour::Tuf, Algorithm::Ed25519 | Algorithm::Rsa) => (raw, None),
        (Flavour::Notary, alg) => (raw, Some(notary_method(alg).to_owned())),
    };
    Ok(Signature {
        keyid,
        method,
        sig: encode_sig(&bytes, flavour),
        unknown: Map::new(),
    })
}

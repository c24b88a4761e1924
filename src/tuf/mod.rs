//! The metadata layer: canonical JSON, the model for both flavours, key IDs,
//! signing and verification.

pub mod cjson;
pub mod document;
pub mod edit;
pub mod envelope;
pub mod fields;
pub mod json;
pub mod key;
pub mod metadata;
pub mod notary;
pub mod pyjson;
pub mod sign;
pub mod targets_doc;
pub mod time;
pub mod verify;

//! `ceremony`: an offline root-key ceremony tool for TUF and Notary v1.
//!
//! The layers, bottom up: [`keys`] (public keys and verification), [`tuf`]
//! (metadata, canonical JSON, the verifier), [`tokens`] (where private keys live),
//! [`commands`] (what the CLI does).
#![forbid(unsafe_code)]

pub mod ceremony;
pub mod cli;
pub mod commands;
pub mod error;
pub mod fsio;
pub mod inputs;
pub mod keys;
pub mod online;
pub mod secret;
pub mod tokens;
pub mod transfer;
pub mod tuf;

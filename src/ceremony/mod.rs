//! The ceremony: scripts, the step engine, the transcript, the air-gap self-check.

pub mod airgap;
pub mod engine;
pub mod event;
pub mod script;
pub mod transcript;
pub mod ui;
pub mod witness;

//! The ceremony: scripts, the step engine, the transcript, the air-gap self-check.

pub mod airgap;
pub mod transcript;

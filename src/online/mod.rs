//! The online-side companion: collect what a ceremony needs into a request bundle,
//! keep the online roles' keys, and publish what a ceremony exported.

pub mod keystore;
pub mod notary_api;
pub mod publish;
pub mod request;
pub mod review;
pub mod signing_event;

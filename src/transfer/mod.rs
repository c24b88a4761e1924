//! What crosses the air gap: bundles and their manifests, and the same files as a
//! sequence of QR codes.

pub mod bundle;
pub mod qr;

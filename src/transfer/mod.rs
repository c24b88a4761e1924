//! What crosses the air gap: bundles and their manifests.

pub mod bundle;

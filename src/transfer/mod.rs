//! Carrying an export bundle across the air gap: on removable media and as QR codes.

pub mod qr;

//! The curve parameters and public points PKCS#11 tokens speak, decoded into our
//! [`PublicKey`]s.

use crate::keys::{Algorithm, PublicKey};

/// DER OID 1.2.840.10045.3.1.7 (prime256v1 / secp256r1 / P-256).
pub const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER OID 1.3.101.112 (id-Ed25519, RFC 8410).
pub const ED25519_OID_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER PrintableString "edwards25519" (the older PKCS#11 3.0 spelling).
pub const ED25519_NAME_PARAMS: &[u8] = &[
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];

/// Which of our algorithms a key's `CKA_EC_PARAMS` names, if any.
pub fn algorithm_from_params(params: &[u8]) -> Option<Algorithm> {
    if params == P256_PARAMS {
        Some(Algorithm::EcdsaP256)
    } else if params == ED25519_OID_PARAMS || params == ED25519_NAME_PARAMS {
        Some(Algorithm::Ed25519)
    } else {
        None
    }
}

/// Decode `CKA_EC_POINT`. Tokens disagree on its form: SoftHSM2 (and the
/// specification) wrap the point in a DER OCTET STRING, others return the raw
/// bytes. Both are accepted, by the exact length each form must have.
pub fn public_key_from_point(algorithm: Algorithm, point: &[u8]) -> Result<PublicKey, String> {
    let raw_len = match algorithm {
        Algorithm::Ed25519 => 32,
        Algorithm::EcdsaP256 => 65,
        Algorithm::EcdsaP384 => 97,
        Algorithm::Rsa => return Err("an RSA key has no EC point".into()),
    };
    let raw = if point.len() == raw_len + 2 && point[0] == 0x04 && point[1] as usize == raw_len {
        &point[2..]
    } else if point.len() == raw_len {
        point
    } else {
        return Err(format!(
            "CKA_EC_POINT has {} bytes; a {algorithm} point has {raw_len} (or {} DER-wrapped)",
            point.len(),
            raw_len + 2
        ));
    };
    PublicKey::from_bytes(algorithm, raw).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_wrapped_and_raw_points() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let raw = sk.verifying_key().to_bytes();
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&raw);
        let a = public_key_from_point(Algorithm::Ed25519, &raw).unwrap();
        let b = public_key_from_point(Algorithm::Ed25519, &wrapped).unwrap();
        assert_eq!(a, b);

        let p = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let sec1 = p.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        let mut wrapped = vec![0x04, 0x41];
        wrapped.extend_from_slice(&sec1);
        assert_eq!(
            public_key_from_point(Algorithm::EcdsaP256, &sec1).unwrap(),
            public_key_from_point(Algorithm::EcdsaP256, &wrapped).unwrap()
        );
    }

    #[test]
    fn rejects_bad_points_without_panicking() {
        for bytes in [
            &[][..],
            &[0x04][..],
            &[0x04, 0x20][..],
            &[0u8; 65][..],
            &[0x04; 67][..],
        ] {
            assert!(public_key_from_point(Algorithm::EcdsaP256, bytes).is_err());
            let _ = public_key_from_point(Algorithm::Ed25519, bytes);
        }
    }

    #[test]
    fn knows_the_curves() {
        assert_eq!(
            algorithm_from_params(P256_PARAMS),
            Some(Algorithm::EcdsaP256)
        );
        assert_eq!(
            algorithm_from_params(ED25519_OID_PARAMS),
            Some(Algorithm::Ed25519)
        );
        assert_eq!(
            algorithm_from_params(ED25519_NAME_PARAMS),
            Some(Algorithm::Ed25519)
        );
        assert_eq!(algorithm_from_params(&[0x06, 0x03, 0x2b, 0x65, 0x71]), None);
    }
}

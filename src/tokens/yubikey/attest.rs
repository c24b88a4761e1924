//! PIV attestation: proof from the YubiKey's maker that a key was generated inside
//! the device, with the policies it was generated under.
//!
//! The chain is: the slot's attestation certificate (made on request by the
//! device, instruction `f9`) ← the device's attestation certificate (stored in
//! slot `f9`, signed by Yubico at manufacture) ← Yubico's CAs. Yubico runs two
//! PKIs, and both are shipped here, each certificate pinned by its SHA-256:
//! - devices before firmware 5.7.4: "Yubico PIV Root CA Serial 263751" signs the
//!   device certificate directly;
//! - firmware 5.7.4 and later: "Yubico PIV Attestation A 1" or "B 1" signs it,
//!   under "Yubico Attestation Intermediate A 1" or "B 1", under "Yubico
//!   Attestation Root 1".
//!
//! The chain is built by signature from the device certificate upward, whichever
//! PKI issued it, and must end at one of the two roots. Every link is checked:
//! names, signatures, validity; then the attested public key must be the one the
//! device returned when it generated the key, and the attested serial the device's.
//!
//! Yubico extensions read (arc 1.3.6.1.4.1.41482.3): `.3` firmware version (three
//! bytes), `.7` serial number (DER INTEGER), `.8` PIN and touch policy (two bytes).

use crate::keys::{PublicKey, SignatureEncoding};
use der::{Decode, Encode, EncodePem, pem::LineEnding};
use sha2::{Digest, Sha256};
use spki::ObjectIdentifier;
use std::time::SystemTime;
use x509_cert::Certificate;

/// A certificate authority shipped with ceremony: its PEM, published by Yubico, and
/// the SHA-256 of its DER, checked before it is used.
pub struct ShippedCa {
    pub name: &'static str,
    pub pem: &'static str,
    pub sha256: &'static str,
}

/// Yubico's PIV attestation CAs, both PKIs (<https://developers.yubico.com/PKI/>).
pub const YUBICO_CAS: [ShippedCa; 6] = [
    ShippedCa {
        name: "Yubico PIV Root CA Serial 263751",
        pem: include_str!("ca/yubico-piv-ca-1.pem"),
        sha256: "63ece914e54dd87915f34033c85af4c0696ba1512f8add66ced738331207b546",
    },
    ShippedCa {
        name: "Yubico Attestation Root 1",
        pem: include_str!("ca/yubico-attestation-root-1.pem"),
        sha256: "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8",
    },
    ShippedCa {
        name: "Yubico Attestation Intermediate A 1",
        pem: include_str!("ca/yubico-attestation-intermediate-a-1.pem"),
        sha256: "4698a1d3389c3ec60016c216250f1d0439922832d65142327436376dc2942b55",
    },
    ShippedCa {
        name: "Yubico Attestation Intermediate B 1",
        pem: include_str!("ca/yubico-attestation-intermediate-b-1.pem"),
        sha256: "d4cc3f456fdaf4e7812a21aab1dfe9d8e27d24e2fd2d6f21c9940109f0daa754",
    },
    ShippedCa {
        name: "Yubico PIV Attestation A 1",
        pem: include_str!("ca/yubico-piv-attestation-a-1.pem"),
        sha256: "6de693f05376f5d8ca29069261e1c8626c75d503bd2edbfd75354cad1f722870",
    },
    ShippedCa {
        name: "Yubico PIV Attestation B 1",
        pem: include_str!("ca/yubico-piv-attestation-b-1.pem"),
        sha256: "2d55b7998f4e42569d6d8fa382b6dc77d1dacf07358b19701163892922b17052",
    },
];

/// The old PKI's root, for the tests that name it.
pub const YUBICO_PIV_ROOT_SHA256: &str = YUBICO_CAS[0].sha256;

const OID_FIRMWARE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.3");
const OID_SERIAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.7");
const OID_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Why an attestation was not accepted. Each stops the ceremony.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    #[error("the {which} certificate cannot be parsed: {reason}")]
    Parse { which: &'static str, reason: String },
    #[error(
        "the {child} certificate is not issued by the {parent} certificate \
         (issuer {issuer:?}, expected {expected:?})"
    )]
    IssuerMismatch {
        child: &'static str,
        parent: &'static str,
        issuer: String,
        expected: String,
    },
    #[error("the {child} certificate's signature does not verify under the {parent} key: {reason}")]
    BadSignature {
        child: &'static str,
        parent: &'static str,
        reason: String,
    },
    #[error("the {which} certificate is not valid now (valid {not_before} to {not_after})")]
    Expired {
        which: &'static str,
        not_before: String,
        not_after: String,
    },
    #[error("a shipped Yubico CA certificate is not the expected one ({0})")]
    WrongRoot(String),
    #[error(
        "the device attestation (slot f9) certificate does not chain to a Yubico root: no \
         trusted CA named {issuer:?} signed it"
    )]
    NoChain { issuer: String },
    #[error(
        "the attested public key is not the key the device generated \
         (attested {attested}, generated {generated})"
    )]
    WrongKey { attested: String, generated: String },
    #[error("the attestation names serial {attested}, but the device is serial {device}")]
    WrongSerial { attested: u32, device: u32 },
    #[error("the attestation has no {0} extension")]
    MissingExtension(&'static str),
    #[error("the attested {what} policy is {attested}, the script asked for {wanted}")]
    WrongPolicy {
        what: &'static str,
        attested: String,
        wanted: String,
    },
}

/// What a verified attestation says, for the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub serial: u32,
    pub firmware: String,
    pub pin_policy: String,
    pub touch_policy: String,
    pub certificate_pem: String,
    pub intermediate_pem: String,
    /// The CAs above the device certificate, from its issuer to the root.
    pub chain: Vec<String>,
    pub root_subject: String,
    pub root_sha256: String,
}

/// The CAs shipped with ceremony (DER), after checking each one's fingerprint.
pub fn yubico_cas() -> Result<Vec<Vec<u8>>, AttestError> {
    YUBICO_CAS
        .iter()
        .map(|ca| {
            let (_, der) =
                der::pem::decode_vec(ca.pem.as_bytes()).map_err(|e| AttestError::Parse {
                    which: "shipped Yubico CA",
                    reason: e.to_string(),
                })?;
            let fp = hex::encode(Sha256::digest(&der));
            if fp != ca.sha256 {
                return Err(AttestError::WrongRoot(format!("{}: SHA-256 {fp}", ca.name)));
            }
            Ok(der)
        })
        .collect()
}

fn parse(which: &'static str, der: &[u8]) -> Result<Certificate, AttestError> {
    Certificate::from_der(der).map_err(|e| AttestError::Parse {
        which,
        reason: e.to_string(),
    })
}

fn check_validity(
    which: &'static str,
    cert: &Certificate,
    now: SystemTime,
) -> Result<(), AttestError> {
    let v = cert.tbs_certificate().validity();
    let nb = v.not_before.to_system_time();
    let na = v.not_after.to_system_time();
    if now < nb || now > na {
        return Err(AttestError::Expired {
            which,
            not_before: v.not_before.to_string(),
            not_after: v.not_after.to_string(),
        });
    }
    Ok(())
}

/// Check that `child` names `parent` as its issuer and carries a signature that
/// verifies under `parent`'s key (RSA PKCS#1 v1.5 with SHA-256, or ECDSA P-256
/// with SHA-256).
fn check_issued_by(
    child: &Certificate,
    child_name: &'static str,
    parent: &Certificate,
    parent_name: &'static str,
) -> Result<(), AttestError> {
    let issuer = child.tbs_certificate().issuer();
    let expected = parent.tbs_certificate().subject();
    if issuer != expected {
        return Err(AttestError::IssuerMismatch {
            child: child_name,
            parent: parent_name,
            issuer: issuer.to_string(),
            expected: expected.to_string(),
        });
    }
    let bad = |reason: String| AttestError::BadSignature {
        child: child_name,
        parent: parent_name,
        reason,
    };
    let tbs = child
        .tbs_certificate()
        .to_der()
        .map_err(|e| bad(e.to_string()))?;
    let sig = child
        .signature()
        .as_bytes()
        .ok_or_else(|| bad("the signature has unused bits".into()))?;
    let spki = parent.tbs_certificate().subject_public_key_info();
    let spki_der = spki.to_der().map_err(|e| bad(e.to_string()))?;
    let sig_alg = child.signature_algorithm().oid;
    match (spki.algorithm.oid, sig_alg) {
        (RSA_ENCRYPTION, alg @ (SHA256_WITH_RSA | SHA384_WITH_RSA | SHA512_WITH_RSA)) => {
            use crate::keys::RsaHash;
            let key = PublicKey::from_spki_der(&spki_der)
                .map_err(|e| bad(format!("issuer RSA key: {e}")))?;
            let hash = match alg {
                SHA256_WITH_RSA => RsaHash::Sha256,
                SHA384_WITH_RSA => RsaHash::Sha384,
                _ => RsaHash::Sha512,
            };
            key.verify(&tbs, sig, SignatureEncoding::RsaPkcs1v15(hash))
                .map_err(|e| bad(e.to_string()))
        }
        (EC_PUBLIC_KEY, ECDSA_WITH_SHA256) => {
            let key = PublicKey::from_spki_der(&spki_der)
                .map_err(|e| bad(format!("issuer EC key: {e}")))?;
            key.verify(&tbs, sig, SignatureEncoding::EcdsaDer)
                .map_err(|e| bad(e.to_string()))
        }
        (key_alg, sig_alg) => Err(bad(format!(
            "unsupported combination: issuer key {key_alg}, signature {sig_alg}"
        ))),
    }
}

fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&[u8]> {
    cert.tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

fn pin_policy_name(b: u8) -> String {
    match b {
        1 => "never".into(),
        2 => "once".into(),
        3 => "always".into(),
        other => format!("unknown ({other})"),
    }
}

fn touch_policy_name(b: u8) -> String {
    match b {
        1 => "never".into(),
        2 => "always".into(),
        3 => "cached".into(),
        other => format!("unknown ({other})"),
    }
}

/// The serial extension: a DER INTEGER (some firmware wrote the bare bytes).
fn parse_serial(bytes: &[u8]) -> Option<u32> {
    let content = match der::asn1::Uint::from_der(bytes) {
        Ok(i) => i.as_bytes().to_vec(),
        Err(_) => bytes.to_vec(),
    };
    let content: Vec<u8> = content.iter().copied().skip_while(|b| *b == 0).collect();
    if content.len() > 4 {
        return None;
    }
    Some(
        content
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
    )
}

/// What the caller knows independently of the attestation.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The public key the device returned when it generated the key.
    pub public: &'a PublicKey,
    /// The device's serial, as read from it.
    pub serial: u32,
    /// The policies the script asked for (`always`, `once`, …).
    pub pin_policy: &'a str,
    pub touch_policy: &'a str,
}

/// Verify a slot attestation: `attestation` (the slot's attestation certificate)
/// ← `intermediate` (the device's slot-f9 certificate) ← `root`.
pub fn verify(
    attestation: &[u8],
    intermediate: &[u8],
    cas: &[Vec<u8>],
    expected: &Expected<'_>,
    now: SystemTime,
) -> Result<Attestation, AttestError> {
    let cas = cas
        .iter()
        .map(|der| parse("Yubico CA", der))
        .collect::<Result<Vec<_>, _>>()?;
    let inter = parse("device attestation (slot f9)", intermediate)?;
    let leaf = parse("slot attestation", attestation)?;
    check_validity("device attestation (slot f9)", &inter, now)?;
    check_validity("slot attestation", &leaf, now)?;
    check_issued_by(
        &leaf,
        "slot attestation",
        &inter,
        "device attestation (slot f9)",
    )?;
    let path = chain_to_root(&inter, &cas, now)?;
    let root_cert = &cas[*path.last().expect("a chain ends at a root")];

    let spki_der = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| AttestError::Parse {
            which: "slot attestation",
            reason: e.to_string(),
        })?;
    let attested_hex = match PublicKey::from_spki_der(&spki_der) {
        Ok(k) if k == *expected.public => None,
        Ok(k) => Some(hex::encode(k.as_bytes())),
        Err(_) => Some("a key of another kind".into()),
    };
    if let Some(attested) = attested_hex {
        return Err(AttestError::WrongKey {
            attested,
            generated: hex::encode(expected.public.as_bytes()),
        });
    }

    let serial = extension(&leaf, OID_SERIAL).and_then(parse_serial).ok_or(
        AttestError::MissingExtension("serial number (1.3.6.1.4.1.41482.3.7)"),
    )?;
    if serial != expected.serial {
        return Err(AttestError::WrongSerial {
            attested: serial,
            device: expected.serial,
        });
    }
    let firmware = match extension(&leaf, OID_FIRMWARE) {
        Some([a, b, c]) => format!("{a}.{b}.{c}"),
        _ => {
            return Err(AttestError::MissingExtension(
                "firmware version (1.3.6.1.4.1.41482.3.3)",
            ));
        }
    };
    let (pin_policy, touch_policy) = match extension(&leaf, OID_POLICY) {
        Some([p, t]) => (pin_policy_name(*p), touch_policy_name(*t)),
        _ => {
            return Err(AttestError::MissingExtension(
                "PIN and touch policy (1.3.6.1.4.1.41482.3.8)",
            ));
        }
    };
    if pin_policy != expected.pin_policy {
        return Err(AttestError::WrongPolicy {
            what: "PIN",
            attested: pin_policy,
            wanted: expected.pin_policy.into(),
        });
    }
    if touch_policy != expected.touch_policy {
        return Err(AttestError::WrongPolicy {
            what: "touch",
            attested: touch_policy,
            wanted: expected.touch_policy.into(),
        });
    }
    let pem = |which: &'static str, c: &Certificate| {
        c.to_pem(LineEnding::LF).map_err(|e| AttestError::Parse {
            which,
            reason: e.to_string(),
        })
    };
    Ok(Attestation {
        serial,
        firmware,
        pin_policy,
        touch_policy,
        certificate_pem: pem("slot attestation", &leaf)?,
        intermediate_pem: pem("device attestation (slot f9)", &inter)?,
        chain: path
            .iter()
            .map(|i| cas[*i].tbs_certificate().subject().to_string())
            .collect(),
        root_subject: root_cert.tbs_certificate().subject().to_string(),
        root_sha256: hex::encode(Sha256::digest(root_cert.to_der().map_err(|e| {
            AttestError::Parse {
                which: "root",
                reason: e.to_string(),
            }
        })?)),
    })
}

/// The CAs (indices into `cas`) from the one that signed the device certificate
/// up to a self-signed root, each found by name and checked by signature and
/// validity. At most four links: Yubico's PKIs have one or three.
fn chain_to_root(
    device: &Certificate,
    cas: &[Certificate],
    now: SystemTime,
) -> Result<Vec<usize>, AttestError> {
    let mut path: Vec<usize> = Vec::new();
    let mut current = device;
    let mut current_name = "device attestation (slot f9)";
    while path.len() < 4 {
        let issuer = current.tbs_certificate().issuer();
        let mut last_error = None;
        let mut found = None;
        for (i, ca) in cas.iter().enumerate() {
            if path.contains(&i) || ca.tbs_certificate().subject() != issuer {
                continue;
            }
            match check_issued_by(current, current_name, ca, "Yubico CA") {
                Ok(()) => {
                    found = Some(i);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(i) = found else {
            return Err(last_error.unwrap_or(AttestError::NoChain {
                issuer: issuer.to_string(),
            }));
        };
        let ca = &cas[i];
        check_validity("Yubico CA", ca, now)?;
        path.push(i);
        if ca.tbs_certificate().subject() == ca.tbs_certificate().issuer() {
            check_issued_by(ca, "root", ca, "root")?;
            return Ok(path);
        }
        current = ca;
        current_name = "Yubico CA";
    }
    Err(AttestError::NoChain {
        issuer: current.tbs_certificate().issuer().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_yubico_cas_are_the_published_ones_and_chain_to_their_roots() {
        let cas = yubico_cas().unwrap();
        let certs: Vec<Certificate> = cas.iter().map(|d| parse("ca", d).unwrap()).collect();
        for (ca, cert) in YUBICO_CAS.iter().zip(&certs) {
            assert_eq!(
                cert.tbs_certificate().subject().to_string(),
                format!("CN={}", ca.name)
            );
            check_validity("ca", cert, SystemTime::now()).unwrap();
        }
        // Both roots are self-signed (RSA PKCS#1 v1.5 with SHA-256, and SHA-512).
        for root in [&certs[0], &certs[1]] {
            check_issued_by(root, "root", root, "root").unwrap();
        }
        // Each CA of the new PKI chains to Attestation Root 1.
        for ca in &certs[2..] {
            let path = chain_to_root(ca, &certs, SystemTime::now()).unwrap();
            assert_eq!(*path.last().unwrap(), 1);
        }
    }

    /// A real device's certificates, as published in open-source projects'
    /// test data (tests/data/yubico-attestation/SOURCES.tsv).
    fn real(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/data/yubico-attestation/{name}.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        let pem = std::fs::read_to_string(&path).unwrap();
        der::pem::decode_vec(pem.as_bytes()).unwrap().1
    }

    fn real_check(device: &str, serial: u32) -> Result<Attestation, AttestError> {
        let (leaf, inter) = (real(&format!("{device}-9a")), real(&format!("{device}-f9")));
        let spki = parse("leaf", &leaf)
            .unwrap()
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap();
        let public = PublicKey::from_spki_der(&spki).unwrap();
        let policies = parse("leaf", &leaf).unwrap();
        let (pin, touch) = match extension(&policies, OID_POLICY) {
            Some([p, t]) => (pin_policy_name(*p), touch_policy_name(*t)),
            _ => panic!("no policy extension"),
        };
        verify(
            &leaf,
            &inter,
            &yubico_cas().unwrap(),
            &Expected {
                public: &public,
                serial,
                pin_policy: &pin,
                touch_policy: &touch,
            },
            SystemTime::now(),
        )
    }

    #[test]
    fn real_device_attestations_verify_under_either_pki() {
        // Firmware 5.7.4: device certificate ← PIV Attestation B 1 ← Intermediate B 1
        // ← Attestation Root 1.
        let a = real_check("device-fw574-sn32718477", 32718477).unwrap();
        assert_eq!(a.firmware, "5.7.4");
        assert_eq!(
            a.chain,
            [
                "CN=Yubico PIV Attestation B 1",
                "CN=Yubico Attestation Intermediate B 1",
                "CN=Yubico Attestation Root 1"
            ]
        );
        assert_eq!(a.root_sha256, YUBICO_CAS[1].sha256);
        // Firmware 5.4.3 and 4.3.5: device certificate ← PIV Root CA Serial 263751.
        for (device, serial, firmware) in [
            ("device-fw543-sn15732500", 15732500, "5.4.3"),
            ("device-fw435-sn5970478", 5970478, "4.3.5"),
        ] {
            let a = real_check(device, serial).unwrap();
            assert_eq!(a.firmware, firmware);
            assert_eq!(a.chain, ["CN=Yubico PIV Root CA Serial 263751"]);
            assert_eq!(a.root_sha256, YUBICO_PIV_ROOT_SHA256);
        }
        // Another device's serial, and a slot attestation under another device's
        // certificate, are refused.
        let e = real_check("device-fw574-sn32718477", 15732500).unwrap_err();
        assert!(matches!(e, AttestError::WrongSerial { .. }), "{e}");
        let e = verify(
            &real("device-fw574-sn32718477-9a"),
            &real("device-fw543-sn15732500-f9"),
            &yubico_cas().unwrap(),
            &Expected {
                public: &PublicKey::from_spki_der(
                    &parse("leaf", &real("device-fw574-sn32718477-9a"))
                        .unwrap()
                        .tbs_certificate()
                        .subject_public_key_info()
                        .to_der()
                        .unwrap(),
                )
                .unwrap(),
                serial: 32718477,
                pin_policy: "once",
                touch_policy: "never",
            },
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                AttestError::IssuerMismatch { .. } | AttestError::BadSignature { .. }
            ),
            "{e}"
        );
    }

    #[test]
    fn serial_extension_is_read_as_der_integer_or_bare_bytes() {
        assert_eq!(
            parse_serial(&[0x02, 0x03, 0x52, 0xf6, 0x43]),
            Some(0x52f643)
        );
        assert_eq!(parse_serial(&[0x00, 0xa1, 0x7c, 0x50]), Some(0xa17c50));
        assert_eq!(parse_serial(&[1, 2, 3, 4, 5]), None);
    }

    // ---- chains crafted here: a fake "Yubico" root, a device intermediate and a
    // slot attestation, all P-256, with the Yubico extensions.

    use der::asn1::OctetString;
    use p256::ecdsa::{DerSignature, SigningKey};
    use std::str::FromStr;
    use std::time::Duration;
    use x509_cert::builder::profile::BuilderProfile;
    use x509_cert::builder::{Builder, CertificateBuilder};
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::{Time, Validity};

    struct Profile {
        issuer: Name,
        subject: Name,
        exts: Vec<Extension>,
    }

    impl BuilderProfile for Profile {
        fn get_issuer(&self, _: &Name) -> Name {
            self.issuer.clone()
        }
        fn get_subject(&self) -> Name {
            self.subject.clone()
        }
        fn build_extensions(
            &self,
            _: spki::SubjectPublicKeyInfoRef<'_>,
            _: spki::SubjectPublicKeyInfoRef<'_>,
            _: &x509_cert::TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<Extension>> {
            Ok(self.exts.clone())
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn ext(oid: ObjectIdentifier, value: &[u8]) -> Extension {
        Extension {
            extn_id: oid,
            critical: false,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    fn yubico_exts(serial: u32, policy: [u8; 2]) -> Vec<Extension> {
        let serial_der = der::asn1::Uint::new(&serial.to_be_bytes())
            .unwrap()
            .to_der()
            .unwrap();
        vec![
            ext(OID_FIRMWARE, &[5, 4, 3]),
            ext(OID_SERIAL, &serial_der),
            ext(OID_POLICY, &policy),
        ]
    }

    /// A certificate for `subject_key`, named `subject`, issued by `issuer` and
    /// signed with `signer`.
    fn cert(
        issuer: &str,
        subject: &str,
        subject_key: &SigningKey,
        signer: &SigningKey,
        exts: Vec<Extension>,
    ) -> Vec<u8> {
        let now = SystemTime::now();
        let validity = Validity::new(
            Time::try_from(now - Duration::from_secs(60)).unwrap(),
            Time::try_from(now + Duration::from_secs(3600)).unwrap(),
        );
        let spki = spki::SubjectPublicKeyInfoOwned::from_key(subject_key.verifying_key()).unwrap();
        let profile = Profile {
            issuer: Name::from_str(&format!("CN={issuer}")).unwrap(),
            subject: Name::from_str(&format!("CN={subject}")).unwrap(),
            exts,
        };
        let builder =
            CertificateBuilder::new(profile, SerialNumber::new(&[7]).unwrap(), validity, spki)
                .unwrap();
        builder
            .build::<_, DerSignature>(signer)
            .unwrap()
            .to_der()
            .unwrap()
    }

    const ROOT: &str = "Test PIV Root CA";
    const INTER: &str = "Test PIV Attestation";
    const SERIAL: u32 = 5437251;

    struct Chain {
        root: Vec<u8>,
        inter: Vec<u8>,
        leaf: Vec<u8>,
        public: PublicKey,
    }

    /// A good chain: root (key 1) → intermediate (key 2) → slot key (key 3).
    fn chain() -> Chain {
        let (root_k, inter_k, slot_k) = (key(1), key(2), key(3));
        Chain {
            root: cert(ROOT, ROOT, &root_k, &root_k, vec![]),
            inter: cert(ROOT, INTER, &inter_k, &root_k, vec![]),
            leaf: cert(
                INTER,
                "YubiKey PIV Attestation 9c",
                &slot_k,
                &inter_k,
                yubico_exts(SERIAL, [3, 2]),
            ),
            public: PublicKey::from_p256(slot_k.verifying_key()),
        }
    }

    fn check(c: &Chain) -> Result<Attestation, AttestError> {
        verify(
            &c.leaf,
            &c.inter,
            std::slice::from_ref(&c.root),
            &Expected {
                public: &c.public,
                serial: SERIAL,
                pin_policy: "always",
                touch_policy: "always",
            },
            SystemTime::now(),
        )
    }

    #[test]
    fn a_good_chain_verifies_and_yields_the_device_facts() {
        let a = check(&chain()).unwrap();
        assert_eq!(a.serial, SERIAL);
        assert_eq!(a.firmware, "5.4.3");
        assert_eq!(
            (a.pin_policy.as_str(), a.touch_policy.as_str()),
            ("always", "always")
        );
        assert_eq!(a.root_subject, format!("CN={ROOT}"));
        assert!(a.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn an_attestation_of_another_key_is_refused() {
        let mut c = chain();
        c.public = PublicKey::from_p256(key(9).verifying_key());
        let e = check(&c).unwrap_err();
        assert!(matches!(e, AttestError::WrongKey { .. }), "{e}");
        assert!(
            e.to_string().contains("not the key the device generated"),
            "{e}"
        );
    }

    #[test]
    fn a_broken_chain_is_refused() {
        let mut c = chain();
        // The slot attestation signed by a key that is not the intermediate's.
        c.leaf = cert(
            INTER,
            "YubiKey PIV Attestation 9c",
            &key(3),
            &key(8),
            yubico_exts(SERIAL, [3, 2]),
        );
        let e = check(&c).unwrap_err();
        assert!(
            matches!(
                e,
                AttestError::BadSignature {
                    child: "slot attestation",
                    ..
                }
            ),
            "{e}"
        );
        // An intermediate that names another issuer.
        let mut c = chain();
        c.inter = cert("Someone Else CA", INTER, &key(2), &key(1), vec![]);
        let e = check(&c).unwrap_err();
        assert!(matches!(e, AttestError::NoChain { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "does not chain to a Yubico root: no trusted CA named \"CN=Someone Else CA\""
            ),
            "{e}"
        );
    }

    #[test]
    fn a_chain_to_another_root_is_refused() {
        // A self-consistent chain whose root is not the one we trust: the
        // intermediate's signature does not verify under the trusted root.
        let c = chain();
        let other_root = cert(ROOT, ROOT, &key(5), &key(5), vec![]);
        let e = verify(
            &c.leaf,
            &c.inter,
            &[other_root],
            &Expected {
                public: &c.public,
                serial: SERIAL,
                pin_policy: "always",
                touch_policy: "always",
            },
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                AttestError::BadSignature {
                    parent: "Yubico CA",
                    ..
                }
            ),
            "{e}"
        );
        // And the real Yubico CAs do not accept the crafted chain.
        let e = verify(
            &c.leaf,
            &c.inter,
            &yubico_cas().unwrap(),
            &Expected {
                public: &c.public,
                serial: SERIAL,
                pin_policy: "always",
                touch_policy: "always",
            },
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(e, AttestError::NoChain { .. }), "{e}");
    }

    #[test]
    fn wrong_serial_policy_or_missing_extensions_are_refused() {
        let c = chain();
        let mut exp = Expected {
            public: &c.public,
            serial: 1,
            pin_policy: "always",
            touch_policy: "always",
        };
        let e = verify(
            &c.leaf,
            &c.inter,
            std::slice::from_ref(&c.root),
            &exp,
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                AttestError::WrongSerial {
                    attested: SERIAL,
                    device: 1
                }
            ),
            "{e}"
        );
        exp.serial = SERIAL;
        exp.touch_policy = "never";
        let e = verify(
            &c.leaf,
            &c.inter,
            std::slice::from_ref(&c.root),
            &exp,
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("touch policy is always"), "{e}");
        let mut c = chain();
        c.leaf = cert(
            INTER,
            "YubiKey PIV Attestation 9c",
            &key(3),
            &key(2),
            vec![],
        );
        let e = check(&c).unwrap_err();
        assert!(matches!(e, AttestError::MissingExtension(_)), "{e}");
        // Not valid at the time of checking.
        let c = chain();
        let e = verify(
            &c.leaf,
            &c.inter,
            std::slice::from_ref(&c.root),
            &Expected {
                public: &c.public,
                serial: SERIAL,
                pin_policy: "always",
                touch_policy: "always",
            },
            SystemTime::now() + Duration::from_secs(7200),
        )
        .unwrap_err();
        assert!(matches!(e, AttestError::Expired { .. }), "{e}");
    }
}

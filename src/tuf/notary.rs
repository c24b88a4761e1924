//! The Notary flavour's root keys: self-signed x509 certificates whose CN is the
//! repository name (GUN), built so that a token-held key signs its own certificate.
//!
//! What Notary checks of a root certificate (trustpinning/certs.go and
//! tuf/utils/x509.go in the Notary source): CN equals the GUN (Notary also takes a
//! CN ending in `*` as a prefix; we require the exact name), the certificate is not a CA, NotBefore is at most a day
//! ahead, NotAfter has not passed, no SHA-1 signature. We check the same, and also
//! that the certificate's self-signature verifies, which Notary does not.

use crate::keys::{Algorithm, PublicKey, SignatureEncoding, ecdsa_raw_to_der};
use crate::tokens::{Signer, TokenError};
use chrono::{DateTime, Utc};
use der::{Decode, Encode, EncodePem, pem::LineEnding};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, ObjectIdentifier};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const ID_KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate is not valid PEM/DER: {0}")]
    Parse(String),
    #[error("certificate has no common name")]
    NoCommonName,
    #[error(
        "certificate has {0} common names: Notary root certificates need exactly one (Go reads the last, other readers the first)"
    )]
    SeveralCommonNames(usize),
    #[error(
        "certificate PEM text is not the text Go writes for it (one CERTIFICATE block, 64-column base64, LF line ends, a final newline, nothing before or after): Notary derives the key ID from Go's re-encoding, so signatures under this key ID would never count"
    )]
    NotGoPem,
    #[error("certificate key is not P-256: {0}")]
    Key(String),
    #[error("cannot build certificate: {0}")]
    Build(String),
    #[error("Notary root certificates need an ECDSA P-256 key; this token holds {0}")]
    Algorithm(Algorithm),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// A parsed Notary root certificate and the facts the verifier checks.
#[derive(Debug, Clone)]
pub struct RootCertificate {
    pub pem: String,
    pub common_name: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub is_ca: bool,
    pub sha1_signature: bool,
    pub public_key: PublicKey,
    /// Whether the certificate's signature verifies under its own key.
    pub self_signed: bool,
}

fn to_chrono(t: Time) -> DateTime<Utc> {
    let d = t.to_unix_duration();
    DateTime::<Utc>::from_timestamp(d.as_secs() as i64, 0).expect("certificate time in range")
}

impl RootCertificate {
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        let (label, der) =
            der::pem::decode_vec(pem.as_bytes()).map_err(|e| CertError::Parse(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(CertError::Parse(format!("PEM label is {label}")));
        }
        let cert = Self::from_der(&der)?;
        // Notary derives a root key's ID from Go's re-encoding of the certificate
        // (pem.EncodeToMemory), not from the text in the file; the text is not
        // covered by the certificate's own signature, so anyone on the way could
        // re-wrap it. Only the exact text Go writes names the same key for both.
        if cert.pem != pem {
            return Err(CertError::NotGoPem);
        }
        Ok(cert)
    }

    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let cert = Certificate::from_der(der).map_err(|e| CertError::Parse(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let common_names = tbs
            .subject()
            .iter()
            .filter(|atv| atv.oid == COMMON_NAME)
            .count();
        if common_names > 1 {
            return Err(CertError::SeveralCommonNames(common_names));
        }
        let common_name = tbs
            .subject()
            .common_name()
            .map_err(|e| CertError::Parse(e.to_string()))?
            .map(String::from)
            .ok_or(CertError::NoCommonName)?;
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| CertError::Parse(e.to_string()))?;
        let public_key =
            PublicKey::from_spki_der(&spki_der).map_err(|e| CertError::Key(e.to_string()))?;
        if public_key.algorithm() != Algorithm::EcdsaP256 {
            return Err(CertError::Key(
                "Notary root certificates hold ECDSA keys".into(),
            ));
        }
        let is_ca = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| CertError::Parse(e.to_string()))?
            .map(|(_, bc)| bc.ca)
            .unwrap_or(false);
        let tbs_der = tbs.to_der().map_err(|e| CertError::Parse(e.to_string()))?;
        let sig_alg = cert.signature_algorithm().oid;
        let self_signed = sig_alg == ECDSA_WITH_SHA256
            && cert
                .signature()
                .as_bytes()
                .map(|sig| {
                    public_key
                        .verify(&tbs_der, sig, SignatureEncoding::EcdsaDer)
                        .is_ok()
                })
                .unwrap_or(false);
        let pem = cert
            .to_pem(LineEnding::LF)
            .map_err(|e| CertError::Parse(e.to_string()))?;
        Ok(RootCertificate {
            pem,
            common_name,
            not_before: to_chrono(tbs.validity().not_before),
            not_after: to_chrono(tbs.validity().not_after),
            is_ca,
            sha1_signature: sig_alg == ECDSA_WITH_SHA1,
            public_key,
            self_signed,
        })
    }

    /// Does this certificate's CN name `gun`? Exactly: a wildcard CN (which some
    /// Notary code paths accept as a prefix) would bind a root key to every
    /// repository under the prefix, so `ceremony` refuses it.
    pub fn matches_gun(&self, gun: &str) -> bool {
        self.common_name == gun
    }

    /// The reasons Notary would refuse this certificate as a root for `gun` at `now`.
    pub fn problems(&self, gun: &str, now: Option<DateTime<Utc>>) -> Vec<String> {
        let mut out = Vec::new();
        if !self.matches_gun(gun) {
            out.push(format!(
                "certificate CN {:?} does not match the repository {gun:?}",
                self.common_name
            ));
        }
        if self.is_ca {
            out.push("certificate is a CA certificate; Notary needs a leaf".into());
        }
        if self.sha1_signature {
            out.push("certificate is signed with SHA-1".into());
        }
        if self.not_before > self.not_after {
            out.push("certificate NotBefore is after NotAfter".into());
        }
        if let Some(now) = now {
            if self.not_before > now + chrono::Duration::days(1) {
                out.push(format!(
                    "certificate is not valid until {}",
                    self.not_before
                ));
            }
            if self.not_after < now {
                out.push(format!("certificate expired at {}", self.not_after));
            }
        }
        if !self.self_signed {
            out.push("certificate's self-signature does not verify".into());
        }
        out
    }
}

/// The certificate profile Notary itself uses (utils.NewCertificate): subject and
/// issuer CN = GUN, key usage digitalSignature + keyEncipherment, extended key usage
/// codeSigning, CA:FALSE.
struct NotaryRootProfile {
    subject: Name,
}

impl BuilderProfile for NotaryRootProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts: Vec<Extension> = Vec::new();
        let ku = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
        exts.push(ku.to_extension(tbs.subject(), &exts)?);
        let eku = ExtendedKeyUsage(vec![ID_KP_CODE_SIGNING]);
        exts.push(eku.to_extension(tbs.subject(), &exts)?);
        let bc = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        };
        exts.push(bc.to_extension(tbs.subject(), &exts)?);
        Ok(exts)
    }
}

/// The public half, presented to the builder so it can fill in the signature
/// algorithm; the signing itself happens on the token.
struct TokenKey(p256::ecdsa::VerifyingKey);

impl signature::Keypair for TokenKey {
    type VerifyingKey = p256::ecdsa::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.0
    }
}

impl DynSignatureAlgorithmIdentifier for TokenKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        })
    }
}

fn escape_rdn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let leading = i == 0 && (c == ' ' || c == '#');
        if leading || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn system_time(t: DateTime<Utc>) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64)
}

/// Build a self-signed Notary root certificate for `gun`, signed on the token.
/// The token's signature is verified in software before the certificate is
/// returned.
pub fn build_root_certificate(
    gun: &str,
    signer: &mut dyn Signer,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<RootCertificate, CertError> {
    let public = signer.public_key().clone();
    let Some(vk) = public.p256_verifying_key() else {
        return Err(CertError::Algorithm(public.algorithm()));
    };
    let subject = Name::from_str(&format!("CN={}", escape_rdn_value(gun)))
        .map_err(|e| CertError::Build(format!("repository name {gun:?}: {e}")))?;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| CertError::Build(e.to_string()))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let serial = SerialNumber::new(&serial).map_err(|e| CertError::Build(e.to_string()))?;
    let validity = Validity::new(
        Time::try_from(system_time(not_before)).map_err(|e| CertError::Build(e.to_string()))?,
        Time::try_from(system_time(not_after)).map_err(|e| CertError::Build(e.to_string()))?,
    );
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(&vk)
        .map_err(|e| CertError::Build(e.to_string()))?;
    let key = TokenKey(vk);
    let mut builder =
        CertificateBuilder::new(NotaryRootProfile { subject }, serial, validity, spki)
            .map_err(|e| CertError::Build(e.to_string()))?;
    let tbs = builder
        .finalize(&key)
        .map_err(|e| CertError::Build(e.to_string()))?;
    let raw = signer.sign(&tbs)?;
    public
        .verify(&tbs, &raw, SignatureEncoding::EcdsaRaw)
        .map_err(|e| {
            CertError::Build(format!("the token's signature over the certificate: {e}"))
        })?;
    let der_sig = ecdsa_raw_to_der(&raw).map_err(|e| CertError::Build(e.to_string()))?;
    let bits =
        der::asn1::BitString::from_bytes(&der_sig).map_err(|e| CertError::Build(e.to_string()))?;
    let cert = builder
        .assemble(bits, &key)
        .map_err(|e| CertError::Build(e.to_string()))?;
    let der = cert.to_der().map_err(|e| CertError::Build(e.to_string()))?;
    let parsed = RootCertificate::from_der(&der)?;
    if parsed.common_name != gun {
        return Err(CertError::Build(format!(
            "certificate CN came out as {:?}, not {gun:?}",
            parsed.common_name
        )));
    }
    Ok(parsed)
}

//! The verifier: the only place that decides a root is trustworthy, and the only
//! code that can build a [`Verified`] value.

use super::document::RootDocument;
use super::key::{DecodedKey, decode_key, decode_sig, key_id};
use super::metadata::{Flavour, Key, MetadataError, Signature};
use super::time::parse_expires;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A value that has passed verification. Only this module can construct one.
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(
        "{file}: version {version} has {valid} valid signature(s) from {by}, below the threshold of {threshold}{details}"
    )]
    BelowThreshold {
        file: String,
        version: u64,
        by: String,
        valid: usize,
        threshold: u64,
        details: String,
    },
    #[error(
        "{file}: expected version {expected}, found version {found} (versions must be consecutive)"
    )]
    NotConsecutive {
        file: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "{file}: version {found} is not newer than the trusted version {trusted} (rollback refused)"
    )]
    Rollback {
        file: String,
        found: u64,
        trusted: u64,
    },
    #[error(
        "{file}: version {version} differs from the trusted root {trusted} of the same \
         version: they are not the same repository's root, or one was replaced"
    )]
    TrustedDiffers {
        file: String,
        version: u64,
        trusted: String,
    },
    #[error("{file}: version {version} expired at {expires} (checked at {now})")]
    Expired {
        file: String,
        version: u64,
        expires: String,
        now: String,
    },
    #[error("{file}: is {found} metadata, but the chain is {expected}")]
    FlavourMix {
        file: String,
        found: Flavour,
        expected: Flavour,
    },
    #[error("{file}: root key {keyid}: {problem}")]
    Certificate {
        file: String,
        keyid: String,
        problem: String,
    },
    #[error("Notary roots are checked against a repository name: give --gun")]
    MissingGun,
    #[error("no root files to verify")]
    Empty,
}

/// What one signature turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    Valid,
    Rejected(String),
}

/// The outcome of checking one role's signatures on one document.
#[derive(Debug, Clone)]
pub struct RoleCheck {
    pub threshold: u64,
    /// Distinct authorised keys whose signature verified.
    pub valid: Vec<String>,
    /// Every signature and what became of it.
    pub signatures: Vec<(String, SignatureStatus)>,
}

impl RoleCheck {
    pub fn met(&self) -> bool {
        self.valid.len() as u64 >= self.threshold
    }

    fn details(&self) -> String {
        let rejected: Vec<String> = self
            .signatures
            .iter()
            .filter_map(|(k, s)| match s {
                SignatureStatus::Rejected(r) => Some(format!("{}: {r}", short(k))),
                SignatureStatus::Valid => None,
            })
            .collect();
        if rejected.is_empty() {
            String::new()
        } else {
            format!(" (not counted: {})", rejected.join("; "))
        }
    }
}

/// The first 8 hex digits of a key ID, for messages (full IDs go in reports).
pub fn short(keyid: &str) -> &str {
    &keyid[..keyid.floor_char_boundary(8)]
}

/// A key ID as people compare it by eye or voice: its first 64 bits, 16 hex
/// digits in groups of 4 (`3fa2 91bc 0e44 7d10`). Fewer bits can be matched by a
/// key ground for the purpose (32 bits take about a CPU-day).
pub fn fingerprint(keyid: &str) -> String {
    let head = &keyid[..keyid.floor_char_boundary(16)];
    head.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Work that gives the same answer for the same input, remembered across checks:
/// the key ID and decoding of each key object (an Ed25519 key is decompressed once,
/// not once per signature), and, for one message, the result of checking each
/// signature with each key. A root's signatures are checked against its previous
/// root's role and its own; where the two roles share a key, the signature is
/// verified once and counted for both. A cache is cheap to make; keep one for a
/// chain, or per thread for a batch.
#[derive(Default)]
pub struct CheckCache {
    /// Claimed key ID → the key object seen under it, and what it decoded to (or
    /// why it is refused). Reused only for an identical key object.
    keys: HashMap<String, (Key, Flavour, Result<DecodedKey, String>)>,
    /// For the current message: (signature index, public key) → the result.
    seen: HashMap<(usize, Vec<u8>), Result<(), String>>,
    /// Signatures verified so far (not counting results remembered).
    verified: usize,
}

impl CheckCache {
    /// Forget the signature results: the next checks are over another message.
    pub fn new_message(&mut self) {
        self.seen.clear();
    }

    /// How many signature verifications the checks through this cache have made.
    pub fn verified(&self) -> usize {
        self.verified
    }

    fn decoded(&mut self, keyid: &str, key: &Key, flavour: Flavour) -> &Result<DecodedKey, String> {
        let fresh = match self.keys.get(keyid) {
            Some((k, f, _)) => k != key || *f != flavour,
            None => true,
        };
        if fresh {
            // Bounded: a batch's roots share their root keys, but each has keys
            // of its own that are never seen again.
            if self.keys.len() >= 256 {
                self.keys.clear();
            }
            // TUF key IDs are taken as given (TAP 12); Notary's client refuses a
            // signature whose key ID is not the hash of its key.
            let result = if flavour == Flavour::Notary && key_id(key, flavour) != keyid {
                Err("key ID does not match its key".to_string())
            } else {
                decode_key(key, flavour)
            };
            self.keys
                .insert(keyid.to_owned(), (key.clone(), flavour, result));
        }
        &self.keys[keyid].2
    }
}

/// Check `signatures` over `message` against a role (`keyids`, `threshold`) whose
/// keys are in `keys`. A key counts once however often it signed; a signature whose
/// key ID is not authorised, or whose key ID does not match its key, never counts.
pub fn check_role(
    message: &[u8],
    signatures: &[Signature],
    keys: &BTreeMap<String, Key>,
    keyids: &[String],
    threshold: u64,
    flavour: Flavour,
) -> RoleCheck {
    check_role_cached(
        message,
        signatures,
        keys,
        keyids,
        threshold,
        flavour,
        &mut CheckCache::default(),
    )
}

/// [`check_role`] with a [`CheckCache`]. The cache's signature results must be for
/// this `message` (call [`CheckCache::new_message`] between messages).
pub fn check_role_cached(
    message: &[u8],
    signatures: &[Signature],
    keys: &BTreeMap<String, Key>,
    keyids: &[String],
    threshold: u64,
    flavour: Flavour,
    cache: &mut CheckCache,
) -> RoleCheck {
    let authorised: BTreeSet<&str> = keyids.iter().map(String::as_str).collect();
    let mut valid_ids: Vec<String> = Vec::new();
    let mut valid_keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut out = Vec::new();
    for (index, sig) in signatures.iter().enumerate() {
        let mut key_bytes = Vec::new();
        let status = (|| {
            if !authorised.contains(sig.keyid.as_str()) {
                return SignatureStatus::Rejected("key is not authorised for this role".into());
            }
            let Some(key) = keys.get(&sig.keyid) else {
                return SignatureStatus::Rejected("key is not listed".into());
            };
            let decoded = match cache.decoded(&sig.keyid, key, flavour) {
                Ok(d) => d,
                Err(e) => return SignatureStatus::Rejected(e.clone()),
            };
            key_bytes = decoded.public.as_bytes().to_vec();
            let memo = (index, key_bytes.clone());
            let result = match cache.seen.get(&memo) {
                Some(r) => r.clone(),
                None => {
                    let decoded = match &cache.keys[sig.keyid.as_str()].2 {
                        Ok(d) => d,
                        Err(e) => return SignatureStatus::Rejected(e.clone()),
                    };
                    let r = verify_one(message, sig, decoded, flavour);
                    cache.verified += 1;
                    cache.seen.insert(memo, r.clone());
                    r
                }
            };
            match result {
                Ok(()) => SignatureStatus::Valid,
                Err(e) => SignatureStatus::Rejected(e),
            }
        })();
        if status == SignatureStatus::Valid {
            if valid_keys.insert(key_bytes) {
                valid_ids.push(sig.keyid.clone());
                out.push((sig.keyid.clone(), status));
            } else {
                out.push((
                    sig.keyid.clone(),
                    SignatureStatus::Rejected("duplicate signature by the same key".into()),
                ));
            }
        } else {
            out.push((sig.keyid.clone(), status));
        }
    }
    RoleCheck {
        threshold,
        valid: valid_ids,
        signatures: out,
    }
}

/// Check one signature against one decoded key.
pub fn verify_one(
    message: &[u8],
    sig: &Signature,
    key: &DecodedKey,
    flavour: Flavour,
) -> Result<(), String> {
    if flavour == Flavour::Notary {
        let expected = super::key::notary_method(key.public.algorithm());
        match sig.method.as_deref() {
            Some(m) if m.eq_ignore_ascii_case(expected) => {}
            Some(m) => return Err(format!("method {m:?} does not match a {expected} key")),
            None => return Err("signature has no method".into()),
        }
    }
    let bytes = decode_sig(&sig.sig, flavour)?;
    key.public
        .verify(message, &bytes, key.encoding)
        .map_err(|e| e.to_string())
}

/// Check a root against its own root role.
pub fn check_self(doc: &RootDocument) -> Result<RoleCheck, VerifyError> {
    let message = doc.canonical_signed()?;
    Ok(role_check(doc, &message, doc, &mut CheckCache::default()))
}

/// Check a root against the root role of the version before it.
pub fn check_by_previous(
    doc: &RootDocument,
    previous: &RootDocument,
) -> Result<RoleCheck, VerifyError> {
    let message = doc.canonical_signed()?;
    Ok(role_check(
        doc,
        &message,
        previous,
        &mut CheckCache::default(),
    ))
}

/// Check `doc` (whose signed part is `message`) against the root role of `by`.
fn role_check(
    doc: &RootDocument,
    message: &[u8],
    by: &RootDocument,
    cache: &mut CheckCache,
) -> RoleCheck {
    let role = &by.root().roles["root"];
    check_role_cached(
        message,
        &doc.signatures,
        &by.root().keys,
        &role.keyids,
        role.threshold,
        doc.flavour(),
        cache,
    )
}

/// For a long chain, each document's signatures checked against the document
/// before it (the trusted root for the first) and against itself, on every CPU;
/// one entry per document of `chain`, `None` where not prechecked. Short chains
/// are checked in the walk itself.
#[allow(clippy::type_complexity)]
fn precheck(
    trusted: Option<&RootDocument>,
    chain: &[RootDocument],
) -> Vec<Option<(Option<RoleCheck>, RoleCheck)>> {
    if chain.len() < 32 {
        return Vec::new();
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if cpus < 2 {
        return Vec::new();
    }
    let check = |j: usize, cache: &mut CheckCache| {
        let doc = &chain[j];
        let prev = if j == 0 { trusted } else { Some(&chain[j - 1]) };
        let message = doc.canonical_signed().ok()?;
        cache.new_message();
        let by_previous = prev.map(|p| role_check(doc, &message, p, cache));
        let by_self = role_check(doc, &message, doc, cache);
        Some((by_previous, by_self))
    };
    let per = chain.len().div_ceil(cpus);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cpus)
            .map(|t| {
                let check = &check;
                scope.spawn(move || {
                    let mut cache = CheckCache::default();
                    (t * per..((t + 1) * per).min(chain.len()))
                        .map(|j| check(j, &mut cache))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(chain.len());
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // Without every part the results would not line up: check in the walk.
                Err(_) => return Vec::new(),
            }
        }
        out
    })
}

impl Verified<ChainReport> {
    /// The newest root of the verified chain as it is written to a file: the only
    /// way an export gets the bytes of a new root is through its verification.
    pub fn latest_json(&self) -> Result<Vec<u8>, MetadataError> {
        self.0.latest.to_json()
    }
}

/// Options for chain verification.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// The time expiry is checked against.
    pub now: DateTime<Utc>,
    /// The repository name Notary root certificates must carry.
    pub gun: Option<String>,
}

/// What was checked for one version in the chain.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub file: String,
    pub version: u64,
    /// The check against the previous version's root role (absent for the
    /// first root when there is no trusted root: trust on first use).
    pub by_previous: Option<RoleCheck>,
    pub by_self: RoleCheck,
}

/// A verified chain: the trusted latest root and what was checked on the way.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub trusted_start: Option<u64>,
    pub steps: Vec<StepReport>,
    pub latest: RootDocument,
}

fn below(doc: &RootDocument, by: String, check: &RoleCheck) -> VerifyError {
    VerifyError::BelowThreshold {
        file: doc.name.clone(),
        version: doc.version(),
        by,
        valid: check.valid.len(),
        threshold: check.threshold,
        details: check.details(),
    }
}

fn check_certificates(
    doc: &RootDocument,
    gun: &str,
    now: Option<DateTime<Utc>>,
) -> Result<(), VerifyError> {
    for keyid in &doc.root().roles["root"].keyids {
        let key = &doc.root().keys[keyid];
        let decoded =
            decode_key(key, Flavour::Notary).map_err(|problem| VerifyError::Certificate {
                file: doc.name.clone(),
                keyid: keyid.clone(),
                problem,
            })?;
        let Some(cert) = decoded.certificate else {
            return Err(VerifyError::Certificate {
                file: doc.name.clone(),
                keyid: keyid.clone(),
                problem: "Notary root keys must be x509 certificates (ecdsa-x509)".into(),
            });
        };
        if let Some(problem) = cert.problems(gun, now).into_iter().next() {
            return Err(VerifyError::Certificate {
                file: doc.name.clone(),
                keyid: keyid.clone(),
                problem,
            });
        }
    }
    Ok(())
}

/// Verify an ordered chain of roots.
///
/// With a `trusted` root, the chain continues from it: each file must be the next
/// version, signed by a threshold of the previous version's root keys and of its
/// own. Without one, the first root is trusted on first use (it must still meet its
/// own threshold). Only the newest root's expiry is checked against `now`, as
/// TUF clients do; for Notary, the certificates of every root after the trusted
/// one are checked against `now`, as Notary's client does.
pub fn verify_chain(
    trusted: Option<RootDocument>,
    chain: Vec<RootDocument>,
    options: &ChainOptions,
) -> Result<Verified<ChainReport>, VerifyError> {
    verify_chain_with(trusted, true, chain, options, &mut CheckCache::default())
}

/// [`verify_chain`] of one root, `doc`, as the next version after `previous`, a
/// root the caller has already verified (its own signatures are not checked
/// again), with a [`CheckCache`] kept by the caller.
pub fn verify_successor(
    previous: RootDocument,
    doc: RootDocument,
    options: &ChainOptions,
    cache: &mut CheckCache,
) -> Result<Verified<ChainReport>, VerifyError> {
    verify_chain_with(Some(previous), false, vec![doc], options, cache)
}

fn verify_chain_with(
    trusted: Option<RootDocument>,
    check_trusted: bool,
    chain: Vec<RootDocument>,
    options: &ChainOptions,
    cache: &mut CheckCache,
) -> Result<Verified<ChainReport>, VerifyError> {
    // The signature checks of a long chain run on every CPU first; the walk below
    // then takes their results in order (the first failure in order is reported).
    let mut prechecked = precheck(trusted.as_ref(), &chain).into_iter();
    let mut iter = chain.into_iter().peekable();
    let flavour = trusted
        .as_ref()
        .map(|d| d.flavour())
        .or_else(|| iter.peek().map(|d| d.flavour()))
        .ok_or(VerifyError::Empty)?;
    if flavour == Flavour::Notary && options.gun.is_none() {
        return Err(VerifyError::MissingGun);
    }
    let mut steps = Vec::new();
    let trusted_start = trusted.as_ref().map(|t| t.version());
    let mut current: Option<RootDocument> = None;
    if let Some(t) = trusted {
        // The trusted root must be one for this repository (its certificates may
        // have expired since: Notary does not check a trusted root's dates).
        if let (Flavour::Notary, Some(gun)) = (flavour, options.gun.as_deref()) {
            check_certificates(&t, gun, None)?;
        }
        if check_trusted {
            let message = t.canonical_signed()?;
            cache.new_message();
            let check = role_check(&t, &message, &t, cache);
            if !check.met() {
                return Err(below(&t, "its own root role".into(), &check));
            }
        }
        current = Some(t);
    }
    for doc in iter {
        if doc.flavour() != flavour {
            return Err(VerifyError::FlavourMix {
                file: doc.name.clone(),
                found: doc.flavour(),
                expected: flavour,
            });
        }
        if let Some(prev) = &current {
            if doc.version() <= prev.version() {
                if Some(prev.version()) == trusted_start
                    && doc.version() == prev.version()
                    && steps.is_empty()
                {
                    // The chain may repeat the trusted root; it must be the same root.
                    if doc.canonical_signed()? != prev.canonical_signed()? {
                        return Err(VerifyError::TrustedDiffers {
                            file: doc.name.clone(),
                            version: doc.version(),
                            trusted: prev.name.clone(),
                        });
                    }
                    let _ = prechecked.next();
                    continue;
                }
                return Err(VerifyError::Rollback {
                    file: doc.name.clone(),
                    found: doc.version(),
                    trusted: prev.version(),
                });
            }
            if doc.version() != prev.version() + 1 {
                return Err(VerifyError::NotConsecutive {
                    file: doc.name.clone(),
                    expected: prev.version() + 1,
                    found: doc.version(),
                });
            }
            // A precheck was made against the document before this one in the
            // chain; where that was a repeat of the trusted root, it is the same
            // root (checked above), so the result is the same.
            let (by_previous, by_self) = match prechecked.next().flatten() {
                Some((Some(by_previous), by_self)) => (by_previous, by_self),
                _ => {
                    let message = doc.canonical_signed()?;
                    cache.new_message();
                    // The same message: a signature the previous root's keys
                    // checked is not verified again for the document's own keys.
                    (
                        role_check(&doc, &message, prev, cache),
                        role_check(&doc, &message, &doc, cache),
                    )
                }
            };
            if !by_previous.met() {
                return Err(below(
                    &doc,
                    format!("the root keys of version {}", prev.version()),
                    &by_previous,
                ));
            }
            if !by_self.met() {
                return Err(below(&doc, "its own root keys".into(), &by_self));
            }
            steps.push(StepReport {
                file: doc.name.clone(),
                version: doc.version(),
                by_previous: Some(by_previous),
                by_self,
            });
        } else {
            let _ = prechecked.next();
            let message = doc.canonical_signed()?;
            cache.new_message();
            let by_self = role_check(&doc, &message, &doc, cache);
            if !by_self.met() {
                return Err(below(&doc, "its own root keys".into(), &by_self));
            }
            steps.push(StepReport {
                file: doc.name.clone(),
                version: doc.version(),
                by_previous: None,
                by_self,
            });
        }
        // Notary's client validates the certificates of every root it walks
        // through (trustpinning.ValidateRoot), not only the newest: a root whose
        // certificates have expired stops every client that is behind it.
        if let (Flavour::Notary, Some(gun)) = (flavour, options.gun.as_deref()) {
            check_certificates(&doc, gun, Some(options.now))?;
        }
        current = Some(doc);
    }
    let latest = current.ok_or(VerifyError::Empty)?;
    let expires = parse_expires(&latest.root().expires, flavour).map_err(|format| {
        MetadataError::BadExpires {
            file: latest.name.clone(),
            value: latest.root().expires.clone(),
            format,
        }
    })?;
    if expires <= options.now {
        return Err(VerifyError::Expired {
            file: latest.name.clone(),
            version: latest.version(),
            expires: latest.root().expires.clone(),
            now: super::time::format_expires(options.now),
        });
    }
    if flavour == Flavour::Notary {
        let gun = options.gun.as_deref().expect("checked above");
        check_certificates(&latest, gun, Some(options.now))?;
    }
    Ok(Verified(ChainReport {
        trusted_start,
        steps,
        latest,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicKey;
    use crate::tokens::{Signer, TokenError};
    use crate::tuf::key::tuf_key;
    use crate::tuf::metadata::{RoleKeys, Root, SPEC_VERSION};

    /// A software Ed25519 key for these tests only.
    struct TestKey(ed25519_dalek::SigningKey, PublicKey);

    impl Signer for TestKey {
        fn public_key(&self) -> &PublicKey {
            &self.1
        }
        fn describe(&self) -> String {
            "test key".into()
        }
        fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
            use ed25519_dalek::Signer as _;
            Ok(self.0.sign(message).to_bytes().to_vec())
        }
    }

    fn key(seed: u8) -> TestKey {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let pk = PublicKey::ed25519(sk.verifying_key().as_bytes()).unwrap();
        TestKey(sk, pk)
    }

    /// Versions 1..=n, each signed by one root key (threshold 1).
    fn chain(n: u64) -> Vec<RootDocument> {
        let mut k = key(7);
        let tk = tuf_key(k.public_key());
        let id = key_id(&tk, Flavour::Tuf);
        let mut roles = BTreeMap::new();
        for role in ["root", "targets", "snapshot", "timestamp"] {
            roles.insert(
                role.to_owned(),
                RoleKeys {
                    keyids: vec![id.clone()],
                    threshold: 1,
                    unknown: Default::default(),
                },
            );
        }
        (1..=n)
            .map(|v| {
                let root = Root {
                    type_name: "root".into(),
                    spec_version: Some(SPEC_VERSION.into()),
                    consistent_snapshot: Some(false),
                    version: v,
                    expires: "2099-01-01T00:00:00Z".into(),
                    keys: BTreeMap::from([(id.clone(), tk.clone())]),
                    roles: roles.clone(),
                    unknown: Default::default(),
                };
                let mut doc = RootDocument::draft(root, &format!("{v}.root.json")).unwrap();
                crate::tuf::sign::sign_root(&mut doc, &mut k, None).unwrap();
                doc
            })
            .collect()
    }

    fn options() -> ChainOptions {
        ChainOptions {
            now: Utc::now(),
            gun: None,
        }
    }

    fn forge(doc: &mut RootDocument) {
        let mut other = key(9);
        let message = doc.canonical_signed().unwrap();
        doc.signatures[0].sig = hex::encode(other.sign(&message).unwrap());
    }

    #[test]
    fn a_successor_signed_by_keys_it_shares_with_its_predecessor_verifies_each_signature_once() {
        let docs = chain(2);
        let mut cache = CheckCache::default();
        let report = verify_successor(docs[0].clone(), docs[1].clone(), &options(), &mut cache)
            .unwrap()
            .into_inner();
        assert_eq!(report.latest.version(), 2);
        // One signature, checked against version 1's root role and version 2's:
        // verified once.
        assert_eq!(cache.verified(), 1);
        // A forged signature is still refused.
        let mut bad = docs[1].clone();
        forge(&mut bad);
        let e = verify_successor(docs[0].clone(), bad, &options(), &mut cache).unwrap_err();
        assert!(
            matches!(e, VerifyError::BelowThreshold { version: 2, .. }),
            "{e}"
        );
    }

    #[test]
    fn a_long_chain_is_checked_in_parallel_and_reports_the_first_failure_in_order() {
        let docs = chain(60);
        let mut iter = docs.clone().into_iter();
        let trusted = iter.next();
        let report = verify_chain(trusted.clone(), iter.collect(), &options()).unwrap();
        assert_eq!(report.latest.version(), 60);
        assert_eq!(report.steps.len(), 59);

        // A forged signature at version 20 and a gap after version 40: the
        // forgery, which comes first, is what is reported.
        let mut bad = docs.clone();
        forge(&mut bad[19]);
        bad.remove(40);
        let e = verify_chain(trusted.clone(), bad[1..].to_vec(), &options()).unwrap_err();
        assert!(
            matches!(&e, VerifyError::BelowThreshold { file, version: 20, .. } if file == "20.root.json"),
            "{e}"
        );

        // The gap alone is reported as a gap.
        let mut gap = docs.clone();
        gap.remove(40);
        let e = verify_chain(trusted.clone(), gap[1..].to_vec(), &options()).unwrap_err();
        assert!(
            matches!(
                e,
                VerifyError::NotConsecutive {
                    expected: 41,
                    found: 42,
                    ..
                }
            ),
            "{e}"
        );

        // Repeating the trusted root at the head of a long chain is fine.
        let report = verify_chain(trusted, docs.clone(), &options()).unwrap();
        assert_eq!(report.latest.version(), 60);

        // Without a trusted root the first is trusted on first use; a forgery in
        // the last version is still found.
        let mut last = docs;
        forge(&mut last[59]);
        let e = verify_chain(None, last, &options()).unwrap_err();
        assert!(
            matches!(e, VerifyError::BelowThreshold { version: 60, .. }),
            "{e}"
        );
    }
}

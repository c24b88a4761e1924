//! Signing events across sites: one new root signed at several offline
//! ceremonies, one after the other, by keyholders who never meet in one room.
//!
//! The lead site builds the draft, signs with the tokens it has and exports it
//! partly signed, with `signing-event.json` saying how far each threshold is.
//! Each further site runs `root-countersign`: it imports the previous export,
//! checks every earlier site's transcript and that the draft is still the root
//! the lead built with every signature the sites recorded, signs with its own
//! tokens and exports again. Each site's transcript begins from the final hash of
//! the one before it, so the event's transcripts form one chain; every export
//! carries all of them (`sites/K.transcript.jsonl` for the earlier sites, its own
//! `transcript.jsonl`). See `docs/runbook-signing-event.md`.

use crate::ceremony::transcript::{self, EntryHash, VerifyOptions};
use crate::error::{Error, Result};
use crate::transfer::bundle::Bundle;
use crate::tuf::document::RootDocument;
use crate::tuf::verify::{check_by_previous, check_self, fingerprint};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;

/// The file in an export that says where a signing event stands.
pub const EVENT_FILE: &str = "signing-event.json";
/// Its format.
pub const FORMAT: &str = "ceremony-signing-event/1";
/// The partly signed root in an export that is not complete yet.
pub const DRAFT: &str = "draft.root.json";
/// Where an export keeps the earlier sites' transcripts.
pub const SITES_DIR: &str = "sites";
/// The `begin` parameter that ties a site's transcript to the event.
pub const BEGIN_PARAMETER: &str = "signing_event";

/// `signing-event.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFile {
    pub format: String,
    pub repository: String,
    pub flavour: String,
    /// The version of the root being signed.
    pub version: u64,
    /// SHA-256 of the draft's canonical `signed` part, as the lead site built it.
    pub sha256_of_signed: String,
    /// The site that wrote this export (1 is the lead site).
    pub site: u32,
    /// Both thresholds met: the export holds `N.root.json` and `root.json` and
    /// can be published; otherwise it holds [`DRAFT`].
    pub complete: bool,
    /// The current chain's root files in this export, oldest first.
    pub current: Vec<String>,
    /// The file holding the root being signed.
    pub draft: String,
    /// Each threshold the root must meet, and how far it is.
    pub thresholds: Vec<Threshold>,
    /// The earlier sites' transcripts in this export, in order.
    pub sites: Vec<Site>,
    /// A tuf-on-ci signing event this event countersigns (carried by `ceremony
    /// request --signing-event CHECKOUT`): publish writes the signatures back
    /// into its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuf_on_ci: Option<TufOnCiEvent>,
}

/// A tuf-on-ci signing event as `ceremony request` found it in a checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TufOnCiEvent {
    pub format: String,
    pub repository: String,
    /// The version of the root being signed.
    pub version: u64,
    /// SHA-256 of its `metadata/root.json` as found.
    pub file_sha256: String,
    /// The checkout's branch and commit, where git recorded them.
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
}

/// The format of [`TufOnCiEvent`].
pub const TUF_ON_CI_FORMAT: &str = "ceremony-tuf-on-ci-event/1";
/// Where a request bundle carries a tuf-on-ci event: `event.json`, `root.json`
/// (byte for byte), `root_history/K.root.json`.
pub const TUF_ON_CI_DIR: &str = "tuf-on-ci";
/// Where a request bundle carries a previous site's export (byte for byte,
/// its manifest too).
pub const CARRIED_DIR: &str = "event";

/// One threshold: the new root's own, or the previous root's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// `new` (the root being signed) or `previous` (the root it replaces).
    pub root: String,
    pub version: u64,
    pub required: u64,
    /// Key IDs whose signature verifies.
    pub signed: Vec<String>,
    /// Key IDs of that root's root role that have not signed.
    pub missing: Vec<String>,
}

impl Threshold {
    pub fn met(&self) -> bool {
        self.signed.len() as u64 >= self.required
    }

    /// One line for the room and for error messages.
    pub fn describe(&self) -> String {
        let which = match self.root.as_str() {
            "new" => format!("the new root (version {})", self.version),
            _ => format!("the previous root (version {})", self.version),
        };
        if self.met() {
            return format!(
                "{which}: {} of {} required signatures: met",
                self.signed.len(),
                self.required
            );
        }
        let need = self.required - self.signed.len() as u64;
        format!(
            "{which}: {} of {} required signatures; {need} more needed from {}",
            self.signed.len(),
            self.required,
            self.missing
                .iter()
                .map(|k| fingerprint(k))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// An earlier site's transcript in an export.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub site: u32,
    /// Its path in the export.
    pub transcript: String,
    /// Its final (seal) hash.
    pub final_hash: String,
}

/// Where each threshold stands for `draft`, signed as the successor of
/// `previous` (none for a new root). Every signature the draft carries must
/// verify against a root key of one of them.
pub fn thresholds(previous: Option<&RootDocument>, draft: &RootDocument) -> Result<Vec<Threshold>> {
    let own = check_self(draft)?;
    let by_previous = previous.map(|p| check_by_previous(draft, p)).transpose()?;
    let mut valid: BTreeSet<&str> = own.valid.iter().map(String::as_str).collect();
    if let Some(p) = &by_previous {
        valid.extend(p.valid.iter().map(String::as_str));
    }
    for (keyid, status) in &own.signatures {
        if !valid.contains(keyid.as_str()) {
            let reason = match status {
                crate::tuf::verify::SignatureStatus::Rejected(r) => r.clone(),
                crate::tuf::verify::SignatureStatus::Valid => "not counted".into(),
            };
            return Err(Error::Usage(format!(
                "{}: the signature of key {} does not verify against a root key of the new \
                 or the previous root ({reason}); a signing event carries only good signatures",
                draft.name,
                fingerprint(keyid)
            )));
        }
    }
    let threshold = |root: &str, doc: &RootDocument, check: &crate::tuf::verify::RoleCheck| {
        let keyids = &doc.root().roles["root"].keyids;
        Threshold {
            root: root.into(),
            version: doc.version(),
            required: check.threshold,
            signed: keyids
                .iter()
                .filter(|k| check.valid.contains(k))
                .cloned()
                .collect(),
            missing: keyids
                .iter()
                .filter(|k| !check.valid.contains(k))
                .cloned()
                .collect(),
        }
    };
    let mut out = vec![threshold("new", draft, &own)];
    if let (Some(p), Some(check)) = (previous, &by_previous) {
        out.push(threshold("previous", p, check));
    }
    Ok(out)
}

/// The refusal for an export whose thresholds are not all met.
pub fn below_threshold(what: &str, thresholds: &[Threshold]) -> String {
    let unmet: Vec<String> = thresholds
        .iter()
        .filter(|t| !t.met())
        .map(Threshold::describe)
        .collect();
    format!(
        "{what} is a signing event below threshold: {}. Take it to the next site, whose \
         keyholders sign with ceremony-scripts/root-countersign.toml (--previous this export)",
        unmet.join("; ")
    )
}

/// A previous site's export, opened and checked: its manifest, its transcripts
/// and their chain, its current roots and its draft. Or a tuf-on-ci signing
/// event a request bundle carries (no transcripts; its placeholders for
/// signatures not made yet are left out of the draft).
pub struct Previous {
    /// The directory of the bundle holding the event.
    pub dir: std::path::PathBuf,
    pub bundle: Bundle,
    pub event: EventFile,
    pub current: Vec<RootDocument>,
    pub draft: RootDocument,
    /// Every site's transcript in order (the export's own last): path in the
    /// export, final hash, and the entries of each.
    pub transcripts: Vec<SiteTranscript>,
}

/// One site's verified transcript.
pub struct SiteTranscript {
    pub site: u32,
    pub path: String,
    pub final_hash: EntryHash,
    pub entries: Vec<transcript::Entry>,
    pub practice: Vec<String>,
}

fn refuse(dir: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "{}: signing event refused: {reason}",
        dir.display()
    ))
}

/// The `signing_event` parameter a site's transcript begins with.
pub fn begin_parameter(entry: &transcript::Entry) -> Option<&Value> {
    entry.data.get(BEGIN_PARAMETER)
}

impl Previous {
    /// Open the export a previous site wrote, or a request bundle carrying one
    /// or carrying a tuf-on-ci signing event.
    pub fn open(dir: &Path) -> Result<Previous> {
        let bundle = Bundle::open_any(dir)?;
        match bundle.manifest().kind.as_str() {
            "export" => Self::open_export(dir, bundle),
            "request" if bundle.contains(&format!("{CARRIED_DIR}/manifest.json")) => {
                Self::open_export(
                    &dir.join(CARRIED_DIR),
                    Bundle::open(&dir.join(CARRIED_DIR), "export")?,
                )
            }
            "request" if bundle.contains(&format!("{TUF_ON_CI_DIR}/event.json")) => {
                Self::open_tuf_on_ci(dir, bundle)
            }
            _ => Err(refuse(
                dir,
                "it is a request bundle that carries no signing event (make one with \
                 ceremony request --signing-event)",
            )),
        }
    }

    fn open_tuf_on_ci(dir: &Path, bundle: Bundle) -> Result<Previous> {
        let origin: TufOnCiEvent =
            serde_json::from_slice(&bundle.read(&format!("{TUF_ON_CI_DIR}/event.json"))?)
                .map_err(|e| refuse(dir, format!("{TUF_ON_CI_DIR}/event.json: {e}")))?;
        if origin.format != TUF_ON_CI_FORMAT {
            return Err(refuse(
                dir,
                format!("{TUF_ON_CI_DIR}/event.json: unknown format"),
            ));
        }
        let draft_name = format!("{TUF_ON_CI_DIR}/root.json");
        let bytes = bundle.read(&draft_name)?;
        let mut draft =
            RootDocument::from_slice(&bytes, &dir.join(&draft_name).display().to_string())?;
        // tuf-on-ci lists an empty signature for each key still to sign.
        draft.signatures.retain(|s| !s.sig.is_empty());
        let mut found: Vec<(u64, String)> = bundle
            .paths()
            .filter_map(|p| {
                let name = p.strip_prefix(&format!("{TUF_ON_CI_DIR}/root_history/"))?;
                let v: u64 = name.strip_suffix(".root.json")?.parse().ok()?;
                (v < draft.version()).then(|| (v, p.to_owned()))
            })
            .collect();
        found.sort();
        let mut current = Vec::new();
        let mut names = Vec::new();
        for (v, name) in found {
            let b = bundle.read(&name)?;
            let doc = RootDocument::from_slice(&b, &dir.join(&name).display().to_string())?;
            if doc.version() != v {
                return Err(refuse(
                    dir,
                    format!("{name} holds root version {}", doc.version()),
                ));
            }
            current.push(doc);
            names.push(name);
        }
        if current.last().map(RootDocument::version) != Some(draft.version().saturating_sub(1)) {
            return Err(refuse(
                dir,
                format!(
                    "it carries no root_history/{}.root.json, the root version {} continues",
                    draft.version().saturating_sub(1),
                    draft.version()
                ),
            ));
        }
        let thresholds = thresholds(current.last(), &draft)?;
        let event = EventFile {
            format: FORMAT.into(),
            repository: origin.repository.clone(),
            flavour: "tuf".into(),
            version: draft.version(),
            sha256_of_signed: hex::encode(Sha256::digest(draft.canonical_signed()?)),
            site: 0,
            complete: thresholds.iter().all(Threshold::met),
            current: names,
            draft: draft_name,
            thresholds,
            sites: Vec::new(),
            tuf_on_ci: Some(origin),
        };
        Ok(Previous {
            dir: dir.to_owned(),
            bundle,
            event,
            current,
            draft,
            transcripts: Vec::new(),
        })
    }

    /// The draft as this site's ceremony starts from it: the previous site's
    /// file byte for byte, or a tuf-on-ci root without its placeholders.
    pub fn draft_bytes(&self) -> Result<Vec<u8>> {
        if self.transcripts.is_empty() {
            return Ok(self.draft.to_json()?);
        }
        Ok(self.bundle.read(&self.event.draft)?)
    }

    fn open_export(dir: &Path, bundle: Bundle) -> Result<Previous> {
        if !bundle.contains(EVENT_FILE) {
            return Err(refuse(
                dir,
                format!(
                    "it has no {EVENT_FILE}: it is not a signing event's export (the lead site \
                     runs its script with signing_event = true)"
                ),
            ));
        }
        let event: EventFile = serde_json::from_slice(&bundle.read(EVENT_FILE)?)
            .map_err(|e| refuse(dir, format!("{EVENT_FILE}: {e}")))?;
        if event.format != FORMAT {
            return Err(refuse(
                dir,
                format!("{EVENT_FILE}: format {:?}, not {FORMAT:?}", event.format),
            ));
        }

        let read_root = |name: &str| -> Result<RootDocument> {
            if !bundle.contains(name) {
                return Err(refuse(
                    dir,
                    format!("{EVENT_FILE} names {name}, which it does not hold"),
                ));
            }
            let bytes = bundle.read(name)?;
            Ok(RootDocument::from_slice(
                &bytes,
                &dir.join(name).display().to_string(),
            )?)
        };
        let current = event
            .current
            .iter()
            .map(|n| read_root(n))
            .collect::<Result<Vec<_>>>()?;
        let draft = read_root(&event.draft)?;
        let mut roots = vec![&draft];
        roots.extend(current.last());
        let transcripts = verify_sites(dir, &bundle, &event, &roots)?;
        Ok(Previous {
            dir: dir.to_owned(),
            bundle,
            event,
            current,
            draft,
            transcripts,
        })
    }

    /// The draft checked against what the sites recorded: the signed part is the
    /// one the lead built, and every signature a site made is still there and no
    /// other. Anything else is refused, naming what changed.
    pub fn check_draft(&self) -> Result<()> {
        let dir = self.dir.as_path();
        let Some(lead) = self.transcripts.first() else {
            // A tuf-on-ci event: its signatures must verify, which reading
            // its thresholds checked.
            return Ok(());
        };
        // The lead built the draft, or imported it from a tuf-on-ci event.
        let built = lead
            .entries
            .iter()
            .find(|e| {
                e.kind == "root-built"
                    || (e.kind == "input" && e.data.get("sha256_of_signed").is_some())
            })
            .ok_or_else(|| refuse(dir, "the lead site's transcript records no root built"))?;
        let signed = self.draft.canonical_signed()?;
        let sha = hex::encode(Sha256::digest(&signed));
        let recorded = built
            .data
            .get("sha256_of_signed")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sha != recorded || sha != self.event.sha256_of_signed {
            let mut changed = Vec::new();
            let root = self.draft.root();
            if built.data.get("version").and_then(Value::as_u64) != Some(root.version) {
                changed.push(format!("its version is {}", root.version));
            }
            if built.data.get("expires").and_then(Value::as_str) != Some(root.expires.as_str()) {
                changed.push(format!(
                    "its expiry is {} (the lead built {})",
                    root.expires,
                    built
                        .data
                        .get("expires")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                ));
            }
            if let Some(roles) = built.data.get("roles").and_then(Value::as_object) {
                for (role, keys) in &root.roles {
                    let then = roles.get(role);
                    let ids: Vec<Value> = keys
                        .keyids
                        .iter()
                        .map(|k| Value::from(k.as_str()))
                        .collect();
                    if then.and_then(|r| r.get("keyids")).and_then(Value::as_array) != Some(&ids) {
                        changed.push(format!("the keys of its {role} role"));
                    }
                    if then
                        .and_then(|r| r.get("threshold"))
                        .and_then(Value::as_u64)
                        != Some(keys.threshold)
                    {
                        changed.push(format!(
                            "the threshold of its {role} role is {}",
                            keys.threshold
                        ));
                    }
                }
            }
            if changed.is_empty() {
                changed.push(
                    "its signed part differs from the one the lead built (another field)".into(),
                );
            }
            return Err(refuse(
                dir,
                format!(
                    "{} is not the root the lead site built (SHA-256 of its signed part {sha}, \
                     the lead recorded {recorded}): {}. A site adds signatures and nothing else",
                    self.event.draft,
                    changed.join("; ")
                ),
            ));
        }
        let mut recorded_ids: Vec<(u32, String, String)> = Vec::new();
        for t in &self.transcripts {
            // Signatures a site found on the draft it imported (a tuf-on-ci
            // event's) count as recorded by that site.
            for e in t.entries.iter().filter(|e| e.kind == "input") {
                for k in e
                    .data
                    .get("signatures")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(k) = k.as_str() {
                        recorded_ids.push((
                            t.site,
                            e.step.clone().unwrap_or_default(),
                            k.to_owned(),
                        ));
                    }
                }
            }
            for e in t.entries.iter().filter(|e| e.kind == "signature") {
                if e.data.get("metadata").is_some() {
                    continue;
                }
                if let Some(k) = e.data.get("keyid").and_then(Value::as_str) {
                    recorded_ids.push((t.site, e.step.clone().unwrap_or_default(), k.to_owned()));
                }
            }
        }
        for (site, step, keyid) in &recorded_ids {
            if !self.draft.signatures.iter().any(|s| &s.keyid == keyid) {
                return Err(refuse(
                    dir,
                    format!(
                        "the signature of key {} that site {site} made (step {step}) is not in \
                         {}: it was dropped",
                        fingerprint(keyid),
                        self.event.draft
                    ),
                ));
            }
        }
        for s in &self.draft.signatures {
            if !recorded_ids.iter().any(|(_, _, k)| *k == s.keyid) {
                return Err(refuse(
                    dir,
                    format!(
                        "{} carries a signature of key {} that no site's transcript records \
                         making: refused",
                        self.event.draft,
                        fingerprint(&s.keyid)
                    ),
                ));
            }
        }
        let previous = self.current.last();
        let now = thresholds(previous, &self.draft)?;
        if now != self.event.thresholds {
            return Err(refuse(
                dir,
                format!(
                    "{EVENT_FILE} misstates the thresholds of {}",
                    self.event.draft
                ),
            ));
        }
        Ok(())
    }
}

/// Verify every site's transcript an export carries, and their chain: each is
/// sealed and intact, each begins from the final hash of the one before, and the
/// export's own ends where its manifest says. An error names the site.
pub fn verify_sites(
    dir: &Path,
    bundle: &Bundle,
    event: &EventFile,
    roots: &[&RootDocument],
) -> Result<Vec<SiteTranscript>> {
    // A site's transcript is sealed with a root key that signed there: without
    // a root key, nobody rewrites a site's transcript and has it verify.
    let mut root_keys = Vec::new();
    for doc in roots {
        let root = doc.root();
        for id in &root.roles["root"].keyids {
            if let Some(k) = root.keys.get(id)
                && let Ok(d) = crate::tuf::key::decode_key(k, doc.flavour())
            {
                root_keys.push(d.public);
            }
        }
    }
    let mut out: Vec<SiteTranscript> = Vec::new();
    let mut list: Vec<(u32, String, Option<String>)> = event
        .sites
        .iter()
        .map(|s| (s.site, s.transcript.clone(), Some(s.final_hash.clone())))
        .collect();
    list.push((event.site, "transcript.jsonl".into(), None));
    for (i, (site, path, expected)) in list.into_iter().enumerate() {
        let at =
            |reason: String| refuse(dir, format!("site {site}'s transcript ({path}): {reason}"));
        if site as usize != i + 1 {
            return Err(at(format!(
                "it is listed as site {site}, expected site {}",
                i + 1
            )));
        }
        if site != event.site && path != format!("{SITES_DIR}/{site}.transcript.jsonl") {
            return Err(at(format!(
                "an earlier site's transcript is {SITES_DIR}/{site}.transcript.jsonl"
            )));
        }
        if !bundle.contains(&path) {
            return Err(at("the export does not hold it".into()));
        }
        let report = transcript::verify_file_with(&dir.join(&path), &VerifyOptions::default())
            .map_err(|e| at(crate::ceremony::transcript::one_line(&e.to_string())))?;
        if !report.sealed {
            return Err(at("it is not sealed".into()));
        }
        match &report.signature {
            Some(sig) if root_keys.contains(&sig.public_key) => {}
            Some(sig) => {
                return Err(at(format!(
                    "its seal is signed by key {}, which is not a root key of the new or \
                     the previous root",
                    sig.keyid
                )));
            }
            None => {
                return Err(at(
                    "its seal is not signed: a site's transcript is sealed by a root key \
                     that signed there"
                        .into(),
                ));
            }
        }
        let expected = match expected {
            Some(h) => h,
            None => bundle
                .manifest()
                .ceremony
                .as_ref()
                .map(|c| c.transcript_hash.clone())
                .unwrap_or_default(),
        };
        if report.final_hash.to_hex() != expected {
            return Err(at(format!(
                "it ends in {}, the export says {expected}",
                report.final_hash.to_hex()
            )));
        }
        let param = begin_parameter(&report.begin);
        let their_site = param.and_then(|p| p.get("site")).and_then(Value::as_u64);
        if their_site != Some(u64::from(site)) {
            return Err(at(format!(
                "it does not begin as site {site} of a signing event"
            )));
        }
        let before = param
            .and_then(|p| p.get("previous_transcript_hash"))
            .and_then(Value::as_str);
        match (out.last(), before) {
            (None, None) => {}
            (Some(prev), Some(h)) if h == prev.final_hash.to_hex() => {}
            (Some(prev), Some(h)) => {
                return Err(at(format!(
                    "it begins from {h}, but site {}'s transcript ends in {}: the chain is broken",
                    prev.site,
                    prev.final_hash.to_hex()
                )));
            }
            (Some(prev), None) => {
                return Err(at(format!(
                    "it does not begin from site {}'s final hash",
                    prev.site
                )));
            }
            (None, Some(_)) => {
                return Err(at(
                    "the lead site's transcript names a site before it".into()
                ));
            }
        }
        out.push(SiteTranscript {
            site,
            path,
            final_hash: report.final_hash,
            entries: report.entries,
            practice: report.practice,
        });
    }
    Ok(out)
}

//! Signing events across sites in the engine: the lead site's partial export, a
//! further site's import of it (`root-countersign`), and the verify and export
//! steps of either (see `crate::ceremony::event`).

use super::*;
use crate::ceremony::event::{self as ev, EventFile, Previous, Site};

/// The `signing_event` parameter of a site's `begin` entry: its place in the
/// event and, past the lead, the final hash of the site before it.
pub(super) fn begin_parameter(
    script: &Script,
    b: &Bindings,
) -> Result<(Option<serde_json::Value>, Option<String>)> {
    if script.kind == Kind::RootCountersign {
        let dir = b.previous.as_ref().ok_or_else(|| {
            usage("a root-countersign ceremony needs the previous site's export: --previous DIR")
        })?;
        let previous = Previous::open(dir)?;
        let hash = previous.bundle.hash().to_owned();
        let site = match (previous.transcripts.last(), &previous.event.tuf_on_ci) {
            (Some(last), _) => json!({
                "site": previous.event.site + 1,
                "previous_transcript_hash": last.final_hash.to_hex(),
                "previous_export_bundle_hash": hash,
            }),
            (None, origin) => json!({
                "site": 1,
                "tuf_on_ci_event": origin,
                "request_bundle_hash": hash,
            }),
        };
        return Ok((Some(site), Some(hash)));
    }
    Ok((
        script
            .parameters
            .signing_event
            .then(|| json!({ "site": 1 })),
        None,
    ))
}

impl Engine<'_> {
    /// The previous site's export this ceremony began with: the same bundle
    /// (by its hash) must be there at import and at export.
    fn open_previous(&self) -> Result<(PathBuf, Previous)> {
        let dir = self
            .state
            .bindings
            .previous
            .clone()
            .ok_or_else(|| usage("--previous DIR is not bound"))?;
        let previous = Previous::open(&dir)?;
        if self.state.previous_bundle.as_deref() != Some(previous.bundle.hash()) {
            return Err(usage(format!(
                "{}: not the export this ceremony began with (its bundle hash changed since); \
                 nothing more is signed. Start a new ceremony with a new --workdir",
                dir.display()
            )));
        }
        Ok((dir, previous))
    }

    /// A site of a signing event: the lead (`signing_event = true`) or a
    /// further site (`root-countersign`).
    pub(super) fn event_mode(&self) -> bool {
        self.script.parameters.signing_event || self.script.kind == Kind::RootCountersign
    }

    /// root-countersign's build step: the previous site's draft, checked, becomes
    /// this site's draft, byte for byte.
    pub(super) fn import_event(&mut self, step: &Step) -> Result<()> {
        let (dir, previous) = self.open_previous()?;
        previous.check_draft()?;
        if current_hashes(&previous.current)? != self.state.current_sha256 {
            return Err(usage(format!(
                "{}: its current roots changed since this ceremony began; start a new ceremony",
                dir.display()
            )));
        }
        let draft_path = self.work.draft();
        let bytes = previous.draft_bytes()?;
        // Nothing signs the draft before this step is done: a draft left by an
        // interrupted import is this one, or is written again.
        match std::fs::read(&draft_path) {
            Ok(found) if found == bytes => self.ui.say(
                "the root was imported before the interruption; checked again, continuing with it",
            ),
            Ok(_) => fsio::replace(&draft_path, &bytes, 0o644)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fsio::write_new(&draft_path, &bytes, 0o644)?
            }
            Err(e) => return Err(io_err(&draft_path, e)),
        }
        let site = previous.event.site + 1;
        for t in &previous.transcripts {
            self.ui.say(&format!(
                "site {}: transcript verified (sealed, chained), final hash {}",
                t.site,
                t.final_hash.short()
            ));
            if !t.practice.is_empty() {
                self.ui.say(&format!(
                    "  note: site {} was a practice run: {}",
                    t.site,
                    t.practice.join("; ")
                ));
            }
        }
        let doc = &previous.draft;
        let signed = doc.canonical_signed()?;
        self.state.imported = doc.signatures.iter().map(|s| s.keyid.clone()).collect();
        self.fix_draft(&signed)?;
        self.save_state()?;
        let thresholds = ev::thresholds(self.current.last(), doc)?;
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::EventImported {
                previous_export: dir.display().to_string(),
                bundle_hash: previous.bundle.hash().to_owned(),
                site,
                sites: previous
                    .transcripts
                    .iter()
                    .map(|t| rec::SiteHash {
                        site: t.site,
                        final_hash: t.final_hash.to_hex(),
                    })
                    .collect(),
                version: doc.version(),
                sha256_of_signed: hex::encode(Sha256::digest(&signed)),
                signatures: self.state.imported.clone(),
                thresholds: thresholds.clone(),
                practice: previous
                    .transcripts
                    .iter()
                    .filter(|t| !t.practice.is_empty())
                    .map(|t| format!("site {}: {}", t.site, t.practice.join("; ")))
                    .collect(),
            },
        )?;
        self.ui.say(&match &previous.event.tuf_on_ci {
            Some(origin) if previous.transcripts.is_empty() => format!(
                "imported root version {} of {} from a tuf-on-ci signing event (branch {}, \
                 commit {}), with {} signature(s) made there, each verified",
                doc.version(),
                self.script.parameters.repository,
                origin.branch.as_deref().unwrap_or("unknown"),
                origin.commit.as_deref().unwrap_or("unknown"),
                doc.signatures.len()
            ),
            _ => format!(
                "imported root version {} of {} as site {site} of its signing event; \
                 it is the root the lead site built, with {} signature(s) the sites recorded",
                doc.version(),
                self.script.parameters.repository,
                doc.signatures.len()
            ),
        });
        for t in &thresholds {
            self.ui.say(&format!("  {}", t.describe()));
        }
        Ok(())
    }

    /// The verify step of a signing event's site: every signature verifies; the
    /// root is checked as clients will check it once both thresholds are met.
    pub(super) fn verify_event(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        let thresholds = ev::thresholds(self.current.last(), &doc)?;
        for t in &thresholds {
            self.ui.say(&t.describe());
        }
        if thresholds.iter().all(ev::Threshold::met) {
            self.ui
                .say("both thresholds are met: the signing event is complete");
            return self.verify(step);
        }
        let line = format!(
            "partly signed: {} root version {}, every signature verifies; {}",
            doc.flavour(),
            doc.version(),
            thresholds
                .iter()
                .map(ev::Threshold::describe)
                .collect::<Vec<_>>()
                .join("; ")
        );
        self.ui.say(
            "the signing event is not complete: the export goes to the next site, not to publication",
        );
        self.record_verified(step, line, None)
    }

    /// The export of a signing event's site: the current chain, the root being
    /// signed (as `draft.root.json`, or `N.root.json` and `root.json` once both
    /// thresholds are met), every earlier site's transcript and
    /// `signing-event.json`.
    pub(super) fn export_event(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        let thresholds = ev::thresholds(self.current.last(), &doc)?;
        let complete = thresholds.iter().all(ev::Threshold::met);
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut current = Vec::new();
        for cur in &self.current {
            let name = format!("{}.root.json", cur.version());
            files.push((name.clone(), cur.to_json()?));
            current.push(name);
        }
        let draft = if complete {
            let options = ChainOptions {
                now: Utc::now(),
                gun: (self.flavour == Flavour::Notary)
                    .then(|| self.script.parameters.repository.clone()),
            };
            let verified = verify_chain(self.current.last().cloned(), vec![doc.clone()], &options)?;
            let bytes = verified.latest_json()?;
            let name = format!("{}.root.json", doc.version());
            files.push((name.clone(), bytes.clone()));
            files.push(("root.json".into(), bytes));
            name
        } else {
            files.push((ev::DRAFT.into(), doc.to_json()?));
            ev::DRAFT.into()
        };
        let mut sites = Vec::new();
        let mut site = 1;
        let mut tuf_on_ci = None;
        let mut lead_sha = hex::encode(Sha256::digest(doc.canonical_signed()?));
        if self.state.bindings.previous.is_some() {
            let (_, previous) = self.open_previous()?;
            for s in &previous.event.sites {
                files.push((s.transcript.clone(), previous.bundle.read(&s.transcript)?));
                sites.push(s.clone());
            }
            if let Some(last) = previous.transcripts.last() {
                let path = format!("{}/{}.transcript.jsonl", ev::SITES_DIR, last.site);
                files.push((path.clone(), previous.bundle.read("transcript.jsonl")?));
                sites.push(Site {
                    site: last.site,
                    transcript: path,
                    final_hash: last.final_hash.to_hex(),
                });
            }
            site = previous.event.site + 1;
            lead_sha = previous.event.sha256_of_signed.clone();
            tuf_on_ci = previous.event.tuf_on_ci.clone();
        }
        let event = EventFile {
            format: ev::FORMAT.into(),
            repository: self.script.parameters.repository.clone(),
            flavour: self.flavour.name().into(),
            version: doc.version(),
            sha256_of_signed: lead_sha,
            site,
            complete,
            current,
            draft,
            thresholds: thresholds.clone(),
            sites,
            tuf_on_ci,
        };
        let mut bytes = serde_json::to_vec_pretty(&event).expect("an event file serialises");
        bytes.push(b'\n');
        files.push((ev::EVENT_FILE.into(), bytes));
        if let Some(approved) = &self.state.bindings.approved_script {
            files.push((APPROVED_SCRIPT.into(), approved.text.as_bytes().to_vec()));
        }
        self.stage_export(step, files)?;
        if complete {
            self.ui.say(
                "the signing event is complete: this export can be published (ceremony publish)",
            );
        } else {
            self.ui
                .say(&ev::below_threshold("this export", &thresholds));
        }
        Ok(())
    }
}

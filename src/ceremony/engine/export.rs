//! The export step and the end of a run: files staged, the sealed transcript and its report added, the manifest written and the bundle moved into place.

use super::*;

impl Engine<'_> {
    pub(super) fn export(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        // Verified again right before it is written.
        let options = ChainOptions {
            now: Utc::now(),
            gun: (self.flavour == Flavour::Notary)
                .then(|| self.script.parameters.repository.clone()),
        };
        let verified = verify_chain(self.current.last().cloned(), vec![doc.clone()], &options)?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for cur in &self.current {
            files.push((format!("{}.root.json", cur.version()), cur.to_json()?));
        }
        let bytes = verified.latest_json()?;
        files.push((format!("{}.root.json", doc.version()), bytes.clone()));
        files.push(("root.json".into(), bytes));
        if let Some(approved) = &self.state.bindings.approved_script {
            files.push((APPROVED_SCRIPT.into(), approved.text.as_bytes().to_vec()));
        }
        if let Some(decision) = &self.state.bindings.targets_decision {
            let mut bytes = serde_json::to_vec_pretty(decision).expect("a decision serialises");
            bytes.push(b'\n');
            files.push((crate::online::review::TARGETS_DECISION.into(), bytes));
        }
        self.stage_export(step, files)
    }

    /// Stage files of the export, each recorded in the transcript (path, SHA-256,
    /// size) and said, then sync the staging directory.
    pub(super) fn stage_export(
        &mut self,
        step: &Step,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        let out = self.state.bindings.out.clone();
        for (name, bytes) in files {
            let path = bundle::stage(&out, &name, &bytes)?;
            self.transcript
                .record_file(Some(&step.id), Some(&step.actor), &name, &bytes)?;
            self.ui.say(&format!("wrote {}", path.display()));
        }
        bundle::sync_staged(&out)?;
        Ok(())
    }

    /// The `verified` entry of a verify step: what was found, and how many chain
    /// steps were checked (when a chain was walked).
    pub(super) fn record_verified(
        &mut self,
        step: &Step,
        result: String,
        steps: Option<usize>,
    ) -> Result<()> {
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::Verified {
                result,
                steps,
                repositories: None,
            },
        )?;
        Ok(())
    }
}

/// Create `path` anew, for writing. An old file of that name (from an interrupted
/// run) is unlinked first, never written through: it may be linked into a staged
/// export.
pub(super) fn fresh_file(path: &Path) -> Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path, e)),
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    Ok(file)
}

/// The sealed transcript and its report travel with the export, the manifest is
/// written over everything, and the bundle moves into place in one rename; the
/// final hash and the bundle hash are shown for the witnesses.
pub(super) fn finish(
    transcript: &Path,
    out: &Path,
    info: (&Script, Flavour, Vec<String>),
    ui: &mut dyn OperatorUi,
) -> Result<String> {
    let (script, flavour, repositories) = info;
    let staged = bundle::is_staged(out);
    // The transcript is verified and rendered for the export as it is read: a
    // batch's transcript has an entry per repository and is never held whole.
    let md_path = transcript.with_extension("md");
    let verdict = {
        let mut md = std::io::BufWriter::new(fresh_file(&md_path)?);
        let verdict = crate::ceremony::transcript::render_markdown_to(
            transcript,
            &crate::ceremony::transcript::VerifyOptions::default(),
            &mut md,
        )?;
        let file = md
            .into_inner()
            .map_err(|e| io_err(&md_path, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&md_path, e))?;
        verdict
    };
    let report = verdict?;
    let hash = report.final_hash;
    drop(report);
    if staged || out.join(bundle::MANIFEST).is_file() {
        if staged {
            bundle::stage_copy(out, "transcript.jsonl", transcript)?;
            bundle::stage_copy(out, "transcript.md", &md_path)?;
        }
        let made = bundle::commit(
            out,
            "export",
            flavour.name(),
            repositories,
            Some(bundle::CeremonyInfo {
                name: script.name.clone(),
                kind: script.kind.name().into(),
                transcript_hash: hash.to_hex(),
            }),
        )?;
        ui.say(&format!(
            "export bundle {}: {} files, bundle hash {}",
            out.display(),
            made.len(),
            made.hash()
        ));
    }
    ui.finish(&hash.to_hex(), &witness_words(&hash));
    Ok(hash.to_hex())
}

/// The repositories an export bundle is about: the script's, or a batch's.
pub(super) fn bundle_repositories(script: &Script, b: &Bindings) -> Result<Vec<String>> {
    if !b.batch {
        return Ok(vec![script.parameters.repository.clone()]);
    }
    // The staged index of new roots names them in order (and is what the export
    // lists); reading it is cheaper than reading the request again.
    let index = bundle::staging_dir(&b.out).join(bundle::PACK_INDEX);
    match std::fs::File::open(&index) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&index, e)),
        Ok(file) => {
            use std::io::BufRead;
            return std::io::BufReader::new(file)
                .lines()
                .map(|line| {
                    let line = line.map_err(|e| io_err(&index, e))?;
                    serde_json::from_str::<bundle::PackEntry>(&line)
                        .map(|e| e.repository)
                        .map_err(|e| usage(format!("{}: {e}", index.display())))
                })
                .collect();
        }
    }
    let dir = b
        .request
        .as_ref()
        .ok_or_else(|| usage("a batch ceremony reads its repositories from --request DIR"))?;
    crate::online::request::Request::open_shared(dir)?
        .repositories()
        .map(|r| r.map(|r| r.repository))
        .collect()
}

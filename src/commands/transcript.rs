//! `ceremony transcript verify|report`: what compliance staff run on a ceremony's
//! transcript afterwards. Also `ceremony airgap-check`, the pre-ceremony check whose
//! result the engine records in the transcript.

use crate::ceremony::airgap;
use crate::ceremony::transcript::{
    self, EntryHash, TranscriptError, VerifyOptions, VerifyReport, witness_words,
};
use crate::ceremony::{event, witness};
use crate::cli::{
    AirgapCheckArgs, TranscriptCheckArgs, TranscriptReportArgs, TranscriptVerifyArgs,
};
use crate::error::{Error, Result};
use crate::fsio;
use crate::transfer::bundle::Bundle;

fn options(args: &TranscriptCheckArgs) -> Result<VerifyOptions> {
    Ok(VerifyOptions {
        expect_hash: args
            .expect_hash
            .as_deref()
            .map(EntryHash::parse_witnessed)
            .transpose()?,
        expect_keyid: args.expect_keyid.clone(),
    })
}

/// Exit 0 only when sealed and intact; intact but unsealed is exit 1; sealed and
/// intact but a practice run is exit 3 unless accepted as one.
fn require_sealed(report: &VerifyReport, accept_practice: bool) -> Result<()> {
    if !report.sealed {
        return Err(TranscriptError::NotSealed {
            path: report.path.display().to_string(),
            last_seq: report.last_seq(),
        }
        .into());
    }
    if !report.practice.is_empty() && !accept_practice {
        return Err(Error::Practice(format!(
            "{}: NOT A PRODUCTION CEREMONY: {}. It verifies, but it is not evidence of a \
             production ceremony; to check it as the practice run it is, add --accept-practice",
            report.path.display(),
            report.practice.join("; ")
        )));
    }
    Ok(())
}

/// A directory given where a transcript is expected is an export when it has a
/// manifest; anything else is read (and refused) as the transcript file it is not.
fn is_export(path: &std::path::Path) -> bool {
    path.is_dir() && path.join(crate::transfer::bundle::MANIFEST).exists()
}

pub fn verify(args: TranscriptVerifyArgs) -> Result<()> {
    let options = options(&args.check)?;
    // Every witness key is read before anything is said: a bad key file is named.
    let keys = args
        .witnesses
        .iter()
        .map(|p| witness::WitnessKey::read(p))
        .collect::<Result<Vec<_>>>()?;
    let export = is_export(&args.file);
    let (file, dir) = if export {
        (args.file.join("transcript.jsonl"), Some(args.file.clone()))
    } else {
        let parent = args
            .file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_owned();
        (args.file.clone(), Some(parent).filter(|_| !keys.is_empty()))
    };
    if export {
        let bundle = Bundle::open(&args.file, "export")?;
        println!(
            "export: {}: manifest intact, every file as listed",
            args.file.display()
        );
        if bundle.contains(event::EVENT_FILE) {
            // Every site's transcript and their chain, the draft against them, and
            // the thresholds recomputed from the roots (not the event file's word).
            let ev = event::Previous::open(&args.file)?;
            ev.check_draft()?;
            let thresholds = event::thresholds(ev.current.last(), &ev.draft)?;
            let complete = thresholds.iter().all(event::Threshold::met);
            println!(
                "signing event: root version {} of {}, {} site(s); {}",
                ev.draft.version(),
                ev.event.repository,
                ev.transcripts.len(),
                if complete {
                    "complete"
                } else {
                    "NOT complete (below threshold)"
                }
            );
            for s in &ev.transcripts {
                println!(
                    "  site {}: {}: sealed by a root key and intact, begins from the site before; final hash {}",
                    s.site,
                    s.path,
                    s.final_hash.to_hex()
                );
                if !s.practice.is_empty() && !args.check.accept_practice && s.site < ev.event.site {
                    return Err(Error::Practice(format!(
                        "site {}'s transcript ({}): NOT A PRODUCTION CEREMONY: {}. To check it \
                         as the practice run it is, add --accept-practice",
                        s.site,
                        s.path,
                        s.practice.join("; ")
                    )));
                }
            }
            for t in &thresholds {
                println!("  {}", t.describe());
            }
        }
    }
    let report = transcript::verify_file_with(&file, &options)?;
    println!("transcript: {}", file.display());
    if !report.practice.is_empty() {
        println!("NOT A PRODUCTION CEREMONY: {}", report.practice.join("; "));
    }
    println!("ceremony: {}", report.ceremony());
    println!(
        "chain: intact: {} entries (0..={}), each line canonical JSON, in sequence, \
         each carrying the hash of the entry before it",
        report.entries.len(),
        report.last_seq()
    );
    match (&report.signature, report.sealed) {
        (Some(sig), _) => println!(
            "seal: entry {}, signed by {} key {} ({}); the signature verifies",
            report.last_seq(),
            sig.public_key.algorithm(),
            sig.keyid,
            sig.signer
        ),
        (None, true) => println!("seal: entry {}, not signed", report.last_seq()),
        (None, false) => println!("seal: none"),
    }
    if options.expect_keyid.is_some() {
        println!("seal signer: the expected key");
    }
    match report.expected_hash_matched {
        Some(true) => println!("witnessed hash: matches"),
        _ => println!(
            "witnessed hash: not given; compare the final hash with the one written down at \
             the ceremony (or pass it with --expect-hash)"
        ),
    }
    println!(
        "final hash ({}):\n  {}",
        if report.sealed {
            "the seal's"
        } else {
            "the last entry's"
        },
        witness_words(&report.final_hash)
    );
    if let Some(dir) = &dir {
        match witness::read(dir)? {
            Some(w) => {
                for sig in &w.signatures {
                    println!(
                        "witness: {}{} signed final hash {} with {} key {} ({})",
                        sig.participant,
                        sig.name
                            .as_deref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default(),
                        w.transcript_final_hash,
                        sig.method,
                        sig.key,
                        sig.signer
                    );
                }
                for key in &keys {
                    let sig = witness::check(dir, &w, &report.final_hash.to_hex(), key)?;
                    println!(
                        "witness signature verified: {} by {}",
                        sig.participant,
                        key.describe()
                    );
                }
            }
            None if !keys.is_empty() => {
                return Err(Error::Usage(format!(
                    "{}: no witness signed this transcript (there is no {} beside it)",
                    dir.display(),
                    witness::WITNESS_FILE
                )));
            }
            None => {}
        }
    }
    require_sealed(&report, args.check.accept_practice)
}

/// An export's earlier sites of a signing event, each site's report in full
/// (Markdown), in order; and the first failure among them.
fn earlier_sites(dir: &std::path::Path) -> Result<(String, Option<Error>)> {
    let Ok(bytes) = crate::inputs::read_file(&dir.join(event::EVENT_FILE)) else {
        return Ok((String::new(), None));
    };
    let ev: event::EventFile = serde_json::from_slice(&bytes).map_err(|e| Error::Read {
        path: dir.join(event::EVENT_FILE).display().to_string(),
        reason: e.to_string(),
    })?;
    let mut text = String::new();
    let mut failed = None;
    for site in &ev.sites {
        if crate::transfer::bundle::check_relative(&site.transcript).is_err() {
            return Err(Error::Usage(format!(
                "{}: site {} names the transcript {:?}, outside the export",
                dir.join(event::EVENT_FILE).display(),
                site.site,
                site.transcript
            )));
        }
        let (md, verdict) = transcript::render_markdown_with(
            &dir.join(&site.transcript),
            &VerifyOptions::default(),
        )?;
        text.push_str(&format!(
            "# Site {} of {}: {}\n\n{md}\n",
            site.site, ev.site, site.transcript
        ));
        if let Err(e) = verdict
            && failed.is_none()
        {
            failed = Some(Error::Usage(format!(
                "site {}'s transcript: {e}",
                site.site
            )));
        }
    }
    text.push_str(&format!(
        "# Site {} of {}: transcript.jsonl (this export's)\n\n",
        ev.site, ev.site
    ));
    Ok((text, failed))
}

pub fn report(args: TranscriptReportArgs) -> Result<()> {
    let options = options(&args.check)?;
    let export = is_export(&args.file).then(|| args.file.clone());
    let args = TranscriptReportArgs {
        file: match &export {
            Some(dir) => dir.join("transcript.jsonl"),
            None => args.file,
        },
        ..args
    };
    for out in [&args.out, &args.pdf].into_iter().flatten() {
        fsio::new_output(out)?;
    }
    let mut verdict = None;
    if let Some(pdf) = &args.pdf {
        let (bytes, v) = transcript::render_pdf_with(&args.file, &options)?;
        fsio::write_new(pdf, &bytes, 0o644)?;
        println!("wrote {}", pdf.display());
        verdict = Some(v);
    }
    let mut earlier_failed = None;
    if args.out.is_some() || args.pdf.is_none() {
        let (markdown, v) = transcript::render_markdown_with(&args.file, &options)?;
        let markdown = match &export {
            Some(dir) => {
                let (earlier, failed) = earlier_sites(dir)?;
                earlier_failed = failed;
                earlier + &markdown
            }
            None => markdown,
        };
        match &args.out {
            Some(out) => {
                fsio::write_new(out, markdown.as_bytes(), 0o644)?;
                println!("wrote {}", out.display());
            }
            None => print!("{markdown}"),
        }
        verdict = Some(v);
    }
    // The report is written either way; the exit code says whether to rely on it.
    let verdict = verdict.expect("a report is always written in one form");
    if let Some(e) = earlier_failed {
        return Err(e);
    }
    require_sealed(&verdict?, args.check.accept_practice)
}

pub fn airgap_check(args: AirgapCheckArgs) -> Result<()> {
    let report = airgap::check(&args.root);
    if report.is_air_gapped() {
        print!("{report}");
        return Ok(());
    }
    eprint!("{report}");
    Err(Error::Usage(
        "this machine is not air-gapped: unplug the network (or remove the interface) \
         before a real ceremony, or use --allow-network for a rehearsal"
            .into(),
    ))
}

//! The Markdown report of a transcript, for people and auditors.

use super::*;

/// A Markdown report of a transcript for compliance staff: the ceremony, the
/// result of verifying the chain, every entry, the files written and the final
/// hash in witness groups. A transcript that fails verification still gets a
/// report, headed by the failure.
pub fn render_markdown(path: &Path) -> Result<String> {
    render_markdown_with(path, &VerifyOptions::default()).map(|(text, _)| text)
}

/// [`render_markdown`] with the checks of [`verify_file_with`]; also returns the
/// verification result.
pub fn render_markdown_with(
    path: &Path,
    options: &VerifyOptions,
) -> Result<(String, Result<VerifyReport>)> {
    let mut out = Vec::new();
    let verdict = render_markdown_to(path, options, &mut out)?;
    let text = String::from_utf8(out).expect("the report is UTF-8");
    Ok((text, verdict))
}

/// [`render_markdown_with`], written to `out` as it is made: a transcript is read
/// once, its rows rendered as each entry is verified (so the report shows exactly
/// what was verified) into an unnamed temporary file, never held whole in memory.
pub fn render_markdown_to(
    path: &Path,
    options: &VerifyOptions,
    out: &mut dyn Write,
) -> Result<Result<VerifyReport>> {
    let w = |e: std::io::Error| TranscriptError::Io {
        path: path.display().to_string(),
        op: "write the report of",
        source: e,
    };
    let row = |e: &Entry, out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            e.seq,
            md_cell(&e.time),
            md_cell(&e.kind),
            md_cell(e.step.as_deref().unwrap_or("")),
            md_cell(e.actor.as_deref().unwrap_or("")),
            md_cell(&summarise(&e.data, 100)),
        )
    };
    // The rows, and the (few) file entries for the table after them.
    let mut rows = std::io::BufWriter::new(
        tempfile::tempfile_in(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .or_else(|_| tempfile::tempfile())
        .map_err(w)?,
    );
    let mut files: Vec<Entry> = Vec::new();
    let mut failed = None;
    let verdict = verify_path(path, options, |e| {
        if failed.is_none()
            && let Err(err) = row(&e, &mut rows)
        {
            failed = Some(err);
        }
        (e.kind == Event::FileWritten.name()).then_some(e)
    })
    .map(|mut report| {
        files = std::mem::take(&mut report.entries);
        report
    });
    // A transcript that cannot be read at all gets no report.
    let verdict = match verdict {
        Err(e @ (TranscriptError::NotAFile { .. } | TranscriptError::Io { .. })) => return Err(e),
        other => other,
    };
    // (A write error matters only for a verified transcript: one that fails is
    // shown from a fresh read below.)
    if let (Ok(_), Some(err)) = (&verdict, failed) {
        return Err(w(err));
    }
    // A transcript that fails shows what can be read, clearly marked as unverified.
    let unverified: Vec<Entry> = match &verdict {
        Ok(_) => Vec::new(),
        Err(_) => match crate::fsio::read_regular(path) {
            Ok(bytes) => bytes,
            // Too large to show: no report, the reason it failed.
            Err(_) => return Err(verdict.expect_err("this arm is the failed verdict")),
        }
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect(),
    };
    let (first, last) = match &verdict {
        Ok(report) => (Some(&report.begin), Some(&report.last)),
        Err(_) => (unverified.first(), unverified.last()),
    };
    let ceremony = first
        .and_then(|e| e.data.get("ceremony"))
        .and_then(Value::as_str)
        .unwrap_or("(unknown)");
    let mut head = String::new();
    if let Ok(report) = &verdict
        && !report.practice.is_empty()
    {
        head.push_str(&format!(
            "**NOT A PRODUCTION CEREMONY**: {}.\n\n",
            md_cell(&report.practice.join("; "))
        ));
    }
    head.push_str(&format!("# Ceremony transcript: {}\n\n", md_cell(ceremony)));
    head.push_str(&format!("- File: `{}`\n", path.display()));
    if let Some(begin) = first.filter(|e| e.kind == Event::Begin.name()) {
        head.push_str(&format!("- Started: {}\n", begin.time));
        if let Some(h) = begin.data.get("script_sha256").and_then(Value::as_str) {
            head.push_str(&format!("- Script SHA-256: `{}`\n", md_cell(h)));
        }
        if let Some(tool) = begin.data.get("tool") {
            head.push_str(&format!(
                "- Tool: {} {}\n",
                md_cell(tool.get("name").and_then(Value::as_str).unwrap_or("?")),
                md_cell(tool.get("version").and_then(Value::as_str).unwrap_or("?"))
            ));
        }
    }
    if let Some(last) = last {
        head.push_str(&format!("- Last entry: {} at {}\n", last.seq, last.time));
    }
    head.push_str("\n## Verification\n\n");
    match &verdict {
        Ok(report) => {
            head.push_str(&format!(
                "**Chain intact**: {} entries, each carrying the hash of the one before it.\n\n",
                report.count
            ));
            if report.sealed {
                head.push_str("- Sealed: yes\n");
            } else {
                head.push_str(&format!(
                    "- Sealed: **no** — the ceremony did not finish (interrupted after entry {}), \
                     or trailing entries were removed; compare the final hash with the one the \
                     witnesses wrote down\n",
                    report.last_seq()
                ));
            }
            match &report.signature {
                Some(sig) => head.push_str(&format!(
                    "- Seal signature: **valid**, {} key `{}` (key ID `{}`), {}\n",
                    sig.public_key.algorithm(),
                    hex::encode(sig.public_key.as_bytes()),
                    sig.keyid,
                    md_cell(&sig.signer)
                )),
                None if report.sealed => head.push_str("- Seal signature: none (unsigned seal)\n"),
                None => {}
            }
            if let Some(keyid) = &options.expect_keyid {
                head.push_str(&format!(
                    "- Seal signed by the expected key `{}`: yes\n",
                    md_cell(keyid)
                ));
            }
            match report.expected_hash_matched {
                Some(true) => head.push_str("- Final hash matches the witnessed hash: yes\n"),
                _ => head.push_str(
                    "- Final hash not compared with a witnessed hash: compare it with the one \
                     written down at the ceremony\n",
                ),
            }
        }
        Err(e) => {
            head.push_str(&format!(
                "**VERIFICATION FAILED — do not rely on this transcript.**\n\n> {}\n\n\
                 The entries below are shown as found in the file and are not verified.\n",
                md_cell(&e.to_string())
            ));
        }
    }
    head.push_str("\n## Entries\n\n");
    head.push_str("| seq | time | kind | step | actor | data |\n");
    head.push_str("|---:|---|---|---|---|---|\n");
    out.write_all(head.as_bytes()).map_err(w)?;
    drop(head);
    match &verdict {
        Ok(_) => {
            let mut rows = rows.into_inner().map_err(|e| w(e.into_error()))?;
            rows.seek(std::io::SeekFrom::Start(0)).map_err(w)?;
            std::io::copy(&mut rows, out).map_err(w)?;
        }
        Err(_) => {
            files.clear();
            for e in &unverified {
                row(e, out).map_err(w)?;
                if e.kind == Event::FileWritten.name() {
                    files.push(e.clone());
                }
            }
        }
    }
    let mut tail = String::new();
    tail.push_str("\n## Files written\n\n");
    if files.is_empty() {
        tail.push_str("None.\n");
    } else {
        tail.push_str("| seq | file | size | SHA-256 |\n|---:|---|---:|---|\n");
        for e in &files {
            let s = |k: &str| e.data.get(k).and_then(Value::as_str).unwrap_or("?");
            tail.push_str(&format!(
                "| {} | `{}` | {} | `{}` |\n",
                e.seq,
                md_cell(s("path")),
                e.data
                    .get("size")
                    .and_then(Value::as_u64)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
                md_cell(s("sha256")),
            ));
        }
    }
    tail.push_str("\n## Final hash\n\n");
    match &verdict {
        Ok(report) => {
            tail.push_str(&format!(
                "{} of entry {}:\n\n```\n{}\n```\n",
                if report.sealed {
                    "The hash of the seal"
                } else {
                    "The hash of the last entry (not sealed)"
                },
                report.last_seq(),
                witness_words(&report.final_hash)
            ));
        }
        Err(_) => tail.push_str("None: the chain does not verify.\n"),
    }
    out.write_all(tail.as_bytes()).map_err(w)?;
    Ok(verdict)
}

/// One line summarising an entry's data: `key=value` pairs, nested values compact,
/// cut to about `max` characters.
pub(super) fn summarise(data: &Value, max: usize) -> String {
    let text = match data {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if text.chars().count() > max {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Text safe inside a Markdown table cell.
pub(super) fn md_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

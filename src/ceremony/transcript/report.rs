//! The report of a transcript, for people and auditors: the facts grouped as an
//! auditor reads them (see [`super::audit`]), as Markdown and as a PDF.

use super::audit::{self, Gathered};
use super::*;

/// A Markdown report of a transcript for compliance staff (see [`audit`]). A
/// transcript that fails verification still gets a report, headed by the failure.
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

/// The transcript verified and gathered for a report: every entry goes to
/// `each` as it is verified (so a report shows exactly what was verified). A
/// transcript that fails is gathered from a fresh read, marked unverified.
fn gather(
    path: &Path,
    options: &VerifyOptions,
    each: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
) -> Result<(Gathered, Result<VerifyReport>)> {
    let w = |e: std::io::Error| TranscriptError::Io {
        path: path.display().to_string(),
        op: "write the report of",
        source: e,
    };
    let mut gathered = Gathered::default();
    let mut failed = None;
    let verdict = verify_path(path, options, |e| {
        gathered.take(&e);
        if failed.is_none()
            && let Err(err) = each(&e)
        {
            failed = Some(err);
        }
        None
    });
    // A transcript that cannot be read at all gets no report.
    let verdict = match verdict {
        Err(e @ (TranscriptError::NotAFile { .. } | TranscriptError::Io { .. })) => return Err(e),
        other => other,
    };
    if verdict.is_ok() {
        if let Some(err) = failed {
            return Err(w(err));
        }
        return Ok((gathered, verdict));
    }
    // A transcript that fails shows what can be read, clearly marked as unverified.
    let bytes = match crate::fsio::read_regular(path) {
        Ok(bytes) => bytes,
        // Too large to show: no report, the reason it failed.
        Err(_) => return Err(verdict.expect_err("this is the failed verdict")),
    };
    let mut gathered = Gathered::default();
    for e in bytes
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Entry>(l).ok())
    {
        gathered.take(&e);
        each(&e).map_err(w)?;
    }
    Ok((gathered, verdict))
}

/// One entry of the appendix, in plain words and full: seq, time, kind, step,
/// actor and every field of its data.
fn appendix_line(e: &Entry) -> Option<String> {
    if matches!(
        Event::from_name(&e.kind),
        Some(Event::StepStart | Event::StepDone)
    ) {
        return None;
    }
    let mut line = format!("{} · {} · {}", e.seq, e.time, e.kind);
    if let Some(step) = &e.step {
        line.push_str(&format!(" · step {step}"));
    }
    if let Some(actor) = &e.actor {
        line.push_str(&format!(" · by {actor}"));
    }
    let data = summarise(&e.data);
    if !data.is_empty() {
        line.push_str(": ");
        line.push_str(&data);
    }
    Some(one_line(&line))
}

/// [`render_markdown_with`], written to `out`: the transcript is read once and
/// its appendix kept in an unnamed temporary file, never held whole in memory.
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
    let mut rows = std::io::BufWriter::new(
        tempfile::tempfile_in(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .or_else(|_| tempfile::tempfile())
        .map_err(w)?,
    );
    let (gathered, verdict) = gather(path, options, &mut |e| {
        if let Some(line) = appendix_line(e) {
            for l in audit::wrap_with(&format!("- {}", audit::md_text(&line)), 100, "  ", false) {
                writeln!(rows, "{l}")?;
            }
        }
        Ok(())
    })?;
    let doc = audit::build(path, &gathered, &verdict);
    let mut rows = rows.into_inner().map_err(|e| w(e.into_error()))?;
    rows.seek(std::io::SeekFrom::Start(0)).map_err(w)?;
    audit::markdown(&doc, &mut rows, out).map_err(w)?;
    Ok(verdict)
}

/// The report as an A4 PDF for archiving (see [`super::pdf`]), and the
/// verification result.
pub fn render_pdf_with(
    path: &Path,
    options: &VerifyOptions,
) -> Result<(Vec<u8>, Result<VerifyReport>)> {
    let mut appendix = Vec::new();
    let mut more = 0u64;
    let (gathered, verdict) = gather(path, options, &mut |e| {
        if let Some(mut line) = appendix_line(e) {
            if appendix.len() < super::pdf::MAX_APPENDIX {
                // (A page holds no more; the Markdown keeps every character.)
                if let Some((at, _)) = line.char_indices().nth(super::pdf::MAX_APPENDIX_LINE) {
                    line.truncate(at);
                    line.push_str(" … (cut here: in full in the transcript)");
                }
                appendix.push(line);
            } else {
                more += 1;
            }
        }
        Ok(())
    })?;
    if more > 0 {
        appendix.push(format!(
            "… and {more} more entries: see the transcript file (transcript report prints \
             them all as Markdown)"
        ));
    }
    let doc = audit::build(path, &gathered, &verdict);
    Ok((super::pdf::render(&doc, &appendix), verdict))
}

/// One line of an entry's data: `key=value` pairs, nested values compact, in full.
pub(super) fn summarise(data: &Value) -> String {
    match data {
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
    }
}

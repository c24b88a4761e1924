//! `ceremony qr`: a bundle as a sequence of QR codes, and back.

use crate::cli::{QrDecodeArgs, QrEncodeArgs, QrShowArgs};
use crate::error::{Error, Result};
use crate::fsio;
use crate::transfer::bundle::{Bundle, MANIFEST, write_received};
use crate::transfer::qr::{self, PackedFile};
use std::io::{Read, Write};

/// Every file of the bundle, its manifest included, packed; and the frame texts.
fn bundle_frames(bundle: &Bundle, chunk: usize) -> Result<Vec<String>> {
    Ok(qr::frames(
        &bundle_payload(bundle)?,
        bundle.hash(),
        chunk.max(64),
    ))
}

/// Every file of the bundle, its manifest included, packed.
fn bundle_payload(bundle: &Bundle) -> Result<Vec<u8>> {
    let manifest = crate::commands::read_file(&bundle.dir().join(MANIFEST))?;
    let mut files = vec![PackedFile {
        path: MANIFEST.into(),
        bytes: manifest,
    }];
    for path in bundle.paths() {
        files.push(PackedFile {
            path: path.into(),
            bytes: bundle.read(path)?,
        });
    }
    Ok(qr::pack(&files))
}

pub fn encode(args: QrEncodeArgs) -> Result<()> {
    let bundle = Bundle::open_any(&args.bundle)?;
    let frames = bundle_frames(&bundle, args.chunk)?;
    crate::fsio::new_output(&args.out)?;
    // Every code is made before the output directory is: a frame that does not
    // fit in a code (too large a --chunk) leaves nothing behind.
    let bar = indicatif::ProgressBar::new(frames.len() as u64);
    let mut rendered = Vec::with_capacity(frames.len());
    for text in &frames {
        rendered.push((qr::render_png(text)?, qr::render_svg(text)?));
        bar.inc(1);
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out).map_err(|e| Error::Read {
        path: args.out.display().to_string(),
        reason: e.to_string(),
    })?;
    let written = (|| -> Result<()> {
        for (i, (png, svg)) in rendered.iter().enumerate() {
            let n = i + 1;
            fsio::write_new(&args.out.join(format!("frame-{n:03}.png")), png, 0o644)?;
            fsio::write_new(
                &args.out.join(format!("frame-{n:03}.svg")),
                svg.as_bytes(),
                0o644,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        // The directory was made by this run (nothing stood there): take it away.
        let _ = std::fs::remove_dir_all(&args.out);
        return Err(e);
    }
    println!(
        "{} frame(s) of bundle {} written to {} (PNG and SVG)",
        frames.len(),
        bundle.hash(),
        args.out.display()
    );
    Ok(())
}

/// Does a code of `text` fit a terminal of `size` (columns, rows), with the line
/// of its caption and prompt? The columns and rows it needs.
fn fits(text: &str, small: bool, size: Option<(usize, usize)>) -> Result<(bool, (usize, usize))> {
    let (cols, rows) = qr::terminal_size(text, small)?;
    Ok((
        size.is_none_or(|(c, r)| cols <= c && rows < r),
        (cols, rows + 1),
    ))
}

pub fn show(args: QrShowArgs) -> Result<()> {
    let bundle = Bundle::open_any(&args.bundle)?;
    let term = console::Term::stdout();
    // On a terminal, every code must fit the window: a code whose top scrolled
    // away cannot be scanned.
    let size = term.is_term().then(|| {
        let (rows, cols) = term.size();
        (usize::from(cols), usize::from(rows))
    });
    let too_small = |what: &str, (cols, rows): (usize, usize)| {
        let (c, r) = size.unwrap_or_default();
        Error::Usage(format!(
            "this terminal is {c} columns by {r} rows; {what} needs at least {cols} by {rows}: \
             enlarge the window or make its font smaller, then run qr show again (or carry the \
             bundle as images: qr encode)"
        ))
    };
    // Captions fit an 80-column line: hashes as their fingerprints (the codes
    // carry them whole).
    let fp = crate::tuf::verify::fingerprint;
    let mut codes = vec![(
        format!("bundle hash {} …", fp(bundle.hash())),
        qr::single("bundle", bundle.hash()),
    )];
    if let Some(c) = &bundle.manifest().ceremony {
        codes.push((
            format!("transcript hash {} …", fp(&c.transcript_hash)),
            qr::single("transcript", &c.transcript_hash),
        ));
    }
    for (caption, text) in &codes {
        if let (false, needed) = fits(text, true, size)? {
            return Err(too_small(&format!("the code of the {caption}"), needed));
        }
    }
    if args.animate {
        return animate(&args, &bundle, size, &too_small);
    }
    if !args.hash_only {
        // The largest frames, up to --chunk, whose codes fit.
        let mut chunk = args.chunk;
        let frames = loop {
            let frames = bundle_frames(&bundle, chunk)?;
            match fits(&frames[0], false, size)? {
                (true, _) => break frames,
                (false, _) if chunk > 64 => chunk = (chunk * 4 / 5).max(64),
                (false, needed) => {
                    return Err(too_small("a frame of 64 bytes, the smallest,", needed));
                }
            }
        };
        if chunk < args.chunk {
            println!(
                "frames of {chunk} payload bytes fit this terminal ({} frames)",
                frames.len()
            );
        }
        let n = frames.len();
        for (i, f) in frames.into_iter().enumerate() {
            codes.push((
                format!(
                    "frame {} of {n} of bundle {}",
                    i + 1,
                    crate::tuf::verify::fingerprint(bundle.hash())
                ),
                f,
            ));
        }
    }
    let interactive = !args.all && term.is_term();
    let total = codes.len();
    let mut out = std::io::stdout().lock();
    for (i, (caption, text)) in codes.iter().enumerate() {
        if interactive {
            let _ = term.clear_screen();
        }
        let hash_code = text.starts_with("ceremony-hash:");
        let prompt = if interactive && i + 1 < total {
            " · Enter: next code"
        } else {
            "\n"
        };
        let shown = write!(
            out,
            "{}\n{caption}   [{}/{total}]{prompt}",
            qr::render_terminal_at(text, hash_code)?,
            i + 1
        )
        .and_then(|()| out.flush());
        match shown {
            Ok(()) => {}
            // The reader went away (a pager closed): nothing more to show.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Error::Internal(format!("standard output: {e}"))),
        }
        if interactive && i + 1 < total {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
    }
    Ok(())
}

/// The bundle as an endless fountain-coded stream (BC-UR): one code after another
/// until Ctrl-C (or `--parts`); a camera that catches any sufficient subset, in any
/// order, rebuilds it.
fn animate(
    args: &QrShowArgs,
    bundle: &Bundle,
    size: Option<(usize, usize)>,
    too_small: &dyn Fn(&str, (usize, usize)) -> Error,
) -> Result<()> {
    let payload = bundle_payload(bundle)?;
    let mut chunk = args.chunk;
    let mut stream = loop {
        let mut stream = qr::fountain(&payload, chunk)?;
        let first = stream
            .next_part()
            .map_err(|e| Error::Internal(e.to_string()))?;
        match fits(&first, false, size)? {
            (true, _) => break qr::fountain(&payload, chunk)?,
            (false, _) if chunk > 64 => chunk = (chunk * 4 / 5).max(64),
            (false, needed) => return Err(too_small("an animated code of 64 bytes", needed)),
        }
    };
    let fragments = payload.len().div_ceil(chunk);
    let term = console::Term::stdout();
    let mut out = std::io::stdout().lock();
    let mut shown = 0usize;
    while args.parts.is_none_or(|n| shown < n) {
        let part = stream
            .next_part()
            .map_err(|e| Error::Internal(e.to_string()))?;
        shown += 1;
        if term.is_term() {
            let _ = term.clear_screen();
        }
        let written = write!(
            out,
            "{}\ncode {shown} · bundle {} … · {fragments} fragments · Ctrl-C stops\n",
            qr::render_terminal(&part)?,
            crate::tuf::verify::fingerprint(bundle.hash())
        )
        .and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Error::Internal(format!("standard output: {e}"))),
        }
        std::thread::sleep(std::time::Duration::from_millis(args.interval_ms));
    }
    Ok(())
}

pub fn decode(args: QrDecodeArgs) -> Result<()> {
    if args.images.is_empty() && args.texts.is_empty() {
        return Err(Error::Usage(
            "no codes given: name the images of the frames, or --texts FILE with the texts a \
             scanner app exported (one frame a line; - reads standard input)"
                .into(),
        ));
    }
    // Every image is tried; what cannot be read is reported once, with the rest.
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    let bar = indicatif::ProgressBar::new(args.images.len() as u64);
    for path in &args.images {
        let name = path.display().to_string();
        let found =
            crate::commands::read_file(path).and_then(|bytes| Ok(qr::decode_image(&name, &bytes)?));
        match found {
            Ok(found) => texts.extend(found.into_iter().map(|t| (name.clone(), t))),
            Err(e) => unreadable.push(crate::ceremony::transcript::one_line(&e.to_string())),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for path in &args.texts {
        let (name, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().take(qr::MAX_TEXTS), &mut text)
                .map_err(|e| Error::Read {
                    path: "standard input".into(),
                    reason: e.to_string(),
                })?;
            ("standard input".to_owned(), text)
        } else {
            let text = crate::inputs::read_text(path)?;
            (path.display().to_string(), text.to_string())
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() {
                texts.push((format!("{name} line {}", n + 1), line.to_owned()));
            }
        }
    }
    // Single codes (bundle or transcript hash) may be among the scans: they are
    // not frames.
    texts.retain(|(_, t)| !t.starts_with("ceremony-hash:"));
    // Fountain-coded parts (qr show --animate): any sufficient subset rebuilds it.
    let (parts, mut texts): (Vec<_>, Vec<_>) = texts
        .into_iter()
        .partition(|(_, t)| qr::is_fountain_part(t));
    if !parts.is_empty() && texts.is_empty() {
        let fountain = qr::join_fountain(&parts);
        let Some(payload) = fountain.payload else {
            let mut lines = vec![format!(
                "the animated codes read are not enough yet: {} of {} fragments of the bundle \
                 resolved from {} code(s)",
                fountain.resolved,
                fountain.needed,
                parts.len()
            )];
            if !fountain.refused.is_empty() {
                lines.push(format!(
                    "{} code(s) set aside: {}",
                    fountain.refused.len(),
                    listed(&fountain.refused)
                ));
            }
            if !unreadable.is_empty() {
                lines.push(format!(
                    "{} image(s) could not be read: {}",
                    unreadable.len(),
                    listed(&unreadable)
                ));
            }
            lines.push(
                "next: let the camera read more of the animation (any further codes help, in \
                 any order), then run qr decode again with all of them"
                    .into(),
            );
            return Err(Error::Usage(lines.join("\n")));
        };
        for line in fountain
            .refused
            .iter()
            .map(|r| format!("code set aside: {r}"))
            .chain(unreadable.iter().map(|u| format!("image not read: {u}")))
        {
            eprintln!("note: {line}");
        }
        return write_payload(&args, None, &payload, parts.len());
    }
    let mut set_aside = Vec::new();
    if let Some(expected) = &args.expect_bundle {
        (texts, set_aside) = qr::set_aside_foreign(texts, expected)?;
    }
    let frames: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
    let joined = if frames.is_empty() {
        Err(qr::QrError::NoFrames)
    } else {
        qr::join(&frames, args.expect_bundle.as_deref())
    };
    let report = |problem: Option<String>, hint: Option<String>| -> Vec<String> {
        let mut lines = Vec::new();
        lines.extend(problem);
        if !unreadable.is_empty() {
            lines.push(format!(
                "{} image(s) could not be read: {}",
                unreadable.len(),
                listed(&unreadable)
            ));
        }
        if !set_aside.is_empty() {
            lines.push(format!(
                "{} frame(s) of another bundle than the expected one set aside: {}",
                set_aside.len(),
                listed(&set_aside)
            ));
        }
        lines.extend(hint.map(|h| format!("next: {h}")));
        lines
    };
    let (hash, payload) = match joined {
        Ok(joined) => joined,
        Err(e) => {
            let mut problem = e.to_string();
            for p in e.positions() {
                if let Some((source, _)) = texts.get(p - 1) {
                    problem.push_str(&format!("; text {p} is {source}"));
                }
            }
            let hint = match (&e, unreadable.is_empty()) {
                (qr::QrError::NoFrames, _) if !set_aside.is_empty() => Some(
                    "no frame of the expected bundle was read: check the bundle hash read out \
                     at the ceremony, then scan that bundle's codes"
                        .to_owned(),
                ),
                (_, false) => Some(format!(
                    "{}; photograph each code flat, sharp and whole, with its white border, \
                     and run qr decode again with all the images",
                    e.hint()
                        .unwrap_or_else(|| "scan the unreadable codes again".into())
                )),
                _ => e.hint(),
            };
            return Err(Error::Usage(report(Some(problem), hint).join("\n")));
        }
    };
    write_payload(&args, Some(&hash), &payload, texts.len())?;
    // Rebuilt all the same: what was left out is said.
    for line in report(None, None) {
        eprintln!("note: {line}");
    }
    Ok(())
}

/// Unpack a rebuilt payload and write the bundle, once its manifest is the one the
/// frames name (`claimed`) and the one expected (`--expect-bundle`).
fn write_payload(
    args: &QrDecodeArgs,
    claimed: Option<&str>,
    payload: &[u8],
    codes: usize,
) -> Result<()> {
    let files: Vec<(String, Vec<u8>)> = qr::unpack(payload)?
        .into_iter()
        .map(|f| (f.path, f.bytes))
        .collect();
    let manifest = files
        .iter()
        .find(|(p, _)| p == MANIFEST)
        .ok_or_else(|| Error::Usage("the decoded codes hold no manifest.json".into()))?;
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&manifest.1));
    if let Some(hash) = claimed
        && actual != hash
    {
        return Err(Error::Usage(format!(
            "the decoded manifest hashes to {actual}, but the frames say bundle {hash}: nothing was written"
        )));
    }
    if let Some(expected) = &args.expect_bundle
        && &actual != expected
    {
        // (Its hash is not shown: a mistyped expected hash is never "corrected"
        // by copying the one on screen.)
        return Err(Error::Usage(format!(
            "the codes carry another bundle than the expected {}: nothing was written\n\
             next: check the bundle hash read out at the ceremony, then scan that bundle's codes",
            crate::tuf::verify::fingerprint(expected)
        )));
    }
    let bundle = write_received(&args.out, &files)?;
    println!(
        "bundle {} rebuilt from {codes} code(s) in {}: {} file(s) match its manifest",
        bundle.hash(),
        args.out.display(),
        bundle.len()
    );
    Ok(())
}

/// The first few of a list, and how many more.
fn listed(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > SHOWN {
        text.push_str(&format!("; and {} more", items.len() - SHOWN));
    }
    text
}

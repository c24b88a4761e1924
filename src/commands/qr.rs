//! `ceremony qr`: a bundle as a sequence of QR codes, and back.

use crate::cli::{QrDecodeArgs, QrEncodeArgs, QrShowArgs};
use crate::error::{Error, Result};
use crate::fsio;
use crate::transfer::bundle::{Bundle, MANIFEST, write_received};
use crate::transfer::qr::{self, PackedFile};

/// Every file of the bundle, its manifest included, packed; and the frame texts.
fn bundle_frames(bundle: &Bundle, chunk: usize) -> Result<Vec<String>> {
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
    Ok(qr::frames(&qr::pack(&files), bundle.hash(), chunk.max(64)))
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

pub fn show(args: QrShowArgs) -> Result<()> {
    let bundle = Bundle::open_any(&args.bundle)?;
    let mut codes = vec![(
        format!("bundle hash {}", bundle.hash()),
        qr::single("bundle", bundle.hash()),
    )];
    if let Some(c) = &bundle.manifest().ceremony {
        codes.push((
            format!("transcript hash {}", c.transcript_hash),
            qr::single("transcript", &c.transcript_hash),
        ));
    }
    if !args.hash_only {
        let frames = bundle_frames(&bundle, args.chunk)?;
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
    let interactive = !args.all && console::Term::stdout().is_term();
    let total = codes.len();
    for (i, (caption, text)) in codes.iter().enumerate() {
        if interactive {
            let _ = console::Term::stdout().clear_screen();
        }
        println!("{}", qr::render_terminal(text)?);
        println!("{caption}   [{}/{total}]", i + 1);
        if interactive && i + 1 < total {
            println!("press Enter for the next code");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
    }
    Ok(())
}

pub fn decode(args: QrDecodeArgs) -> Result<()> {
    let mut texts = Vec::new();
    for path in &args.images {
        let bytes = crate::commands::read_file(path)?;
        texts.extend(qr::decode_image(&path.display().to_string(), &bytes)?);
    }
    // Single codes (bundle or transcript hash) may be among the scans: they are
    // not frames.
    texts.retain(|t| !t.starts_with("ceremony-hash:"));
    let (hash, payload) = qr::join(&texts, args.expect_bundle.as_deref())?;
    let files: Vec<(String, Vec<u8>)> = qr::unpack(&payload)?
        .into_iter()
        .map(|f| (f.path, f.bytes))
        .collect();
    let manifest = files
        .iter()
        .find(|(p, _)| p == MANIFEST)
        .ok_or_else(|| Error::Usage("the decoded codes hold no manifest.json".into()))?;
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&manifest.1));
    if actual != hash {
        return Err(Error::Usage(format!(
            "the decoded manifest hashes to {actual}, but the frames say bundle {hash}: nothing was written"
        )));
    }
    let bundle = write_received(&args.out, &files)?;
    println!(
        "bundle {} rebuilt from {} code(s) in {}: {} file(s) match its manifest",
        bundle.hash(),
        texts.len(),
        args.out.display(),
        bundle.len()
    );
    Ok(())
}

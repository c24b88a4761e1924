//! A bundle carried as QR codes, the way the receiving side sees it: every frame drawn
//! to a PNG file, the files read back in a shuffled order, some missing or from
//! another bundle, and the files unpacked byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ceremony::transfer::qr::{
    DEFAULT_MAX_CHUNK, PackedFile, QrError, decode_image, frames, join, pack, render_png,
    render_svg, render_terminal, single, unpack,
};
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn root(version: u64) -> Vec<u8> {
    let keys: serde_json::Map<String, serde_json::Value> = (0..4)
        .map(|k| {
            (
                sha256_hex(format!("key {version} {k}").as_bytes()),
                json!({
                    "keytype": "ed25519",
                    "scheme": "ed25519",
                    "keyval": { "public": sha256_hex(format!("public {version} {k}").as_bytes()) }
                }),
            )
        })
        .collect();
    serde_json::to_vec_pretty(&json!({
        "signatures": [{ "keyid": sha256_hex(b"signer"), "sig": sha256_hex(&[version as u8]).repeat(2) }],
        "signed": {
            "_type": "root",
            "version": version,
            "expires": "2027-11-25T00:00:00Z",
            "keys": keys,
        }
    }))
    .unwrap()
}

/// About 20 KB of JSON lines, one hash per line, as a transcript has.
fn transcript() -> Vec<u8> {
    let mut out = Vec::new();
    for seq in 0..160 {
        let line = json!({
            "seq": seq,
            "kind": if seq % 3 == 0 { "confirmation" } else { "file-written" },
            "who": "security lead",
            "prev": sha256_hex(format!("entry {seq}").as_bytes()),
        });
        serde_json::to_writer(&mut out, &line).unwrap();
        out.push(b'\n');
    }
    assert!(out.len() > 20_000, "{}", out.len());
    out
}

/// A bundle-like file set, and its manifest's hash.
fn bundle(tag: &str) -> (Vec<PackedFile>, String) {
    let mut files = vec![
        PackedFile {
            path: "1.root.json".into(),
            bytes: root(1),
        },
        PackedFile {
            path: "2.root.json".into(),
            bytes: root(2),
        },
        PackedFile {
            path: "root.json".into(),
            bytes: root(2),
        },
        PackedFile {
            path: format!("transcript/{tag}.jsonl"),
            bytes: transcript(),
        },
    ];
    let manifest: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|f| (f.path.clone(), json!(sha256_hex(&f.bytes))))
        .collect();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let hash = sha256_hex(&manifest);
    files.push(PackedFile {
        path: "manifest.json".into(),
        bytes: manifest,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, hash)
}

/// Draw every frame to `<prefix>-NN.png` in `dir`; the paths, in frame order.
fn draw(dir: &Path, texts: &[String], prefix: &str) -> Vec<PathBuf> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.join(format!("{prefix}-{:02}.png", i + 1));
            fs::write(&path, render_png(text).unwrap()).unwrap();
            path
        })
        .collect()
}

/// A seeded Fisher-Yates shuffle (xorshift64), so a failure can be replayed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// Read every image as the receiving side would, by file name.
fn read_all(paths: &[PathBuf]) -> Result<Vec<String>, QrError> {
    let mut texts = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy();
        texts.extend(decode_image(&name, &fs::read(path).unwrap())?);
    }
    Ok(texts)
}

/// Bundle "a" drawn as PNG files and read back, once for every test (reading a code
/// takes a tenth of a second): its files, manifest hash, payload, and for each image,
/// in frame order, its file name and the texts read from it.
struct Carried {
    files: Vec<PackedFile>,
    hash: String,
    payload: Vec<u8>,
    images: Vec<(String, Vec<String>)>,
}

fn carried() -> &'static Carried {
    static CARRIED: OnceLock<Carried> = OnceLock::new();
    CARRIED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (files, hash) = bundle("a");
        let payload = pack(&files);
        let texts = frames(&payload, &hash, DEFAULT_MAX_CHUNK);
        let images = draw(dir.path(), &texts, "frame")
            .iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let read = read_all(std::slice::from_ref(path)).unwrap();
                (name, read)
            })
            .collect();
        Carried {
            files,
            hash,
            payload,
            images,
        }
    })
}

/// The texts of the images, in the order given.
fn texts_of(images: &[(String, Vec<String>)]) -> Vec<String> {
    images.iter().flat_map(|(_, texts)| texts.clone()).collect()
}

#[test]
fn a_bundle_crosses_as_png_codes_in_any_order() {
    let carried = carried();
    let total = frames(&carried.payload, &carried.hash, DEFAULT_MAX_CHUNK).len();
    assert!(total >= 4, "{total} frames");
    assert!(carried.images.iter().all(|(_, texts)| texts.len() == 1));
    let mut images = carried.images.clone();
    shuffle(&mut images, 0x5eed);
    assert_ne!(images, carried.images);

    let (hash, payload) = join(&texts_of(&images), Some(&carried.hash)).unwrap();
    assert_eq!(hash, carried.hash);
    assert_eq!(payload, carried.payload);
    assert_eq!(unpack(&payload).unwrap(), carried.files);
}

#[test]
fn a_dropped_frame_is_named_by_its_index() {
    let carried = carried();
    let total = carried.images.len();
    let mut images = carried.images.clone();
    shuffle(&mut images, 7);
    let (dropped, _) = images.remove(2);
    let index: usize = dropped["frame-".len()..dropped.len() - ".png".len()]
        .parse()
        .unwrap();

    let err = join(&texts_of(&images), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "missing frame {index} of {total} of bundle {}",
            ceremony::tuf::verify::fingerprint(&carried.hash)
        )
    );
    assert_eq!(
        err.hint().unwrap(),
        format!("scan frame {index} again and add it to the others")
    );
}

#[test]
fn a_frame_of_another_bundle_is_named() {
    let carried = carried();
    let dir = tempfile::tempdir().unwrap();
    let (other_files, other_hash) = bundle("b");
    assert_ne!(carried.hash, other_hash);
    let other = frames(&pack(&other_files), &other_hash, DEFAULT_MAX_CHUNK);
    let other_total = other.len();
    let stray = draw(dir.path(), &other[2..3], "stray");
    let mut texts = texts_of(&carried.images);
    texts.insert(1, read_all(&stray).unwrap().remove(0));

    assert_eq!(
        join(&texts, None).unwrap_err().to_string(),
        format!(
            "frame 3 of {other_total} (text 2) belongs to bundle {}, \
             not to bundle {}, which most frames belong to",
            ceremony::tuf::verify::fingerprint(&other_hash),
            ceremony::tuf::verify::fingerprint(&carried.hash)
        )
    );
    assert_eq!(
        join(&texts, Some(&carried.hash)).unwrap_err().to_string(),
        format!(
            "frame 3 of {other_total} (text 2) belongs to bundle {}, \
             not to the expected bundle {}",
            ceremony::tuf::verify::fingerprint(&other_hash),
            ceremony::tuf::verify::fingerprint(&carried.hash)
        )
    );
}

#[test]
fn a_file_that_is_no_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    fs::write(&notes, "not a picture").unwrap();
    assert_eq!(
        read_all(&[notes]).unwrap_err().to_string(),
        "cannot read the image notes.txt: The image format could not be determined"
    );
}

#[test]
fn svg_and_terminal_renderings_are_well_formed() {
    let (_, hash) = bundle("a");
    for text in [
        single("transcript", &hash),
        frames(&[0x42; DEFAULT_MAX_CHUNK], &hash, DEFAULT_MAX_CHUNK).remove(0),
    ] {
        let modules = qrcode::QrCode::with_error_correction_level(&text, qrcode::EcLevel::M)
            .unwrap()
            .width();
        let side = modules + 8; // the quiet zone is four modules on each side

        let svg = render_svg(&text).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..40]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.contains(&format!("viewBox=\"0 0 {0} {0}\"", side * 8)));

        let terminal = render_terminal(&text).unwrap();
        let lines: Vec<&str> = terminal.lines().collect();
        assert_eq!(lines.len(), side.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == side));
        assert!(
            terminal
                .chars()
                .all(|c| matches!(c, ' ' | '\n' | '\u{2580}' | '\u{2584}' | '\u{2588}'))
        );
        // The quiet zone is drawn (light), so the first line is all full blocks.
        assert!(lines[0].chars().all(|c| c == '\u{2588}'));
    }
}

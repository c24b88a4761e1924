//! A bundle carried as QR codes, the way the receiving side sees it: every frame drawn
//! to a PNG file, the files read back in a shuffled order, some missing or from
//! another bundle, and the files unpacked byte for byte.

mod common;

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

/// What a camera makes of a frame, deterministically (ImageMagick with fixed
/// seeds): the clean PNG resampled (no camera needed to fail), and captures at
/// the mild and moderate levels (resampling, rotation, skew, blur, noise,
/// JPEG).
const CAPTURES: &[(&str, &str, &[&str])] = &[
    ("resized-90", "png", &["-resize", "90%"]),
    ("resized-112", "png", &["-resize", "112.5%"]),
    (
        "doubled-rotated",
        "png",
        &[
            "-resize",
            "200%",
            "-background",
            "white",
            "-rotate",
            "{rot2}",
        ],
    ),
    (
        "mild",
        "jpg",
        &[
            "-resize",
            "150%",
            "-background",
            "white",
            "-rotate",
            "{rot3}",
            "-blur",
            "0x0.5",
            "-quality",
            "80",
        ],
    ),
    (
        "moderate",
        "jpg",
        &[
            "-resize",
            "112%",
            "-background",
            "white",
            "-rotate",
            "{rot5}",
            "-shear",
            "2x1",
            "-blur",
            "0x0.9",
            "-seed",
            "{seed}",
            "-attenuate",
            "0.3",
            "+noise",
            "Gaussian",
            "-quality",
            "70",
        ],
    ),
];

/// The reference decoder, zbarimg (Debian zbar-tools): the texts it reads.
fn zbar(path: &Path) -> Vec<String> {
    let o = std::process::Command::new("zbarimg")
        .args(["-q", "--raw", "-Sbinary"])
        .arg(path)
        .output()
        .expect("zbarimg runs (zbar-tools; scripts/test-all installs it)");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A capture corpus of a real export's frames: every image zbarimg reads, ours
/// reads too, and the bundle is rebuilt from the moderate captures alone.
#[test]
fn photographed_frames_decode_at_least_as_well_as_zbarimg() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ceremony");
    let run = |args: &[&std::ffi::OsStr]| {
        let o = std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let rehearsal = common::rehearsal(d.path());
    let export = rehearsal.join("root-init");
    let clean = d.path().join("clean");
    run(&[
        "qr".as_ref(),
        "encode".as_ref(),
        export.as_os_str(),
        "--out".as_ref(),
        clean.as_os_str(),
    ]);
    let mut frames: Vec<PathBuf> = fs::read_dir(&clean)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    frames.sort();
    frames.truncate(8);
    let shots = d.path().join("shots");
    fs::create_dir(&shots).unwrap();
    let mut table: std::collections::BTreeMap<&str, (usize, usize, usize)> = Default::default();
    let mut moderate = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        for (level, ext, ops) in CAPTURES {
            let out = shots.join(format!("{level}-{n:02}.{ext}"));
            let args: Vec<String> = ops
                .iter()
                .map(|a| {
                    a.replace("{rot2}", &format!("{}", 1 + n % 2))
                        .replace("{rot3}", &format!("{}", 2 + n % 2))
                        .replace("{rot5}", &format!("{}", 2 + n % 4))
                        .replace("{seed}", &format!("{}", 17 + n))
                })
                .collect();
            let o = std::process::Command::new("convert")
                .arg(frame)
                .args(&args)
                .arg(&out)
                .output()
                .expect("convert runs (imagemagick; scripts/test-all installs it)");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let reference = zbar(&out);
            let ours = decode_image(level, &fs::read(&out).unwrap()).unwrap_or_default();
            let row = table.entry(level).or_default();
            row.0 += 1;
            row.1 += usize::from(!reference.is_empty());
            row.2 += usize::from(!ours.is_empty());
            for text in &reference {
                assert!(
                    ours.contains(text),
                    "zbarimg reads {} and we do not",
                    out.display()
                );
            }
            if *level == "moderate" {
                moderate.push(out);
            }
        }
    }
    for (level, (n, reference, ours)) in &table {
        eprintln!("{level}: zbarimg {reference}/{n}, ceremony {ours}/{n}");
    }
    // The moderate captures of every frame rebuild the export, byte for byte.
    let all = fs::read_dir(&clean).unwrap().count() / 2;
    for n in 8..all {
        let out = shots.join(format!("moderate-{n:02}.jpg"));
        let frame = clean.join(format!("frame-{:03}.png", n + 1));
        let o = std::process::Command::new("convert")
            .arg(&frame)
            .args([
                "-resize",
                "112%",
                "-background",
                "white",
                "-rotate",
                "3",
                "-quality",
                "70",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success());
        moderate.push(out);
    }
    let received = d.path().join("received");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "qr".as_ref(),
        "decode".as_ref(),
        "--out".as_ref(),
        received.as_os_str(),
    ];
    args.extend(moderate.iter().map(|p| p.as_os_str()));
    let said = run(&args);
    assert!(said.contains("rebuilt from"), "{said}");
    for name in ["1.root.json", "transcript.jsonl", "manifest.json"] {
        assert_eq!(
            fs::read(received.join(name)).unwrap(),
            fs::read(export.join(name)).unwrap(),
            "{name}"
        );
    }
}

/// Missing, unreadable, duplicate and foreign frames, all at once: every image is
/// tried and the one message says all of it, with the next step; nothing is
/// written. The texts a scanner app exported (a file, or standard input) rebuild
/// the bundle.
#[test]
fn every_problem_is_said_once_and_scanned_texts_rebuild_the_bundle() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ceremony");
    let ceremony = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap()
    };
    let rehearsal = common::rehearsal(d.path());
    let encode = |bundle: &str| {
        let out = d.path().join(format!("{bundle}-codes"));
        let o = ceremony(&[
            "qr".as_ref(),
            "encode".as_ref(),
            rehearsal.join(bundle).as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert!(o.status.success());
        let said = String::from_utf8_lossy(&o.stdout).into_owned();
        let hash = said.split("of bundle ").nth(1).unwrap()[..64].to_owned();
        let mut pngs: Vec<PathBuf> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "png"))
            .collect();
        pngs.sort();
        (hash, pngs)
    };
    let (a, a_frames) = encode("root-init");
    let (b, b_frames) = encode("root-rotate");
    let total = a_frames.len();
    let notes = d.path().join("notes.txt");
    fs::write(&notes, "not an image").unwrap();
    let blank = d.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255u8]))
        .save(&blank)
        .unwrap();
    let mut images: Vec<&Path> = a_frames
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 4)
        .map(|(_, p)| p.as_path())
        .collect();
    images.push(&a_frames[0]);
    images.push(&b_frames[0]);
    images.push(&notes);
    images.push(&blank);
    let out = d.path().join("never-written");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "qr".as_ref(),
        "decode".as_ref(),
        "--expect-bundle".as_ref(),
        a.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(images.iter().map(|p| p.as_os_str()));
    let o = ceremony(&args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    for said in [
        format!("missing frames 2 and 5 of {total} of bundle"),
        format!(
            "2 image(s) could not be read: cannot read the image {}",
            notes.display()
        ),
        format!("no QR code found in the image {}", blank.display()),
        format!(
            "1 frame(s) of another bundle than the expected one set aside: {} (frame 1 of",
            b_frames[0].display()
        ),
        "next: scan frames 2 and 5 again".to_owned(),
    ] {
        assert!(err.contains(&said), "{said:?} not in:\n{err}");
    }
    assert!(
        !err.contains(&b[..16]),
        "the other bundle's hash is shown:\n{err}"
    );
    assert!(err.lines().count() <= 6, "{err}");
    assert!(!out.exists());
    // The texts a phone's scanner app shows, one frame a line, in any order.
    let mut texts = String::new();
    for frame in a_frames.iter().rev() {
        for t in zbar(frame) {
            texts.push_str(&t);
            texts.push_str("\r\n\n");
        }
    }
    let file = d.path().join("scanned.txt");
    fs::write(&file, &texts).unwrap();
    let received = d.path().join("received");
    let o = ceremony(&[
        "qr".as_ref(),
        "decode".as_ref(),
        "--texts".as_ref(),
        file.as_os_str(),
        "--expect-bundle".as_ref(),
        a.as_ref(),
        "--out".as_ref(),
        received.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        fs::read(received.join("1.root.json")).unwrap(),
        fs::read(rehearsal.join("root-init/1.root.json")).unwrap()
    );
    let from_stdin = d.path().join("from-stdin");
    let mut child = std::process::Command::new(&bin)
        .args(["qr", "decode", "--texts", "-", "--out"])
        .arg(&from_stdin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), texts.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(from_stdin.join("manifest.json").is_file());
}

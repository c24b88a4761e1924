//! An export bundle as a sequence of QR codes, for an air gap that only a camera
//! crosses.
//!
//! The sending side [`pack`]s the bundle's files into one compressed payload, cuts it
//! into [`frames`] (one text per QR code) and draws each frame with [`render_png`],
//! [`render_svg`] or [`render_terminal`]. The receiving side reads the codes back
//! with [`decode_image`] (or any phone scanner), [`join`]s the frame texts, which
//! names exactly which frames are missing or do not belong, and [`unpack`]s the
//! files. `docs/qr.md` describes the formats.
//!
//! Nothing here trusts what it reads: [`unpack`] and [`join`] refuse any malformed
//! input with a [`QrError`] and never panic. The files still have to be checked
//! against the bundle's manifest by the caller.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
use qrcode::{EcLevel, QrCode};
use sha2::{Digest, Sha256};

/// The first bytes of a payload made by [`pack`].
pub const PAYLOAD_MAGIC: &[u8; 4] = b"CQP1";
/// The start of every frame text: the format name and its version.
pub const FRAME_PREFIX: &str = "ceremony-frame:1:";
/// Payload bytes per frame when the caller has no reason to choose: 384 bytes are
/// 512 characters of base64, a frame text of at most 606 bytes, a version 19 code
/// (93 modules a side) at error correction level M: the size phone and webcam
/// captures read best (measured: about 256 to 384 bytes a frame).
pub const DEFAULT_MAX_CHUNK: usize = 384;
/// The most files' bytes (with their names) that one payload may carry.
pub const MAX_UNPACKED: usize = 64 * 1024 * 1024;
/// The most bytes of frame texts read from standard input.
pub const MAX_TEXTS: u64 = 256 * 1024 * 1024;
/// The most frames one bundle may be cut into (index and total have at most five digits).
pub const MAX_FRAMES: usize = 99_999;
/// The longest path a packed file may have, in bytes.
pub const MAX_PATH: usize = 1024;
/// Pixels per QR module in [`render_png`]'s output.
pub const PNG_MODULE_PIXELS: u32 = 4;

/// Length of the payload header: magic, body length, SHA-256 of the body.
const HEADER: usize = 4 + 4 + 32;

/// A file of the bundle as carried by QR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedFile {
    /// Relative, '/'-separated, without "." or ".." components.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Why the bundle could not be carried or read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    #[error("the QR payload is malformed: {0}")]
    Payload(String),
    #[error("the QR payload names the unsafe path {path:?}: it {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("no frame texts were given")]
    NoFrames,
    #[error("the expected bundle hash {0:?} is not 64 lowercase hex digits")]
    BadExpectedHash(String),
    /// `position` counts the texts given to [`join`], from 1.
    #[error("frame text {position} is malformed: {reason}")]
    Malformed { position: usize, reason: String },
    #[error(
        "frame {index} of {total} (text {position}) belongs to bundle {}, not to {}",
        short(.found),
        .expected_by.describe(.expected)
    )]
    Foreign {
        index: usize,
        total: usize,
        position: usize,
        found: String,
        expected: String,
        expected_by: ExpectedBy,
    },
    #[error(
        "frame {index} (text {position}) says bundle {} has {total} frames, \
         but frame {first_index} (text {first_position}) says {first_total}",
        short(.bundle)
    )]
    TotalMismatch {
        bundle: String,
        index: usize,
        position: usize,
        total: usize,
        first_index: usize,
        first_position: usize,
        first_total: usize,
    },
    #[error(
        "frame {index} (text {position}) of bundle {} is out of range: the bundle has frames 1 to {total}",
        short(.bundle)
    )]
    IndexOutOfRange {
        bundle: String,
        index: usize,
        position: usize,
        total: usize,
    },
    #[error(
        "frame {index} of bundle {} appears twice with different contents (texts {first_position} and {position})",
        short(.bundle)
    )]
    ConflictingDuplicate {
        bundle: String,
        index: usize,
        first_position: usize,
        position: usize,
    },
    #[error("missing {} of {total} of bundle {}", frame_list(.missing), short(.bundle))]
    Missing {
        bundle: String,
        missing: Vec<usize>,
        total: usize,
    },
    #[error(
        "cannot encode a text of {len} bytes as one QR code at error correction level M: {reason}"
    )]
    Encode { len: usize, reason: String },
    #[error("cannot write the QR code as PNG: {0}")]
    Png(String),
    #[error("cannot read the image {name}: {reason}")]
    Image { name: String, reason: String },
    #[error("no QR code found in the image {name}")]
    NoCode { name: String },
    #[error("QR code {number} in the image {name} cannot be read: {reason}")]
    Unreadable {
        name: String,
        number: usize,
        reason: String,
    },
}

impl QrError {
    /// The texts the error names, by their position among those given to [`join`]
    /// (from 1).
    pub fn positions(&self) -> Vec<usize> {
        match self {
            QrError::Malformed { position, .. }
            | QrError::Foreign { position, .. }
            | QrError::IndexOutOfRange { position, .. } => vec![*position],
            QrError::TotalMismatch {
                position,
                first_position,
                ..
            }
            | QrError::ConflictingDuplicate {
                position,
                first_position,
                ..
            } => vec![*first_position, *position],
            _ => Vec::new(),
        }
    }

    /// One line saying what to do next, where we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            QrError::Missing { missing, .. } => Some(format!(
                "scan {} again and add {} to the others",
                frame_list(missing),
                if missing.len() == 1 { "it" } else { "them" }
            )),
            QrError::Foreign { found, .. } => Some(format!(
                "leave out the codes of bundle {} and scan again",
                short(found)
            )),
            QrError::NoCode { .. } | QrError::Unreadable { .. } => Some(
                "photograph the code again, flat, sharp and whole, with its white border".into(),
            ),
            QrError::Encode { .. } => Some("cut the payload into smaller frames".into()),
            _ => None,
        }
    }
}

/// Where [`join`] took the bundle it expected from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedBy {
    /// The caller named it.
    Given,
    /// Most of the frames belong to it.
    Majority,
}

impl ExpectedBy {
    fn describe(self, hash: &str) -> String {
        match self {
            ExpectedBy::Given => format!("the expected bundle {}", short(hash)),
            ExpectedBy::Majority => format!("bundle {}, which most frames belong to", short(hash)),
        }
    }
}

/// A bundle hash as people compare it: its first 64 bits in groups of 4, the form
/// of every fingerprint the tool shows.
fn short(hash: &str) -> String {
    crate::tuf::verify::fingerprint(hash)
}

/// "frame 4", "frames 4 and 7", "frames 1, 3-9 and 12": runs of three or more as ranges.
fn frame_list(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", indices[i], indices[j]));
        } else {
            parts.extend(indices[i..=j].iter().map(usize::to_string));
        }
        i = j + 1;
    }
    let word = if indices.len() == 1 {
        "frame"
    } else {
        "frames"
    };
    match parts.split_last() {
        None => format!("no {word}"),
        Some((last, [])) => format!("{word} {last}"),
        Some((last, rest)) => format!("{word} {} and {last}", rest.join(", ")),
    }
}

fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Why a path may not be written under the bundle directory, if it may not.
fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("is empty")
    } else if path.len() > MAX_PATH {
        Some("is longer than 1024 bytes")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.contains('\\') {
        Some("contains a backslash")
    } else if path.contains(':') {
        Some("contains a colon")
    } else if path.chars().any(char::is_control) {
        Some("contains a control character")
    } else if path.split('/').any(str::is_empty) {
        Some("has an empty component")
    } else if path.split('/').any(|c| c == "." || c == "..") {
        Some("has a \".\" or \"..\" component")
    } else {
        None
    }
}

/// Pack files into one payload: `CQP1`, the length and SHA-256 of the file list, then
/// the file list compressed with raw DEFLATE. The files are sorted by path, so the same
/// files always give the same payload, whatever their order; [`unpack`] returns them in
/// that order.
///
/// # Panics
/// If a path is unsafe (empty, absolute, with a "." or ".." component, a backslash, a
/// colon or a control character, longer than [`MAX_PATH`]), if two files share a
/// path, or if the files exceed [`MAX_UNPACKED`]: the caller names the files, and a
/// payload that [`unpack`] would refuse must never be shown.
pub fn pack(files: &[PackedFile]) -> Vec<u8> {
    let mut sorted: Vec<&PackedFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut body = Vec::new();
    body.extend_from_slice(&len_u32(sorted.len()).to_be_bytes());
    for (n, file) in sorted.iter().enumerate() {
        if let Some(reason) = unsafe_path(&file.path) {
            panic!("pack: the path {:?} {reason}", file.path);
        }
        if n > 0 && sorted[n - 1].path == file.path {
            panic!("pack: the path {:?} appears twice", file.path);
        }
        // MAX_PATH < u16::MAX, so the cast keeps every bit.
        body.extend_from_slice(&(file.path.len() as u16).to_be_bytes());
        body.extend_from_slice(file.path.as_bytes());
        body.extend_from_slice(&len_u32(file.bytes.len()).to_be_bytes());
        body.extend_from_slice(&file.bytes);
    }
    assert!(
        body.len() <= MAX_UNPACKED,
        "pack: {} bytes of files exceed the limit of {MAX_UNPACKED}",
        body.len()
    );
    let mut payload = Vec::with_capacity(HEADER + body.len() / 2);
    payload.extend_from_slice(PAYLOAD_MAGIC);
    payload.extend_from_slice(&len_u32(body.len()).to_be_bytes());
    payload.extend_from_slice(&Sha256::digest(&body));
    payload.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&body, 9));
    payload
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len)
        .unwrap_or_else(|_| panic!("pack: {len} bytes exceed the limit of {MAX_UNPACKED}"))
}

/// Read the files back from a payload made by [`pack`]. Refuses a wrong format, a
/// truncated or altered payload, a file list out of order or with duplicates, and any
/// unsafe path.
pub fn unpack(payload: &[u8]) -> Result<Vec<PackedFile>, QrError> {
    let bad = |reason: String| Err(QrError::Payload(reason));
    if payload.len() < HEADER {
        return bad(format!(
            "it is {} bytes long, shorter than its {HEADER}-byte header",
            payload.len()
        ));
    }
    let (header, compressed) = payload.split_at(HEADER);
    if &header[..4] != PAYLOAD_MAGIC {
        return bad("it does not start with \"CQP1\"".into());
    }
    let declared = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if declared > MAX_UNPACKED {
        return bad(format!(
            "it declares {declared} bytes of files, more than the limit of {MAX_UNPACKED}"
        ));
    }
    if declared < 4 {
        return bad(format!(
            "it declares {declared} bytes of files, too few for a file count"
        ));
    }
    let body = inflate_exact(compressed, declared).map_err(QrError::Payload)?;
    if Sha256::digest(&body).as_slice() != &header[8..HEADER] {
        return bad("its files do not match the SHA-256 in its header".into());
    }
    parse_body(&body)
}

/// Inflate raw DEFLATE data that must give exactly `expected` bytes and end exactly at
/// the end of `data`. The output grows as it is filled, so a false length costs nothing.
fn inflate_exact(data: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let mut state = Box::<DecompressorOxide>::default();
    let mut out = vec![0u8; expected.min(data.len().saturating_mul(4).max(1024))];
    let (mut read, mut written) = (0, 0);
    loop {
        let input = data.get(read..).unwrap_or_default();
        let (status, consumed, produced) = decompress(&mut state, input, &mut out, written, flags);
        read += consumed;
        written += produced;
        match status {
            TINFLStatus::Done => break,
            TINFLStatus::HasMoreOutput if out.len() < expected => {
                out.resize(out.len().saturating_mul(2).min(expected), 0);
            }
            TINFLStatus::HasMoreOutput => {
                return Err(format!(
                    "its files inflate to more than the declared {expected} bytes"
                ));
            }
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err("its compressed data is truncated".into());
            }
            other => return Err(format!("its compressed data is corrupt ({other:?})")),
        }
    }
    if written != expected {
        return Err(format!(
            "its files inflate to {written} bytes, not the declared {expected}"
        ));
    }
    if read != data.len() {
        return Err(format!(
            "it has {} bytes after its compressed data",
            data.len() - read
        ));
    }
    out.truncate(written);
    Ok(out)
}

/// A cursor over the file list; every read is checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], QrError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.at..end];
                self.at = end;
                Ok(slice)
            }
            None => Err(QrError::Payload(format!(
                "its file list ends inside {what}"
            ))),
        }
    }

    fn u16(&mut self, what: &str) -> Result<usize, QrError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&mut self, what: &str) -> Result<usize, QrError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

fn parse_body(body: &[u8]) -> Result<Vec<PackedFile>, QrError> {
    let mut reader = Reader { bytes: body, at: 0 };
    let count = reader.u32("the file count")?;
    let mut files: Vec<PackedFile> = Vec::new();
    for n in 1..=count {
        let what = format!("file {n} of {count}");
        let path_len = reader.u16(&what)?;
        let path = std::str::from_utf8(reader.take(path_len, &what)?)
            .map_err(|_| QrError::Payload(format!("the path of {what} is not UTF-8")))?
            .to_owned();
        if let Some(reason) = unsafe_path(&path) {
            return Err(QrError::UnsafePath { path, reason });
        }
        if let Some(previous) = files.last() {
            if previous.path == path {
                return Err(QrError::Payload(format!(
                    "it names the file {path:?} twice"
                )));
            }
            if previous.path > path {
                return Err(QrError::Payload(format!(
                    "its files are out of order: {path:?} comes after {:?}",
                    previous.path
                )));
            }
        }
        let len = reader.u32(&what)?;
        let bytes = reader.take(len, &what)?.to_vec();
        files.push(PackedFile { path, bytes });
    }
    if reader.at != body.len() {
        return Err(QrError::Payload(format!(
            "its file list has {} bytes after its last file",
            body.len() - reader.at
        )));
    }
    Ok(files)
}

/// Cut a payload into frame texts, one QR code each:
/// `ceremony-frame:1:<index>/<total>:<bundle hash>:<base64 of up to max_chunk bytes>`,
/// indices from 1. An empty payload still gives one frame; a `max_chunk` of 0 is taken
/// as 1.
///
/// # Panics
/// If `bundle_hash` is not 64 lowercase hex digits, or the payload needs more than
/// [`MAX_FRAMES`] frames: [`join`] would refuse such frames.
pub fn frames(payload: &[u8], bundle_hash: &str, max_chunk: usize) -> Vec<String> {
    assert!(
        is_hash(bundle_hash),
        "frames: the bundle hash {bundle_hash:?} is not 64 lowercase hex digits"
    );
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(max_chunk.max(1)).collect()
    };
    let total = chunks.len();
    assert!(
        total <= MAX_FRAMES,
        "frames: {total} frames exceed the limit of {MAX_FRAMES}; choose a larger max_chunk"
    );
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            format!(
                "{FRAME_PREFIX}{}/{total}:{bundle_hash}:{}",
                i + 1,
                B64.encode(chunk)
            )
        })
        .collect()
}

/// One short text as a single code, e.g. `ceremony-hash:transcript:<hex>`.
pub fn single(label: &str, hex: &str) -> String {
    format!("ceremony-hash:{label}:{hex}")
}

fn encode(text: &str) -> Result<QrCode, QrError> {
    encode_at(text, false)
}

fn encode_at(text: &str, small: bool) -> Result<QrCode, QrError> {
    let level = if small { EcLevel::L } else { EcLevel::M };
    QrCode::with_error_correction_level(text.as_bytes(), level).map_err(|e| QrError::Encode {
        len: text.len(),
        reason: e.to_string(),
    })
}

/// A PNG (8-bit greyscale) of the text's QR code at error correction level M, with its
/// four-module quiet zone, [`PNG_MODULE_PIXELS`] pixels per module.
pub fn render_png(text: &str) -> Result<Vec<u8>, QrError> {
    use image::ImageEncoder;
    let picture = encode(text)?
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(PNG_MODULE_PIXELS, PNG_MODULE_PIXELS)
        .build();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            picture.as_raw(),
            picture.width(),
            picture.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| QrError::Png(e.to_string()))?;
    Ok(png)
}

/// An SVG document of the text's QR code, black on white, with its quiet zone.
pub fn render_svg(text: &str) -> Result<String, QrError> {
    Ok(encode(text)?
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .build())
}

/// The text's QR code in Unicode half blocks, two module rows per line, with its quiet
/// zone, for a terminal that prints light text on a dark background: light modules are
/// drawn, dark modules are left blank.
/// The columns and rows [`render_terminal`] takes for the text's code (`small`:
/// at error correction level L, for a short code shown on a screen).
pub fn terminal_size(text: &str, small: bool) -> Result<(usize, usize), QrError> {
    let side = encode_at(text, small)?.width() + 8;
    Ok((side, side.div_ceil(2)))
}

pub fn render_terminal(text: &str) -> Result<String, QrError> {
    render_terminal_at(text, false)
}

/// [`render_terminal`], at error correction level L with `small` (a hash code: a
/// screen does not smudge, and level L makes it fit 80 by 24).
pub fn render_terminal_at(text: &str, small: bool) -> Result<String, QrError> {
    use qrcode::render::unicode::Dense1x2;
    Ok(encode_at(text, small)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The texts of every QR code in an image file's bytes (PNG or JPEG), each once.
/// An image without a code, or whose codes cannot be read, is refused by name.
pub fn decode_image(name: &str, bytes: &[u8]) -> Result<Vec<String>, QrError> {
    let picture = image::load_from_memory(bytes).map_err(|e| QrError::Image {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    // ZXing's detector (rxing) reads photographs: resampled, rotated, skewed,
    // blurred, noisy, JPEG. What it finds is kept; rqrr reads the rest (a second
    // detector costs little and finds codes the first may miss).
    let mut texts: Vec<String> = Vec::new();
    let mut hints = rxing::DecodeHints {
        PossibleFormats: Some(std::collections::HashSet::from([
            rxing::BarcodeFormat::QR_CODE,
        ])),
        TryHarder: Some(true),
        ..Default::default()
    };
    if let Ok(found) =
        rxing::helpers::detect_multiple_in_image_with_hints(picture.clone(), &mut hints)
    {
        for r in found {
            let text = r.getText().to_owned();
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }
    let mut prepared = rqrr::PreparedImage::prepare(picture.to_luma8());
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        if !texts.is_empty() {
            return Ok(texts);
        }
        return Err(QrError::NoCode {
            name: name.to_owned(),
        });
    }
    // The detector sometimes finds a second, phantom grid in a clean code (about one
    // code in 300 of the size we print): a grid that does not decode is set aside
    // when another in the same image does. A real frame lost that way is reported
    // as missing, by number, when the frames are joined.
    let mut first_error = None;
    for (n, grid) in grids.iter().enumerate() {
        match grid.decode() {
            Ok((_, text)) => {
                if !texts.contains(&text) {
                    texts.push(text);
                }
            }
            Err(e) => {
                first_error.get_or_insert(QrError::Unreadable {
                    name: name.to_owned(),
                    number: n + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    match first_error {
        Some(e) if texts.is_empty() => Err(e),
        _ => Ok(texts),
    }
}

/// A frame text, read.
struct Frame<'a> {
    position: usize,
    index: usize,
    total: usize,
    hash: &'a str,
    chunk: Vec<u8>,
}

fn parse_frame(position: usize, text: &str) -> Result<Frame<'_>, QrError> {
    let malformed = |reason: String| QrError::Malformed { position, reason };
    let Some(rest) = text.strip_prefix("ceremony-frame:") else {
        return Err(malformed(format!(
            "it does not start with \"ceremony-frame:\" (it starts {:?})",
            text.chars().take(24).collect::<String>()
        )));
    };
    let mut fields = rest.splitn(4, ':');
    let (version, counts, hash, chunk) = (
        fields.next().unwrap_or_default(),
        fields.next(),
        fields.next(),
        fields.next(),
    );
    if version != "1" {
        return Err(malformed(format!(
            "it has format version {:?}; this tool reads version 1",
            version.chars().take(16).collect::<String>()
        )));
    }
    let (Some(counts), Some(hash), Some(chunk)) = (counts, hash, chunk) else {
        return Err(malformed(
            "it does not have the fields index/total, bundle hash and chunk".into(),
        ));
    };
    let Some((index, total)) = counts.split_once('/') else {
        return Err(malformed(format!(
            "its index/total {:?} has no '/'",
            counts.chars().take(16).collect::<String>()
        )));
    };
    let number = |field: &str, what: &str| -> Result<usize, QrError> {
        let canonical = (1..=5).contains(&field.len())
            && field.bytes().all(|b| b.is_ascii_digit())
            && (field == "0" || !field.starts_with('0'));
        match canonical.then(|| field.parse::<usize>().ok()).flatten() {
            Some(n) => Ok(n),
            None => Err(malformed(format!(
                "its {what} {:?} is not a decimal number of at most five digits",
                field.chars().take(16).collect::<String>()
            ))),
        }
    };
    let (index, total) = (number(index, "index")?, number(total, "total")?);
    if total == 0 {
        return Err(malformed("it says the bundle has 0 frames".into()));
    }
    if !is_hash(hash) {
        return Err(malformed(
            "its bundle hash is not 64 lowercase hex digits".into(),
        ));
    }
    let chunk = B64
        .decode(chunk)
        .map_err(|e| malformed(format!("its chunk is not base64 ({e})")))?;
    Ok(Frame {
        position,
        index,
        total,
        hash,
        chunk,
    })
}

/// The hash most frames carry; on a tie, the one seen first.
fn majority<'a>(frames: &[Frame<'a>]) -> &'a str {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for frame in frames {
        counts.entry(frame.hash).or_insert((0, frame.position)).0 += 1;
    }
    counts
        .into_iter()
        .max_by(|(_, (count_a, first_a)), (_, (count_b, first_b))| {
            count_a.cmp(count_b).then(first_b.cmp(first_a))
        })
        .map(|(hash, _)| hash)
        .unwrap_or_default()
}

/// The type of the fountain-coded (BC-UR) parts of a bundle's payload.
pub const UR_TYPE: &str = "ceremony-bundle";

/// Is the text a part of a fountain-coded stream (`ur:…`, in any case)?
pub fn is_fountain_part(text: &str) -> bool {
    text.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("ur:"))
}

/// The endless stream of fountain-coded (BC-UR) parts of a payload, each with at
/// most `max_fragment` payload bytes: any sufficient subset, in any order, rebuilds
/// it (the first parts are the fragments themselves, the rest mix them).
pub fn fountain(payload: &[u8], max_fragment: usize) -> Result<ur::Encoder<'static>, QrError> {
    ur::Encoder::new(payload, max_fragment.max(1), UR_TYPE)
        .map_err(|e| QrError::Payload(format!("cannot fountain-code the payload: {e}")))
}

/// What the fountain-coded parts among the texts give.
#[derive(Debug, Default)]
pub struct Fountain {
    /// The payload, once enough parts were read.
    pub payload: Option<Vec<u8>>,
    /// Fragments resolved, of how many.
    pub resolved: usize,
    pub needed: usize,
    /// Parts refused (of another stream or type, or malformed), by where they came from.
    pub refused: Vec<String>,
}

/// Rebuild a payload from fountain-coded parts, in any order, duplicates allowed.
pub fn join_fountain(parts: &[Sourced]) -> Fountain {
    let mut decoder = ur::Decoder::default();
    let mut out = Fountain::default();
    for (source, text) in parts {
        let text = text.to_ascii_lowercase();
        let kind_ok = text
            .strip_prefix("ur:")
            .and_then(|r| r.split('/').next())
            .is_some_and(|t| t == UR_TYPE);
        if !kind_ok {
            out.refused
                .push(format!("{source} (not a part of a ceremony bundle)"));
            continue;
        }
        if let Err(e) = decoder.receive(&text) {
            out.refused.push(format!("{source} ({e})"));
        }
        if decoder.complete() {
            break;
        }
    }
    out.needed = decoder.fragment_count();
    out.resolved = decoder.resolved_fragment_count().unwrap_or(0);
    if decoder.complete() {
        out.payload = decoder.message().ok().flatten();
    }
    out
}

/// A text read, and where it came from (an image's name, a file's line).
pub type Sourced = (String, String);

/// The frames among `texts` (each with where it came from) that belong to another
/// bundle than `expected`, set aside: the texts kept, and a line for each set
/// aside naming where it came from and which frame it is (never its bundle's hash:
/// an expected hash mistyped must not be corrected by copying the one shown).
pub fn set_aside_foreign(
    texts: Vec<Sourced>,
    expected: &str,
) -> Result<(Vec<Sourced>, Vec<String>), QrError> {
    if !is_hash(expected) {
        return Err(QrError::BadExpectedHash(
            expected.chars().take(80).collect(),
        ));
    }
    let mut kept = Vec::new();
    let mut aside = Vec::new();
    for (n, (source, text)) in texts.into_iter().enumerate() {
        match parse_frame(n + 1, &text) {
            Ok(f) if f.hash != expected => {
                aside.push(format!("{source} (frame {} of {})", f.index, f.total));
            }
            _ => kept.push((source, text)),
        }
    }
    Ok((kept, aside))
}

/// Put frame texts back together into the bundle hash and the payload. The frames may
/// come in any order and the same frame may come more than once. Refused, naming the
/// frame: a malformed text (by its position among `frames`, from 1), a frame of
/// another bundle than `expect` (or, without `expect`, than the bundle most frames
/// belong to), a total that disagrees with the first frame's, an index out of range,
/// two different frames with the same index, and missing frames, all listed.
pub fn join(frames: &[String], expect: Option<&str>) -> Result<(String, Vec<u8>), QrError> {
    if frames.is_empty() {
        return Err(QrError::NoFrames);
    }
    if let Some(expected) = expect
        && !is_hash(expected)
    {
        return Err(QrError::BadExpectedHash(
            expected.chars().take(80).collect(),
        ));
    }
    let parsed = frames
        .iter()
        .enumerate()
        .map(|(n, text)| parse_frame(n + 1, text))
        .collect::<Result<Vec<_>, _>>()?;
    let (expected, expected_by) = match expect {
        Some(hash) => (hash, ExpectedBy::Given),
        None => (majority(&parsed), ExpectedBy::Majority),
    };
    if let Some(foreign) = parsed.iter().find(|f| f.hash != expected) {
        return Err(QrError::Foreign {
            index: foreign.index,
            total: foreign.total,
            position: foreign.position,
            found: foreign.hash.to_owned(),
            expected: expected.to_owned(),
            expected_by,
        });
    }
    let first = &parsed[0];
    let total = first.total;
    if let Some(odd) = parsed.iter().find(|f| f.total != total) {
        return Err(QrError::TotalMismatch {
            bundle: expected.to_owned(),
            index: odd.index,
            position: odd.position,
            total: odd.total,
            first_index: first.index,
            first_position: first.position,
            first_total: total,
        });
    }
    let mut by_index: BTreeMap<usize, &Frame> = BTreeMap::new();
    for frame in &parsed {
        if frame.index == 0 || frame.index > total {
            return Err(QrError::IndexOutOfRange {
                bundle: expected.to_owned(),
                index: frame.index,
                position: frame.position,
                total,
            });
        }
        let seen = *by_index.entry(frame.index).or_insert(frame);
        if seen.chunk != frame.chunk {
            return Err(QrError::ConflictingDuplicate {
                bundle: expected.to_owned(),
                index: frame.index,
                first_position: seen.position,
                position: frame.position,
            });
        }
    }
    let missing: Vec<usize> = (1..=total).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(QrError::Missing {
            bundle: expected.to_owned(),
            missing,
            total,
        });
    }
    let payload = by_index
        .values()
        .flat_map(|f| f.chunk.iter().copied())
        .collect();
    Ok((expected.to_owned(), payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "aaaaaaaaaaaaaaaa0000000000000000000000000000000000000000000000aa";
    const B: &str = "bbbbbbbbbbbbbbbb0000000000000000000000000000000000000000000000bb";

    fn file(path: &str, bytes: &[u8]) -> PackedFile {
        PackedFile {
            path: path.into(),
            bytes: bytes.to_vec(),
        }
    }

    fn sample() -> Vec<PackedFile> {
        vec![
            file("root.json", br#"{"signed":{"_type":"root","version":2}}"#),
            file("1.root.json", br#"{"signed":{"_type":"root","version":1}}"#),
            file("empty", b""),
            file("transcript/lines.jsonl", &[0, 255, 10, 13, 7].repeat(300)),
        ]
    }

    fn sorted(mut files: Vec<PackedFile>) -> Vec<PackedFile> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    /// A payload around any file list, as `pack` frames it.
    fn raw_payload(body: &[u8]) -> Vec<u8> {
        let mut payload = PAYLOAD_MAGIC.to_vec();
        payload.extend_from_slice(&(body.len() as u32).to_be_bytes());
        payload.extend_from_slice(&Sha256::digest(body));
        payload.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(body, 6));
        payload
    }

    /// A file list naming one file, with any path bytes.
    fn one_file_body(path: &[u8]) -> Vec<u8> {
        let mut body = 1u32.to_be_bytes().to_vec();
        body.extend_from_slice(&(path.len() as u16).to_be_bytes());
        body.extend_from_slice(path);
        body.extend_from_slice(&2u32.to_be_bytes());
        body.extend_from_slice(b"hi");
        body
    }

    fn owned(frames: &[&str]) -> Vec<String> {
        frames.iter().map(|s| s.to_string()).collect()
    }

    fn join_err(frames: &[String], expect: Option<&str>) -> String {
        join(frames, expect).unwrap_err().to_string()
    }

    #[test]
    fn pack_unpack_round_trip() {
        let files = sample();
        assert_eq!(unpack(&pack(&files)).unwrap(), sorted(files));
        assert_eq!(unpack(&pack(&[])).unwrap(), vec![]);
    }

    #[test]
    fn pack_is_deterministic_whatever_the_order_and_compresses() {
        let files = sample();
        let mut reversed = files.clone();
        reversed.reverse();
        assert_eq!(pack(&files), pack(&reversed));
        let plain: usize = files.iter().map(|f| f.path.len() + f.bytes.len()).sum();
        assert!(pack(&files).len() < plain / 2);
        assert_eq!(&pack(&files)[..4], b"CQP1");
    }

    #[test]
    fn unpack_refuses_every_truncation() {
        let payload = pack(&sample());
        for len in 0..payload.len() {
            let err = unpack(&payload[..len]).unwrap_err();
            assert!(matches!(err, QrError::Payload(_)), "{len}: {err}");
        }
        assert_eq!(
            unpack(&payload[..10]).unwrap_err().to_string(),
            "the QR payload is malformed: it is 10 bytes long, shorter than its 40-byte header"
        );
        assert_eq!(
            unpack(&payload[..payload.len() - 1])
                .unwrap_err()
                .to_string(),
            "the QR payload is malformed: its compressed data is truncated"
        );
    }

    #[test]
    fn unpack_refuses_garbage() {
        let payload = pack(&sample());
        let msg = |bytes: &[u8]| unpack(bytes).unwrap_err().to_string();

        let mut wrong_magic = payload.clone();
        wrong_magic[0] = b'X';
        assert_eq!(
            msg(&wrong_magic),
            "the QR payload is malformed: it does not start with \"CQP1\""
        );

        let mut trailing = payload.clone();
        trailing.extend_from_slice(b"xyz");
        assert_eq!(
            msg(&trailing),
            "the QR payload is malformed: it has 3 bytes after its compressed data"
        );

        let mut huge = payload.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            msg(&huge),
            "the QR payload is malformed: it declares 4294967295 bytes of files, \
             more than the limit of 67108864"
        );

        let mut short = payload.clone();
        short[4..8].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(
            msg(&short),
            "the QR payload is malformed: its files inflate to more than the declared 100 bytes"
        );

        let mut altered_hash = payload.clone();
        altered_hash[8] ^= 1;
        assert_eq!(
            msg(&altered_hash),
            "the QR payload is malformed: its files do not match the SHA-256 in its header"
        );

        assert!(matches!(
            unpack(&[0x5a; 200]).unwrap_err(),
            QrError::Payload(_)
        ));
    }

    #[test]
    fn unpack_refuses_unsafe_paths() {
        let cases: &[(&[u8], &str)] = &[
            (b"../etc/passwd", "has a \".\" or \"..\" component"),
            (b"a/../../b", "has a \".\" or \"..\" component"),
            (b"./a", "has a \".\" or \"..\" component"),
            (b"/etc/passwd", "is absolute"),
            (b"a\\..\\b", "contains a backslash"),
            (b"C:evil", "contains a colon"),
            (b"a//b", "has an empty component"),
            (b"dir/", "has an empty component"),
            (b"a\nb", "contains a control character"),
            (b"", "is empty"),
        ];
        for (path, reason) in cases {
            let err = unpack(&raw_payload(&one_file_body(path))).unwrap_err();
            let path = String::from_utf8(path.to_vec()).unwrap();
            assert_eq!(
                err,
                QrError::UnsafePath {
                    path: path.clone(),
                    reason
                }
            );
        }
        assert_eq!(
            unpack(&raw_payload(&one_file_body(b"../x")))
                .unwrap_err()
                .to_string(),
            "the QR payload names the unsafe path \"../x\": it has a \".\" or \"..\" component"
        );
        assert_eq!(
            unpack(&raw_payload(&one_file_body(&[b'a', 0xff])))
                .unwrap_err()
                .to_string(),
            "the QR payload is malformed: the path of file 1 of 1 is not UTF-8"
        );
        let long = vec![b'a'; MAX_PATH + 1];
        assert!(matches!(
            unpack(&raw_payload(&one_file_body(&long))).unwrap_err(),
            QrError::UnsafePath {
                reason: "is longer than 1024 bytes",
                ..
            }
        ));
        assert_eq!(
            unpack(&raw_payload(&one_file_body(b"ok/name.json")))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn unpack_refuses_a_bad_file_list() {
        let msg = |body: &[u8]| unpack(&raw_payload(body)).unwrap_err().to_string();
        let mut two = 2u32.to_be_bytes().to_vec();
        two.extend_from_slice(&one_file_body(b"b")[4..]);
        two.extend_from_slice(&one_file_body(b"a")[4..]);
        assert_eq!(
            msg(&two),
            "the QR payload is malformed: its files are out of order: \"a\" comes after \"b\""
        );
        let mut twice = 2u32.to_be_bytes().to_vec();
        twice.extend_from_slice(&one_file_body(b"a")[4..]);
        twice.extend_from_slice(&one_file_body(b"a")[4..]);
        assert_eq!(
            msg(&twice),
            "the QR payload is malformed: it names the file \"a\" twice"
        );
        let mut extra = one_file_body(b"a");
        extra.push(0);
        assert_eq!(
            msg(&extra),
            "the QR payload is malformed: its file list has 1 bytes after its last file"
        );
        let body = one_file_body(b"a");
        assert_eq!(
            msg(&body[..body.len() - 1]),
            "the QR payload is malformed: its file list ends inside file 1 of 1"
        );
        assert_eq!(
            msg(&u32::MAX.to_be_bytes()),
            "the QR payload is malformed: its file list ends inside file 1 of 4294967295"
        );
        assert_eq!(
            msg(&[0, 0]),
            "the QR payload is malformed: it declares 2 bytes of files, too few for a file count"
        );
    }

    #[test]
    #[should_panic(expected = "pack: the path \"../x\" has a \".\" or \"..\" component")]
    fn pack_refuses_an_unsafe_path() {
        pack(&[file("../x", b"")]);
    }

    #[test]
    #[should_panic(expected = "pack: the path \"a\" appears twice")]
    fn pack_refuses_a_duplicate_path() {
        pack(&[file("a", b"1"), file("a", b"2")]);
    }

    #[test]
    fn frame_texts_have_the_documented_layout() {
        assert_eq!(
            frames(b"hello world", A, 6),
            owned(&[
                &format!("ceremony-frame:1:1/2:{A}:aGVsbG8g"),
                &format!("ceremony-frame:1:2/2:{A}:d29ybGQ="),
            ])
        );
        assert_eq!(
            frames(b"", A, DEFAULT_MAX_CHUNK),
            owned(&[&format!("ceremony-frame:1:1/1:{A}:")])
        );
        assert_eq!(frames(b"abc", A, 0).len(), 3);
        assert_eq!(
            single("transcript", A),
            format!("ceremony-hash:transcript:{A}")
        );
    }

    #[test]
    fn default_frames_fit_the_size_budget() {
        let payload = vec![0xa5; DEFAULT_MAX_CHUNK * 3 + 1];
        let texts = frames(&payload, A, DEFAULT_MAX_CHUNK);
        assert_eq!(texts.len(), 4);
        assert!(texts.iter().all(|t| t.len() <= 606), "{}", texts[0].len());
        let widest = format!(
            "ceremony-frame:1:99999/99999:{A}:{}",
            B64.encode([0xa5; DEFAULT_MAX_CHUNK])
        );
        assert_eq!(widest.len(), 606);
        assert_eq!(
            encode(&widest).unwrap().version(),
            qrcode::Version::Normal(19)
        );
    }

    #[test]
    #[should_panic(expected = "frames: the bundle hash \"ABC\" is not 64 lowercase hex digits")]
    fn frames_refuses_a_bad_hash() {
        frames(b"x", "ABC", 10);
    }

    #[test]
    fn join_takes_any_order_and_identical_duplicates() {
        let payload: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut texts = frames(&payload, A, 100);
        texts.reverse();
        texts.push(texts[3].clone());
        texts.insert(0, texts[5].clone());
        assert_eq!(
            join(&texts, None).unwrap(),
            (A.to_string(), payload.clone())
        );
        assert_eq!(join(&texts, Some(A)).unwrap().1, payload);
    }

    #[test]
    fn join_names_missing_frames() {
        let texts = frames(&[7; 120], A, 10);
        let without = |drop: &[usize]| -> Vec<String> {
            texts
                .iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(&(i + 1)))
                .map(|(_, t)| t.clone())
                .collect()
        };
        assert_eq!(
            join_err(&without(&[4, 7]), None),
            "missing frames 4 and 7 of 12 of bundle aaaa aaaa aaaa aaaa"
        );
        assert_eq!(
            join_err(&without(&[12]), None),
            "missing frame 12 of 12 of bundle aaaa aaaa aaaa aaaa"
        );
        assert_eq!(
            join_err(&without(&[1, 3, 4, 5, 6, 9, 11]), None),
            "missing frames 1, 3-6, 9 and 11 of 12 of bundle aaaa aaaa aaaa aaaa"
        );
        let err = join(&without(&[4, 7]), None).unwrap_err();
        assert_eq!(
            err,
            QrError::Missing {
                bundle: A.into(),
                missing: vec![4, 7],
                total: 12
            }
        );
        assert_eq!(
            err.hint().unwrap(),
            "scan frames 4 and 7 again and add them to the others"
        );
    }

    #[test]
    fn join_names_a_foreign_frame() {
        let mut texts = frames(&[1; 50], A, 10);
        let other = frames(&[2; 30], B, 10);
        texts.insert(2, other[1].clone());
        assert_eq!(
            join_err(&texts, None),
            "frame 2 of 3 (text 3) belongs to bundle bbbb bbbb bbbb bbbb, \
             not to bundle aaaa aaaa aaaa aaaa, which most frames belong to"
        );
        assert_eq!(
            join_err(&texts, Some(B)),
            "frame 1 of 5 (text 1) belongs to bundle aaaa aaaa aaaa aaaa, \
             not to the expected bundle bbbb bbbb bbbb bbbb"
        );
        let err = join(&texts, None).unwrap_err();
        assert_eq!(
            err,
            QrError::Foreign {
                index: 2,
                total: 3,
                position: 3,
                found: B.into(),
                expected: A.into(),
                expected_by: ExpectedBy::Majority,
            }
        );
        assert_eq!(
            err.hint().unwrap(),
            "leave out the codes of bundle bbbb bbbb bbbb bbbb and scan again"
        );
        // On a tie, the bundle seen first is the one expected.
        let tie = owned(&[&other[0], &frames(&[1; 5], A, 10)[0]]);
        assert_eq!(
            join_err(&tie, None),
            "frame 1 of 1 (text 2) belongs to bundle aaaa aaaa aaaa aaaa, \
             not to bundle bbbb bbbb bbbb bbbb, which most frames belong to"
        );
    }

    #[test]
    fn join_names_a_total_that_disagrees() {
        let mut texts = frames(&[1; 30], A, 10);
        texts.push(frames(&[1; 40], A, 10)[3].clone());
        assert_eq!(
            join_err(&texts, None),
            "frame 4 (text 4) says bundle aaaa aaaa aaaa aaaa has 4 frames, \
             but frame 1 (text 1) says 3"
        );
    }

    #[test]
    fn join_names_an_index_out_of_range() {
        let mut texts = frames(&[1; 30], A, 10);
        texts.push(format!("ceremony-frame:1:4/3:{A}:AQ=="));
        assert_eq!(
            join_err(&texts, None),
            "frame 4 (text 4) of bundle aaaa aaaa aaaa aaaa is out of range: \
             the bundle has frames 1 to 3"
        );
        texts[3] = format!("ceremony-frame:1:0/3:{A}:AQ==");
        assert_eq!(
            join_err(&texts, None),
            "frame 0 (text 4) of bundle aaaa aaaa aaaa aaaa is out of range: \
             the bundle has frames 1 to 3"
        );
    }

    #[test]
    fn join_refuses_conflicting_duplicates() {
        let mut texts = frames(&[1; 30], A, 10);
        texts.push(format!("ceremony-frame:1:2/3:{A}:AQ=="));
        assert_eq!(
            join_err(&texts, None),
            "frame 2 of bundle aaaa aaaa aaaa aaaa appears twice with different contents \
             (texts 2 and 4)"
        );
    }

    #[test]
    fn join_names_a_malformed_text_by_position() {
        let good = frames(b"x", A, 10).remove(0);
        let cases: Vec<(String, &str)> = vec![
            (
                "https://example.org/".into(),
                "it does not start with \"ceremony-frame:\" (it starts \"https://example.org/\")",
            ),
            (
                format!("ceremony-frame:2:1/1:{A}:AA=="),
                "it has format version \"2\"; this tool reads version 1",
            ),
            (
                "ceremony-frame:1:1/1".into(),
                "it does not have the fields index/total, bundle hash and chunk",
            ),
            (
                format!("ceremony-frame:1:11:{A}:AA=="),
                "its index/total \"11\" has no '/'",
            ),
            (
                format!("ceremony-frame:1:01/1:{A}:AA=="),
                "its index \"01\" is not a decimal number of at most five digits",
            ),
            (
                format!("ceremony-frame:1:1/123456:{A}:AA=="),
                "its total \"123456\" is not a decimal number of at most five digits",
            ),
            (
                format!("ceremony-frame:1:1/+1:{A}:AA=="),
                "its total \"+1\" is not a decimal number of at most five digits",
            ),
            (
                format!("ceremony-frame:1:0/0:{A}:AA=="),
                "it says the bundle has 0 frames",
            ),
            (
                format!("ceremony-frame:1:1/1:{}:AA==", A.to_uppercase()),
                "its bundle hash is not 64 lowercase hex digits",
            ),
            (
                format!("ceremony-frame:1:1/1:{A}:AA=*"),
                "its chunk is not base64 (Invalid symbol 61, offset 2.)",
            ),
        ];
        for (text, reason) in cases {
            let input = vec![good.clone(), good.clone(), text.clone()];
            assert_eq!(
                join(&input, None).unwrap_err(),
                QrError::Malformed {
                    position: 3,
                    reason: reason.into()
                },
                "{text}"
            );
        }
        assert_eq!(
            join_err(&["nonsense".to_string()], None),
            "frame text 1 is malformed: it does not start with \"ceremony-frame:\" \
             (it starts \"nonsense\")"
        );
    }

    #[test]
    fn join_refuses_nothing_and_a_bad_expected_hash() {
        assert_eq!(join_err(&[], None), "no frame texts were given");
        assert_eq!(
            join_err(&frames(b"x", A, 10), Some("abc")),
            "the expected bundle hash \"abc\" is not 64 lowercase hex digits"
        );
    }

    #[test]
    fn frame_lists_read_as_english() {
        assert_eq!(frame_list(&[3]), "frame 3");
        assert_eq!(frame_list(&[3, 4]), "frames 3 and 4");
        assert_eq!(frame_list(&[1, 2, 3]), "frames 1-3");
        assert_eq!(frame_list(&[1, 2, 3, 5, 8, 9]), "frames 1-3, 5, 8 and 9");
    }

    #[test]
    fn a_png_decodes_to_its_text() {
        let text = single("root", A);
        let png = render_png(&text).unwrap();
        assert_eq!(decode_image("root.png", &png).unwrap(), vec![text]);
    }

    #[test]
    fn images_without_a_readable_code_are_named() {
        assert_eq!(
            decode_image("photo.jpg", b"not an image")
                .unwrap_err()
                .to_string(),
            "cannot read the image photo.jpg: The image format could not be determined"
        );
        let mut blank = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut blank),
            &[255; 64 * 64],
            64,
            64,
            image::ExtendedColorType::L8,
        )
        .unwrap();
        assert_eq!(
            decode_image("blank.png", &blank).unwrap_err().to_string(),
            "no QR code found in the image blank.png"
        );
    }

    #[test]
    fn a_text_too_long_for_one_code_is_refused() {
        assert_eq!(
            render_png(&"x".repeat(3000)).unwrap_err().to_string(),
            "cannot encode a text of 3000 bytes as one QR code at error correction level M: \
             data too long"
        );
    }

    /// A payload and a chunk size, with the frames' order shuffled.
    fn shuffled_frames() -> impl Strategy<Value = (Vec<u8>, Vec<String>)> {
        (prop::collection::vec(any::<u8>(), 0..3000), 1usize..400).prop_flat_map(
            |(payload, chunk)| {
                let texts = frames(&payload, A, chunk);
                (Just(payload), Just(texts).prop_shuffle())
            },
        )
    }

    /// Frame texts close to valid ones: each a valid frame with some bytes replaced.
    fn mangled_frames() -> impl Strategy<Value = Vec<String>> {
        let texts = frames(&[9; 300], A, 40);
        prop::collection::vec(
            (
                prop::sample::select(texts),
                prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..3),
            )
                .prop_map(|(text, edits)| {
                    let mut chars: Vec<char> = text.chars().collect();
                    for (at, c) in edits {
                        let i = at.index(chars.len());
                        chars[i] = c;
                    }
                    chars.into_iter().collect()
                }),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn join_inverts_frames((payload, texts) in shuffled_frames()) {
            prop_assert_eq!(join(&texts, None).unwrap(), (A.to_string(), payload));
        }

        #[test]
        fn unpack_inverts_pack(files in prop::collection::btree_map("[a-z]{1,8}(/[a-z0-9.]{1,8}){0,2}", prop::collection::vec(any::<u8>(), 0..200), 0..6)) {
            let files: Vec<PackedFile> = files
                .into_iter()
                .filter(|(path, _)| unsafe_path(path).is_none())
                .map(|(path, bytes)| PackedFile { path, bytes })
                .collect();
            prop_assert_eq!(unpack(&pack(&files)).unwrap(), files);
        }

        #[test]
        fn unpack_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = unpack(&bytes);
            let mut framed = PAYLOAD_MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = unpack(&framed);
            let _ = unpack(&raw_payload(&bytes));
        }

        #[test]
        fn unpack_never_panics_on_an_altered_payload(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut payload = pack(&sample());
            let i = at.index(payload.len());
            payload[i] = byte;
            let _ = unpack(&payload);
        }

        #[test]
        fn join_never_panics(texts in prop::collection::vec(".{0,120}", 0..6), expect in prop::option::of("[0-9a-f]{64}")) {
            let _ = join(&texts, expect.as_deref());
        }

        #[test]
        fn join_never_panics_on_mangled_frames(texts in mangled_frames()) {
            let _ = join(&texts, None);
            let _ = join(&texts, Some(B));
        }
    }
}

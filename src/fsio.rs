//! Files written the safe way: in full or not at all, never over key material or a
//! signed file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path} already exists; it is never overwritten (choose another output path)")]
    Exists { path: String },
    #[error(
        "{path} cannot be created: {reason} (choose an output path inside an existing directory)"
    )]
    NoPlace { path: String, reason: String },
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        path: path.display().to_string(),
        op,
        source,
    }
}

/// The temporary files this tool writes are named `.NAME.<16 hex digits>.tmp`,
/// beside the file they become. A run killed before the rename leaves one; the
/// next run over the same directory (a resume) recognises and removes it.
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    match rest.rsplit_once('.') {
        Some((base, rnd)) => {
            !base.is_empty()
                && rnd.len() == 16
                && rnd
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

/// Remove this tool's temporary files directly in `dir` (see [`is_temp_name`]);
/// with `deep`, in its subdirectories too. Returns how many were removed.
pub fn remove_temps(dir: &Path, deep: bool) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if kind.is_file() && is_temp_name(&name.to_string_lossy()) {
            fs::remove_file(entry.path())?;
            removed += 1;
        } else if deep && kind.is_dir() {
            removed += remove_temps(&entry.path(), true)?;
        }
    }
    if removed > 0
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(removed)
}

/// Remove the temporary files left beside `path` by an interrupted write of it.
pub fn remove_temps_for(path: &Path) -> std::io::Result<usize> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(0);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(".{name}.");
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let n = entry.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && is_temp_name(&n) && n.len() == prefix.len() + 20 {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).expect("system randomness");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", hex::encode(rnd)))
}

/// Create a fresh temporary file for `path` (see [`is_temp_name`]), exclusively.
pub fn create_temp(path: &Path, mode: u32) -> Result<(PathBuf, File), FileError> {
    let tmp = temp_path(path);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(path, "create temporary file"))?;
    Ok((tmp, f))
}

/// A temporary file holding `bytes`, not yet synced (the caller syncs the whole
/// directory tree later).
pub fn write_temp_unsynced(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, FileError> {
    let (tmp, mut f) = create_temp(path, mode)?;
    let result = f.write_all(bytes).map_err(io(path, "write"));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|_| tmp)
}

fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, FileError> {
    let (tmp, mut f) = create_temp(path, mode)?;
    let result = f
        .write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io(path, "write"));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|_| tmp)
}

/// Make the directory holding `path` durable (its entries: a rename, a link).
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Write a new file atomically. Fails if `path` exists, even if it appears while
/// we write (the final step is a hard link, which never replaces).
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    new_output(path)?;
    let tmp = write_temp(path, bytes, mode)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(FileError::Exists {
            path: path.display().to_string(),
        }),
        Err(e) => Err(io(path, "link into place")(e)),
    }
}

/// Replace a file atomically (temp file, fsync, rename). Callers decide whether a
/// replacement is allowed; see `commands::root` for the rules.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let tmp = write_temp(path, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path, "rename into place")(e)
    })?;
    sync_dir(path);
    Ok(())
}

/// The largest input file read whole (a metadata file, a key file, a manifest).
pub const MAX_INPUT: u64 = 256 << 20;

/// Open a file for reading only if it is a regular file. The open itself never
/// blocks (a FIFO or a device put where a file belongs would wait forever for a
/// writer), and anything else is refused with `InvalidInput`, naming what it is.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what}, not a regular file: refused"),
        ));
    }
    Ok(file)
}

/// Read a whole regular file of at most [`MAX_INPUT`] bytes (see [`open_regular`]).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?;
    if file.metadata()?.len() > MAX_INPUT {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_INPUT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(too_large());
    }
    Ok(bytes)
}

fn too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("larger than {} MiB: refused", MAX_INPUT >> 20),
    )
}

/// Check that `path` can become a new output: nothing stands there (not even a
/// dangling link), and the directory it goes in exists and is a directory.
pub fn new_output(path: &Path) -> Result<(), FileError> {
    if occupied(path) {
        return Err(FileError::Exists {
            path: path.display().to_string(),
        });
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let place = |reason: String| FileError::NoPlace {
        path: path.display().to_string(),
        reason,
    };
    match fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(place(format!("{} is not a directory", parent.display()))),
        Err(e) => Err(place(format!("{}: {e}", parent.display()))),
    }
}

/// Whether anything stands at `path`: a file, a directory, or a symbolic link,
/// dangling or not (`Path::exists` follows links and calls a dangling one absent,
/// so an output "not there" could not be created).
pub fn occupied(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_new(&p, b"one", 0o600).unwrap();
        let err = write_new(&p, b"two", 0o600).unwrap_err();
        assert!(matches!(err, FileError::Exists { .. }));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        // no temporary files left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_are_recognised_and_only_they_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let tmp = temp_path(&p);
        assert!(is_temp_name(&tmp.file_name().unwrap().to_string_lossy()));
        for other in [
            ".state.json.tmp",
            ".x.0123456789abcdeg.tmp",
            "a.0123456789abcdef.tmp",
            "..0123456789abcdef.tmp",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
        fs::write(&tmp, b"half").unwrap();
        fs::write(dir.path().join(".keep.tmp"), b"not ours").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(temp_path(&dir.path().join("sub/x")), b"").unwrap();
        assert_eq!(remove_temps_for(&dir.path().join("other.json")).unwrap(), 0);
        assert_eq!(remove_temps(dir.path(), false).unwrap(), 1);
        assert_eq!(remove_temps(dir.path(), true).unwrap(), 1);
        assert!(dir.path().join(".keep.tmp").exists());
    }
}

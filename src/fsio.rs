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

fn temp_path(path: &Path) -> PathBuf {
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).expect("system randomness");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", hex::encode(rnd)))
}

fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, FileError> {
    let tmp = temp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(path, "create temporary file"))?;
    let result = f
        .write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io(path, "write"));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|_| tmp)
}

fn sync_dir(path: &Path) {
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
    if path.exists() {
        return Err(FileError::Exists {
            path: path.display().to_string(),
        });
    }
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
}

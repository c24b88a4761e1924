//! Secrets: PINs and passphrases. They zeroize on drop, have no `Debug`, `Display`,
//! `Clone` or `Serialize`, and are exposed on exactly one line where they are used.

use std::path::Path;
use zeroize::Zeroizing;

/// A passphrase or PIN typed by a person (or read from an explicit test fixture).
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// Read a secret from a file: the first line, without its line ending.
    /// For rehearsals and tests; people type secrets at the terminal.
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        let bytes = Zeroizing::new(std::fs::read(path)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "secret file is not UTF-8")
        })?;
        let line = text.lines().next().unwrap_or("");
        Ok(Secret::new(line.to_owned()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret itself. Call this only where the bytes go to the token or KDF.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2-correct-horse".into());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }
}

//! Software keys with encrypted backups (rehearsals and tests): each backup written for its custodian and opened again to check it.

use super::*;

impl Engine<'_> {
    /// Generate a key in software, load it into its software token, write it
    /// encrypted to every backup recipient, and open each backup to check it
    /// holds the key. The plaintext key zeroizes when this returns.
    pub(super) fn generate_with_backups(
        &mut self,
        step: &Step,
        name: &str,
        path: &Path,
        alg: Algorithm,
        pass: &crate::secret::Secret,
    ) -> Result<PublicKey> {
        use crate::tokens::soft::{BackupIdentity, BackupRecipient, GeneratedKey, check_backup};
        let key = GeneratedKey::generate(alg)?;
        let public = key.public();
        key.load_into_soft_token(path, pass)?;
        let dir = self
            .state
            .bindings
            .backup_dir
            .clone()
            .expect("checked up front");
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let recipients = self
            .state
            .bindings
            .backups
            .get(name)
            .cloned()
            .unwrap_or_default();
        let mut written = Vec::new();
        for (i, r) in recipients.iter().enumerate() {
            let (to, who) = match parse_recipient(r).map_err(usage)? {
                Recipient::X25519(x) => (BackupRecipient::X25519(x), r.clone()),
                Recipient::Passphrase(label) => {
                    let secret = self.backup_secret(step, name, r, &label, true)?;
                    (
                        BackupRecipient::Passphrase(secret),
                        format!("a passphrase held by {label}"),
                    )
                }
            };
            let ciphertext = key.encrypt_backup(&to)?;
            let file = dir.join(format!("{name}-backup-{}.age", i + 1));
            fsio::write_new(&file, &ciphertext, 0o600)?;
            self.ui.say(&format!(
                "backup {} of {name} written for {who}: {}",
                i + 1,
                file.display()
            ));
            self.transcript.record(
                Some(&step.id),
                Some(&step.actor),
                &rec::BackupWritten {
                    key: name.to_owned(),
                    recipient: who.to_string(),
                    file: file.display().to_string(),
                    sha256: hex::encode(Sha256::digest(&ciphertext)),
                },
            )?;
            written.push((file, ciphertext, r.clone()));
        }
        drop(key);
        for (file, ciphertext, r) in written {
            let identity = match parse_recipient(&r).map_err(usage)? {
                Recipient::X25519(_) => {
                    BackupIdentity::X25519(self.backup_secret(step, name, &r, &r, false)?)
                }
                Recipient::Passphrase(label) => {
                    BackupIdentity::Passphrase(self.backup_secret(step, name, &r, &label, false)?)
                }
            };
            check_backup(&ciphertext, &identity, &public, &file.display().to_string())?;
            self.ui.say(&format!(
                "backup {} opens and holds the key",
                file.display()
            ));
            self.transcript.record(
                Some(&step.id),
                Some(&step.actor),
                &rec::BackupVerified {
                    key: name.to_owned(),
                    file: file.display().to_string(),
                },
            )?;
        }
        Ok(public)
    }

    /// A custodian's backup passphrase (new: asked twice) or age identity.
    pub(super) fn backup_secret(
        &mut self,
        step: &Step,
        name: &str,
        recipient: &str,
        custodian: &str,
        new: bool,
    ) -> Result<crate::secret::Secret> {
        let key_token = self.state.bindings.tokens[name].clone();
        let what = if recipient.starts_with("passphrase:") {
            if new {
                format!(
                    "backup:{name}:{recipient} (custodian {custodian}: choose the backup passphrase)"
                )
            } else {
                format!(
                    "backup:{name}:{recipient} (custodian {custodian}: type it again to open the backup)"
                )
            }
        } else {
            format!("backup:{name}:{recipient} (the custodian's age identity, to open the backup)")
        };
        self.ui
            .secret(
                &step.id,
                &SecretRequest {
                    token: format!("backup:{name}:{recipient}"),
                    kind: SecretKind::Passphrase,
                    status: Some(what),
                    // Backups exist only for software-token keys (rehearsals, tests).
                    test_token: key_token.starts_with("soft:"),
                    confirm: new,
                },
            )
            .map_err(ui_err)
    }
}

/// A backup recipient as given on the command line.
pub(super) enum Recipient {
    X25519(Box<age::x25519::Recipient>),
    Passphrase(String),
}

pub(super) fn parse_recipient(r: &str) -> std::result::Result<Recipient, String> {
    if let Some(label) = r.strip_prefix("passphrase:") {
        if label.is_empty() {
            return Err("--backup NAME=passphrase:CUSTODIAN needs the custodian's name".into());
        }
        return Ok(Recipient::Passphrase(label.to_owned()));
    }
    r.parse::<age::x25519::Recipient>()
        .map(|x| Recipient::X25519(Box::new(x)))
        .map_err(|_| format!("backup recipient {r:?} is neither an age X25519 recipient (age1…) nor passphrase:CUSTODIAN"))
}

//! `ceremony keystore` (online machine): hand a key of the online key store to the
//! publisher's own tools.

use super::passphrase;
use crate::cli::{ExportFormat, KeystoreExportArgs, SecretArgs};
use crate::error::{Error, Result};
use crate::online::keystore::{KeyStore, ONLINE_ROLES, key_object};
use crate::tokens::soft::{ExportForm, SoftToken};
use crate::tuf::key::key_id;
use crate::tuf::metadata::Flavour;

pub fn export(args: KeystoreExportArgs) -> Result<()> {
    if !ONLINE_ROLES.contains(&args.role.as_str()) {
        return Err(Error::Usage(format!(
            "--role {:?}: the key store holds the online roles' keys only (targets, snapshot, timestamp)",
            args.role
        )));
    }
    crate::fsio::new_output(&args.out)?;
    let flavour = match args.format {
        ExportFormat::Notary => Flavour::Notary,
        ExportFormat::Pkcs8 => Flavour::Tuf,
    };
    let store = KeyStore::new(&args.keystore);
    let keys = store.keys(&args.repository, &args.role)?;
    // Both IDs of each key: a person may hold either (Notary's or TUF's).
    let ids: Vec<(String, String)> = keys
        .iter()
        .map(|(_, public)| {
            (
                key_id(&key_object(public, Flavour::Notary), Flavour::Notary),
                key_id(&key_object(public, Flavour::Tuf), Flavour::Tuf),
            )
        })
        .collect();
    let listing = || {
        ids.iter()
            .map(|(notary, tuf)| format!("\n  {} key: Notary ID {notary}, TUF ID {tuf}", args.role))
            .collect::<String>()
    };
    let chosen: Vec<usize> = match &args.key {
        Some(given) => {
            let given = given.to_ascii_lowercase();
            if given.len() < 8 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Usage(format!(
                    "--key {given:?}: give the key ID, or at least its first 8 hex digits"
                )));
            }
            (0..ids.len())
                .filter(|&i| ids[i].0.starts_with(&given) || ids[i].1.starts_with(&given))
                .collect()
        }
        None => (0..ids.len()).collect(),
    };
    let i = match chosen.as_slice() {
        [i] => *i,
        [] if keys.is_empty() => {
            return Err(Error::Usage(format!(
                "the key store {} holds no {} key for {}",
                args.keystore.display(),
                args.role,
                args.repository
            )));
        }
        [] => {
            return Err(Error::Usage(format!(
                "no {} key of {} matches --key {}; the store holds:{}",
                args.role,
                args.repository,
                args.key.as_deref().unwrap_or_default(),
                listing()
            )));
        }
        _ => {
            return Err(Error::Usage(format!(
                "the store holds {} {} keys for {}: choose one with --key ID{}",
                chosen.len(),
                args.role,
                args.repository,
                listing()
            )));
        }
    };
    let (path, _) = &keys[i];
    let id = match flavour {
        Flavour::Notary => &ids[i].0,
        Flavour::Tuf => &ids[i].1,
    };
    let store_pass = passphrase(
        "the online key store",
        &SecretArgs {
            passphrase_file: args.passphrase_file.clone(),
            pin_file: None,
        },
        false,
    )?;
    let key = SoftToken::open(path, &store_pass)?;
    drop(store_pass);
    let new_pass = passphrase(
        &format!("the exported file {}", args.out.display()),
        &SecretArgs {
            passphrase_file: args.new_passphrase_file.clone(),
            pin_file: None,
        },
        true,
    )?;
    if new_pass.expose_secret().chars().count() < 8 {
        return Err(Error::Usage(
            "the new passphrase is shorter than 8 characters: the file would be easy to open; \
             nothing was written"
                .into(),
        ));
    }
    let form = match flavour {
        Flavour::Notary => ExportForm::Notary {
            role: &args.role,
            gun: &args.repository,
            key_id: id,
        },
        Flavour::Tuf => ExportForm::Pkcs8,
    };
    let pem = key.export_pem(&form, &new_pass)?;
    crate::fsio::write_new(&args.out, pem.as_bytes(), 0o600)?;
    println!(
        "wrote {}: the {} key of {} ({} key ID {id}), encrypted to the new passphrase",
        args.out.display(),
        args.role,
        args.repository,
        flavour.name()
    );
    match flavour {
        Flavour::Notary => println!(
            "  import it with: notary key import {} (publish then asks for the new passphrase)",
            args.out.display()
        ),
        Flavour::Tuf => println!(
            "  an encrypted PKCS#8 PEM (PBKDF2-HMAC-SHA256, AES-256-CBC): OpenSSL, Python's \
             cryptography and TUF tools read it with the new passphrase"
        ),
    }
    Ok(())
}

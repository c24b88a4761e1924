//! `ceremony rehearse`: the full ceremonies, end to end, on disposable software
//! keys in a temporary place, so a team can practise. It runs the shipped
//! `root-init` script (three root keys, 2-of-3), then `root-rotate` (root key 3
//! replaced by a new one, cross-signed), and exports both.

use super::flavour;
use super::run::apply_overrides;
use crate::ceremony::engine::{Bindings, Engine};
use crate::ceremony::ui::{Answers, OperatorUi, ScriptedUi, TerminalUi};
use crate::cli::RehearseArgs;
use crate::error::{Error, Result};
use crate::fsio;
use crate::keys::Algorithm;
use crate::tokens::pkcs11::registry::Registry;
use crate::tokens::soft::SoftToken;
use crate::tuf::key::{notary_key, tuf_key};
use crate::tuf::metadata::Flavour;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT_INIT: &str = include_str!("../../ceremony-scripts/root-init.toml");
const ROOT_ROTATE: &str = include_str!("../../ceremony-scripts/root-rotate.toml");

fn random_passphrase() -> String {
    let mut b = zeroize::Zeroizing::new([0u8; 24]);
    getrandom::fill(b.as_mut()).expect("system randomness");
    hex::encode(&b[..])
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

pub fn run(args: RehearseArgs, reg: &Registry) -> Result<()> {
    let fl = flavour(args.flavour);
    if let Some(out) = &args.out
        && fsio::occupied(out)
    {
        return Err(Error::File(fsio::FileError::Exists {
            path: out.display().to_string(),
        }));
    }
    let work = tempfile::Builder::new()
        .prefix("ceremony-rehearsal")
        .tempdir()
        .map_err(|e| Error::Internal(format!("temporary directory: {e}")))?;
    let out: PathBuf = match &args.out {
        Some(o) => o.clone(),
        None => work.path().join("export"),
    };
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    println!(
        "REHEARSAL: disposable software keys in a temporary directory; nothing here is for production."
    );
    // Disposable keys: a light passphrase key derivation (they are destroyed with
    // the temporary directory when the rehearsal ends).
    crate::tokens::soft::use_rehearsal_work_factor();
    println!(
        "REHEARSAL: its key files use a light passphrase key derivation (scrypt 2^{}); \
         keys made with `ceremony key generate` keep age's default",
        crate::tokens::soft::REHEARSAL_WORK_FACTOR
    );
    let token = |name: &str| format!("soft:{}", work.path().join(format!("{name}.age")).display());
    let mut secrets = BTreeMap::new();
    for name in ["root-1", "root-2", "root-3", "root-new"] {
        secrets.insert(token(name), random_passphrase());
    }
    // The online side's keys, as the request bundle would carry them.
    let online_pass = crate::secret::Secret::new(random_passphrase());
    let mut keyfiles = BTreeMap::new();
    for role in ["targets", "snapshot", "timestamp"] {
        let path = work.path().join(format!("{role}.age"));
        let public = SoftToken::generate(&path, Algorithm::EcdsaP256, &online_pass)?;
        let key = match fl {
            Flavour::Tuf => tuf_key(&public),
            Flavour::Notary => notary_key(&public),
        };
        let file = work.path().join(format!("{role}.json"));
        fsio::write_new(
            &file,
            &serde_json::to_vec_pretty(&key).expect("serialises"),
            0o644,
        )?;
        keyfiles.insert(role.to_owned(), file);
    }
    let mut set = BTreeMap::new();
    set.insert("flavour".to_owned(), fl.name().to_owned());
    set.insert("repository".to_owned(), args.gun.clone());

    let mut ui: Box<dyn OperatorUi> = if args.yes {
        Box::new(ScriptedUi::new(
            Answers::rehearsal(secrets),
            std::io::stdout(),
        ))
    } else {
        if !console::Term::stderr().is_term() {
            return Err(Error::Usage(
                "an interactive rehearsal needs a terminal; run `ceremony rehearse --yes` for an unattended one".into(),
            ));
        }
        Box::new(TerminalUi::default())
    };

    println!("\n=== ceremony 1 of 2: root-init ===");
    let init_out = out.join("root-init");
    let init = apply_overrides(ROOT_INIT, &set, "root-init.toml")?;
    let mut tokens = BTreeMap::new();
    for name in ["root-1", "root-2", "root-3"] {
        tokens.insert(name.to_owned(), token(name));
    }
    let bindings = Bindings {
        tokens,
        keyfiles,
        current: None,
        revoke: Vec::new(),
        out: init_out.clone(),
        allow_network: true,
        targets: None,
        trusted: None,
        approved_script: Some(approved(ROOT_INIT, &set)),
        ..Default::default()
    };
    let h1 = Engine::start(
        &init,
        "root-init.toml",
        &work.path().join("run-init"),
        bindings,
        ui.as_mut(),
        reg,
    )?
    .run()?;

    println!("\n=== ceremony 2 of 2: root-rotate (root key 3 retires, a new key joins) ===");
    let current = crate::commands::read_root(&init_out.join("root.json"))?;
    let root3 = SoftToken::read_public(&work.path().join("root-3.age"))?;
    let retiring = current.root().roles["root"]
        .keyids
        .iter()
        .find(|id| {
            crate::tuf::key::decode_key(&current.root().keys[*id], fl)
                .is_ok_and(|d| d.public == root3)
        })
        .cloned()
        .ok_or_else(|| Error::Internal("root key 3 is not in the new root".into()))?;
    let rotate = apply_overrides(ROOT_ROTATE, &set, "root-rotate.toml")?;
    let mut tokens = BTreeMap::new();
    for name in ["root-1", "root-2", "root-new"] {
        tokens.insert(name.to_owned(), token(name));
    }
    let rotate_out = out.join("root-rotate");
    let bindings = Bindings {
        tokens,
        keyfiles: BTreeMap::new(),
        current: Some(init_out.clone()),
        revoke: vec![retiring.clone()],
        out: rotate_out.clone(),
        allow_network: true,
        targets: None,
        // The root the first ceremony just made is the one the custodians trust.
        trusted: Some(init_out.join("1.root.json")),
        approved_script: Some(approved(ROOT_ROTATE, &set)),
        ..Default::default()
    };
    let h2 = Engine::start(
        &rotate,
        "root-rotate.toml",
        &work.path().join("run-rotate"),
        bindings,
        ui.as_mut(),
        reg,
    )?
    .run()?;

    println!("\nrehearsal complete");
    println!("  root-init transcript hash:   {h1}");
    println!("  root-rotate transcript hash: {h2}");
    println!(
        "  retired root key: {}",
        crate::tuf::verify::fingerprint(&retiring)
    );
    if args.out.is_some() {
        println!(
            "  export: {} (the chain 1 -> 2 is in {})",
            out.display(),
            rotate_out.display()
        );
        println!("  check it: ceremony verify {}", rotate_out.display());
    }
    println!("the temporary keys are destroyed now.");
    Ok(())
}

/// A built-in script as shipped, with the parameters the rehearsal sets over it.
fn approved(text: &str, set: &BTreeMap<String, String>) -> crate::ceremony::engine::ApprovedScript {
    use sha2::Digest;
    crate::ceremony::engine::ApprovedScript {
        text: text.to_owned(),
        sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
        overrides: set.clone(),
    }
}

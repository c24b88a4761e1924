//! `ceremony rehearse`: a complete practice ceremony on disposable software keys,
//! in a temporary directory: generate three root keys and the online role keys,
//! create a 2-of-3 root, sign it, rotate one root key out (cross-signed by the old
//! root), verify the chain, and export every `N.root.json`.

use super::flavour;
use crate::cli::RehearseArgs;
use crate::error::{Error, Result};
use crate::fsio;
use crate::keys::{Algorithm, PublicKey};
use crate::secret::Secret;
use crate::tokens::Signer;
use crate::tokens::soft::SoftToken;
use crate::tuf::document::RootDocument;
use crate::tuf::key::{key_id, notary_key, notary_x509_key, tuf_key};
use crate::tuf::metadata::{Flavour, Key, RoleKeys, Root, SPEC_VERSION};
use crate::tuf::notary::build_root_certificate;
use crate::tuf::sign::sign_root;
use crate::tuf::time::format_expires;
use crate::tuf::verify::{ChainOptions, verify_chain};
use chrono::Utc;
use serde_json::Map;
use std::collections::BTreeMap;

fn random_passphrase() -> Secret {
    let mut b = zeroize::Zeroizing::new([0u8; 24]);
    getrandom::fill(b.as_mut()).expect("system randomness");
    Secret::new(hex::encode(&b[..]))
}

fn root_key(fl: Flavour, gun: &str, signer: &mut dyn Signer) -> Result<Key> {
    match fl {
        Flavour::Tuf => Ok(tuf_key(signer.public_key())),
        Flavour::Notary => {
            let now = Utc::now();
            let cert =
                build_root_certificate(gun, signer, now, now + chrono::Duration::days(3650))?;
            Ok(notary_x509_key(&cert.pem))
        }
    }
}

fn online_key(fl: Flavour, public: &PublicKey) -> Key {
    match fl {
        Flavour::Tuf => tuf_key(public),
        Flavour::Notary => notary_key(public),
    }
}

fn role(keyids: Vec<String>, threshold: u64) -> RoleKeys {
    RoleKeys {
        keyids,
        threshold,
        unknown: Map::new(),
    }
}

pub fn run(args: RehearseArgs) -> Result<()> {
    let fl = flavour(args.flavour);
    if !args.yes {
        return Err(Error::Usage(
            "the interactive rehearsal arrives with the guided ceremony; run `ceremony rehearse --yes`".into(),
        ));
    }
    if let Some(out) = &args.out
        && out.exists()
    {
        return Err(Error::File(fsio::FileError::Exists {
            path: out.display().to_string(),
        }));
    }
    let work =
        tempfile::tempdir().map_err(|e| Error::Internal(format!("temporary directory: {e}")))?;
    let pass = random_passphrase();
    let root_alg = match fl {
        Flavour::Tuf => Algorithm::Ed25519,
        Flavour::Notary => Algorithm::EcdsaP256,
    };
    println!(
        "REHEARSAL — disposable software keys in a temporary directory; nothing here is for production."
    );
    println!("step 1: generate four root keys and the online role keys");
    let mut tokens = Vec::new();
    for i in 1..=4 {
        let path = work.path().join(format!("root-{i}.age"));
        SoftToken::generate(&path, root_alg, &pass)?;
        tokens.push(SoftToken::open(&path, &pass)?);
        println!("  root key {i}: {}", tokens[i - 1].describe());
    }
    let mut online = BTreeMap::new();
    for r in ["targets", "snapshot", "timestamp"] {
        let path = work.path().join(format!("{r}.age"));
        let public = SoftToken::generate(&path, Algorithm::EcdsaP256, &pass)?;
        online.insert(r, online_key(fl, &public));
    }
    let expires = format_expires(Utc::now() + chrono::Duration::days(365));
    let mut keys = BTreeMap::new();
    let mut root_ids = Vec::new();
    for t in tokens.iter_mut().take(3) {
        let k = root_key(fl, &args.gun, t)?;
        let id = key_id(&k, fl);
        keys.insert(id.clone(), k);
        root_ids.push(id);
    }
    let mut roles = BTreeMap::new();
    roles.insert("root".to_owned(), role(root_ids.clone(), 2));
    for (r, k) in &online {
        let id = key_id(k, fl);
        keys.insert(id.clone(), k.clone());
        roles.insert((*r).to_owned(), role(vec![id], 1));
    }
    let root = Root {
        type_name: fl.type_name("root"),
        spec_version: (fl == Flavour::Tuf).then(|| SPEC_VERSION.to_owned()),
        consistent_snapshot: Some(false),
        version: 1,
        expires: expires.clone(),
        keys,
        roles,
        unknown: Map::new(),
    };
    let mut v1 = RootDocument::draft(root, "1.root.json")?;
    println!("step 2: root version 1, 2-of-3 root keys, expires {expires}");
    for t in tokens.iter_mut().take(2) {
        let id = sign_root(&mut v1, t, None)?;
        println!("  signed by {id}");
    }
    println!("step 3: rotate root key 3 out, root key 4 in (version 2)");
    let new_key = root_key(fl, &args.gun, &mut tokens[3])?;
    let new_id = key_id(&new_key, fl);
    let old_id = root_ids[2].clone();
    let mut v2 = v1.clone();
    v2.name = "2.root.json".into();
    v2.edit(|r| {
        r.version = 2;
        r.keys.remove(&old_id);
        r.keys.insert(new_id.clone(), new_key);
        let root_role = r.roles.get_mut("root").expect("root role");
        root_role.keyids.retain(|k| k != &old_id);
        root_role.keyids.push(new_id.clone());
    })?;
    // Keys 1 and 2 sign for both versions; key 4 adds its own signature.
    for i in [0, 1, 3] {
        let id = sign_root(&mut v2, &mut tokens[i], Some(&v1))?;
        println!("  signed by {id}");
    }
    println!("step 4: verify the chain 1 → 2");
    let options = ChainOptions {
        now: Utc::now(),
        gun: (fl == Flavour::Notary).then(|| args.gun.clone()),
    };
    let report = verify_chain(None, vec![v1.clone(), v2.clone()], &options)?;
    super::verify::print_report(&report);
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|e| Error::Read {
            path: out.display().to_string(),
            reason: e.to_string(),
        })?;
        for doc in [&v1, &v2] {
            let path = out.join(format!("{}.root.json", doc.version()));
            fsio::write_new(&path, &doc.to_json()?, 0o644)?;
            println!("  wrote {}", path.display());
        }
        fsio::write_new(&out.join("root.json"), &v2.to_json()?, 0o644)?;
    }
    println!("rehearsal complete: the temporary keys are destroyed now.");
    Ok(())
}

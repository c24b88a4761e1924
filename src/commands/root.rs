//! `ceremony root …`: the building blocks of a root ceremony, as a responder
//! would script them. Unsigned roots are edited in place; a signed root is never
//! overwritten by an edit (write the edit with --out), and signing in place only
//! ever adds a signature.

use super::{flavour, open_signer, read_file, read_root, write_root_new};
use crate::cli::{
    AddKeyArgs, CreateArgs, EditArgs, InspectArgs, RemoveKeyArgs, SecretArgs, SetExpiryArgs,
    SetThresholdArgs, SignArgs,
};
use crate::error::{Error, Result};
use crate::fsio;
use crate::tokens::pkcs11::registry::Registry;
use crate::tokens::public_key as token_public_key;
use crate::tuf::document::RootDocument;
use crate::tuf::key::{decode_key, key_id, notary_key, notary_x509_key, tuf_key};
use crate::tuf::metadata::{Flavour, Key, RoleKeys, Root, SPEC_VERSION, TOP_LEVEL_ROLES};
use crate::tuf::notary::build_root_certificate;
use crate::tuf::sign::sign_root;
use crate::tuf::time::{format_expires, parse_expires, parse_user_time};
use crate::tuf::verify::{SignatureStatus, check_by_previous, check_self, short};
use chrono::{DateTime, Utc};
use serde_json::Map;
use std::collections::BTreeMap;
use std::path::Path;

fn check_role_name(role: &str) -> Result<()> {
    if TOP_LEVEL_ROLES.contains(&role) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "unknown role {role:?}; root lists root, targets, snapshot and timestamp"
        )))
    }
}

/// Resolve a key given on the command line into the key object the root lists.
/// Notary root keys become a certificate signed by the key itself (on its token).
fn resolve_key(
    spec: &str,
    role: &str,
    fl: Flavour,
    gun: Option<&str>,
    root_expires: DateTime<Utc>,
    secrets: &SecretArgs,
    reg: &Registry,
) -> Result<Key> {
    if let Some(path) = spec.strip_prefix("keyfile:") {
        let bytes = read_file(Path::new(path))?;
        let key = crate::tuf::key::read_key_object(&bytes, fl).map_err(|reason| Error::Read {
            path: path.into(),
            reason,
        })?;
        if fl == Flavour::Notary && role == "root" && key.keytype != "ecdsa-x509" {
            return Err(Error::Usage(format!(
                "{path}: Notary root keys must be ecdsa-x509 certificates; give the root key's token instead"
            )));
        }
        return Ok(key);
    }
    match (fl, role) {
        (Flavour::Tuf, _) => Ok(tuf_key(&token_public_key(spec, reg)?)),
        (Flavour::Notary, "root") => {
            let gun = gun.ok_or_else(|| {
                Error::Usage("Notary root keys carry the repository name: give --gun".into())
            })?;
            let mut signer = open_signer(spec, secrets, reg)?;
            let now = Utc::now();
            let ten_years = now + chrono::Duration::days(3650);
            let not_after = if root_expires > ten_years {
                root_expires
            } else {
                ten_years
            };
            let cert = build_root_certificate(gun, signer.as_mut(), now, not_after)?;
            Ok(notary_x509_key(&cert.pem))
        }
        (Flavour::Notary, _) => Ok(notary_key(&token_public_key(spec, reg)?)),
    }
}

fn split_pair<'a>(s: &'a str, what: &str) -> Result<(&'a str, &'a str)> {
    s.split_once('=')
        .ok_or_else(|| Error::Usage(format!("{what} {s:?} must look like ROLE=VALUE")))
}

pub fn create(args: CreateArgs, reg: &Registry) -> Result<()> {
    let fl = flavour(args.flavour);
    crate::fsio::new_output(&args.out)?;
    if args.version == 0 {
        return Err(Error::Usage("--version must be at least 1".into()));
    }
    if fl == Flavour::Notary && args.gun.is_none() {
        return Err(Error::Usage(
            "the Notary flavour needs --gun (the repository name)".into(),
        ));
    }
    if fl == Flavour::Notary && args.consistent_snapshot {
        return Err(Error::Usage("Notary has no consistent snapshots".into()));
    }
    let expires = parse_user_time(&args.expires).map_err(Error::Usage)?;
    if expires <= Utc::now() {
        return Err(Error::Usage(format!(
            "--expires {} is in the past",
            args.expires
        )));
    }
    let mut keys = BTreeMap::new();
    let mut roles: BTreeMap<String, RoleKeys> = BTreeMap::new();
    for spec in &args.keys {
        let (role, key_spec) = split_pair(spec, "--key")?;
        check_role_name(role)?;
        let key = resolve_key(
            key_spec,
            role,
            fl,
            args.gun.as_deref(),
            expires,
            &args.secrets,
            reg,
        )?;
        let id = key_id(&key, fl);
        keys.insert(id.clone(), key);
        let entry = roles.entry(role.to_owned()).or_insert_with(|| RoleKeys {
            keyids: Vec::new(),
            threshold: 1,
            unknown: Map::new(),
        });
        if entry.keyids.contains(&id) {
            return Err(Error::Usage(format!(
                "--key {spec}: that key is already listed for {role}"
            )));
        }
        entry.keyids.push(id);
    }
    for spec in &args.thresholds {
        let (role, n) = split_pair(spec, "--threshold")?;
        check_role_name(role)?;
        let n: u64 = n
            .parse()
            .map_err(|_| Error::Usage(format!("--threshold {spec}: {n:?} is not a number")))?;
        roles
            .get_mut(role)
            .ok_or_else(|| Error::Usage(format!("--threshold {spec}: role {role} has no keys")))?
            .threshold = n;
    }
    let root = Root {
        type_name: fl.type_name("root"),
        spec_version: (fl == Flavour::Tuf).then(|| SPEC_VERSION.to_owned()),
        consistent_snapshot: Some(args.consistent_snapshot),
        version: args.version,
        expires: format_expires(expires),
        keys,
        roles,
        unknown: Map::new(),
    };
    let name = args.out.display().to_string();
    let doc = RootDocument::draft(root, &name)?;
    doc.validate()?;
    write_root_new(&args.out, &doc)?;
    println!(
        "created {name}: {fl} root version {}, expires {}",
        doc.version(),
        doc.root().expires
    );
    Ok(())
}

/// Apply an edit and save it by the rules: in place only when unsigned.
fn save_edit(edit: &EditArgs, mut doc: RootDocument, f: impl FnOnce(&mut Root)) -> Result<()> {
    let signatures = doc.signatures.len();
    doc.edit(f)?;
    match &edit.out {
        Some(out) => {
            doc.name = out.display().to_string();
            write_root_new(out, &doc)?;
            println!("wrote {}", out.display());
        }
        None if signatures > 0 => {
            return Err(Error::Usage(format!(
                "{} carries {signatures} signature(s) that this edit would drop; \
                 signed files are never overwritten: write the edit with --out NEW_FILE",
                edit.file.display()
            )));
        }
        None => {
            fsio::replace(&edit.file, &doc.to_json()?, 0o644)?;
            println!("updated {}", edit.file.display());
        }
    }
    Ok(())
}

pub fn add_key(args: AddKeyArgs, reg: &Registry) -> Result<()> {
    check_role_name(&args.role)?;
    let doc = read_root(&args.edit.file)?;
    let fl = doc.flavour();
    let expires = parse_expires(&doc.root().expires, fl).expect("validated on load");
    let key = resolve_key(
        &args.key,
        &args.role,
        fl,
        args.gun.as_deref(),
        expires,
        &args.edit.secrets,
        reg,
    )?;
    let id = key_id(&key, fl);
    if doc.root().roles[&args.role].keyids.contains(&id) {
        return Err(Error::Usage(format!(
            "key {} is already a {} key in {}",
            short(&id),
            args.role,
            args.edit.file.display()
        )));
    }
    let role = args.role.clone();
    save_edit(&args.edit, doc, move |root| {
        root.keys.insert(id.clone(), key);
        root.roles.get_mut(&role).expect("checked").keyids.push(id);
    })
}

fn resolve_keyid(doc: &RootDocument, role: &str, given: &str) -> Result<String> {
    let root = doc.root();
    crate::tuf::edit::resolve_keyid(
        &root.keys,
        &root.roles[role].keyids,
        doc.flavour(),
        role,
        given,
    )
    .map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; `ceremony root inspect` lists its keys",
            doc.name
        ))
    })
}

pub fn remove_key(args: RemoveKeyArgs) -> Result<()> {
    check_role_name(&args.role)?;
    let doc = read_root(&args.edit.file)?;
    let id = resolve_keyid(&doc, &args.role, &args.keyid)?;
    let role = args.role.clone();
    save_edit(&args.edit, doc, move |root| {
        root.roles
            .get_mut(&role)
            .expect("checked")
            .keyids
            .retain(|k| k != &id);
        if !root.roles.values().any(|r| r.keyids.contains(&id)) {
            root.keys.remove(&id);
        }
    })
}

pub fn set_threshold(args: SetThresholdArgs) -> Result<()> {
    check_role_name(&args.role)?;
    let doc = read_root(&args.edit.file)?;
    let role = args.role.clone();
    let n = args.threshold;
    save_edit(&args.edit, doc, move |root| {
        root.roles.get_mut(&role).expect("checked").threshold = n;
    })
}

pub fn set_expiry(args: SetExpiryArgs) -> Result<()> {
    let doc = read_root(&args.edit.file)?;
    let expires = parse_user_time(&args.expires).map_err(Error::Usage)?;
    if expires <= Utc::now() {
        return Err(Error::Usage(format!(
            "expiry {} is in the past",
            args.expires
        )));
    }
    save_edit(&args.edit, doc, move |root| {
        root.expires = format_expires(expires)
    })
}

pub fn bump_version(args: EditArgs) -> Result<()> {
    let doc = read_root(&args.file)?;
    save_edit(&args, doc, |root| root.version += 1)
}

pub fn sign(args: SignArgs, reg: &Registry) -> Result<()> {
    let mut doc = read_root(&args.file)?;
    let original = doc.canonical_signed()?;
    let before = doc.signatures.clone();
    let previous = args.previous.as_deref().map(read_root).transpose()?;
    if let Some(prev) = &previous
        && prev.version() + 1 != doc.version()
    {
        return Err(Error::Usage(format!(
            "--previous {} is version {}, but {} is version {}; the previous root must be version {}",
            prev.name,
            prev.version(),
            doc.name,
            doc.version(),
            doc.version().saturating_sub(1)
        )));
    }
    if let Some(prev) = &previous {
        // A previous root authorises cross-signatures only if it is itself validly
        // signed by its own root keys.
        let own = check_self(prev)?;
        if !own.met() {
            return Err(Error::Usage(format!(
                "--previous {}: it has {} valid signature(s) from its own root keys, below its threshold of {}; \
                 a previous root must be a verified root (check it with `ceremony verify`)",
                prev.name,
                own.valid.len(),
                own.threshold
            )));
        }
    }
    // A draft made elsewhere (a tuf-on-ci signing event, another site): what it
    // changes against the root it continues, before the key signs it.
    if let Some(prev) = &previous {
        println!(
            "{} against version {} (read it before the key signs):",
            doc.name,
            prev.version()
        );
        for line in crate::ceremony::engine::summary(&doc, Some(prev), "").lines() {
            if !line.is_empty() {
                println!("  {line}");
            }
        }
    }
    let mut signer = open_signer(&args.token, &args.secrets, reg)?;
    let keyid = sign_root(&mut doc, signer.as_mut(), previous.as_ref())?;
    // Signing only adds: same content, every earlier signature kept.
    assert_eq!(doc.canonical_signed()?, original);
    assert_eq!(doc.signatures[..before.len()], before[..]);
    match &args.out {
        Some(out) => write_root_new(out, &doc)?,
        None => fsio::replace(&args.file, &doc.to_json()?, 0o644)?,
    }
    println!(
        "signed {} version {} with key {} on {}",
        args.out.as_deref().unwrap_or(&args.file).display(),
        doc.version(),
        keyid,
        signer.describe()
    );
    let own = check_self(&doc)?;
    println!(
        "  its own root role: {} of {} required signature(s)",
        own.valid.len(),
        own.threshold
    );
    if let Some(prev) = &previous {
        let by_prev = check_by_previous(&doc, prev)?;
        println!(
            "  version {}'s root role: {} of {} required signature(s)",
            prev.version(),
            by_prev.valid.len(),
            by_prev.threshold
        );
    }
    Ok(())
}

pub fn inspect(args: InspectArgs) -> Result<()> {
    let doc = read_root(&args.file)?;
    print!("{}", describe(&doc));
    Ok(())
}

/// A readable summary of a root: what a witness needs to hear before signing.
pub fn describe(doc: &RootDocument) -> String {
    use std::fmt::Write;
    let root = doc.root();
    let fl = doc.flavour();
    let mut s = String::new();
    let _ = writeln!(s, "{}", doc.name);
    let _ = writeln!(s, "  flavour:  {fl}");
    let _ = writeln!(s, "  version:  {}", root.version);
    let _ = writeln!(s, "  expires:  {}", root.expires);
    if let Some(v) = &root.spec_version {
        let _ = writeln!(s, "  spec:     {v}");
    }
    let _ = writeln!(
        s,
        "  consistent_snapshot: {}",
        root.consistent_snapshot.unwrap_or(false)
    );
    let own = check_self(doc).ok();
    let signed_by: Vec<&str> = own
        .as_ref()
        .map(|c| c.valid.iter().map(String::as_str).collect())
        .unwrap_or_default();
    for role in TOP_LEVEL_ROLES {
        let r = &root.roles[role];
        let _ = writeln!(
            s,
            "  role {role}: threshold {} of {} key(s)",
            r.threshold,
            r.keyids.len()
        );
        for id in &r.keyids {
            let key = &root.keys[id];
            let what = decode_key(key, fl)
                .map(|d| {
                    let mut w = format!("{} {}", key.keytype, d.public.algorithm());
                    if let Some(c) = d.certificate {
                        w.push_str(&format!(
                            ", certificate CN={} valid until {}",
                            c.common_name,
                            format_expires(c.not_after)
                        ));
                    }
                    w
                })
                .unwrap_or_else(|e| e);
            let mark = if role == "root" && signed_by.contains(&id.as_str()) {
                "  [signed]"
            } else {
                ""
            };
            let _ = writeln!(s, "    {id}  {what}{mark}");
        }
    }
    let _ = writeln!(s, "  signatures: {}", doc.signatures.len());
    if let Some(c) = own {
        for (id, status) in &c.signatures {
            let st = match status {
                SignatureStatus::Valid => "valid".to_string(),
                SignatureStatus::Rejected(r) => format!("not counted: {r}"),
            };
            let _ = writeln!(s, "    {id}  {st}");
        }
        let _ = writeln!(
            s,
            "  root role threshold met by this root's own keys: {} ({} of {})",
            if c.met() { "yes" } else { "no" },
            c.valid.len(),
            c.threshold
        );
    }
    s
}

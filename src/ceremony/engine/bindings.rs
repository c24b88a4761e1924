//! How a run is bound to the world, checked before anything is done: tokens, key files, the current chain, the trusted root, the request bundle.

use super::*;

/// What a batch ceremony needs bound before it starts.
/// Check a run's bindings (a batch's, or one repository's) before anything is
/// done; one repository's current roots and targets come back verified.
pub(super) fn check_all_bindings(
    script: &Script,
    b: &Bindings,
    interactive: bool,
    reg: &Registry,
) -> Result<(Vec<RootDocument>, Option<TargetsDocument>)> {
    if b.batch {
        check_batch_bindings(script, b, reg)?;
        Ok((Vec::new(), None))
    } else {
        check_bindings(script, b, interactive, reg)
    }
}

pub(super) fn check_batch_bindings(script: &Script, b: &Bindings, reg: &Registry) -> Result<()> {
    if !matches!(script.kind, Kind::RevokeTaggingKey | Kind::RefreshExpiry) {
        return Err(usage(format!(
            "a request bundle of several repositories is a batch; batches run revoke-tagging-key or refresh-expiry, not {}",
            script.kind.name()
        )));
    }
    if b.request.is_none() {
        return Err(usage(
            "a batch ceremony reads its repositories from --request DIR",
        ));
    }
    if script.parameters.signing_event {
        return Err(usage(
            "signing_event = true: a signing event across sites signs one repository's root;              a batch over many repositories is signed in one room",
        ));
    }
    if b.current.is_some() || !b.keyfiles.is_empty() {
        return Err(usage(
            "a batch ceremony takes the current roots and the replacement keys from the request bundle; --current and --key are not used",
        ));
    }
    for (name, spec) in &script.keys {
        if spec.generate {
            return Err(usage(format!(
                "key {name} is generated: a batch ceremony generates no keys"
            )));
        }
        if spec.role == KeyRole::Root {
            let t = b.tokens.get(name).ok_or_else(|| {
                usage(format!(
                    "a batch ceremony needs every root token bound up front: --token {name}=REF"
                ))
            })?;
            crate::tokens::public_key(t, reg)?;
        }
    }
    Ok(())
}

pub(super) fn current_hashes(current: &[RootDocument]) -> Result<Vec<String>> {
    current
        .iter()
        .map(|d| Ok(hex::encode(Sha256::digest(d.to_json()?))))
        .collect()
}

pub(super) fn flavour_of(script: &Script) -> Flavour {
    match script.parameters.flavour {
        FlavourParam::Tuf => Flavour::Tuf,
        FlavourParam::Notary => Flavour::Notary,
    }
}

pub(super) fn read_keyfile(path: &Path, flavour: Flavour) -> Result<Key> {
    let bytes = crate::inputs::read_file(path)?;
    crate::tuf::key::read_key_object(&bytes, flavour).map_err(|reason| Error::Read {
        path: path.display().to_string(),
        reason,
    })
}

/// Everything checked before the first step: every key has what it needs, the
/// current roots verify. Returns the current chain.
pub(super) fn check_bindings(
    script: &Script,
    b: &Bindings,
    interactive: bool,
    reg: &Registry,
) -> Result<(Vec<RootDocument>, Option<TargetsDocument>)> {
    let flavour = flavour_of(script);
    let delegating = script.kind == Kind::DelegationRotate;
    if delegating && flavour == Flavour::Notary {
        return Err(usage(
            "delegation-rotate supports TUF targets metadata; Notary delegations are not supported yet",
        ));
    }
    for (name, spec) in &script.keys {
        let signs = spec.role.signs_root() || (delegating && spec.role == KeyRole::Targets);
        let online = !signs;
        let has_token = b.tokens.contains_key(name);
        let has_file = b.keyfiles.contains_key(name);
        // At a terminal, the operator may select a connected token when the key
        // is first needed; unattended runs must bind every token up front.
        if (spec.generate || spec.backup) && !has_token && (!interactive || spec.backup) {
            return Err(usage(format!(
                "key {name} is generated in this ceremony: say on which token with --token {name}=REF"
            )));
        }
        // A root key given by its public key joins the new root and signs
        // elsewhere (another site of a signing event): it has no sign step here.
        let signs_here = script
            .steps
            .iter()
            .any(|s| matches!(&s.plan, Plan::Sign { key } if key == name));
        if !online && !has_token && (!has_file || signs_here) && !interactive {
            return Err(usage(format!(
                "root key {name} signs in this ceremony: bind its token with --token {name}=REF"
            )));
        }
        if online && !has_token && !has_file {
            return Err(usage(format!(
                "online key {name} ({}): give --key {name}=keyfile:PATH or --token {name}=REF",
                spec.role
            )));
        }
        if let Some(t) = b.tokens.get(name) {
            TokenRef::parse(t)?;
            if spec.has_yubikey_settings() && !t.starts_with("yubikey:") {
                return Err(usage(format!(
                    "key {name} has YubiKey settings in the script (slot, pin_policy, touch_policy, \
                     overwrite, attestation) but is bound to {t}: bind a yubikey:serial=NNN token"
                )));
            }
            if !spec.generate && online {
                crate::tokens::public_key(t, reg)?;
            }
        }
        if let Some(f) = b.keyfiles.get(name) {
            read_keyfile(f, flavour)?;
        }
    }
    for (name, spec) in &script.keys {
        let recipients = b.backups.get(name).map(Vec::as_slice).unwrap_or_default();
        if !spec.backup {
            if !recipients.is_empty() {
                return Err(usage(format!(
                    "--backup {name}=…: the script does not back up key {name} (it is generated on its token, which never lets it out)"
                )));
            }
            continue;
        }
        let token = &b.tokens[name];
        if !token.starts_with("soft:") {
            return Err(usage(format!(
                "key {name} is backed up, so it is generated in software and loaded into its token; \
                 loading into a PKCS#11 token is not supported yet: bind a soft: token, or generate the key on the token without a backup"
            )));
        }
        if recipients.is_empty() {
            return Err(usage(format!(
                "key {name} is backed up: give each custodian's recipient with --backup {name}=age1… or --backup {name}=passphrase:CUSTODIAN"
            )));
        }
        for r in recipients {
            parse_recipient(r).map_err(usage)?;
        }
        if b.backup_dir.is_none() {
            return Err(usage(
                "this ceremony writes backups: say where with --backup-dir DIR (the custodians' media, not the export)",
            ));
        }
    }
    for name in b
        .tokens
        .keys()
        .chain(b.keyfiles.keys())
        .chain(b.backups.keys())
    {
        if !script.keys.contains_key(name) {
            return Err(usage(format!(
                "--token/--key {name}: the script declares no key {name:?} (it declares {})",
                script.keys.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let countersign = script.kind == Kind::RootCountersign;
    match (&b.previous, countersign) {
        (Some(_), false) => {
            return Err(usage(format!(
                "--previous is the previous site's export of a signing event, which a \
                 root-countersign ceremony signs; this is a {} ceremony",
                script.kind.name()
            )));
        }
        (None, true) => {
            return Err(usage(
                "a root-countersign ceremony signs the root of a signing event: give the \
                 previous site's export with --previous DIR",
            ));
        }
        (Some(_), true) if b.current.is_some() => {
            return Err(usage(
                "a root-countersign ceremony takes the current roots from the previous \
                 site's export (--previous); --current is not used",
            ));
        }
        _ => {}
    }
    let current = match (&b.current, script.kind.needs_current_root()) {
        (None, true) if countersign => {
            let dir = b.previous.as_ref().expect("checked above");
            let previous = crate::ceremony::event::Previous::open(dir)?;
            verify_current(script, b, previous.current)?
        }
        (None, true) => {
            return Err(usage(format!(
                "a {} ceremony starts from the current root: give --current DIR",
                script.kind.name()
            )));
        }
        (Some(_), false) => {
            return Err(usage(
                "a root-init ceremony makes a new root; --current is not used",
            ));
        }
        (None, false) => Vec::new(),
        (Some(path), true) => {
            let docs = if path.is_dir() {
                crate::inputs::read_root_dir(path, None)?
            } else {
                vec![crate::inputs::read_root(path)?]
            };
            verify_current(script, b, docs)?
        }
    };
    check_targets(script, b, current, delegating)
}

/// The current chain, checked against the root the key holders trust.
fn verify_current(
    script: &Script,
    b: &Bindings,
    docs: Vec<RootDocument>,
) -> Result<Vec<RootDocument>> {
    let flavour = flavour_of(script);
    {
        {
            let trusted_path = b.trusted.as_ref().ok_or_else(|| {
                usage(format!(
                    "a {} ceremony needs --trusted ROOT: the root your key holders already trust, \
                     from offline storage (e.g. the previous ceremony's export); the current roots \
                     from the online side are checked against it",
                    script.kind.name()
                ))
            })?;
            let trusted = crate::inputs::read_root(trusted_path)?;
            if let Some(first) = docs.first()
                && first.flavour() != flavour
            {
                return Err(usage(format!(
                    "{} is {} metadata; the script is for {}",
                    first.name,
                    first.flavour(),
                    flavour
                )));
            }
            let now = Utc::now();
            // An expired current root is allowed (refreshing expiry is a reason to
            // be here); everything else is checked as a client would.
            let latest_expiry = docs
                .last()
                .and_then(|d| crate::tuf::time::parse_expires(&d.root().expires, flavour).ok())
                .map(|t| t - chrono::Duration::seconds(1))
                .unwrap_or(now)
                .min(now);
            let options = ChainOptions {
                now: latest_expiry,
                gun: (flavour == Flavour::Notary).then(|| script.parameters.repository.clone()),
            };
            let newer: Vec<RootDocument> = docs
                .iter()
                .filter(|d| d.version() >= trusted.version())
                .cloned()
                .collect();
            if newer.is_empty() {
                return Err(usage(format!(
                    "the current roots end at version {}, older than the trusted version {} (rollback refused)",
                    docs.last().map(|d| d.version()).unwrap_or(0),
                    trusted.version()
                )));
            }
            verify_chain(Some(trusted), newer, &options)?;
            Ok(docs)
        }
    }
}

/// delegation-rotate: the current targets metadata, checked against the current root.
fn check_targets(
    script: &Script,
    b: &Bindings,
    current: Vec<RootDocument>,
    delegating: bool,
) -> Result<(Vec<RootDocument>, Option<TargetsDocument>)> {
    let targets = match (&b.targets, delegating) {
        (None, true) => {
            return Err(usage(
                "a delegation-rotate ceremony starts from the current targets metadata: give --targets FILE",
            ));
        }
        (Some(_), false) => return Err(usage("--targets is used only by delegation-rotate")),
        (None, false) => None,
        (Some(path), true) => {
            let bytes = crate::inputs::read_file(path)?;
            let doc = TargetsDocument::from_slice(&bytes, &path.display().to_string())?;
            let root = current
                .last()
                .expect("delegation-rotate has a current root");
            let check = targets_check(&doc, root)?;
            if !check.met() {
                return Err(usage(format!(
                    "{}: signed by {} of the {} targets key(s) the current root requires; refusing to build on it",
                    doc.name,
                    check.valid.len(),
                    check.threshold
                )));
            }
            let role = script.parameters.delegation.as_deref().unwrap_or_default();
            if !doc
                .targets()
                .delegations
                .as_ref()
                .is_some_and(|d| d.roles.iter().any(|r| r.name == role))
            {
                return Err(usage(format!(
                    "{}: delegates no role named {role:?}",
                    doc.name
                )));
            }
            Some(doc)
        }
    };
    Ok((current, targets))
}

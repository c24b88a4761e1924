//! The build-root step: the new root from the script, the bindings and the current root; the draft it writes and the checks that pin it.

use super::*;

impl Engine<'_> {
    pub(super) fn build_root(&mut self, step: &Step) -> Result<()> {
        let draft_path = self.work.draft();
        if draft_path.exists() {
            // Built before an interruption: the content is fixed, never rebuilt.
            let doc = crate::inputs::read_root(&draft_path)?;
            self.fix_draft(&doc.canonical_signed()?)?;
            // Recorded again: the interruption may have come before the record
            // (a signing event's later sites check the draft against it).
            self.draft()?;
            self.record_built(step, &doc)?;
            self.ui.say(&format!(
                "root version {} was built before the interruption; continuing with it",
                doc.version()
            ));
            return Ok(());
        }
        let params = self.script.parameters.clone();
        let expires = params.expires_at(Utc::now());
        let kind = self.script.kind;
        let mut root = match self.current.last() {
            Some(cur) => {
                let mut r = cur.root().clone();
                r.version += 1;
                r
            }
            None => Root {
                type_name: self.flavour.type_name("root"),
                spec_version: (self.flavour == Flavour::Tuf).then(|| SPEC_VERSION.to_owned()),
                consistent_snapshot: Some(false),
                version: 1,
                expires: String::new(),
                keys: BTreeMap::new(),
                roles: BTreeMap::new(),
                unknown: Map::new(),
            },
        };
        root.expires = expires;
        let names: Vec<(String, String, bool)> = self
            .script
            .keys
            .iter()
            .map(|(n, k)| (n.clone(), k.role.name().to_owned(), k.generate))
            .collect();
        let add = |root: &mut Root, role: &str, id: String, key: Key| {
            root.keys.insert(id.clone(), key);
            let entry = root
                .roles
                .entry(role.to_owned())
                .or_insert_with(|| RoleKeys {
                    keyids: Vec::new(),
                    threshold: 1,
                    unknown: Map::new(),
                });
            if !entry.keyids.contains(&id) {
                entry.keyids.push(id);
            }
        };
        match kind {
            Kind::RootInit => {
                for (name, role, _) in &names {
                    let key = self.key_object(name, role, &step.id)?;
                    let id = key_id(&key, self.flavour);
                    add(&mut root, role, id, key);
                }
            }
            Kind::RootRotate => {
                for given in self.state.bindings.revoke.clone() {
                    let id = edit::resolve_keyid(
                        &root.keys,
                        &root.roles["root"].keyids,
                        self.flavour,
                        "root",
                        &given,
                    )
                    .map_err(|e| usage(format!("--revoke {given}: the current root's {e}")))?;
                    edit::revoke(&mut root, "root", &id, self.flavour)
                        .map_err(|e| usage(format!("--revoke {given}: {e}")))?;
                    self.ui.say(&format!("root key {} goes", short(&id)));
                }
                for (name, role, generate) in &names {
                    match role.as_str() {
                        "outgoing-root" => {
                            let public = self.public_of(name)?;
                            // Every ID the root role lists the key under goes.
                            let ids = edit::ids_of_key(&root, "root", &public, self.flavour);
                            if ids.is_empty() {
                                return Err(usage(format!(
                                    "outgoing key {name} is not a root key of the current root"
                                )));
                            }
                            for id in ids {
                                remove_key(&mut root, "root", &id);
                            }
                        }
                        "root" if *generate => {
                            let key = self.key_object(name, role, &step.id)?;
                            let id = key_id(&key, self.flavour);
                            add(&mut root, "root", id, key);
                        }
                        "root"
                            if self.state.bindings.keyfiles.contains_key(name)
                                && !self.state.bindings.tokens.contains_key(name) =>
                        {
                            // A key that stays (the current root lists it), or a new
                            // root key made elsewhere (a keyholder at another site of
                            // a signing event), given by its public key.
                            let public = self.public_of(name)?;
                            if find_root_keyid(&root, &public, self.flavour).is_none() {
                                let key = self.key_object(name, role, &step.id)?;
                                let id = key_id(&key, self.flavour);
                                self.ui.say(&format!(
                                    "root key {} comes (given as a public key: {name})",
                                    short(&id)
                                ));
                                add(&mut root, "root", id, key);
                            }
                        }
                        "root" => {
                            let public = self.public_of(name)?;
                            find_root_keyid(&root, &public, self.flavour).ok_or_else(|| {
                                usage(format!(
                                    "key {name} stays a root key but is not one in the current root"
                                ))
                            })?;
                        }
                        _ => {
                            let key = self.key_object(name, role, &step.id)?;
                            let id = key_id(&key, self.flavour);
                            replace_role_keys(&mut root, role);
                            add(&mut root, role, id, key);
                        }
                    }
                }
            }
            Kind::RevokeTaggingKey => {
                let mut replacement = None;
                for (name, role, _) in &names {
                    if role == "targets" {
                        let key = self.key_object(name, role, &step.id)?;
                        replacement = Some((key_id(&key, self.flavour), key));
                    }
                }
                let (new_id, new_key) = replacement.ok_or_else(|| {
                    usage("revoke-tagging-key needs a key with role targets (the replacement)")
                })?;
                if root.roles["targets"].keyids.contains(&new_id) {
                    return Err(usage(format!(
                        "the replacement targets key {} is already listed in the current root",
                        short(&new_id)
                    )));
                }
                let revoke = self.state.bindings.revoke.clone();
                if revoke.is_empty() {
                    return Err(usage(
                        "name the compromised targets key with --revoke KEYID",
                    ));
                }
                for given in &revoke {
                    let id = edit::resolve_keyid(
                        &root.keys,
                        &root.roles["targets"].keyids,
                        self.flavour,
                        "targets",
                        given,
                    )
                    .map_err(|e| usage(format!("--revoke {given}: the current root's {e}")))?;
                    edit::revoke(&mut root, "targets", &id, self.flavour)
                        .map_err(|e| usage(format!("the compromised {e}")))?;
                    let id = &id;
                    self.ui.say(&format!("targets key {} goes", short(id)));
                }
                self.ui
                    .say(&format!("targets key {} comes", short(&new_id)));
                add(&mut root, "targets", new_id, new_key);
            }
            Kind::RefreshExpiry => {}
            Kind::DelegationRotate => unreachable!("validated: delegation-rotate builds targets"),
            Kind::RootCountersign => unreachable!("root-countersign imports its root"),
        }
        if let Some(t) = params.root_threshold {
            root.roles.get_mut("root").expect("root role").threshold = t;
        }
        let doc = RootDocument::draft(root, "new.root.json")?;
        doc.validate()?;
        fsio::write_new(&draft_path, &doc.to_json()?, 0o644)?;
        self.fix_draft(&doc.canonical_signed()?)?;
        self.record_built(step, &doc)?;
        self.ui.say(&format!(
            "built root version {}, expires {}",
            doc.version(),
            doc.root().expires
        ));
        Ok(())
    }

    /// The `root-built` entry: what the draft is, as later sites check it.
    fn record_built(&mut self, step: &Step, doc: &RootDocument) -> Result<()> {
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::RootBuilt {
                version: doc.version(),
                expires: doc.root().expires.clone(),
                sha256_of_signed: hex::encode(Sha256::digest(doc.canonical_signed()?)),
                roles: role_keys(doc.root()),
            },
        )?;
        Ok(())
    }

    pub(super) fn draft(&self) -> Result<RootDocument> {
        let doc = crate::inputs::read_root(&self.work.draft())?;
        self.check_draft(&self.work.draft(), &doc.canonical_signed()?)?;
        Ok(doc)
    }

    /// The draft's signed bytes must be the ones built (and reviewed).
    pub(super) fn check_draft(&self, path: &Path, signed: &[u8]) -> Result<()> {
        match &self.state.draft_sha256 {
            Some(h) if *h != hex::encode(Sha256::digest(signed)) => Err(usage(format!(
                "step {}: {} changed since it was built (its signed part no longer has the SHA-256 recorded then); \
                 nothing more is signed. Start a new ceremony with a new --workdir",
                self.running.as_deref().unwrap_or("resume"),
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    pub(super) fn fix_draft(&mut self, signed: &[u8]) -> Result<()> {
        if self.state.draft_sha256.is_none() {
            self.state.draft_sha256 = Some(hex::encode(Sha256::digest(signed)));
            self.save_state()?;
        }
        Ok(())
    }
}

pub(super) fn find_root_keyid(root: &Root, public: &PublicKey, flavour: Flavour) -> Option<String> {
    root.roles["root"]
        .keyids
        .iter()
        .find(|id| {
            root.keys
                .get(*id)
                .and_then(|k| decode_key(k, flavour).ok())
                .is_some_and(|d| &d.public == public)
        })
        .cloned()
}

pub(super) fn replace_role_keys(root: &mut Root, role: &str) {
    let ids: Vec<String> = root
        .roles
        .get(role)
        .map(|r| r.keyids.clone())
        .unwrap_or_default();
    for id in ids {
        remove_key(root, role, &id);
    }
}

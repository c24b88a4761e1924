//! delegation-rotate: the new targets metadata, built, reviewed, signed, verified and exported.

use super::*;

impl Engine<'_> {
    pub(super) fn delegating(&self) -> bool {
        self.script.kind == Kind::DelegationRotate
    }

    pub(super) fn targets_draft(&self) -> Result<TargetsDocument> {
        let path = self.work.targets_draft();
        let bytes = crate::inputs::read_file(&path)?;
        let doc = TargetsDocument::from_slice(&bytes, "new.targets.json")?;
        self.check_draft(&path, &doc.canonical_signed()?)?;
        Ok(doc)
    }

    pub(super) fn build_targets(&mut self, step: &Step) -> Result<()> {
        let path = self.work.targets_draft();
        if path.exists() {
            let bytes = crate::inputs::read_file(&path)?;
            let doc = TargetsDocument::from_slice(&bytes, "new.targets.json")?;
            self.fix_draft(&doc.canonical_signed()?)?;
            self.ui.say(&format!(
                "targets version {} was built before the interruption; continuing with it",
                doc.version()
            ));
            return Ok(());
        }
        let params = self.script.parameters.clone();
        let role_name = params.delegation.clone().ok_or_else(|| {
            usage("delegation-rotate needs parameters.delegation: the delegated role to rotate")
        })?;
        let mut doc = self.current_targets.clone().expect("checked up front");
        let mut added = Vec::new();
        let names: Vec<String> = self
            .script
            .keys
            .iter()
            .filter(|(_, k)| k.role == KeyRole::Delegation)
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            let key = match self.state.bindings.keyfiles.get(name) {
                Some(path) => read_keyfile(path, self.flavour)?,
                None => tuf_key(&self.public_of(name)?),
            };
            added.push((key_id(&key, self.flavour), key));
        }
        let mut removed = Vec::new();
        {
            let current = doc
                .targets()
                .delegations
                .as_ref()
                .expect("checked up front");
            let role = current
                .roles
                .iter()
                .find(|r| r.name == role_name)
                .expect("checked");
            for given in &self.state.bindings.revoke {
                let id = edit::resolve_keyid(
                    &current.keys,
                    &role.keyids,
                    self.flavour,
                    &format!("{role_name} (delegated)"),
                    given,
                )
                .map_err(|e| usage(format!("--revoke {given}: {e}")))?;
                removed.push(id);
            }
            for (id, _) in &added {
                if role.keyids.contains(id) {
                    return Err(usage(format!(
                        "key {} is already a key of delegated role {role_name}",
                        short(id)
                    )));
                }
            }
        }
        let expires = params.expires_at(Utc::now());
        let added_for_edit = added.clone();
        let removed_for_edit = removed.clone();
        let threshold = params.delegation_threshold;
        doc.edit(|t| {
            t.version += 1;
            t.expires = expires;
            let d = t.delegations.as_mut().expect("checked");
            for (id, key) in added_for_edit {
                d.keys.insert(id.clone(), key);
                let role = d
                    .roles
                    .iter_mut()
                    .find(|r| r.name == role_name)
                    .expect("checked");
                role.keyids.push(id);
            }
            for id in &removed_for_edit {
                let role = d
                    .roles
                    .iter_mut()
                    .find(|r| r.name == role_name)
                    .expect("checked");
                role.keyids.retain(|k| k != id);
                if !d.roles.iter().any(|r| r.keyids.contains(id)) {
                    d.keys.remove(id);
                }
            }
            if let Some(n) = threshold {
                d.roles
                    .iter_mut()
                    .find(|r| r.name == role_name)
                    .expect("checked")
                    .threshold = n;
            }
        })?;
        doc.name = "new.targets.json".into();
        fsio::write_new(&path, &doc.to_json()?, 0o644)?;
        self.fix_draft(&doc.canonical_signed()?)?;
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::TargetsBuilt {
                metadata: "targets".into(),
                version: doc.version(),
                expires: doc.targets().expires.clone(),
                delegation: params.delegation.clone(),
                added: added.iter().map(|(i, _)| i.clone()).collect(),
                removed: removed.clone(),
                sha256_of_signed: hex::encode(Sha256::digest(doc.canonical_signed()?)),
            },
        )?;
        self.ui.say(&format!(
            "built targets version {}, expires {}",
            doc.version(),
            doc.targets().expires
        ));
        Ok(())
    }

    pub(super) fn review_targets(&mut self, step: &Step) -> Result<()> {
        let doc = self.targets_draft()?;
        let text = targets_summary(&doc, self.current_targets.as_ref().expect("checked"));
        self.read_aloud_and_confirm(step, &text)
    }

    pub(super) fn sign_targets(&mut self, step: &Step, name: &str) -> Result<()> {
        let name = name.to_owned();
        let reference = self.token_ref(&step.id, &name)?;
        let mut doc = self.targets_draft()?;
        let root = self.current.last().cloned().expect("checked");
        // Close the previous signer first: logging out of a PKCS#11 token ends
        // every session on it, including one opened after it.
        self.seal_signer = None;
        let mut signer = self.open_signer(&step.id, &reference)?;
        let role = &root.root().roles["targets"];
        let keyid = role
            .keyids
            .iter()
            .find(|id| {
                root.root()
                    .keys
                    .get(*id)
                    .and_then(|k| decode_key(k, self.flavour).ok())
                    .is_some_and(|d| &d.public == signer.public_key())
            })
            .cloned()
            .ok_or_else(|| {
                usage(format!(
                    "the key on {reference} is not a targets key of the current root"
                ))
            })?;
        if doc.signatures.iter().any(|s| s.keyid == keyid) {
            self.ui.say(&format!(
                "{name} had already signed before the interruption"
            ));
            self.transcript.record(
                Some(&step.id),
                Some(&step.actor),
                &rec::SignatureRecovered {
                    key: name.to_owned(),
                    keyid,
                    metadata: Some("targets".into()),
                    version: doc.version(),
                    recovered_after_interruption: true,
                },
            )?;
            self.seal_signer = Some(signer);
            return Ok(());
        }
        let message = doc.canonical_signed()?;
        let signature =
            crate::tuf::sign::sign_message(&message, signer.as_mut(), self.flavour, keyid.clone())?;
        let decoded = decode_key(&root.root().keys[&keyid], self.flavour).expect("decoded above");
        crate::tuf::verify::verify_one(&message, &signature, &decoded, self.flavour).map_err(
            |reason| {
                Error::Sign(SignError::BadTokenSignature {
                    token: signer.describe(),
                    reason,
                })
            },
        )?;
        doc.signatures.push(signature);
        fsio::replace(&self.work.targets_draft(), &doc.to_json()?, 0o644)?;
        self.ui.say(&format!(
            "signed targets version {} with {name} ({})",
            doc.version(),
            short(&keyid)
        ));
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::TargetsSigned {
                key: name.to_owned(),
                keyid,
                token: signer.describe(),
                metadata: "targets".into(),
                version: doc.version(),
            },
        )?;
        self.seal_signer = Some(signer);
        Ok(())
    }

    pub(super) fn verify_targets(&mut self, step: &Step) -> Result<()> {
        let line = self.check_targets_draft()?;
        self.ui.say(&line);
        self.record_verified(step, line, None)
    }

    /// The draft targets metadata meets the current root's targets threshold.
    pub(super) fn check_targets_draft(&self) -> Result<String> {
        let doc = self.targets_draft()?;
        let root = self.current.last().expect("checked");
        let check = targets_check(&doc, root)?;
        if !check.met() {
            return Err(usage(format!(
                "new targets version {} has {} valid signature(s) from the root's targets keys, below the threshold of {}",
                doc.version(),
                check.valid.len(),
                check.threshold
            )));
        }
        Ok(format!(
            "trustworthy: targets version {}, signed by {} of {} required targets key(s)",
            doc.version(),
            check.valid.len(),
            check.threshold
        ))
    }

    pub(super) fn export_targets(&mut self, step: &Step) -> Result<()> {
        // Verified again right before it is written.
        self.check_targets_draft()?;
        let doc = self.targets_draft()?;
        let bytes = doc.to_json()?;
        let files = vec![
            (format!("{}.targets.json", doc.version()), bytes.clone()),
            ("targets.json".to_owned(), bytes),
        ];
        self.stage_export(step, files)
    }
}

/// Check targets metadata against the targets role of `root`.
pub(super) fn targets_check(
    doc: &TargetsDocument,
    root: &RootDocument,
) -> Result<crate::tuf::verify::RoleCheck> {
    let role = &root.root().roles["targets"];
    Ok(crate::tuf::verify::check_role(
        &doc.canonical_signed()?,
        &doc.signatures,
        &root.root().keys,
        &role.keyids,
        role.threshold,
        doc.flavour(),
    ))
}

//! Which token holds which script key, its public key, and opening it to sign (PINs and passphrases asked through the operator interface).

use super::*;

impl Engine<'_> {
    /// The token holding (or to hold) script key `name`: the one bound with
    /// `--token`, or — at a terminal — one the operator selects from the tokens
    /// connected now (recorded in the transcript and the state).
    pub(super) fn token_ref(&mut self, step: &str, name: &str) -> Result<String> {
        if let Some(t) = self.state.bindings.tokens.get(name) {
            return Ok(t.clone());
        }
        if !self.ui.interactive() {
            return Err(usage(format!(
                "key {name} has no token: bind it with --token {name}=REF"
            )));
        }
        let generate = self.script.keys[name].generate;
        let module = self.registry.module_for(None)?;
        let tokens = module.tokens()?;
        if tokens.is_empty() {
            return Err(usage(format!(
                "no PKCS#11 token is connected for key {name}: connect it and run `ceremony tokens`, or bind one with --token {name}=REF"
            )));
        }
        let labels: Vec<String> = tokens
            .iter()
            .map(|t| {
                format!(
                    "{} (serial {}, {} {})",
                    t.label, t.serial, t.manufacturer, t.model
                )
            })
            .collect();
        let chosen = self
            .ui
            .select(step, &format!("Which token holds key {name}?"), &labels)
            .map_err(ui_err)?;
        let token = &tokens[chosen];
        let uri = if generate {
            token.key_uri(&format!("ceremony-{name}"), &[])
        } else {
            let keys = module.public_keys(token)?;
            if keys.is_empty() {
                return Err(usage(format!("{} holds no key to sign with", token.name())));
            }
            let labels: Vec<String> = keys
                .iter()
                .map(|k| format!("{} (id {})", k.label, hex::encode(&k.id)))
                .collect();
            let k = self
                .ui
                .select(
                    step,
                    &format!("Which key on {} is {name}?", token.label),
                    &labels,
                )
                .map_err(ui_err)?;
            token.key_uri(&keys[k].label, &keys[k].id)
        };
        let reference = uri.to_string();
        self.transcript.record(
            Some(step),
            None,
            &rec::TokenSelected {
                key: name.to_owned(),
                selected: reference.to_string(),
                token_serial: token.serial.clone(),
                token_model: token.model.clone(),
            },
        )?;
        self.state
            .bindings
            .tokens
            .insert(name.to_owned(), reference.clone());
        self.save_state()?;
        Ok(reference)
    }

    /// The public key of a script key, wherever it comes from.
    pub(super) fn public_of(&self, name: &str) -> Result<PublicKey> {
        if let Some(rec) = self.state.keys.get(name) {
            let raw = hex::decode(&rec.public)
                .map_err(|_| Error::Internal("state: public key not hex".into()))?;
            let alg =
                Algorithm::parse(&rec.algorithm).map_err(|e| Error::Internal(e.to_string()))?;
            return PublicKey::from_bytes(alg, &raw).map_err(|e| Error::Internal(e.to_string()));
        }
        if let Some(t) = self.state.bindings.tokens.get(name) {
            return Ok(crate::tokens::public_key(t, self.registry)?);
        }
        if let Some(path) = self.state.bindings.keyfiles.get(name) {
            let key = read_keyfile(path, self.flavour)?;
            return decode_key(&key, self.flavour)
                .map(|d| d.public)
                .map_err(|reason| Error::Read {
                    path: path.display().to_string(),
                    reason,
                });
        }
        Err(usage(format!(
            "key {name} has no token bound (--token {name}=REF)"
        )))
    }

    pub(super) fn key_object(&mut self, name: &str, role: &str, step: &str) -> Result<Key> {
        if let Some(path) = self.state.bindings.keyfiles.get(name) {
            return read_keyfile(path, self.flavour);
        }
        let public = self.public_of(name)?;
        Ok(match (self.flavour, role) {
            (Flavour::Tuf, _) => tuf_key(&public),
            (Flavour::Notary, "root") => {
                let reference = self.token_ref(step, name)?;
                let mut signer = self.open_signer(step, &reference)?;
                let now = Utc::now();
                let cert = build_root_certificate(
                    &self.script.parameters.repository,
                    signer.as_mut(),
                    now,
                    now + chrono::Duration::days(3650),
                )?;
                notary_x509_key(&cert.pem)
            }
            (Flavour::Notary, _) => notary_key(&public),
        })
    }

    /// Open a token's key for signing. A wrong passphrase or PIN typed at the
    /// terminal is recorded and asked again (up to three attempts; the token's own
    /// PIN flags still guard its last try); an answers file gets one attempt.
    pub(super) fn open_signer(&mut self, step: &str, reference: &str) -> Result<Box<dyn Signer>> {
        let attempts = if self.ui.interactive() { 3 } else { 1 };
        let mut attempt = 1;
        loop {
            let result = self.open_signer_once(step, reference);
            match result {
                // Only a passphrase is asked again here: a wrong PIN spends one of
                // the token's tries, so the operator decides (by resuming) after
                // seeing the token's PIN state again.
                Err(Error::Token(e @ crate::tokens::TokenError::WrongPassphrase { .. }))
                    if attempt < attempts =>
                {
                    self.ui.say(&format!(
                        "{e}; try again ({attempt} of {attempts} attempts used)"
                    ));
                    self.transcript.record(
                        Some(step),
                        None,
                        &rec::Retry {
                            token: reference.to_string(),
                            error: crate::ceremony::transcript::one_line(&e.to_string()),
                            attempt,
                        },
                    )?;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(super) fn open_signer_once(
        &mut self,
        step: &str,
        reference: &str,
    ) -> Result<Box<dyn Signer>> {
        match TokenRef::parse(reference)? {
            TokenRef::Soft(path) => {
                let pass = self.secret(step, reference, SecretKind::Passphrase, false)?;
                Ok(Box::new(SoftToken::open(&path, &pass)?))
            }
            TokenRef::Pkcs11(uri) => {
                let module = self.registry.module_for(Some(&uri))?;
                let test_token = module.find_token(&uri)?.manufacturer.starts_with("SoftHSM");
                let mut prompt = UiPin {
                    ui: &mut *self.ui,
                    step: step.to_owned(),
                    reference: reference.to_owned(),
                    test_token,
                };
                Ok(Box::new(module.open_signer(&uri, &mut prompt)?))
            }
            TokenRef::YubiKey(r) => Ok(Box::new(self.open_yubikey(step, reference, &r)?)),
        }
    }
}

/// Asks the operator UI for PKCS#11 PINs.
pub(super) struct UiPin<'u> {
    pub(super) ui: &'u mut dyn OperatorUi,
    pub(super) step: String,
    /// The token reference as the run names it (answers files key PINs by it).
    pub(super) reference: String,
    /// A SoftHSM token: its PIN may come from an answers file.
    pub(super) test_token: bool,
}

impl crate::tokens::pkcs11::PinPrompt for UiPin<'_> {
    fn notice(&mut self, message: &str) {
        self.ui.say(message);
    }

    fn confirm_final_try(
        &mut self,
        token: &str,
    ) -> std::result::Result<bool, crate::tokens::TokenError> {
        self.ui
            .confirm(
                &format!("{}-final-pin-try", self.step),
                &format!("{token}: this is the FINAL PIN try; a wrong PIN locks the token. Go on?"),
            )
            .map_err(|e| crate::tokens::TokenError::Refused {
                token: token.to_owned(),
                reason: e.to_string(),
            })
    }

    fn user_pin(
        &mut self,
        token: &str,
    ) -> std::result::Result<crate::secret::Secret, crate::tokens::TokenError> {
        self.ui
            .secret(
                &self.step,
                &SecretRequest {
                    token: self.reference.clone(),
                    kind: SecretKind::Pin,
                    status: Some(token.to_owned()),
                    test_token: self.test_token,
                    confirm: false,
                },
            )
            .map_err(|e| crate::tokens::TokenError::Refused {
                token: token.to_owned(),
                reason: e.to_string(),
            })
    }
}

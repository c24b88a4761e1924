//! The engine's YubiKey steps: generating a key in a PIV slot (with its
//! attestation as evidence) and opening one for signing. A child of `engine`.

use super::{Engine, UiPin, usage};
use crate::ceremony::ui::{SecretKind, SecretRequest};
use crate::error::Result;
use crate::keys::{Algorithm, PublicKey};
use crate::secret::Secret;
use crate::tokens::TokenError;
use crate::tokens::yubikey::{
    self, AttestationOutcome, AttestationPolicy, GenerateOptions, YubiKeyPrompt, YubiKeyRef,
    YubiKeySigner,
};
use serde_json::{Value, json};

impl Engine<'_> {
    /// Generate script key `name` in the YubiKey `r` names, as the script says.
    pub(super) fn generate_yubikey(
        &mut self,
        step: &str,
        name: &str,
        reference: &str,
        mut r: YubiKeyRef,
        alg: Algorithm,
        again: bool,
    ) -> Result<(PublicKey, Value)> {
        let spec = self.script.keys[name].clone();
        if let Some(slot) = spec.slot {
            if r.slot.is_some_and(|rs| rs != slot) {
                return Err(usage(format!(
                    "key {name}: the script says slot {slot:?}, the token reference {reference} names another slot"
                )));
            }
            r.slot = Some(slot);
        }
        let opts = GenerateOptions {
            algorithm: alg,
            pin_policy: spec.pin_policy.unwrap_or(yubikey::PinPolicy::Always),
            touch_policy: spec.touch_policy.unwrap_or(yubikey::TouchPolicy::Always),
            overwrite: spec.overwrite || again,
            allow_default_management_key: self.script.parameters.allow_default_management_key,
            attestation: if spec.attestation_required() {
                AttestationPolicy::Required
            } else {
                AttestationPolicy::NotAvailable
            },
            common_name: self.script.parameters.repository.clone(),
        };
        let test_token = yubikey::is_virtual_reader(&yubikey::reader_of(&r)?);
        self.begin_generation(name, "yubikey")?;
        let mut prompt = UiPin {
            ui: &mut *self.ui,
            step: step.to_owned(),
            reference: reference.to_owned(),
            test_token,
        };
        let result = yubikey::generate(&r, &opts, &mut prompt);
        let ev = match result {
            Ok(ev) => ev,
            Err(e) => {
                self.state.pending.remove(name);
                self.save_state()?;
                return Err(e.into());
            }
        };
        let attestation = match &ev.attestation {
            AttestationOutcome::Verified(a) => json!({
                "status": "verified",
                "root": a.root_subject,
                "chain": a.chain,
                "root_sha256": a.root_sha256,
                "serial": a.serial,
                "firmware": a.firmware,
                "policy": format!("PIN {}, touch {}", a.pin_policy, a.touch_policy),
                "certificate_der_base64": pem_body(&a.certificate_pem),
                "intermediate_der_base64": pem_body(&a.intermediate_pem),
            }),
            AttestationOutcome::NotAvailable { device_said } => {
                self.ui.say(&format!(
                    "{name}: NO ATTESTATION: {device_said}; the script allows this \
                     (attestation = \"not-available\"): rehearsal only"
                ));
                json!({
                    "status": "not-available",
                    "device_said": device_said,
                    "allowed_by": "script: attestation = \"not-available\"",
                })
            }
        };
        let evidence = json!({
            "kind": "yubikey",
            "reference": ev.reference.to_string(),
            "serial": ev.serial,
            "firmware": ev.firmware,
            "reader": ev.reader,
            "policy": format!("PIN {}, touch {}", ev.pin_policy, ev.touch_policy),
            "admin_key": ev.management_key,
            "overwrote": ev.overwrote,
            "attestation": attestation,
            "slot_certificate_der_base64": ev.slot_certificate.as_deref().map(pem_body),
            "self_test_verified": ev.self_test_verified,
        });
        Ok((ev.public, evidence))
    }

    /// Open a YubiKey key for signing.
    pub(super) fn open_yubikey(
        &mut self,
        step: &str,
        reference: &str,
        r: &YubiKeyRef,
    ) -> Result<YubiKeySigner> {
        let test_token = yubikey::is_virtual_reader(&yubikey::reader_of(r)?);
        let mut prompt = UiPin {
            ui: &mut *self.ui,
            step: step.to_owned(),
            reference: reference.to_owned(),
            test_token,
        };
        Ok(yubikey::open_signer(r, &mut prompt)?)
    }
}

/// A PEM certificate as one line (its base64 DER): transcript entries are one line.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

impl YubiKeyPrompt for UiPin<'_> {
    fn management_key(&mut self, token: &str) -> std::result::Result<Secret, TokenError> {
        self.ui
            .secret(
                &self.step,
                &SecretRequest {
                    token: format!("{}#management-key", self.reference),
                    kind: SecretKind::ManagementKey,
                    status: Some(token.to_owned()),
                    test_token: self.test_token,
                    confirm: false,
                },
            )
            .map_err(|e| TokenError::Refused {
                token: token.to_owned(),
                reason: e.to_string(),
            })
    }

    fn confirm_overwrite(
        &mut self,
        token: &str,
        what: &str,
    ) -> std::result::Result<bool, TokenError> {
        self.ui
            .confirm(
                &format!("{}-overwrite-slot", self.step),
                &format!(
                    "{token}: {what} already holds a key. The script allows replacing it: \
                     the old key is destroyed for good. Replace it?"
                ),
            )
            .map_err(|e| TokenError::Refused {
                token: token.to_owned(),
                reason: e.to_string(),
            })
    }
}

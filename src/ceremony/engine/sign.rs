//! The sign step: one key signs the draft root; a signature made before an interruption is found and recorded again.

use super::*;

impl Engine<'_> {
    pub(super) fn sign(&mut self, step: &Step, name: &str) -> Result<()> {
        let name = name.to_owned();
        let reference = self.token_ref(&step.id, &name)?;
        let mut doc = self.draft()?;
        let previous = self.current.last().cloned();
        // Close the previous signer first: logging out of a PKCS#11 token ends
        // every session on it, including one opened after it.
        self.seal_signer = None;
        let mut signer = self.open_signer(&step.id, &reference)?;
        let keyid = match sign_root(&mut doc, signer.as_mut(), previous.as_ref()) {
            Ok(id) => id,
            Err(SignError::AlreadySigned { keyid, .. }) if self.state.imported.contains(&keyid) => {
                return Err(usage(format!(
                    "step {}: key {name} ({}) already signed at an earlier site of this signing \
                     event; nothing more to sign with it here. Bind this site's own key with \
                     --token {name}=REF in a new ceremony",
                    step.id,
                    fingerprint(&keyid)
                )));
            }
            Err(SignError::AlreadySigned { keyid, .. }) => {
                // Signed before an interruption; the signature is on disk.
                self.ui.say(&format!(
                    "{name} had already signed before the interruption ({})",
                    fingerprint(&keyid)
                ));
                self.transcript.record(
                    Some(&step.id),
                    Some(&step.actor),
                    &rec::SignatureRecovered {
                        key: name.to_owned(),
                        keyid,
                        metadata: None,
                        version: doc.version(),
                        recovered_after_interruption: true,
                    },
                )?;
                self.seal_signer = Some(signer);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        fsio::replace(&self.work.draft(), &doc.to_json()?, 0o644)?;
        self.ui.say(&format!(
            "signed root version {} with {name} ({}) on {}",
            doc.version(),
            short(&keyid),
            signer.describe()
        ));
        let own = crate::tuf::verify::check_self(&doc)?;
        self.ui.progress(
            own.valid.len(),
            own.threshold as usize,
            &format!(
                "{} signature(s) from the new root's keys; {} required",
                own.valid.len(),
                own.threshold
            ),
        );
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::Signed {
                key: name.to_owned(),
                keyid,
                token: signer.describe(),
                version: doc.version(),
                own_threshold: rec::ThresholdCount {
                    valid: own.valid.len(),
                    required: own.threshold,
                },
            },
        )?;
        self.seal_signer = Some(signer);
        Ok(())
    }
}

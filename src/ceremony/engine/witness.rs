//! The end of a ceremony: each witness bound with `--witness-key` signs the
//! sealed transcript's final hash with their own key, and the signatures are
//! staged into the export (see `crate::ceremony::witness`).

use super::*;
use crate::ceremony::witness::{self as wit, WitnessFile, WitnessSignature};
use crate::keys::SignatureEncoding;

/// Sign `final_hash` with every witness key the run binds and stage
/// `witnesses.json`, the signed message and the `sshsig` files in the export.
pub(super) fn sign_witnesses(
    out: &Path,
    final_hash: &str,
    bindings: &Bindings,
    signed_in: &BTreeMap<String, String>,
    ui: &mut dyn OperatorUi,
    registry: &Registry,
) -> Result<()> {
    if bindings.witnesses.is_empty() {
        return Ok(());
    }
    let message = wit::message(final_hash);
    let mut files: Vec<(String, Vec<u8>)> = vec![(wit::MESSAGE_FILE.into(), message.clone())];
    let mut signatures = Vec::new();
    for (participant, reference) in &bindings.witnesses {
        let step = format!("witness-{participant}");
        ui.say(&format!(
            "witness {participant}: signing the final transcript hash with their own key ({reference})"
        ));
        let name = signed_in.get(participant).cloned();
        let signed_at = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let sig = if let Some(path) = reference.strip_prefix("ssh:") {
            let file = format!("{}/{participant}.sig", wit::WITNESS_DIR);
            let (sig, public) = ssh_sign(ui, &step, reference, Path::new(path), &message)?;
            files.push((file.clone(), sig.into_bytes()));
            WitnessSignature {
                participant: participant.clone(),
                name,
                method: "sshsig".into(),
                key: public.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
                public_key: public
                    .to_openssh()
                    .map_err(|e| usage(format!("{reference}: {e}")))?,
                algorithm: Some(public.algorithm().to_string()),
                signature: file,
                signer: format!("OpenSSH key file {path}"),
                signed_at,
            }
        } else {
            let mut signer = open_witness_signer(ui, registry, &step, reference)?;
            let sig = signer.sign(&message)?;
            let public = signer.public_key().clone();
            public
                .verify(&message, &sig, SignatureEncoding::raw_for(public.algorithm()))
                .map_err(|e| {
                    usage(format!(
                        "witness {participant}: the signature {reference} made does not verify ({e}); nothing was exported"
                    ))
                })?;
            WitnessSignature {
                participant: participant.clone(),
                name,
                method: "raw".into(),
                key: crate::ceremony::transcript::tuf_key_id_of(&public),
                public_key: hex::encode(public.as_bytes()),
                algorithm: Some(public.algorithm().name().into()),
                signature: hex::encode(&sig),
                signer: crate::ceremony::transcript::one_line(&signer.describe()),
                signed_at,
            }
        };
        ui.say(&format!(
            "witness {participant} signed with key {}",
            sig.key
        ));
        signatures.push(sig);
    }
    let file = WitnessFile {
        format: wit::FORMAT.into(),
        transcript_final_hash: final_hash.to_owned(),
        signatures,
    };
    let mut bytes = serde_json::to_vec_pretty(&file).expect("a witness file serialises");
    bytes.push(b'\n');
    files.push((wit::WITNESS_FILE.into(), bytes));
    for (name, bytes) in files {
        bundle::stage(out, &name, &bytes)?;
    }
    Ok(())
}

/// Sign `message` as an `sshsig` with the OpenSSH private key at `path` (its
/// passphrase asked if it is encrypted), verified before it is kept.
fn ssh_sign(
    ui: &mut dyn OperatorUi,
    step: &str,
    reference: &str,
    path: &Path,
    message: &[u8],
) -> Result<(String, ssh_key::PublicKey)> {
    let text = zeroize::Zeroizing::new(crate::inputs::read_file(path)?);
    let bad = |reason: String| Error::Read {
        path: path.display().to_string(),
        reason,
    };
    let mut key = ssh_key::PrivateKey::from_openssh(&*text)
        .map_err(|e| bad(format!("not an OpenSSH private key: {e}")))?;
    if key.is_encrypted() {
        let pass = passphrase(ui, step, reference)?;
        key = key
            .decrypt(pass.expose_secret().as_bytes())
            .map_err(|_| bad("wrong passphrase for this OpenSSH key".into()))?;
    }
    let sig = key
        .sign(wit::SSH_NAMESPACE, ssh_key::HashAlg::Sha512, message)
        .map_err(|e| bad(format!("could not sign: {e}")))?;
    key.public_key()
        .verify(wit::SSH_NAMESPACE, message, &sig)
        .map_err(|e| bad(format!("the signature does not verify: {e}")))?;
    let pem = sig
        .to_pem(ssh_key::LineEnding::LF)
        .map_err(|e| bad(e.to_string()))?;
    Ok((pem, key.public_key().clone()))
}

/// The passphrase of a witness's software key (`soft:`) or OpenSSH key (`ssh:`).
fn passphrase(
    ui: &mut dyn OperatorUi,
    step: &str,
    reference: &str,
) -> Result<crate::secret::Secret> {
    ui.secret(
        step,
        &SecretRequest {
            token: reference.to_owned(),
            kind: SecretKind::Passphrase,
            status: None,
            test_token: false,
            confirm: false,
        },
    )
    .map_err(ui_err)
}

/// Open a witness's token (PIN or passphrase asked through the operator UI).
fn open_witness_signer(
    ui: &mut dyn OperatorUi,
    registry: &Registry,
    step: &str,
    reference: &str,
) -> Result<Box<dyn Signer>> {
    match TokenRef::parse(reference)? {
        TokenRef::Soft(path) => {
            let pass = passphrase(ui, step, reference)?;
            Ok(Box::new(SoftToken::open(&path, &pass)?))
        }
        TokenRef::Pkcs11(uri) => {
            let module = registry.module_for(Some(&uri))?;
            let test_token = module.find_token(&uri)?.manufacturer.starts_with("SoftHSM");
            let mut prompt = UiPin {
                ui,
                step: step.to_owned(),
                reference: reference.to_owned(),
                test_token,
            };
            Ok(Box::new(module.open_signer(&uri, &mut prompt)?))
        }
        TokenRef::YubiKey(r) => {
            let test_token =
                crate::tokens::yubikey::is_virtual_reader(&crate::tokens::yubikey::reader_of(&r)?);
            let mut prompt = UiPin {
                ui,
                step: step.to_owned(),
                reference: reference.to_owned(),
                test_token,
            };
            Ok(Box::new(crate::tokens::yubikey::open_signer(
                &r,
                &mut prompt,
            )?))
        }
    }
}

/// The witness bindings, checked before anything is done: each names a witness
/// of the script, and each key can be read.
pub(super) fn check_witnesses(script: &Script, b: &Bindings, reg: &Registry) -> Result<()> {
    for (participant, reference) in &b.witnesses {
        match script.participant(participant) {
            Some(p) if p.role == crate::ceremony::script::ParticipantRole::Witness => {}
            Some(_) => {
                return Err(usage(format!(
                    "--witness-key {participant}=…: {participant} is not a witness in the script \
                     (a witness signs the transcript; keyholders sign the root)"
                )));
            }
            None => {
                return Err(usage(format!(
                    "--witness-key {participant}=…: the script has no participant {participant:?}"
                )));
            }
        }
        if let Some(path) = reference.strip_prefix("ssh:") {
            let text = zeroize::Zeroizing::new(crate::inputs::read_file(Path::new(path))?);
            ssh_key::PrivateKey::from_openssh(&*text).map_err(|e| Error::Read {
                path: path.to_owned(),
                reason: format!("not an OpenSSH private key: {e}"),
            })?;
        } else {
            crate::tokens::public_key(reference, reg)?;
        }
    }
    Ok(())
}

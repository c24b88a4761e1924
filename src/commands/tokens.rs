//! `ceremony tokens`: list PKCS#11 modules, their tokens and public keys,
//! without a PIN. Also the glue every command uses to reach a PKCS#11 token:
//! which module to load, and how the operator is asked for the PIN.

use crate::cli::{SecretArgs, TokensArgs};
use crate::error::{Error, Result};
use crate::keys::Algorithm;
use crate::secret::Secret;
use crate::tokens::TokenError;
use crate::tokens::pkcs11::{
    GenerationEvidence, PinPrompt, Pkcs11Signer, Pkcs11Uri, default_module_paths,
    resolve_module_path,
};
use crate::tokens::yubikey::{self, PinTries, YubiKeyPrompt, YubiKeyRef, YubiKeySigner};
use crate::tuf::key::{key_id, tuf_key};
use crate::tuf::metadata::Flavour;
use std::path::{Path, PathBuf};

use crate::tokens::pkcs11::registry::Registry;

/// Asks the person at the terminal, or reads `--pin-file` in rehearsals/tests.
/// PINs are never echoed, logged or put in an error.
pub struct OperatorPin<'a> {
    pin_file: Option<&'a Path>,
}

impl<'a> OperatorPin<'a> {
    pub fn new(secrets: &'a SecretArgs) -> Self {
        OperatorPin {
            pin_file: secrets.pin_file.as_deref(),
        }
    }
}

impl PinPrompt for OperatorPin<'_> {
    fn notice(&mut self, message: &str) {
        eprintln!("{message}");
    }

    fn confirm_final_try(&mut self, token: &str) -> Result<bool, TokenError> {
        if self.pin_file.is_some() || !console::Term::stderr().is_term() {
            return Err(TokenError::Refused {
                token: token.to_owned(),
                reason: "one PIN try is left and a wrong PIN locks the token; \
                         this needs a person at a terminal to confirm (a PIN file cannot)"
                    .into(),
            });
        }
        crate::ceremony::ui::typed_confirm(
            &console::Term::stderr(),
            &format!("{token}: ONE PIN try is left; a wrong PIN locks the token. Try the PIN now?"),
        )
        .map_err(|e| TokenError::Refused {
            token: token.to_owned(),
            reason: format!("no confirmation given: {e}"),
        })
    }

    fn user_pin(&mut self, token: &str) -> Result<Secret, TokenError> {
        let pin = if let Some(file) = self.pin_file {
            Secret::from_file(file).map_err(|e| TokenError::Io {
                token: token.to_owned(),
                op: "read the PIN file",
                reason: format!("{}: {e}", file.display()),
            })?
        } else if console::Term::stderr().is_term() {
            dialoguer::Password::new()
                .with_prompt(format!("User PIN for {token}"))
                .interact()
                .map(Secret::new)
                .map_err(|e| TokenError::Refused {
                    token: token.to_owned(),
                    reason: format!("no PIN entered: {e}"),
                })?
        } else {
            return Err(TokenError::Refused {
                token: token.to_owned(),
                reason: "the user PIN is needed and there is no terminal to ask at; \
                         run it at a terminal (or give --pin-file for a rehearsal)"
                    .into(),
            });
        };
        if pin.is_empty() {
            return Err(TokenError::Refused {
                token: token.to_owned(),
                reason: "an empty PIN was given; nothing was sent to the token".into(),
            });
        }
        Ok(pin)
    }
}

/// Open a key on a PKCS#11 token for signing.
pub fn open_signer(uri: &Pkcs11Uri, secrets: &SecretArgs, reg: &Registry) -> Result<Pkcs11Signer> {
    let module = reg.module_for(Some(uri))?;
    Ok(module.open_signer(uri, &mut OperatorPin::new(secrets))?)
}

/// Generate a key on a PKCS#11 token.
pub fn generate(
    uri: &Pkcs11Uri,
    algorithm: Algorithm,
    secrets: &SecretArgs,
    reg: &Registry,
) -> Result<GenerationEvidence> {
    if secrets.passphrase_file.is_some() {
        return Err(Error::Usage(
            "--passphrase-file is for software keys; a PKCS#11 token takes --pin-file \
             (rehearsals) or asks for its PIN"
                .into(),
        ));
    }
    let module = reg.module_for(Some(uri))?;
    Ok(module.generate(uri, algorithm, &mut OperatorPin::new(secrets))?)
}

/// Print the generation evidence, as the transcript records it.
pub fn print_evidence(ev: &GenerationEvidence) {
    let yes_no = |b: bool| if b { "yes" } else { "NO" };
    let key = tuf_key(&ev.public);
    println!("generated {} key on the token", ev.algorithm);
    println!("key: {}", ev.uri);
    println!("key ID (TUF): {}", key_id(&key, Flavour::Tuf));
    println!(
        "token: label {:?}, serial {}, manufacturer {:?}, model {:?}",
        ev.token_label, ev.token_serial, ev.token_manufacturer, ev.token_model
    );
    println!("curve parameters: {}", ev.ec_params);
    println!("generated on the token (CKA_LOCAL): {}", yes_no(ev.local));
    println!(
        "always sensitive (CKA_ALWAYS_SENSITIVE): {}",
        yes_no(ev.always_sensitive)
    );
    println!(
        "never extractable (CKA_NEVER_EXTRACTABLE): {}",
        yes_no(ev.never_extractable)
    );
    println!(
        "sensitive: {}, extractable: {}",
        yes_no(ev.sensitive),
        yes_no(ev.extractable)
    );
    println!(
        "self-test: signed on the token, verified in software: {}",
        yes_no(ev.self_test_verified)
    );
}

/// `ceremony tokens`: PKCS#11 tokens, then YubiKeys.
pub fn run(args: TokensArgs, reg: &Registry) -> Result<()> {
    let result = run_pkcs11(args, reg);
    list_yubikeys();
    result
}

fn run_pkcs11(_args: TokensArgs, reg: &Registry) -> Result<()> {
    let paths: Vec<PathBuf> = match reg.explicit().map(Path::to_path_buf) {
        Some(p) => vec![p],
        None => {
            // The same module is often installed under two names (a symlink).
            let mut seen = Vec::new();
            default_module_paths()
                .into_iter()
                .filter(|p| p.is_file())
                .filter(|p| {
                    let real = p.canonicalize().unwrap_or_else(|_| p.clone());
                    let new = !seen.contains(&real);
                    seen.push(real);
                    new
                })
                .collect()
        }
    };
    if paths.is_empty() {
        // Let the resolver produce its error, naming every place it looked.
        resolve_module_path(None, None)?;
    }
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(e) = list_module(path, reg) {
            eprintln!("error: {e}");
            failures.push(e);
        }
    }
    match failures.into_iter().next() {
        Some(e) if paths.len() == 1 => Err(e),
        _ => Ok(()),
    }
}

fn list_module(path: &Path, reg: &Registry) -> Result<()> {
    let resolved = resolve_module_path(Some(path), None)?;
    let module = reg.load(&resolved)?;
    println!("module {}", module.path().display());
    println!("  {}", module.describe()?);
    let tokens = module.tokens()?;
    if tokens.is_empty() {
        println!("  no tokens present");
    }
    for token in &tokens {
        println!("  {}", token.name());
        println!("    uri: {}", token.uri());
        println!(
            "    manufacturer: {:?}, model: {:?}",
            token.manufacturer, token.model
        );
        println!("    flags: {}", token.flags());
        if !token.initialized {
            println!("    (a free slot: initialise a token in it with the vendor's tools)");
            continue;
        }
        let keys = match module.public_keys(token) {
            Ok(k) => k,
            Err(e) => {
                println!("    public keys: cannot be listed: {e}");
                continue;
            }
        };
        if keys.is_empty() {
            println!("    public keys: none");
        } else {
            println!("    public keys:");
        }
        for k in keys {
            let uri = token.key_uri(&k.label, &k.id);
            match &k.public {
                Ok(public) => println!(
                    "      {uri}\n        {}, key ID (TUF) {}",
                    public.algorithm(),
                    key_id(&tuf_key(public), Flavour::Tuf)
                ),
                Err(reason) => println!("      {uri}\n        not usable here: {reason}"),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- YubiKeys

/// List connected YubiKeys (no PIN asked, no PIN try spent). No PC/SC service
/// or no YubiKey is said plainly and is not an error.
fn list_yubikeys() {
    println!("YubiKeys (PIV over PC/SC)");
    let (keys, held) = match yubikey::list() {
        Ok(k) => k,
        Err(reason) => {
            println!("  none listed: {reason}");
            return;
        }
    };
    if keys.is_empty() && held.is_empty() {
        println!("  no YubiKey is connected");
    }
    for reader in &held {
        println!("  reader {reader:?}: its card is held by another program");
        println!("    {}", yubikey::HELD);
    }
    for k in keys {
        println!(
            "  YubiKey serial {}, firmware {}, reader {:?}",
            k.serial, k.firmware, k.reader
        );
        println!("    reference: yubikey:serial={};slot=9c", k.serial);
        match k.pin_retries {
            Ok(PinTries::Blocked) => println!("    PIN: BLOCKED (unblock with the PUK)"),
            Ok(PinTries::Left(1)) => println!("    PIN: ONE try left"),
            Ok(PinTries::Left(n)) => println!("    PIN: {n} tries left"),
            Ok(PinTries::Verified) => {
                println!("    PIN: verified in this card session (tries left not reported)")
            }
            Err(e) => println!("    PIN: tries left cannot be read ({e})"),
        }
        if k.occupied.is_empty() {
            println!("    signing slots with keys: none");
        } else {
            println!("    signing slots with keys:");
            for (slot, what) in k.occupied {
                println!("      {slot}: {what}");
            }
        }
    }
}

impl YubiKeyPrompt for OperatorPin<'_> {
    fn management_key(&mut self, token: &str) -> Result<Secret, TokenError> {
        if !console::Term::stderr().is_term() {
            return Err(TokenError::Refused {
                token: token.to_owned(),
                reason: "the PIV management key is needed and there is no terminal to ask at \
                         (it is never read from a file or the command line)"
                    .into(),
            });
        }
        dialoguer::Password::new()
            .with_prompt(format!("PIV management key (hex) for {token}"))
            .interact()
            .map(Secret::new)
            .map_err(|e| TokenError::Refused {
                token: token.to_owned(),
                reason: format!("no management key entered: {e}"),
            })
    }

    fn confirm_overwrite(&mut self, token: &str, what: &str) -> Result<bool, TokenError> {
        // `ceremony key generate` never overwrites; only a script may allow it.
        Err(TokenError::Refused {
            token: token.to_owned(),
            reason: format!("{what} is occupied; key material is never overwritten here"),
        })
    }
}

/// Open a key on a YubiKey for signing.
pub fn open_yubikey_signer(r: &YubiKeyRef, secrets: &SecretArgs) -> Result<YubiKeySigner> {
    Ok(yubikey::open_signer(r, &mut OperatorPin::new(secrets))?)
}

/// Generate a key on a YubiKey with the root-key defaults (PIN always, touch
/// always, attestation required, never under the default management key).
pub fn generate_yubikey(
    r: &YubiKeyRef,
    algorithm: Algorithm,
    secrets: &SecretArgs,
) -> Result<yubikey::GenerationEvidence> {
    let opts = yubikey::GenerateOptions::root_defaults(algorithm, &format!("ceremony {r}"));
    Ok(yubikey::generate(r, &opts, &mut OperatorPin::new(secrets))?)
}

/// Print a YubiKey generation's evidence, as the transcript records it.
pub fn print_yubikey_evidence(ev: &yubikey::GenerationEvidence) {
    let key = tuf_key(&ev.public);
    println!("generated {} key in the YubiKey", ev.algorithm);
    println!("key: {}", ev.reference);
    println!("key ID (TUF): {}", key_id(&key, Flavour::Tuf));
    println!(
        "YubiKey serial {}, firmware {}, reader {:?}",
        ev.serial, ev.firmware, ev.reader
    );
    println!(
        "PIN policy {}, touch policy {}; management key: {}",
        ev.pin_policy, ev.touch_policy, ev.management_key
    );
    match &ev.attestation {
        yubikey::AttestationOutcome::Verified(a) => println!(
            "attestation: verified to {} (serial {}, firmware {}, PIN policy {}, touch policy {})",
            a.root_subject, a.serial, a.firmware, a.pin_policy, a.touch_policy
        ),
        yubikey::AttestationOutcome::NotAvailable { device_said } => {
            println!("attestation: NOT AVAILABLE ({device_said})")
        }
    }
    println!(
        "self-test: signed on the YubiKey, verified in software: {}",
        if ev.self_test_verified { "yes" } else { "NO" }
    );
}

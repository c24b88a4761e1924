//! One module per subcommand; this file dispatches and holds what they share.

pub mod bundle;
pub mod key;
pub mod keystore;
pub mod publish;
pub mod qr;
pub mod rehearse;
pub mod request;
pub mod root;
pub mod run;
pub mod tokens;
pub mod transcript;
pub mod verify;

use crate::cli::{
    Cli, Command, FlavourArg, KeyCommand, KeystoreCommand, QrCommand, RootCommand, SecretArgs,
    TranscriptCommand,
};
use crate::error::{Error, Result};
use crate::fsio;
use crate::secret::Secret;
use crate::tokens::Signer;
use crate::tokens::pkcs11::registry::Registry;
use crate::tokens::reference::TokenRef;
use crate::tokens::soft::SoftToken;
use crate::tuf::document::RootDocument;
use crate::tuf::metadata::Flavour;
use std::path::Path;

pub fn run(cli: Cli) -> Result<()> {
    let registry = Registry::new(cli.module);
    let result = dispatch(cli.command, &registry);
    // Finalise PKCS#11 modules before the process ends.
    drop(registry);
    result
}

fn dispatch(command: Command, reg: &Registry) -> Result<()> {
    match command {
        Command::Run(args) => run::run(args, reg),
        Command::Rehearse(args) => rehearse::run(args, reg),
        Command::Verify(args) => verify::run(args),
        Command::Root(cmd) => match cmd {
            RootCommand::Create(a) => root::create(a, reg),
            RootCommand::AddKey(a) => root::add_key(a, reg),
            RootCommand::RemoveKey(a) => root::remove_key(a),
            RootCommand::SetThreshold(a) => root::set_threshold(a),
            RootCommand::SetExpiry(a) => root::set_expiry(a),
            RootCommand::BumpVersion(a) => root::bump_version(a),
            RootCommand::Sign(a) => root::sign(a, reg),
            RootCommand::Inspect(a) => root::inspect(a),
        },
        Command::Key(cmd) => match cmd {
            KeyCommand::Generate(a) => key::generate(a, reg),
            KeyCommand::Show(a) => key::show(a, reg),
        },
        Command::Transcript(cmd) => match cmd {
            TranscriptCommand::Verify(a) => transcript::verify(a),
            TranscriptCommand::Report(a) => transcript::report(a),
        },
        Command::AirgapCheck(a) => transcript::airgap_check(a),
        Command::Tokens(a) => tokens::run(a, reg),
        Command::Request(a) => request::run(a),
        Command::Publish(a) => publish::run(a),
        Command::BundleVerify(a) => bundle::verify(a),
        Command::Keystore(cmd) => match cmd {
            KeystoreCommand::Export(a) => keystore::export(a),
        },
        Command::Qr(cmd) => match cmd {
            QrCommand::Encode(a) => qr::encode(a),
            QrCommand::Show(a) => qr::show(a),
            QrCommand::Decode(a) => qr::decode(a),
        },
    }
}

pub fn flavour(arg: FlavourArg) -> Flavour {
    match arg {
        FlavourArg::Tuf => Flavour::Tuf,
        FlavourArg::Notary => Flavour::Notary,
    }
}

pub use crate::inputs::{read_file, read_root};

/// Write a root to a new file (never over an existing one).
pub fn write_root_new(path: &Path, doc: &RootDocument) -> Result<()> {
    fsio::write_new(path, &doc.to_json()?, 0o644)?;
    Ok(())
}

/// Where the passphrase of a software token comes from: a file named on the
/// command line (rehearsals, tests), or the person at the terminal.
pub fn passphrase(prompt_for: &str, secrets: &SecretArgs, confirm: bool) -> Result<Secret> {
    if let Some(file) = &secrets.passphrase_file {
        return Secret::from_file(file).map_err(|e| Error::Read {
            path: file.display().to_string(),
            reason: e.to_string(),
        });
    }
    if !console::Term::stderr().is_term() {
        return Err(Error::Usage(format!(
            "{prompt_for} needs a passphrase and there is no terminal to ask at; \
             run it at a terminal (or give --passphrase-file for a rehearsal)"
        )));
    }
    let mut prompt = dialoguer::Password::new().with_prompt(format!("Passphrase for {prompt_for}"));
    if confirm {
        prompt = prompt.with_confirmation("Repeat the passphrase", "The passphrases differ");
    }
    prompt
        .interact()
        .map(Secret::new)
        .map_err(|e| Error::Usage(format!("no passphrase entered: {e}")))
}

/// Open a token's signing key.
pub fn open_signer(
    reference: &str,
    secrets: &SecretArgs,
    reg: &Registry,
) -> Result<Box<dyn Signer>> {
    match TokenRef::parse(reference)? {
        TokenRef::Soft(path) => {
            let pass = passphrase(reference, secrets, false)?;
            Ok(Box::new(SoftToken::open(&path, &pass)?))
        }
        TokenRef::Pkcs11(uri) => Ok(Box::new(tokens::open_signer(&uri, secrets, reg)?)),
        TokenRef::YubiKey(r) => Ok(Box::new(tokens::open_yubikey_signer(&r, secrets)?)),
    }
}

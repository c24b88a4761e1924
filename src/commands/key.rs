//! `ceremony key`: generate a key on a token; show a token's public key.

use super::{flavour, passphrase};
use crate::cli::{AlgorithmArg, KeyGenerateArgs, KeyShowArgs};
use crate::error::{Error, Result};
use crate::keys::Algorithm;
use crate::tokens::pkcs11::registry::Registry;
use crate::tokens::public_key as token_public_key;
use crate::tokens::reference::TokenRef;
use crate::tokens::soft::SoftToken;
use crate::tuf::key::{key_id, notary_key, tuf_key};
use crate::tuf::metadata::Flavour;

pub fn algorithm(arg: AlgorithmArg) -> Algorithm {
    match arg {
        AlgorithmArg::Ed25519 => Algorithm::Ed25519,
        AlgorithmArg::EcdsaP256 => Algorithm::EcdsaP256,
        AlgorithmArg::Rsa => Algorithm::Rsa,
    }
}

pub fn generate(args: KeyGenerateArgs, reg: &Registry) -> Result<()> {
    let alg = algorithm(args.algorithm);
    match TokenRef::parse(&args.token)? {
        TokenRef::Soft(path) => {
            if path.exists() {
                return Err(Error::Token(crate::tokens::TokenError::Exists {
                    path: path.display().to_string(),
                }));
            }
            eprintln!(
                "note: software keys are for rehearsals, tests and backups, not production roots"
            );
            let pass = passphrase(&args.token, &args.secrets, true)?;
            let public = SoftToken::generate(&path, alg, &pass)?;
            let key = tuf_key(&public);
            println!("generated {alg} key on {}", args.token);
            println!("key ID (TUF): {}", key_id(&key, Flavour::Tuf));
            println!(
                "public key file: {}",
                crate::tokens::soft::public_path(&path).display()
            );
        }
        TokenRef::Pkcs11(uri) => {
            let evidence = super::tokens::generate(&uri, alg, &args.secrets, reg)?;
            super::tokens::print_evidence(&evidence);
        }
        TokenRef::YubiKey(r) => {
            let evidence = super::tokens::generate_yubikey(&r, alg, &args.secrets)?;
            super::tokens::print_yubikey_evidence(&evidence);
        }
    }
    Ok(())
}

pub fn show(args: KeyShowArgs, reg: &Registry) -> Result<()> {
    let public = token_public_key(&args.token, reg)?;
    let fl = flavour(args.flavour);
    let key = match fl {
        Flavour::Tuf => tuf_key(&public),
        Flavour::Notary => notary_key(&public),
    };
    let id = key_id(&key, fl);
    eprintln!("key ID: {id}");
    println!(
        "{}",
        serde_json::to_string_pretty(&key).expect("serialises")
    );
    Ok(())
}

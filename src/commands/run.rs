//! `ceremony run`: the guided ceremony.

use crate::ceremony::engine::{Bindings, Engine};
use crate::ceremony::script::Script;
use crate::ceremony::ui::{Answers, OperatorUi, ScriptedUi, TerminalUi};
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::online::request::Request;
use crate::tokens::pkcs11::registry::Registry;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn pairs(values: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for v in values {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("{flag} {v:?} must look like NAME=VALUE")))?;
        if out.insert(k.to_owned(), val.to_owned()).is_some() {
            return Err(Error::Usage(format!("{flag}: {k} is given twice")));
        }
    }
    Ok(out)
}

pub fn run(args: RunArgs, reg: &Registry) -> Result<()> {
    let answers = match &args.answers {
        Some(path) => {
            let text = crate::inputs::read_text(path)?;
            Some(
                Answers::parse(&text, &path.display().to_string())
                    .map_err(|e| Error::Usage(e.to_string()))?,
            )
        }
        None => None,
    };
    // The script and what the command line binds to it are read and checked before
    // anything else: a bad script is named as such, whoever runs it, wherever.
    let prepared = if args.resume {
        None
    } else {
        Some(prepare(&args)?)
    };
    let mut ui: Box<dyn OperatorUi> = match answers {
        Some(answers) => Box::new(ScriptedUi::new(answers, std::io::stdout())),
        None => {
            if !console::Term::stderr().is_term() {
                return Err(Error::Usage(
                    "a ceremony needs people at a terminal; for an unattended rehearsal give --answers FILE".into(),
                ));
            }
            Box::new(TerminalUi::default())
        }
    };
    if args.resume {
        refuse_options_resume_ignores(&args)?;
    }
    if args.resume
        && let Some(hash) = Engine::finish_sealed(&args.workdir, ui.as_mut(), reg)?
    {
        println!("transcript hash: {hash}");
        return Ok(());
    }
    let engine = match prepared {
        None => Engine::resume(&args.workdir, args.allow_network, ui.as_mut(), reg)?,
        Some((text, name, bindings)) => {
            Engine::start(&text, &name, &args.workdir, bindings, ui.as_mut(), reg)?
        }
    };
    let hash = engine.run()?;
    println!("transcript hash: {hash}");
    Ok(())
}

/// Read the script, apply `--set`, check it, and bind the command line's tokens,
/// keys and inputs to it: everything a new run needs before anyone is asked
/// anything. Returns the script text, its name, and the bindings.
fn prepare(args: &RunArgs) -> Result<(String, String, Bindings)> {
    let script = args.script.clone().expect("clap requires it");
    let text = crate::inputs::read_text(&script)?;
    let mut set = pairs(&args.set, "--set")?;
    let request = match &args.request {
        Some(dir) => Some(Request::open_shared(dir)?),
        None => None,
    };
    let batch = request.as_ref().is_some_and(|r| r.len() > 1);
    let input = match &request {
        Some(r) if batch => {
            match set.get("flavour") {
                Some(given) if given != r.flavour.name() => {
                    return Err(Error::Usage(format!(
                        "--set flavour={given}, but the request bundle is for flavour {}",
                        r.flavour.name()
                    )));
                }
                _ => {
                    set.insert("flavour".into(), r.flavour.name().to_owned());
                }
            }
            None
        }
        Some(r) => {
            let input = r.single()?;
            for (param, value) in [
                ("repository", input.repository.clone()),
                ("flavour", r.flavour.name().to_owned()),
            ] {
                match set.get(param) {
                    Some(given) if *given != value => {
                        return Err(Error::Usage(format!(
                            "--set {param}={given}, but the request bundle is for {param} {value}"
                        )));
                    }
                    _ => {
                        set.insert(param.into(), value);
                    }
                }
            }
            Some(input)
        }
        None => None,
    };
    if let Some(dir) = &args.previous {
        // A further site of a signing event signs the event's repository.
        let previous = crate::ceremony::event::Previous::open(dir)?;
        for (param, value) in [
            ("repository", previous.event.repository.clone()),
            ("flavour", previous.event.flavour.clone()),
        ] {
            match set.get(param) {
                Some(given) if *given != value => {
                    return Err(Error::Usage(format!(
                        "--set {param}={given}, but the signing event in {} is for {param} {value}",
                        dir.display()
                    )));
                }
                _ => {
                    set.insert(param.into(), value);
                }
            }
        }
    }
    let approved = crate::ceremony::engine::ApprovedScript {
        text: text.to_string(),
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
        overrides: set.clone(),
    };
    let text = apply_overrides(&text, &set, &script.display().to_string())?;
    let mut keyfiles = BTreeMap::new();
    for (k, v) in pairs(&args.keys, "--key")? {
        let path = v.strip_prefix("keyfile:").ok_or_else(|| {
            Error::Usage(format!(
                "--key {k}={v}: public keys are given as keyfile:PATH"
            ))
        })?;
        keyfiles.insert(k, PathBuf::from(path));
    }
    let tokens = pairs(&args.tokens, "--token")?;
    let mut current = args.current.clone();
    let mut revoke = args.revoke.clone();
    if let Some(input) = &input {
        // The request supplies the public keys of the online roles the script
        // does not generate and the command line does not bind.
        let parsed = Script::parse(&text, &script.display().to_string())
            .map_err(|e| Error::Usage(e.to_string()))?;
        for (name, spec) in &parsed.keys {
            if spec.generate || tokens.contains_key(name) || keyfiles.contains_key(name) {
                continue;
            }
            if let Some(path) = input.keys.get(spec.role.name()) {
                keyfiles.insert(name.clone(), path.clone());
            }
        }
        if input.current_dir.is_some() {
            if current.is_some() {
                return Err(Error::Usage(
                    "--current and --request both give the current root chain: give one".into(),
                ));
            }
            current = input.current_dir.clone();
        }
        if !input.revoke.is_empty() {
            if !revoke.is_empty() && revoke != input.revoke {
                return Err(Error::Usage(
                    "--revoke and the request bundle name different keys to remove: give one"
                        .into(),
                ));
            }
            revoke = input.revoke.clone();
        }
    }
    // The request was checked and read; the engine uses it again where needed.
    drop(request);
    let mut bindings = Bindings {
        tokens,
        keyfiles,
        current,
        revoke,
        request: args.request.clone(),
        batch,
        out: args.out.clone().expect("clap requires it"),
        allow_network: args.allow_network,
        targets: args.targets.clone(),
        trusted: args.trusted.clone(),
        backups: {
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for b in &args.backups {
                let (k, r) = b.split_once('=').ok_or_else(|| {
                    Error::Usage(format!("--backup {b:?} must look like NAME=RECIPIENT"))
                })?;
                m.entry(k.to_owned()).or_default().push(r.to_owned());
            }
            m
        },
        backup_dir: args.backup_dir.clone(),
        targets_decision: None,
        approved_script: Some(approved),
        previous: args.previous.clone(),
        witnesses: pairs(&args.witness_keys, "--witness-key")?,
    };
    bindings.targets_decision = match input.as_ref().and_then(|i| i.targets_review.as_ref()) {
        Some(review) => Some(
            review
                .decide(
                    &args.keep_targets,
                    &args.drop_targets,
                    args.keep_targets_before,
                )
                .map_err(|e| {
                    Error::Usage(format!(
                        "the request reviews the current targets of {}: {e}",
                        review.repository
                    ))
                })?,
        ),
        None if !args.keep_targets.is_empty()
            || !args.drop_targets.is_empty()
            || args.keep_targets_before.is_some() =>
        {
            return Err(Error::Usage(
                "--keep-target, --drop-target and --keep-targets-before decide on the targets \
                 a request bundle reviews (a Notary repository's, fetched by `ceremony request \
                 --server`), and this run has none"
                    .into(),
            ));
        }
        None => None,
    };
    crate::fsio::new_output(&bindings.out)?;
    let partial = crate::transfer::bundle::staging_dir(&bindings.out);
    if partial.exists() {
        return Err(crate::transfer::bundle::BundleError::Partial {
            path: partial.display().to_string(),
        }
        .into());
    }
    Script::parse(&text, &script.display().to_string()).map_err(|e| Error::Usage(e.to_string()))?;
    Ok((text, script.display().to_string(), bindings))
}

/// A resume continues the ceremony as it was started: its script, tokens, keys,
/// inputs and parameters are recorded in the work directory. Options that would
/// change them are refused, by name, rather than silently ignored.
fn refuse_options_resume_ignores(args: &RunArgs) -> Result<()> {
    let given: Vec<&str> = [
        ("a script", args.script.is_some()),
        ("--out", args.out.is_some()),
        ("--token", !args.tokens.is_empty()),
        ("--key", !args.keys.is_empty()),
        ("--current", args.current.is_some()),
        ("--trusted", args.trusted.is_some()),
        ("--backup", !args.backups.is_empty()),
        ("--backup-dir", args.backup_dir.is_some()),
        ("--targets", args.targets.is_some()),
        ("--revoke", !args.revoke.is_empty()),
        ("--request", args.request.is_some()),
        ("--previous", args.previous.is_some()),
        ("--witness-key", !args.witness_keys.is_empty()),
        ("--set", !args.set.is_empty()),
        ("--keep-target", !args.keep_targets.is_empty()),
        ("--drop-target", !args.drop_targets.is_empty()),
        ("--keep-targets-before", args.keep_targets_before.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--resume continues the ceremony in {} exactly as it was started (its script, tokens, \
         keys, inputs and parameters are recorded there), so it does not take {}. It takes only \
         --workdir, --answers and --allow-network: ceremony run --resume --workdir {}. To change \
         what the ceremony does, start a new one in a new work directory.",
        args.workdir.display(),
        given.join(", "),
        args.workdir.display()
    )))
}

/// The value of one `--set KEY=VALUE`, checked against what the parameter holds, so
/// that a refusal names the option as typed (not a line of the re-written script).
fn set_value(key: &str, value: &str) -> Result<toml::Value> {
    let bad = |what: &str| Error::Usage(format!("--set {key}={value}: {what}"));
    match key {
        "expires_days" | "root_threshold" | "delegation_threshold" => {
            let whole = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            match value.parse::<u32>() {
                Ok(n) if whole && n >= 1 => Ok(toml::Value::Integer(n.into())),
                _ => Err(bad("a whole number from 1 up is needed")),
            }
        }
        "flavour" => match value {
            "tuf" | "notary" => Ok(toml::Value::String(value.into())),
            _ => Err(bad("the flavour is tuf or notary")),
        },
        "allow_default_management_key" | "signing_event" => match value {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            _ => Err(bad("true or false")),
        },
        "repository" | "delegation" | "expires" => Ok(toml::Value::String(value.into())),
        _ => Err(Error::Usage(format!(
            "--set {key}: not a script parameter (parameters: repository, flavour, \
             expires_days, expires, root_threshold, delegation, delegation_threshold, \
             allow_default_management_key, signing_event)"
        ))),
    }
}

/// Apply `--set KEY=VALUE` to the script's `[parameters]`. The patched script is
/// what the run records and resumes with.
pub fn apply_overrides(text: &str, set: &BTreeMap<String, String>, file: &str) -> Result<String> {
    if set.is_empty() {
        return Ok(text.to_owned());
    }
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::Usage(format!("{file}: {}", e.message())))?;
    let params = table
        .get_mut("parameters")
        .and_then(|p| p.as_table_mut())
        .ok_or_else(|| Error::Usage(format!("{file}: no [parameters] table to override")))?;
    for (k, v) in set {
        let value = set_value(k, v)?;
        params.insert(k.clone(), value);
    }
    Ok(toml::to_string(&table).expect("a table serialises"))
}

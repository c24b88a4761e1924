//! The parser-differential corpus (`tests/data/differential`, made by its
//! `make.py`): roots crafted so that one reader sees one thing and another reader
//! another. Each is judged live by an independent reader, python-tuf for TUF and,
//! for Notary, a program built from Notary's own Go source (the stock client's
//! decoder and root validation: `test-support/notary-judge`). What must hold:
//! - the judge's verdict is the one the corpus records (the corpus documents what
//!   the clients really do);
//! - our verdict is the one the corpus records, refusals with the error it names;
//! - wherever we accept, the judge accepts too and reads the same root: the same
//!   version, expiry, keys, roles, thresholds and valid signatures. Where a judge
//!   accepts something unsafe (a shadow field, a small-order key), we refuse.

use super::common::python;
use ceremony::commands::verify::read_root_dir;
use ceremony::tuf::document::RootDocument;
use ceremony::tuf::metadata::Flavour;
use ceremony::tuf::verify::{ChainOptions, verify_chain};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUN: &str = "example.com/differential/app";

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/differential")
}

struct Case {
    flavour: String,
    name: String,
    judge_accepts: bool,
    we_accept: bool,
    error: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus().join("cases.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "cases.tsv line {l:?}");
            Case {
                flavour: f[0].into(),
                name: f[1].into(),
                judge_accepts: f[2] == "accept",
                we_accept: f[3] == "accept",
                error: f[4].into(),
            }
        })
        .collect()
}

/// The Notary judge, built by scripts/test-all from Debian's Notary source.
pub fn notary_judge() -> PathBuf {
    let path = std::env::var_os("NOTARY_JUDGE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/notary-judge"));
    assert!(
        path.exists(),
        "the Notary judge is not built at {}: run scripts/test-all, which builds it from \
         Debian's Notary source (golang-github-docker-notary-dev)",
        path.display()
    );
    path
}

fn chain_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_suffix(".root.json")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// What we make of a case: the newest root as we read it, or our error.
fn ours(flavour: Flavour, dir: &Path) -> Result<Value, String> {
    let docs = read_root_dir(dir, None).map_err(|e| e.to_string())?;
    let options = ChainOptions {
        now: chrono::Utc::now(),
        gun: (flavour == Flavour::Notary).then(|| GUN.to_owned()),
    };
    let report = verify_chain(None, docs, &options).map_err(|e| e.to_string())?;
    let latest: &RootDocument = &report.latest;
    let root = latest.root();
    let mut valid: Vec<String> = report.steps.last().unwrap().by_self.valid.clone();
    valid.sort();
    let keys: Map<String, Value> = root
        .keys
        .iter()
        .map(|(id, k)| {
            let mut v = json!({"keytype": k.keytype, "public": k.keyval.public});
            if flavour == Flavour::Tuf {
                v["scheme"] = json!(k.scheme);
            }
            (id.clone(), v)
        })
        .collect();
    let roles: Map<String, Value> = root
        .roles
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                json!({"keyids": r.keyids, "threshold": r.threshold}),
            )
        })
        .collect();
    let mut view = json!({
        "version": root.version,
        "expires": root.expires,
        "consistent_snapshot": root.consistent_snapshot.unwrap_or(false),
        "keys": keys,
        "roles": roles,
        "valid": valid,
    });
    if flavour == Flavour::Tuf {
        view["spec_version"] = json!(root.spec_version);
    }
    Ok(view)
}

/// The judge's view, reduced to the fields ours has.
fn judge_view(flavour: Flavour, raw: &Value) -> Value {
    match flavour {
        Flavour::Tuf => raw.clone(),
        Flavour::Notary => {
            let root = raw["roots"].as_array().unwrap().last().unwrap();
            json!({
                "version": root["version"],
                "expires": root["expires"],
                "consistent_snapshot": root["consistent_snapshot"],
                "keys": root["keys"],
                "roles": root["roles"],
                "valid": root["valid"],
            })
        }
    }
}

/// The verdicts of python-tuf on every TUF case, in one process.
fn python_tuf_verdicts(cases: &[&Case]) -> BTreeMap<String, (bool, String, Value)> {
    let dirs: Vec<PathBuf> = cases
        .iter()
        .map(|c| corpus().join("tuf").join(&c.name))
        .collect();
    let out = Command::new(python())
        .arg(super::common::interop_script("tuf_judge.py"))
        .args(&dirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["case"].as_str().unwrap().to_owned(),
                (
                    v["accepted"].as_bool().unwrap(),
                    v["error"].as_str().unwrap_or("").to_owned(),
                    v["view"].clone(),
                ),
            )
        })
        .collect()
}

fn notary_verdict(dir: &Path) -> (bool, String, Value) {
    let out = Command::new(notary_judge())
        .arg(GUN)
        .args(chain_files(dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "notary-judge on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["accepted"].as_bool().unwrap(),
        v["error"].as_str().unwrap_or("").to_owned(),
        v,
    )
}

#[test]
fn every_crafted_root_is_read_by_us_as_the_clients_read_it_or_refused() {
    let all = cases();
    assert!(all.len() >= 150, "the corpus has {} cases", all.len());
    let tuf_cases: Vec<&Case> = all.iter().filter(|c| c.flavour == "tuf").collect();
    let mut verdicts = python_tuf_verdicts(&tuf_cases);
    let mut failures = Vec::new();
    let (mut refused_by_us, mut accepted_by_both, mut unsafe_accepted_by_judge) = (0, 0, 0);
    for case in &all {
        let flavour = match case.flavour.as_str() {
            "tuf" => Flavour::Tuf,
            _ => Flavour::Notary,
        };
        let dir = corpus().join(&case.flavour).join(&case.name);
        let (judge_ok, judge_error, judge_raw) = match flavour {
            Flavour::Tuf => verdicts
                .remove(&case.name)
                .unwrap_or_else(|| panic!("python-tuf gave no verdict on {}", case.name)),
            Flavour::Notary => notary_verdict(&dir),
        };
        let id = format!("{}/{}", case.flavour, case.name);
        if judge_ok != case.judge_accepts {
            failures.push(format!(
                "{id}: the judge {} it ({judge_error}), the corpus says it {}",
                if judge_ok { "accepts" } else { "refuses" },
                if case.judge_accepts {
                    "accepts"
                } else {
                    "refuses"
                }
            ));
        }
        match ours(flavour, &dir) {
            Ok(view) => {
                if !case.we_accept {
                    failures.push(format!(
                        "{id}: we accept it; we must refuse it ({})",
                        case.error
                    ));
                } else if !judge_ok {
                    failures.push(format!(
                        "{id}: we accept what the judge refuses: {judge_error}"
                    ));
                } else if judge_view(flavour, &judge_raw) != view {
                    failures.push(format!(
                        "{id}: read differently\n  judge: {}\n  ours:  {view}",
                        judge_view(flavour, &judge_raw)
                    ));
                } else {
                    accepted_by_both += 1;
                }
            }
            Err(e) => {
                refused_by_us += 1;
                if judge_ok {
                    unsafe_accepted_by_judge += 1;
                }
                if case.we_accept {
                    failures.push(format!("{id}: we refuse it: {e}"));
                } else if !e.contains(&case.error) {
                    failures.push(format!(
                        "{id}: refused, but the error does not say {:?}: {e}",
                        case.error
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    eprintln!(
        "differential corpus: {} cases; {accepted_by_both} accepted and read the same by us and \
         the judge; {refused_by_us} refused by us, {unsafe_accepted_by_judge} of them accepted by \
         the judge",
        all.len()
    );
}

/// What the room hears before it signs a TUF root that carries fields no client
/// acts on: each one, by path (here a producer's note in `signed`).
#[test]
fn the_read_aloud_summary_names_every_unknown_field() {
    let dir = corpus().join("tuf/unknown-field-in-signed-kept");
    let doc = read_root_dir(&dir, None).unwrap().remove(0);
    let summary = ceremony::ceremony::engine::summary(&doc, None, "");
    assert!(
        summary.contains(
            "other fields, signed as they are (no client acts on them): $.signed.x-producer-note"
        ),
        "{summary}"
    );
    let plain = read_root_dir(&corpus().join("tuf/baseline"), None)
        .unwrap()
        .remove(0);
    assert!(!ceremony::ceremony::engine::summary(&plain, None, "").contains("other fields"));
}

//! Field names every client of a flavour reads the same way.
//!
//! A signed file is only as safe as the least careful reader of it. Go's
//! `encoding/json` (Notary's client reads metadata with a fork of it, go-tuf with
//! the standard one) matches a JSON field to a struct field case-insensitively,
//! folding the Kelvin sign `K` (U+212A) onto `k` and the long s `ſ` (U+017F) onto
//! `s`, and when several match, the last one wins. So a root holding the real
//! `"keys"` followed by `"Keys"` is read by us (and by python-tuf) with the real
//! keys, and by a Notary client with the attacker's. The same holds at every level:
//! a `"Threshold"` beside `"threshold"`, a `"Sig"` inside a signature entry.
//!
//! The rules, applied to everything we read and everything we write:
//! - at every level of the document, a field whose Go-folded name equals a known
//!   field's, without being that field, is refused (a *shadow field*);
//! - Notary metadata has exactly the fields Notary writes: any other is refused
//!   (Notary keeps none of them, so nothing legitimate carries one);
//! - TUF metadata keeps other fields (real producers write `x-tuf-on-ci-*` and
//!   similar), and [`unknown_fields`] lists them so the room sees what it signs.
//!
//! Go's newer decoder (1.21 and later) folds by `ToUpper(ToLower(r))`, which also
//! takes the dotted capital I (U+0130) and the dotless i (U+0131) to `I`; both
//! rules are applied.

use super::metadata::Flavour;
use serde_json::{Map, Value};

/// A name as Go's JSON decoders fold it, for comparing with ASCII field names.
pub fn go_fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '\u{017f}' => 'S',
            '\u{212a}' => 'K',
            '\u{0130}' | '\u{0131}' => 'I',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// What is wrong with a field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// `field` is read as `known` by Go clients.
    Shadow { known: &'static str },
    /// Notary metadata never carries `field`.
    Unknown,
}

/// A field refused, and where: `path` is a JSON path from the document's top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub field: String,
    pub problem: FieldProblem,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            FieldProblem::Shadow { known } => write!(
                f,
                "field {:?} at {} shadows {known:?}: clients that decode JSON the way Go does \
                 (Notary, go-tuf) read it as {known:?}, others ignore it, so they would trust \
                 different things",
                self.field, self.path
            ),
            // TUF's field under Notary's `_type: "Root"`: say which way it is wrong.
            FieldProblem::Unknown if self.field == "spec_version" && self.path == "$.signed" => {
                write!(
                    f,
                    "unknown field \"spec_version\" at $.signed: _type \"Root\" marks Notary \
                     metadata, which has no spec_version; a TUF root has _type \"root\" (lower \
                     case)"
                )
            }
            FieldProblem::Unknown => write!(
                f,
                "unknown field {:?} at {}: Notary metadata holds only the fields Notary writes",
                self.field, self.path
            ),
        }
    }
}

/// One level of a document: its known fields, and where to descend.
struct Level {
    known: &'static [&'static str],
    children: &'static [(&'static str, Child)],
}

#[derive(Clone, Copy)]
enum Child {
    /// The field holds an object of this level.
    Object(&'static Level),
    /// The field holds an object whose every value is of this level.
    MapOf(&'static Level),
    /// The field holds a list whose every item is of this level.
    ListOf(&'static Level),
}

const TUF_KEYVAL: Level = Level {
    known: &["public"],
    children: &[],
};
const NOTARY_KEYVAL: Level = Level {
    known: &["public", "private"],
    children: &[],
};
const TUF_KEY: Level = Level {
    known: &["keytype", "scheme", "keyval"],
    children: &[("keyval", Child::Object(&TUF_KEYVAL))],
};
const NOTARY_KEY: Level = Level {
    known: &["keytype", "keyval"],
    children: &[("keyval", Child::Object(&NOTARY_KEYVAL))],
};
const ROLE: Level = Level {
    known: &["keyids", "threshold"],
    children: &[],
};
const TUF_ROOT: Level = Level {
    known: &[
        "_type",
        "spec_version",
        "consistent_snapshot",
        "version",
        "expires",
        "keys",
        "roles",
    ],
    children: &[
        ("keys", Child::MapOf(&TUF_KEY)),
        ("roles", Child::MapOf(&ROLE)),
    ],
};
const NOTARY_ROOT: Level = Level {
    known: &[
        "_type",
        "consistent_snapshot",
        "version",
        "expires",
        "keys",
        "roles",
    ],
    children: &[
        ("keys", Child::MapOf(&NOTARY_KEY)),
        ("roles", Child::MapOf(&ROLE)),
    ],
};
const TARGET_FILE: Level = Level {
    known: &["length", "hashes", "custom"],
    children: &[],
};
const TUF_DELEGATED_ROLE: Level = Level {
    known: &[
        "name",
        "keyids",
        "threshold",
        "terminating",
        "paths",
        "path_hash_prefixes",
    ],
    children: &[],
};
const NOTARY_DELEGATED_ROLE: Level = Level {
    known: &["name", "keyids", "threshold", "paths"],
    children: &[],
};
const TUF_DELEGATIONS: Level = Level {
    known: &["keys", "roles", "succinct_roles"],
    children: &[
        ("keys", Child::MapOf(&TUF_KEY)),
        ("roles", Child::ListOf(&TUF_DELEGATED_ROLE)),
    ],
};
const NOTARY_DELEGATIONS: Level = Level {
    known: &["keys", "roles"],
    children: &[
        ("keys", Child::MapOf(&NOTARY_KEY)),
        ("roles", Child::ListOf(&NOTARY_DELEGATED_ROLE)),
    ],
};
const TUF_TARGETS: Level = Level {
    known: &[
        "_type",
        "spec_version",
        "version",
        "expires",
        "targets",
        "delegations",
    ],
    children: &[
        ("targets", Child::MapOf(&TARGET_FILE)),
        ("delegations", Child::Object(&TUF_DELEGATIONS)),
    ],
};
const NOTARY_TARGETS: Level = Level {
    known: &["_type", "version", "expires", "targets", "delegations"],
    children: &[
        ("targets", Child::MapOf(&TARGET_FILE)),
        ("delegations", Child::Object(&NOTARY_DELEGATIONS)),
    ],
};
const TUF_SIGNATURE: Level = Level {
    known: &["keyid", "sig"],
    children: &[],
};
const NOTARY_SIGNATURE: Level = Level {
    known: &["keyid", "method", "sig"],
    children: &[],
};
const ENVELOPE_FIELDS: &[&str] = &["signed", "signatures"];

/// Which signed document a check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Root,
    Targets,
}

fn signed_level(kind: Kind, flavour: Flavour) -> &'static Level {
    match (kind, flavour) {
        (Kind::Root, Flavour::Tuf) => &TUF_ROOT,
        (Kind::Root, Flavour::Notary) => &NOTARY_ROOT,
        (Kind::Targets, Flavour::Tuf) => &TUF_TARGETS,
        (Kind::Targets, Flavour::Notary) => &NOTARY_TARGETS,
    }
}

/// Check the envelope's other fields (`others`: all but `signed` and
/// `signatures`) and each signature entry's.
pub fn check_envelope(
    others: &Map<String, Value>,
    signatures: &Value,
    flavour: Flavour,
) -> Result<(), FieldError> {
    check_names(
        others.keys().map(String::as_str),
        ENVELOPE_FIELDS,
        flavour,
        "$",
    )?;
    let level = match flavour {
        Flavour::Tuf => &TUF_SIGNATURE,
        Flavour::Notary => &NOTARY_SIGNATURE,
    };
    if let Value::Array(items) = signatures {
        for (i, item) in items.iter().enumerate() {
            check_level(item, level, flavour, &format!("$.signatures[{i}]"))?;
        }
    }
    Ok(())
}

/// Check a key object standing alone (a key file, a request's key).
pub fn check_key(key: &Value, flavour: Flavour) -> Result<(), FieldError> {
    let level = match flavour {
        Flavour::Tuf => &TUF_KEY,
        Flavour::Notary => &NOTARY_KEY,
    };
    check_level(key, level, flavour, "$")
}

/// Check the `signed` part of a document at every level.
pub fn check_signed(signed: &Value, kind: Kind, flavour: Flavour) -> Result<(), FieldError> {
    check_level(signed, signed_level(kind, flavour), flavour, "$.signed")
}

fn check_names<'a>(
    names: impl Iterator<Item = &'a str>,
    known: &'static [&'static str],
    flavour: Flavour,
    path: &str,
) -> Result<(), FieldError> {
    for name in names {
        if known.contains(&name) {
            continue;
        }
        let folded = go_fold(name);
        if let Some(k) = known.iter().find(|k| go_fold(k) == folded) {
            return Err(FieldError {
                path: path.to_owned(),
                field: name.to_owned(),
                problem: FieldProblem::Shadow { known: k },
            });
        }
        if flavour == Flavour::Notary {
            return Err(FieldError {
                path: path.to_owned(),
                field: name.to_owned(),
                problem: FieldProblem::Unknown,
            });
        }
    }
    Ok(())
}

/// Visit every object of a document that `level` describes, depth first, with
/// its JSON path; values of the wrong shape are skipped (the typed parse names
/// them).
fn walk<E>(
    value: &Value,
    level: &'static Level,
    path: &str,
    visit: &mut impl FnMut(&Map<String, Value>, &'static Level, &str) -> Result<(), E>,
) -> Result<(), E> {
    let Value::Object(obj) = value else {
        return Ok(());
    };
    visit(obj, level, path)?;
    for (field, child) in level.children {
        let Some(v) = obj.get(*field) else { continue };
        let here = format!("{path}.{field}");
        match (child, v) {
            (Child::Object(l), v) => walk(v, l, &here, visit)?,
            (Child::MapOf(l), Value::Object(m)) => {
                for (k, v) in m {
                    walk(v, l, &format!("{here}[{k:?}]"), visit)?;
                }
            }
            (Child::ListOf(l), Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, l, &format!("{here}[{i}]"), visit)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_level(
    value: &Value,
    level: &'static Level,
    flavour: Flavour,
    path: &str,
) -> Result<(), FieldError> {
    walk(value, level, path, &mut |obj, level, path| {
        check_names(obj.keys().map(String::as_str), level.known, flavour, path)
    })
}

/// Fields of a TUF document's `signed` part that no client models, with their
/// paths: what the room should hear about before it signs. (Notary documents
/// have none: they are refused.)
pub fn unknown_fields(signed: &Value, kind: Kind, flavour: Flavour) -> Vec<String> {
    let mut out = Vec::new();
    let _ = walk::<()>(
        signed,
        signed_level(kind, flavour),
        "$.signed",
        &mut |obj, level, path| {
            out.extend(
                obj.keys()
                    .filter(|name| !level.known.contains(&name.as_str()))
                    .map(|name| format!("{path}.{name}")),
            );
            Ok(())
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_folds_case_the_kelvin_sign_and_the_long_s() {
        assert_eq!(go_fold("keys"), "KEYS");
        assert_eq!(go_fold("\u{212a}eys"), "KEYS");
        assert_eq!(go_fold("key\u{017f}"), "KEYS");
        assert_eq!(go_fold("keyıds"), "KEYIDS");
        assert_ne!(go_fold("keys "), "KEYS");
    }

    #[test]
    fn a_shadow_is_refused_at_any_depth_with_its_path() {
        let root = json!({"_type": "root", "keys": {"abc": {"keytype": "ed25519",
            "keyval": {"public": "00", "Public": "11"}}}});
        let e = check_signed(&root, Kind::Root, Flavour::Tuf).unwrap_err();
        assert_eq!(e.path, "$.signed.keys[\"abc\"].keyval");
        assert_eq!(e.field, "Public");
        assert_eq!(e.problem, FieldProblem::Shadow { known: "public" });
        assert!(e.to_string().contains("Go"), "{e}");
    }

    #[test]
    fn tuf_keeps_other_fields_and_lists_them_notary_refuses_them() {
        let root = json!({"_type": "root", "x-note": 1, "keys": {"k": {"keytype": "ed25519",
            "x-tuf-on-ci-keyowner": "@a", "keyval": {"public": "00"}}}, "roles": {}});
        check_signed(&root, Kind::Root, Flavour::Tuf).unwrap();
        assert_eq!(
            unknown_fields(&root, Kind::Root, Flavour::Tuf),
            vec![
                "$.signed.x-note".to_string(),
                "$.signed.keys[\"k\"].x-tuf-on-ci-keyowner".to_string()
            ]
        );
        let e = check_signed(&root, Kind::Root, Flavour::Notary).unwrap_err();
        assert_eq!(e.problem, FieldProblem::Unknown);
    }

    #[test]
    fn signature_entries_and_the_envelope_are_checked() {
        let env = json!({"Signed": {}});
        let sigs = json!([]);
        let e = check_envelope(env.as_object().unwrap(), &sigs, Flavour::Tuf).unwrap_err();
        assert_eq!(e.field, "Signed");
        let env = json!({});
        let sigs = json!([{"keyid": "a", "sig": "00", "\u{017f}ig": "11"}]);
        let e = check_envelope(env.as_object().unwrap(), &sigs, Flavour::Tuf).unwrap_err();
        assert_eq!(e.path, "$.signatures[0]");
    }
}

//! One root-editing API: how a key named by a person is found in a role, and how a
//! key leaves a root. The low-level `root` commands, the guided ceremonies and the
//! batches all call these, so a key ID prefix and a revocation mean the same
//! everywhere.
//!
//! Key IDs are taken as producers wrote them (TAP 12), so a key may be listed
//! under two IDs, and an ID may be any string. A person may name a key by its
//! stated ID or by the ID computed from its key material (the one the read-aloud
//! summary shows), in full or by a prefix of at least [`MIN_PREFIX`] characters.

use super::key::{decode_key, key_id};
use super::metadata::{Flavour, Key, Root};
use super::verify::short;
use crate::keys::PublicKey;
use std::collections::BTreeMap;

/// The shortest key ID prefix that names a key.
pub const MIN_PREFIX: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("role {role} lists no key {given} (its keys: {})", list(known))]
    NoSuchKey {
        role: String,
        given: String,
        known: Vec<String>,
    },
    #[error("{given} names {} keys of role {role} ({}): give more digits", matches.len(), list(matches))]
    Ambiguous {
        role: String,
        given: String,
        matches: Vec<String>,
    },
    #[error(
        "key {} is also a key of role(s) {}: a revocation that leaves it trusted is refused \
         (replace it there too, in a root-rotate ceremony)",
        short(key),
        roles.join(", ")
    )]
    StillTrusted { key: String, roles: Vec<String> },
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter().map(|k| short(k)).collect::<Vec<_>>().join(", ")
}

/// The public key under `id`, where it is of a type we read.
fn public_of(keys: &BTreeMap<String, Key>, id: &str, flavour: Flavour) -> Option<PublicKey> {
    keys.get(id)
        .and_then(|k| decode_key(k, flavour).ok())
        .map(|d| d.public)
}

/// The stated key ID in `keyids` that `given` names: a stated or computed ID in
/// full, or a unique prefix of one of at least [`MIN_PREFIX`] characters.
pub fn resolve_keyid(
    keys: &BTreeMap<String, Key>,
    keyids: &[String],
    flavour: Flavour,
    role: &str,
    given: &str,
) -> Result<String, EditError> {
    let names = |id: &String| {
        let computed = keys.get(id).map(|k| key_id(k, flavour));
        std::iter::once(id.clone()).chain(computed)
    };
    if let Some(exact) = keyids.iter().find(|id| names(id).any(|n| n == given)) {
        return Ok(exact.clone());
    }
    let matches: Vec<String> = keyids
        .iter()
        .filter(|id| given.len() >= MIN_PREFIX && names(id).any(|n| n.starts_with(given)))
        .cloned()
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(EditError::NoSuchKey {
            role: role.into(),
            given: given.into(),
            known: keyids.to_vec(),
        }),
        _ => Err(EditError::Ambiguous {
            role: role.into(),
            given: given.into(),
            matches,
        }),
    }
}

/// Every ID under which `role` lists `public` (a key may be listed twice).
pub fn ids_of_key(root: &Root, role: &str, public: &PublicKey, flavour: Flavour) -> Vec<String> {
    root.roles
        .get(role)
        .map(|r| {
            r.keyids
                .iter()
                .filter(|id| public_of(&root.keys, id, flavour).as_ref() == Some(public))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Take `id` out of `role`; the key object goes when no role lists it any more.
pub fn remove_key(root: &mut Root, role: &str, id: &str) {
    if let Some(r) = root.roles.get_mut(role) {
        r.keyids.retain(|k| k != id);
    }
    if !root
        .roles
        .values()
        .any(|r| r.keyids.iter().any(|k| k == id))
    {
        root.keys.remove(id);
    }
}

/// Revoke the key listed as `id` from `role`: every ID the role lists it under
/// goes, and the revocation is refused if another role still trusts the same
/// public key under any ID.
pub fn revoke(root: &mut Root, role: &str, id: &str, flavour: Flavour) -> Result<(), EditError> {
    let public = public_of(&root.keys, id, flavour);
    let same = |root: &Root, other: &str| {
        other == id
            || public
                .as_ref()
                .is_some_and(|p| public_of(&root.keys, other, flavour).as_ref() == Some(p))
    };
    let still: Vec<String> = root
        .roles
        .iter()
        .filter(|(name, r)| *name != role && r.keyids.iter().any(|k| same(root, k)))
        .map(|(name, _)| name.clone())
        .collect();
    if !still.is_empty() {
        return Err(EditError::StillTrusted {
            key: id.into(),
            roles: still,
        });
    }
    let aliases: Vec<String> = root.roles[role]
        .keyids
        .iter()
        .filter(|k| same(root, k))
        .cloned()
        .collect();
    for alias in aliases {
        remove_key(root, role, &alias);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::key::tuf_key;
    use crate::tuf::metadata::RoleKeys;

    fn key(seed: u8) -> Key {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        tuf_key(&PublicKey::ed25519(sk.verifying_key().as_bytes()).unwrap())
    }

    fn root(roles: &[(&str, &[&str])], keys: &[(&str, Key)]) -> Root {
        Root {
            type_name: "root".into(),
            spec_version: Some("1.0.31".into()),
            consistent_snapshot: Some(false),
            version: 1,
            expires: "2030-01-01T00:00:00Z".into(),
            keys: keys
                .iter()
                .map(|(i, k)| (i.to_string(), k.clone()))
                .collect(),
            roles: roles
                .iter()
                .map(|(r, ids)| {
                    (
                        r.to_string(),
                        RoleKeys {
                            keyids: ids.iter().map(|s| s.to_string()).collect(),
                            threshold: 1,
                            unknown: Default::default(),
                        },
                    )
                })
                .collect(),
            unknown: Default::default(),
        }
    }

    #[test]
    fn a_key_is_named_by_stated_or_computed_id_in_full_or_by_prefix() {
        let (a, b) = (key(1), key(2));
        let computed_a = key_id(&a, Flavour::Tuf);
        let r = root(
            &[("targets", &["abcd", "efgh"])],
            &[("abcd", a), ("efgh", b)],
        );
        let ids = &r.roles["targets"].keyids;
        let find = |g: &str| resolve_keyid(&r.keys, ids, Flavour::Tuf, "targets", g);
        assert_eq!(find("abcd").unwrap(), "abcd");
        assert_eq!(find(&computed_a).unwrap(), "abcd");
        assert_eq!(find(&computed_a[..8]).unwrap(), "abcd");
        assert!(matches!(find("abc"), Err(EditError::NoSuchKey { .. })));
        let e = find("0000000000").unwrap_err();
        assert_eq!(
            e.to_string(),
            "role targets lists no key 0000000000 (its keys: abcd, efgh)"
        );
    }

    #[test]
    fn a_revocation_takes_every_alias_and_refuses_a_key_another_role_trusts() {
        let a = key(1);
        let mut r = root(
            &[("targets", &["id1", "id2"]), ("snapshot", &["other"])],
            &[("id1", a.clone()), ("id2", a.clone()), ("other", key(3))],
        );
        revoke(&mut r, "targets", "id1", Flavour::Tuf).unwrap();
        assert!(r.roles["targets"].keyids.is_empty());
        assert!(!r.keys.contains_key("id2"));

        let mut r = root(
            &[("targets", &["id1"]), ("snapshot", &["alias"])],
            &[("id1", a.clone()), ("alias", a)],
        );
        let e = revoke(&mut r, "targets", "id1", Flavour::Tuf).unwrap_err();
        assert_eq!(
            e,
            EditError::StillTrusted {
                key: "id1".into(),
                roles: vec!["snapshot".into()]
            }
        );
        assert_eq!(r.roles["targets"].keyids, vec!["id1".to_string()]);
    }
}

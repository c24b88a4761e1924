//! The read-aloud summaries: what a new root (or targets metadata) changes, in words for witnesses.

use super::*;

/// What the administrator reads aloud: version, expiry, every role's keys and
/// threshold, any fields no client models (so nobody signs what they were not
/// told of), and what changed against the previous root.
pub fn summary(new: &RootDocument, previous: Option<&RootDocument>, backups: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let root = new.root();
    let _ = writeln!(s, "{} root, version {}", new.flavour(), root.version);
    let _ = writeln!(s, "expires {}", root.expires);
    // What the room compares by eye and voice is computed from the key material,
    // never taken from the stated key ID (a producer's IDs may hash anything).
    // A Notary root key is a certificate: its ID is shown with the ID of the
    // public key inside it, the one shown when the key was generated (and by
    // `notary key list`).
    let spoken = |doc: &RootDocument, keyid: &str| -> String {
        let Some(k) = doc.root().keys.get(keyid) else {
            return fingerprint(keyid);
        };
        let id = fingerprint(&key_id(k, doc.flavour()));
        match (doc.flavour(), crate::tuf::key::decode_key(k, doc.flavour())) {
            (Flavour::Notary, Ok(d)) if d.certificate.is_some() => format!(
                "{id} (public key {})",
                fingerprint(&key_id(&notary_key(&d.public), Flavour::Notary))
            ),
            _ => id,
        }
    };
    for role in TOP_LEVEL_ROLES {
        let r = &root.roles[role];
        let ids: Vec<String> = r.keyids.iter().map(|k| spoken(new, k)).collect();
        let _ = writeln!(
            s,
            "{role}: {} of {} key(s): {}",
            r.threshold,
            r.keyids.len(),
            ids.join(", ")
        );
    }
    let unknown = new.unknown_fields();
    if !unknown.is_empty() {
        let _ = writeln!(
            s,
            "other fields, signed as they are (no client acts on them): {}",
            unknown.join(", ")
        );
    }
    match previous {
        None => {
            let _ = writeln!(s, "a new root: there is no previous version");
        }
        Some(prev) => {
            let _ = writeln!(s, "changes from version {}:", prev.version());
            let mut any = false;
            for role in TOP_LEVEL_ROLES {
                let old: BTreeSet<&String> = prev.root().roles[role].keyids.iter().collect();
                let newk: BTreeSet<&String> = root.roles[role].keyids.iter().collect();
                for k in newk.difference(&old) {
                    let _ = writeln!(s, "  {role}: key {} ADDED", spoken(new, k));
                    any = true;
                }
                for k in old.difference(&newk) {
                    let _ = writeln!(s, "  {role}: key {} REMOVED", spoken(prev, k));
                    any = true;
                }
                let (ot, nt) = (
                    prev.root().roles[role].threshold,
                    root.roles[role].threshold,
                );
                if ot != nt {
                    let _ = writeln!(s, "  {role}: threshold {ot} -> {nt}");
                    any = true;
                }
            }
            if prev.root().expires != root.expires {
                let _ = writeln!(s, "  expiry {} -> {}", prev.root().expires, root.expires);
            }
            if !any {
                let _ = writeln!(s, "  no key or threshold changes");
            }
        }
    }
    let _ = writeln!(s, "{backups}");
    s
}

/// What the administrator reads aloud for a delegation change.
pub fn targets_summary(new: &TargetsDocument, previous: &TargetsDocument) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "targets metadata, version {}", new.version());
    let _ = writeln!(s, "expires {}", new.targets().expires);
    let old_roles = previous
        .targets()
        .delegations
        .as_ref()
        .map(|d| d.roles.clone())
        .unwrap_or_default();
    if let Some(d) = &new.targets().delegations {
        for r in &d.roles {
            let ids: Vec<String> = r.keyids.iter().map(|k| fingerprint(k)).collect();
            let _ = writeln!(
                s,
                "delegated role {}: {} of {} key(s): {}",
                r.name,
                r.threshold,
                r.keyids.len(),
                ids.join(", ")
            );
            if let Some(old) = old_roles.iter().find(|o| o.name == r.name) {
                for k in r.keyids.iter().filter(|k| !old.keyids.contains(k)) {
                    let _ = writeln!(s, "  {}: key {} ADDED", r.name, fingerprint(k));
                }
                for k in old.keyids.iter().filter(|k| !r.keyids.contains(k)) {
                    let _ = writeln!(s, "  {}: key {} REMOVED", r.name, fingerprint(k));
                }
                if old.threshold != r.threshold {
                    let _ = writeln!(
                        s,
                        "  {}: threshold {} -> {}",
                        r.name, old.threshold, r.threshold
                    );
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "the targets files listed are unchanged ({} target(s))",
        new.targets().targets.len()
    );
    s
}

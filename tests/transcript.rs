//! The ceremony transcript: round trips, every kind of tampering named at the right
//! entry, signed seals, the secret-field refusal, the Markdown report, and the
//! `ceremony transcript` and `ceremony airgap-check` commands.

mod common;

use ceremony::ceremony::transcript::{
    CeremonyMeta, EntryHash, Event, Sealed, Transcript, TranscriptError, VerifyOptions,
    render_markdown, verify_file, verify_file_with, witness_words,
};
use ceremony::keys::{Algorithm, PublicKey};
use ceremony::secret::Secret;
use ceremony::tokens::soft::SoftToken;
use ceremony::tokens::{Signer, TokenError};
use common::{run, stderr, stdout};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};

fn meta() -> CeremonyMeta {
    let mut m = CeremonyMeta::new("new-root example.com", "ab".repeat(32));
    m.extra.insert("flavour".into(), "tuf".into());
    m
}

/// A transcript with entries 0..=5 (begin, step-start, confirmation, key-generated,
/// file-written, signature), not sealed.
fn unsealed(dir: &Path) -> (PathBuf, Transcript) {
    let path = dir.join("transcript.jsonl");
    let mut t = Transcript::create(&path, &meta()).unwrap();
    t.append(
        Event::StepStart,
        Some("generate-root-a"),
        None,
        json!({"title": "Generate root key A"}),
    )
    .unwrap();
    t.append(
        Event::Confirmation,
        Some("generate-root-a"),
        Some("alice"),
        json!({"question": "Is the token labelled root-a inserted?", "answer": "yes"}),
    )
    .unwrap();
    t.append(
        Event::KeyGenerated,
        Some("generate-root-a"),
        Some("alice"),
        json!({"keyid": "11".repeat(32), "algorithm": "ed25519", "token": {"serial": "1234", "private": null}}),
    )
    .unwrap();
    t.record_file(
        Some("sign-root"),
        Some("bob"),
        "export/1.root.json",
        b"{\"signed\":{}}\n",
    )
    .unwrap();
    t.append(
        Event::Signature,
        Some("sign-root"),
        Some("bob"),
        json!({"keyid": "11".repeat(32), "file": "export/1.root.json"}),
    )
    .unwrap();
    (path, t)
}

/// [`unsealed`], sealed without a signature: entries 0..=6.
fn sealed(dir: &Path) -> (PathBuf, Sealed) {
    let (path, t) = unsealed(dir);
    let s = t.seal(None).unwrap();
    (path, s)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

fn entry(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// The canonical line of an entry value (for forging entries as an attacker would).
fn canonical(v: &Value) -> String {
    String::from_utf8(ceremony::tuf::cjson::encode(v).unwrap()).unwrap()
}

fn hash(line: &str) -> String {
    EntryHash::of(line.as_bytes()).to_hex()
}

fn err(path: &Path) -> TranscriptError {
    verify_file(path).unwrap_err()
}

/// A signer that holds an Ed25519 key in memory: a second key without scrypt, and
/// a token that can be made to lie.
struct MemorySigner {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
    lie: bool,
}

impl MemorySigner {
    fn new(seed: u8, lie: bool) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let public = PublicKey::ed25519(key.verifying_key().as_bytes()).unwrap();
        MemorySigner { key, public, lie }
    }
}

impl Signer for MemorySigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn describe(&self) -> String {
        "memory test key".into()
    }
    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        use ed25519_dalek::Signer as _;
        let mut sig = self.key.sign(message).to_bytes().to_vec();
        if self.lie {
            sig[0] ^= 1;
        }
        Ok(sig)
    }
}

// ---------------------------------------------------------------------------
// Writing and reading back

#[test]
fn create_append_seal_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = sealed(dir.path());
    assert_eq!(s.entries, 7);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let lines = lines(&path);
    assert_eq!(lines.len(), 7);

    let begin = entry(&lines[0]);
    assert_eq!(begin["seq"], 0);
    assert_eq!(begin["kind"], "begin");
    assert_eq!(begin["prev"], "0".repeat(64));
    assert_eq!(begin["data"]["ceremony"], "new-root example.com");
    assert_eq!(begin["data"]["format"], "ceremony-transcript v1");
    assert_eq!(begin["data"]["flavour"], "tuf");
    assert_eq!(begin["data"]["tool"]["name"], "ceremony");
    let time = begin["time"].as_str().unwrap();
    assert_eq!(time.len(), "2030-01-31T09:00:00Z".len(), "{time}");
    assert!(time.ends_with('Z'));

    // Every line is canonical JSON, chained to the one before.
    for (i, line) in lines.iter().enumerate() {
        let v = entry(line);
        assert_eq!(canonical(&v), *line);
        assert_eq!(v["seq"], i as u64);
        if i > 0 {
            assert_eq!(v["prev"], hash(&lines[i - 1]));
        }
    }
    let file = entry(&lines[4]);
    assert_eq!(file["kind"], "file-written");
    assert_eq!(file["data"]["size"], 14);
    let seal = entry(&lines[6]);
    assert_eq!(seal["kind"], "seal");
    assert_eq!(seal["data"]["count"], 6);
    assert_eq!(seal["data"]["chain_head"], hash(&lines[5]));
    assert_eq!(s.final_hash.to_hex(), hash(&lines[6]));

    let report = verify_file(&path).unwrap();
    assert!(report.sealed);
    assert_eq!(report.entries.len(), 7);
    assert_eq!(report.final_hash, s.final_hash);
    assert!(report.signature.is_none());
    assert_eq!(report.ceremony(), "new-root example.com");

    let mode = fs::metadata(&path).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.mode() & 0o022, 0, "not writable by group or others");
    assert_ne!(mode.mode() & 0o044, 0, "readable by the compliance staff");
}

#[test]
fn file_written_records_sha256_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = unsealed(dir.path());
    let file = entry(&lines(&path)[4]);
    use sha2::Digest;
    let expected = hex::encode(sha2::Sha256::digest(b"{\"signed\":{}}\n"));
    assert_eq!(
        file["data"],
        json!({"path": "export/1.root.json", "sha256": expected, "size": 14})
    );
}

#[test]
fn create_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transcript.jsonl");
    fs::write(&path, "earlier ceremony\n").unwrap();
    let e = Transcript::create(&path, &meta()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} already exists; a transcript is never overwritten",
            path.display()
        )
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "earlier ceremony\n");
}

#[test]
fn witness_words_of_the_final_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = sealed(dir.path());
    let words = witness_words(&s.final_hash);
    assert_eq!(words.len(), 64 + 15);
    assert_eq!(words.replace(' ', ""), s.final_hash.to_hex());
}

#[test]
fn resume_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = unsealed(dir.path());
    let head = t.head();
    drop(t); // the machine lost power
    let mut t = Transcript::open_for_append(&path).unwrap();
    assert_eq!(t.len(), 6);
    assert_eq!(t.head(), head);
    t.append(Event::Interruption, None, None, json!({"after": 5}))
        .unwrap();
    t.append(Event::Resume, None, Some("alice"), json!({}))
        .unwrap();
    t.seal(None).unwrap();
    let report = verify_file(&path).unwrap();
    assert!(report.sealed);
    assert_eq!(report.entries.len(), 9);
    assert_eq!(report.entries[6].kind, "interruption");
    assert_eq!(report.entries[6].prev, head.to_hex());
}

#[test]
fn resume_refuses_a_tampered_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = unsealed(dir.path());
    drop(t);
    let mut l = lines(&path);
    l[2] = l[2].replace("alice", "mallory");
    write_lines(&path, &l);
    let before = fs::read(&path).unwrap();
    let e = Transcript::open_for_append(&path).unwrap_err();
    assert!(
        matches!(e, TranscriptError::PrevMismatch { seq: 3, .. }),
        "{e}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn resume_refuses_a_sealed_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let e = Transcript::open_for_append(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} is sealed; nothing is ever appended to a sealed transcript",
            path.display()
        )
    );
}

// ---------------------------------------------------------------------------
// Tampering, each named at the right entry

#[test]
fn an_edited_field_is_named_by_the_entry_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    let original = hash(&l[2]);
    l[2] = l[2].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
    let edited = hash(&l[2]);
    write_lines(&path, &l);
    let e = err(&path);
    assert!(e.is_tampering());
    assert_eq!(
        e.to_string(),
        format!(
            "{}: entry 3 (line 4): prev is {}…, but entry 2 hashes to {}…: \
             an entry was edited, removed or reordered",
            path.display(),
            &original[..12],
            &edited[..12]
        )
    );
}

#[test]
fn an_edit_that_breaks_canonical_form_is_named_at_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    l[2] = l[2].replacen("{", "{ ", 1);
    write_lines(&path, &l);
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: entry 2 (line 3) is not in canonical form: it was edited after it was written",
            path.display()
        )
    );
    // A duplicated key is not canonical either.
    let (path2, _) = sealed(&dir.path().join("b").tap_mkdir());
    let mut l = lines(&path2);
    l[3] = l[3].replacen("{", "{\"actor\":\"mallory\",", 1);
    write_lines(&path2, &l);
    assert!(matches!(
        err(&path2),
        TranscriptError::NotCanonical {
            line: 4,
            seq: 3,
            ..
        }
    ));
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn a_deleted_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    l.remove(3);
    write_lines(&path, &l);
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: line 4 holds entry 4, but entry 3 was expected there: \
             an entry was removed, inserted or reordered",
            path.display()
        )
    );
}

#[test]
fn a_deleted_entry_with_renumbering_is_a_prev_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    l.remove(3);
    // The forger renumbers what follows, but cannot fix the chain without
    // rewriting every later entry.
    for (i, line) in l.iter_mut().enumerate().skip(3) {
        let mut v = entry(line);
        v["seq"] = json!(i);
        *line = canonical(&v);
    }
    write_lines(&path, &l);
    let e = err(&path);
    assert!(
        matches!(
            e,
            TranscriptError::PrevMismatch {
                seq: 3,
                line: 4,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("but entry 2 hashes to"), "{e}");
}

#[test]
fn swapped_entries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    l.swap(2, 3);
    write_lines(&path, &l);
    assert!(matches!(
        err(&path),
        TranscriptError::SeqMismatch {
            line: 3,
            found: 3,
            expected: 2,
            ..
        }
    ));
}

#[test]
fn an_inserted_forged_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    // A well-formed forgery that chains correctly to entry 2.
    let forged = canonical(&json!({
        "seq": 3, "time": entry(&l[2])["time"], "kind": "confirmation",
        "step": "generate-root-a", "actor": "carol", "data": {"answer": "yes"},
        "prev": hash(&l[2]),
    }));
    l.insert(3, forged);
    write_lines(&path, &l);
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: line 5 holds entry 3, but entry 4 was expected there: \
             an entry was removed, inserted or reordered",
            path.display()
        )
    );
}

#[test]
fn an_entry_after_the_seal_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    let extra = canonical(&json!({
        "seq": 7, "time": entry(&l[6])["time"], "kind": "confirmation",
        "step": null, "actor": "mallory", "data": {},
        "prev": hash(&l[6]),
    }));
    l.push(extra);
    write_lines(&path, &l);
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: entry 7 (line 8) comes after the seal: \
             entries were added after the ceremony was sealed",
            path.display()
        )
    );
}

#[test]
fn a_partly_truncated_last_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: line 7 is incomplete (no line ending) after entry 5: the transcript was \
             truncated in the middle of an entry, or a write was interrupted",
            path.display()
        )
    );
}

#[test]
fn whole_trailing_entries_cut_off_read_as_unsealed_and_fail_the_witnessed_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = sealed(dir.path());
    let mut l = lines(&path);
    l.truncate(5); // the seal and entry 5 are gone
    write_lines(&path, &l);

    // Intact but not sealed: what an interrupted ceremony looks like.
    let report = verify_file(&path).unwrap();
    assert!(!report.sealed);
    assert_eq!(report.last_seq(), 4);

    // Against the hash the witnesses wrote down, it is caught.
    let options = VerifyOptions {
        expect_hash: Some(s.final_hash),
        ..Default::default()
    };
    let e = verify_file_with(&path, &options).unwrap_err();
    assert!(e.is_tampering());
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the final hash is {}, but the witnesses recorded {}: the transcript is not \
             sealed and ends after entry 4: trailing entries (the seal among them) were \
             removed, or this is not the witnessed transcript",
            path.display(),
            report.final_hash,
            s.final_hash
        )
    );
}

#[test]
fn a_rewritten_chain_passes_alone_but_not_against_the_witnessed_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = sealed(dir.path());
    // Rewrite entry 2 and recompute every later hash, seal included.
    let mut l = lines(&path);
    let mut v = entry(&l[2]);
    v["data"]["answer"] = json!("no");
    l[2] = canonical(&v);
    for i in 3..l.len() {
        let mut v = entry(&l[i]);
        v["prev"] = json!(hash(&l[i - 1]));
        if v["kind"] == "seal" {
            v["data"]["chain_head"] = json!(hash(&l[i - 1]));
        }
        l[i] = canonical(&v);
    }
    write_lines(&path, &l);
    assert!(verify_file(&path).unwrap().sealed);
    let options = VerifyOptions {
        expect_hash: Some(s.final_hash),
        ..Default::default()
    };
    let e = verify_file_with(&path, &options).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("this is not the transcript the witnesses saw sealed (its chain was rewritten, or it is another ceremony's)"),
        "{e}"
    );
}

#[test]
fn a_seal_with_a_wrong_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    let mut v = entry(&l[6]);
    v["data"]["count"] = json!(9);
    l[6] = canonical(&v);
    write_lines(&path, &l);
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: entry 6 (line 7): the seal counts 9 entries, but 6 precede it",
            path.display()
        )
    );
}

// ---------------------------------------------------------------------------
// Signed seals

#[test]
fn a_seal_signed_on_a_soft_token_verifies_and_a_forged_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("transcript-key.age");
    let pass = Secret::new(common::PASSPHRASE.into());
    let public = SoftToken::generate(&key_path, Algorithm::Ed25519, &pass).unwrap();
    let mut token = SoftToken::open(&key_path, &pass).unwrap();

    let (path, t) = unsealed(dir.path());
    let s = t.seal(Some(&mut token)).unwrap();
    assert_eq!(s.signed_by.as_ref(), Some(&public));
    let report = verify_file(&path).unwrap();
    let sig = report.signature.as_ref().expect("signed");
    assert_eq!(sig.public_key, public);
    let keyid = sig.keyid.clone();

    let seal = entry(&lines(&path)[6]);
    assert_eq!(seal["data"]["signature"]["algorithm"], "ed25519");
    assert_eq!(
        seal["data"]["signature"]["public_key"],
        hex::encode(public.as_bytes())
    );
    assert_eq!(seal["data"]["signature"]["keyid"], keyid);

    // The expected signer is accepted; another key ID is refused.
    let expect = |k: &str| VerifyOptions {
        expect_keyid: Some(k.into()),
        ..Default::default()
    };
    verify_file_with(&path, &expect(&keyid)).unwrap();
    let e = verify_file_with(&path, &expect(&"ab".repeat(32))).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the seal must be signed by key {}, but it was signed by key {keyid}",
            path.display(),
            "ab".repeat(32)
        )
    );

    // A forged signature: one bit flipped.
    let mut l = lines(&path);
    let mut v = entry(&l[6]);
    let mut raw = hex::decode(v["data"]["signature"]["sig"].as_str().unwrap()).unwrap();
    raw[10] ^= 0x40;
    v["data"]["signature"]["sig"] = json!(hex::encode(raw));
    l[6] = canonical(&v);
    write_lines(&path, &l);
    assert_eq!(
        err(&path).to_string(),
        format!(
            "{}: the seal signature (entry 6, line 7) does not verify: \
             ed25519 signature does not verify",
            path.display()
        )
    );
}

#[test]
fn a_rewritten_chain_cannot_keep_a_signed_seal() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = unsealed(dir.path());
    let mut signer = MemorySigner::new(7, false);
    t.seal(Some(&mut signer)).unwrap();
    let keyid = verify_file(&path).unwrap().signature.unwrap().keyid;

    // The forger rewrites entry 1 and every hash after it, and signs the seal
    // again with a key of their own.
    let mut l = lines(&path);
    let mut v = entry(&l[1]);
    v["data"]["title"] = json!("Generate root key Z");
    l[1] = canonical(&v);
    for i in 2..l.len() {
        let mut v = entry(&l[i]);
        v["prev"] = json!(hash(&l[i - 1]));
        l[i] = canonical(&v);
    }
    // Keeping the old signature fails: the chain head it covers changed.
    let mut kept = l.clone();
    let mut seal = entry(&kept[6]);
    seal["data"]["chain_head"] = json!(hash(&kept[5]));
    kept[6] = canonical(&seal);
    write_lines(&path, &kept);
    assert!(matches!(
        err(&path),
        TranscriptError::BadSignature { seq: 6, .. }
    ));

    // Re-signing with another key verifies on its own, but not against the
    // expected key.
    let forged_path = dir.path().join("forged.jsonl");
    let mut forger = Transcript::create(&forged_path, &meta()).unwrap();
    for line in &l[1..6] {
        let v = entry(line);
        forger
            .append(
                Event::from_name(v["kind"].as_str().unwrap()).unwrap(),
                v["step"].as_str(),
                v["actor"].as_str(),
                v["data"].clone(),
            )
            .unwrap();
    }
    forger.seal(Some(&mut MemorySigner::new(9, false))).unwrap();
    let options = VerifyOptions {
        expect_keyid: Some(keyid.clone()),
        ..Default::default()
    };
    let e = verify_file_with(&forged_path, &options).unwrap_err();
    assert!(matches!(e, TranscriptError::SignerMismatch { .. }), "{e}");
}

#[test]
fn a_token_signature_that_does_not_verify_is_never_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = unsealed(dir.path());
    let before = fs::read(&path).unwrap();
    let e = t.seal(Some(&mut MemorySigner::new(3, true))).unwrap_err();
    assert!(
        matches!(e, TranscriptError::BadTokenSignature { .. }),
        "{e}"
    );
    assert!(e.is_internal());
    assert_eq!(fs::read(&path).unwrap(), before, "no seal was written");
    assert!(!verify_file(&path).unwrap().sealed);
}

// ---------------------------------------------------------------------------
// What may not enter a transcript

#[test]
fn secrets_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut t) = unsealed(dir.path());
    let before = fs::read(&path).unwrap();
    for (data, field, at) in [
        (json!({"pin": "123456"}), "pin", "$.data.pin"),
        (
            json!({"token": {"serial": "1", "userPin": "123456"}}),
            "userPin",
            "$.data.token.userPin",
        ),
        (
            json!({"answers": [{"Passphrase": "x"}]}),
            "Passphrase",
            "$.data.answers[0].Passphrase",
        ),
        (
            json!({"private_key": "00"}),
            "private_key",
            "$.data.private_key",
        ),
        (
            json!({"so_password": "x"}),
            "so_password",
            "$.data.so_password",
        ),
        (
            json!({"client_secret": 1}),
            "client_secret",
            "$.data.client_secret",
        ),
    ] {
        let e = t.append(Event::Token, Some("s"), None, data).unwrap_err();
        assert!(e.is_internal());
        assert_eq!(
            e.to_string(),
            format!(
                "internal error: {}: refusing to record the field {field:?} (at {at}) in a \
                 token entry: secrets never enter the transcript",
                path.display()
            )
        );
    }
    assert_eq!(fs::read(&path).unwrap(), before);
    // A Notary key object's "private": null holds nothing and is allowed (it was
    // recorded in entry 3); the transcript is still good to append to.
    t.append(
        Event::Token,
        None,
        None,
        json!({"keyval": {"private": null, "public": "abc"}}),
    )
    .unwrap();
    t.seal(None).unwrap();
    verify_file(&path).unwrap();
}

#[test]
fn text_that_would_break_a_line_and_non_integers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut t) = unsealed(dir.path());
    let e = t
        .append(
            Event::Error,
            None,
            None,
            json!({"message": "line one\nline two"}),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "internal error: {}: cannot record a error entry: the text at $.data.message \
             contains a control character (line break, tab)",
            path.display()
        )
    );
    let e = t
        .append(Event::Input, None, None, json!({"ratio": 0.5}))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("canonical JSON allows integers only"),
        "{e}"
    );
    let e = t.append(Event::Seal, None, None, json!({})).unwrap_err();
    assert!(
        e.to_string()
            .contains("a seal entry is written only by `seal`"),
        "{e}"
    );
    // one_line makes such text recordable.
    let msg = ceremony::ceremony::transcript::one_line("line one\nline two");
    t.append(Event::Error, None, None, json!({"message": msg}))
        .unwrap();
    verify_file(&path).unwrap();
}

// ---------------------------------------------------------------------------
// The readable report

#[test]
fn markdown_report_shows_the_ceremony_entries_files_and_final_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = sealed(dir.path());
    let md = render_markdown(&path).unwrap();
    assert!(
        md.starts_with("# Key ceremony record: new-root example.com\n"),
        "{md}"
    );
    // Grouped as an auditor reads it, in this order.
    let mut at = 0;
    for heading in [
        "## At a glance",
        "## What was built and signed",
        "## What was written",
        "## Exceptions",
        "## Verification",
        "## What this record cannot prove",
        "## Glossary",
        "## Signatures",
        "## Appendix: every entry",
    ] {
        let found = md[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("{heading} missing or out of order:\n{md}"));
        at += found;
    }
    assert!(md.contains(&format!("- Script SHA-256 (as run): `{}`", "ab".repeat(32))));
    assert!(md.contains("- Chain: intact: 7 entries"), "{md}");
    assert!(md.contains("- Sealed: `yes`"), "{md}");
    assert!(
        md.contains("- Seal signature: none (unsigned seal)"),
        "{md}"
    );
    // The confirmation, in full, with who gave it.
    assert!(
        md.contains(
            "- **Is the token labelled root-a inserted?**\n  - answer: `yes`\n  - by: `alice`"
        ),
        "{md}"
    );
    // Each file written, its size and its hash in full; the appendix has every
    // entry but step bookkeeping, each on its own item.
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(b"{\"signed\":{}}\n"));
    assert!(
        md.contains(&format!(
            "- **export/1.root.json**\n  - size: 14 bytes\n  - SHA-256: `{sha}`"
        )),
        "{md}"
    );
    assert!(md.contains("- 4 · "), "{md}");
    assert!(md.contains(&format!(
        "(the hash of the seal of entry 6), to compare with the one the witnesses wrote down:\n\n```\n{}\n```\n",
        witness_words(&s.final_hash)
    )), "{md}");
    // No line runs on past 100 characters but for one unbreakable value.
    for line in md.lines() {
        assert!(
            line.chars().count() <= 100 || !line.trim().contains(' '),
            "{line}"
        );
    }
}

#[test]
fn markdown_report_of_a_tampered_transcript_says_so_first() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    l.remove(2);
    write_lines(&path, &l);
    let md = render_markdown(&path).unwrap();
    assert!(
        md.starts_with("**VERIFICATION FAILED — do not rely on this transcript."),
        "{md}"
    );
    assert!(md.contains("line 3 holds entry 3, but entry 2 was expected there"));
    assert!(
        md.contains("- Result: the transcript does not verify"),
        "{md}"
    );
}

// ---------------------------------------------------------------------------
// The commands

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn cli_verify_a_sealed_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = sealed(dir.path());
    let words = witness_words(&s.final_hash);
    let o = run(&[
        "transcript",
        "verify",
        p(&path),
        "--expect-hash",
        &words.to_uppercase(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("ceremony: new-root example.com\n"), "{out}");
    assert!(out.contains("chain: intact: 7 entries (0..=6)"), "{out}");
    assert!(out.contains("seal: entry 6, not signed\n"), "{out}");
    assert!(out.contains("witnessed hash: matches\n"), "{out}");
    assert!(
        out.ends_with(&format!("final hash (the seal's):\n  {words}\n")),
        "{out}"
    );
}

#[test]
fn cli_verify_an_unsealed_transcript_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = unsealed(dir.path());
    drop(t);
    let o = run(&["transcript", "verify", p(&path)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("seal: none\n"));
    assert_eq!(
        stderr(&o),
        format!(
            "error: {}: not sealed: the ceremony did not finish (interrupted after entry 5); \
             resume it with `ceremony run --resume`\n",
            path.display()
        )
    );
}

#[test]
fn cli_verify_a_tampered_transcript_exits_1_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let mut l = lines(&path);
    l[4] = l[4].replace("export/1.root.json", "export/9.root.json");
    write_lines(&path, &l);
    let o = run(&["transcript", "verify", p(&path)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "error: {}: entry 5 (line 6): prev is ",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("but entry 4 hashes to"), "{err}");
    assert!(
        err.contains("\nhint: do not rely on this transcript"),
        "{err}"
    );
}

#[test]
fn cli_verify_against_a_different_witnessed_hash_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let other = "0123".repeat(16);
    let o = run(&["transcript", "verify", p(&path), "--expect-hash", &other]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("but the witnesses recorded {other}")));
    let o = run(&["transcript", "verify", p(&path), "--expect-hash", "12 34"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: \"12 34\" is not a SHA-256 hash (64 hex digits; spaces between groups are allowed)\n"
    );
}

#[test]
fn cli_verify_a_missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["transcript", "verify", p(&dir.path().join("nope.jsonl"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.jsonl: read: "), "{}", stderr(&o));
}

#[test]
fn cli_report_writes_a_new_file_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sealed(dir.path());
    let out = dir.path().join("report.md");
    let o = run(&["transcript", "report", p(&path), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("wrote {}\n", out.display()));
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        render_markdown(&path).unwrap()
    );

    fs::write(&out, "kept").unwrap();
    let o = run(&["transcript", "report", p(&path), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists; it is never overwritten"));
    assert_eq!(fs::read_to_string(&out).unwrap(), "kept");

    // To standard output.
    let o = run(&["transcript", "report", p(&path)]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), render_markdown(&path).unwrap());
}

#[test]
fn cli_report_of_an_unsealed_transcript_is_written_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = unsealed(dir.path());
    drop(t);
    let out = dir.path().join("report.md");
    let o = run(&["transcript", "report", p(&path), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not sealed: the ceremony did not finish"));
    let md = fs::read_to_string(&out).unwrap();
    assert!(
        md.contains("- Sealed: NO: the ceremony did not finish"),
        "{md}"
    );
}

fn fake_root(up: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let net = d.path().join("sys/class/net");
    for (name, state) in [("lo", "unknown"), ("eth0", if up { "up" } else { "down" })] {
        fs::create_dir_all(net.join(name)).unwrap();
        fs::write(net.join(name).join("operstate"), format!("{state}\n")).unwrap();
    }
    fs::create_dir_all(d.path().join("proc/net")).unwrap();
    let mut route = String::from(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
    );
    if up {
        route.push_str("eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
    }
    fs::write(d.path().join("proc/net/route"), route).unwrap();
    d
}

#[test]
fn cli_airgap_check() {
    let offline = fake_root(false);
    let o = run(&["airgap-check", "--root", p(offline.path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "air-gapped: no interface but lo is up (eth0 down), no default route\n"
    );

    let online = fake_root(true);
    let o = run(&["airgap-check", "--root", p(online.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "interface eth0 is up (operstate up)\n\
         route: default via 192.168.1.1 dev eth0\n\
         error: this machine is not air-gapped: unplug the network (or remove the interface) \
         before a real ceremony, or use --allow-network for a rehearsal\n"
    );
}

/// Every field the tool records is described in `docs/transcript.md` under its
/// kind: one example of each payload type, recorded, verified and looked up.
#[test]
fn every_recorded_field_is_documented() {
    use ceremony::ceremony::transcript::payload::*;
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transcript.jsonl");
    let mut t = Transcript::create(&path, &meta()).unwrap();
    let s = || "x".to_owned();
    let map = || BTreeMap::from([(s(), s())]);
    t.record(
        None,
        None,
        &RequestInput {
            request_bundle: s(),
            bundle_hash: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &FileInput::TrustedRoot {
            trusted_root: s(),
            sha256: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &FileInput::CurrentTargets {
            current_targets: s(),
            sha256: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &CurrentRoot {
            file: s(),
            version: 1,
            sha256: s(),
            roles: Some(BTreeMap::from([(
                s(),
                RoleKeys {
                    keyids: vec![s()],
                    threshold: 1,
                },
            )])),
        },
    )
    .unwrap();
    t.record(None, None, &AirGap { air_gapped: true }).unwrap();
    t.record(
        None,
        None,
        &NetworkOverride {
            findings: vec![s()],
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &StepStart {
            action: s(),
            number: 1,
            of: 2,
        },
    )
    .unwrap();
    t.record(None, None, &StepDone {}).unwrap();
    t.record(
        None,
        None,
        &Confirmation {
            statement: s(),
            answer: s(),
            summary_sha256: Some(s()),
            answered_by: Some(s()),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &TokensBound {
            bindings: map(),
            keyfiles: map(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &TokenSelected {
            key: s(),
            selected: s(),
            token_serial: s(),
            token_model: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &KeyGenerated {
            key: s(),
            token: s(),
            algorithm: s(),
            public: s(),
            tuf_keyid: s(),
            evidence: json!({}),
            committed_after_interruption: false,
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &KeyDiscarded {
            key: s(),
            token: s(),
            id: Some(s()),
            objects_destroyed: Some(1),
            unidentified_objects_left: Some(0),
            removed: Some(vec![s()]),
            reason: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &BackupWritten {
            key: s(),
            recipient: s(),
            file: s(),
            sha256: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &BackupVerified {
            key: s(),
            file: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &RootBuilt {
            version: 2,
            expires: s(),
            sha256_of_signed: s(),
            roles: BTreeMap::new(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &TargetsBuilt {
            metadata: s(),
            version: 2,
            expires: s(),
            delegation: Some(s()),
            added: vec![],
            removed: vec![],
            sha256_of_signed: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &BatchBuilt {
            batch: true,
            repositories: 1,
            removed: vec![],
            removed_distinct: 0,
            added: vec![],
            added_distinct: 0,
            versions: (2, 3),
            expires: s(),
            drafts_sha256: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &Signed {
            key: s(),
            keyid: s(),
            token: s(),
            version: 2,
            own_threshold: ThresholdCount {
                valid: 1,
                required: 1,
            },
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &SignatureRecovered {
            key: s(),
            keyid: s(),
            metadata: Some(s()),
            version: 2,
            recovered_after_interruption: true,
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &TargetsSigned {
            key: s(),
            keyid: s(),
            token: s(),
            metadata: s(),
            version: 2,
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &BatchSigned {
            key: s(),
            token: s(),
            batch: true,
            signed: 1,
            signed_before_interruption: 0,
            journal_sha256: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &Verified {
            result: s(),
            steps: Some(1),
            repositories: Some(1),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &FileWritten {
            path: s(),
            sha256: s(),
            size: 1,
        },
    )
    .unwrap();
    t.record(None, None, &ExportStaged { repositories: 1 })
        .unwrap();
    t.record(
        None,
        None,
        &Repository {
            index: 0,
            repository: s(),
            version: 2,
            signed_by: vec![],
            targets_removed: vec![],
            targets_added: vec![],
            path: s(),
            offset: 0,
            size: 1,
            sha256: s(),
        },
    )
    .unwrap();
    t.record(None, None, &Failed { error: s() }).unwrap();
    t.record(
        None,
        None,
        &Retry {
            token: s(),
            error: s(),
            attempt: 1,
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &Interruption {
            completed_steps: vec![s()],
            next_step: Some(s()),
        },
    )
    .unwrap();
    t.record(None, None, &Resume {}).unwrap();
    t.record(
        None,
        None,
        &Recorded {
            label: s(),
            value: s(),
            pattern: s(),
            retyped_by: Some(s()),
            answered_by: s(),
            example: true,
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &SignedIn {
            participant: s(),
            role: s(),
            name: s(),
            answered_by: s(),
            example: true,
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &SignedOut {
            participant: s(),
            name: s(),
            answered_by: s(),
        },
    )
    .unwrap();
    t.record(
        None,
        None,
        &Deviation {
            what: s(),
            reason: s(),
            approved_by: s(),
            answered_by: s(),
            example: true,
        },
    )
    .unwrap();
    t.seal(None).unwrap();
    verify_file(&path).unwrap();

    let docs = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/transcript.md"))
        .unwrap();
    let mut undocumented = Vec::new();
    for line in fs::read_to_string(&path).unwrap().lines() {
        let e = entry(line);
        let kind = e["kind"].as_str().unwrap();
        // The row of the kinds table that describes this kind.
        let row = docs
            .lines()
            .find(|l| {
                l.starts_with("| `")
                    && l.split('|')
                        .nth(1)
                        .is_some_and(|c| c.contains(&format!("`{kind}`")))
            })
            .unwrap_or_else(|| panic!("docs/transcript.md has no row for kind {kind}"));
        if kind == "begin" || kind == "seal" {
            continue;
        }
        for field in e["data"].as_object().unwrap().keys() {
            if !row.contains(&format!("`{field}`")) {
                undocumented.push(format!("{kind}.{field}"));
            }
        }
    }
    undocumented.dedup();
    assert!(
        undocumented.is_empty(),
        "fields recorded but not described in docs/transcript.md: {undocumented:?}"
    );
}

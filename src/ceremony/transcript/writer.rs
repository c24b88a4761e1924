//! Writing a transcript: create, continue after an interruption, append (each entry synced where it records an effect), seal.

use super::payload::{Begin, FileWritten, Payload, Tool};
use super::*;

/// SHA-256 of the program file running this ceremony, so compliance staff can tell
/// which build signed; or why it could not be read.
pub(super) fn running_binary_sha256() -> Value {
    let hashed = std::env::current_exe()
        .and_then(|path| crate::transfer::bundle::hash_file(&path))
        .map(|(digest, _)| hex::encode(digest));
    match hashed {
        Ok(hex) => Value::String(hex),
        Err(e) => json!({"unreadable": e.to_string()}),
    }
}

/// A transcript open for appending.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    file: File,
    next_seq: u64,
    head: EntryHash,
    broken: bool,
}

/// A sealed transcript: the final hash the witnesses write down.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub path: PathBuf,
    /// The hash of the seal entry.
    pub final_hash: EntryHash,
    /// The number of entries, the seal included.
    pub entries: u64,
    /// The key that signed the seal, if one did.
    pub signed_by: Option<PublicKey>,
}

pub(super) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn io<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> TranscriptError + 'a {
    move |source| TranscriptError::Io {
        path: path.display().to_string(),
        op,
        source,
    }
}

pub(super) fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Transcript {
    /// Create a new transcript at `path` (never over an existing file; mode 0644)
    /// and write its `begin` entry.
    pub fn create(path: &Path, meta: &CeremonyMeta) -> Result<Transcript> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    TranscriptError::Exists {
                        path: path.display().to_string(),
                    }
                } else {
                    io(path, "create")(e)
                }
            })?;
        sync_parent(path);
        let mut t = Transcript {
            path: path.to_owned(),
            file,
            next_seq: 0,
            head: EntryHash::ZERO,
            broken: false,
        };
        t.record(
            None,
            None,
            &Begin {
                format: FORMAT.into(),
                ceremony: meta.name.clone(),
                script_sha256: meta.script_sha256.clone(),
                tool: Tool {
                    name: env!("CARGO_PKG_NAME").into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    binary_sha256: running_binary_sha256(),
                },
                parameters: meta.extra.clone(),
            },
        )?;
        Ok(t)
    }

    /// Open an existing transcript to continue it (on resume). The whole chain is
    /// verified first: a tampered or sealed transcript is never appended to.
    /// Nothing is recorded here; the engine records the interruption and resume.
    pub fn open_for_append(path: &Path) -> Result<Transcript> {
        let report = check_file_with(path, &VerifyOptions::default())?;
        if report.sealed {
            return Err(TranscriptError::AlreadySealed {
                path: path.display().to_string(),
            });
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io(path, "open for appending"))?;
        // The file could have changed between verifying and opening: check its
        // length is what was verified.
        let len = file.metadata().map_err(io(path, "stat"))?.len();
        if len != report.bytes {
            return Err(TranscriptError::Malformed {
                path: path.display().to_string(),
                line: report.count as usize + 1,
                reason: "the file changed while it was being opened".into(),
            });
        }
        Ok(Transcript {
            path: path.to_owned(),
            file,
            next_seq: report.count,
            head: report.final_hash,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hash of the last entry written.
    pub fn head(&self) -> EntryHash {
        self.head
    }

    /// The number of entries written so far.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Append one entry with untyped data and fsync it. Returns the entry's hash.
    /// The engine records typed payloads with [`Transcript::record`]; this is for
    /// data of a kind no payload type describes (tests, tools reading and
    /// re-recording entries).
    ///
    /// `data` must hold no secrets (fields named like PINs, passphrases, passwords,
    /// secrets or private keys are refused), only integer numbers, and no control
    /// characters (use [`one_line`] for free text).
    pub fn append(
        &mut self,
        event: Event,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
    ) -> Result<EntryHash> {
        self.check_not_seal(event)?;
        self.append_entry(event.name(), step, actor, data)
    }

    /// Record one entry with a typed payload, and fsync it. Returns the entry's hash.
    pub fn record<P: Payload>(
        &mut self,
        step: Option<&str>,
        actor: Option<&str>,
        payload: &P,
    ) -> Result<EntryHash> {
        self.record_with(step, actor, payload, true)
    }

    /// [`Transcript::record`] without waiting for the disk; [`Transcript::sync`]
    /// makes every entry so far durable. For one entry per repository in a batch,
    /// where the step's summary entry syncs them all.
    pub fn record_deferred<P: Payload>(
        &mut self,
        step: Option<&str>,
        actor: Option<&str>,
        payload: &P,
    ) -> Result<EntryHash> {
        self.record_with(step, actor, payload, false)
    }

    fn record_with<P: Payload>(
        &mut self,
        step: Option<&str>,
        actor: Option<&str>,
        payload: &P,
        sync: bool,
    ) -> Result<EntryHash> {
        self.check_not_seal(P::EVENT)?;
        let data = serde_json::to_value(payload)
            .map_err(|e| self.not_recordable(P::EVENT.name(), e.to_string()))?;
        self.write_entry(P::EVENT.name(), step, actor, data, sync)
    }

    /// Make every entry appended so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_all().map_err(|e| {
            self.broken = true;
            io(&self.path, "sync")(e)
        })
    }

    /// Record a file that was written: its path as given, SHA-256 and size.
    pub fn record_file(
        &mut self,
        step: Option<&str>,
        actor: Option<&str>,
        path: &str,
        bytes: &[u8],
    ) -> Result<EntryHash> {
        self.record(
            step,
            actor,
            &FileWritten {
                path: path.to_owned(),
                sha256: hex::encode(Sha256::digest(bytes)),
                size: bytes.len() as u64,
            },
        )
    }

    fn check_not_seal(&self, event: Event) -> Result<()> {
        if event == Event::Seal {
            return Err(self.not_recordable(
                event.name(),
                "a seal entry is written only by `seal`".into(),
            ));
        }
        Ok(())
    }

    fn not_recordable(&self, kind: &str, reason: String) -> TranscriptError {
        TranscriptError::NotRecordable {
            path: self.path.display().to_string(),
            kind: kind.to_owned(),
            reason,
        }
    }

    fn append_entry(
        &mut self,
        kind: &str,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
    ) -> Result<EntryHash> {
        self.write_entry(kind, step, actor, data, true)
    }

    fn write_entry(
        &mut self,
        kind: &str,
        step: Option<&str>,
        actor: Option<&str>,
        data: Value,
        sync: bool,
    ) -> Result<EntryHash> {
        if self.broken {
            return Err(TranscriptError::Broken {
                path: self.path.display().to_string(),
            });
        }
        let entry = Entry {
            seq: self.next_seq,
            time: now(),
            kind: kind.to_owned(),
            step: step.map(str::to_owned),
            actor: actor.map(str::to_owned),
            data,
            prev: self.head.to_hex(),
        };
        let value = entry.to_value();
        match check_recordable(&value, &mut String::from("$")) {
            Some(Unrecordable::Secret { field, at }) => {
                return Err(TranscriptError::SecretField {
                    path: self.path.display().to_string(),
                    kind: kind.to_owned(),
                    field,
                    at,
                });
            }
            Some(Unrecordable::Control { at }) => {
                return Err(self.not_recordable(
                    kind,
                    format!("the text at {at} contains a control character (line break, tab)"),
                ));
            }
            None => {}
        }
        let mut line =
            cjson::encode(&value).map_err(|e| self.not_recordable(kind, e.to_string()))?;
        let hash = EntryHash::of(&line);
        line.push(b'\n');
        // One write of the whole line to a file opened with O_APPEND, then fsync.
        let written = self
            .file
            .write_all(&line)
            .and_then(|_| if sync { self.file.sync_all() } else { Ok(()) });
        if let Err(e) = written {
            self.broken = true;
            return Err(io(&self.path, "append")(e));
        }
        self.next_seq += 1;
        self.head = hash;
        Ok(hash)
    }

    /// Finish the transcript with a `seal` entry: the number of entries before it
    /// and the chain head (the hash of the last one). With a signer, the token signs
    /// [`seal_message`] of those two; the signature is verified in software before
    /// it is recorded, with the public key.
    ///
    /// Returns the final hash (of the seal entry) for the witnesses to write down.
    pub fn seal(mut self, signer: Option<&mut dyn Signer>) -> Result<Sealed> {
        let count = self.next_seq;
        let head = self.head;
        let mut data = Map::new();
        data.insert("count".into(), count.into());
        data.insert("chain_head".into(), head.to_hex().into());
        let mut signed_by = None;
        if let Some(signer) = signer {
            let message = seal_message(&head, count);
            let path = self.path.display().to_string();
            let signature = signer
                .sign(&message)
                .map_err(|source| TranscriptError::Token {
                    path: path.clone(),
                    source,
                })?;
            let public = signer.public_key().clone();
            public
                .verify(
                    &message,
                    &signature,
                    SignatureEncoding::raw_for(public.algorithm()),
                )
                .map_err(|e| TranscriptError::BadTokenSignature {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            data.insert(
                "signature".into(),
                json!({
                    "algorithm": public.algorithm().name(),
                    "public_key": hex::encode(public.as_bytes()),
                    "keyid": tuf_key_id(&public),
                    "signer": one_line(&signer.describe()),
                    "sig": hex::encode(&signature),
                }),
            );
            signed_by = Some(public);
        }
        let final_hash = self.append_entry(Event::Seal.name(), None, None, Value::Object(data))?;
        Ok(Sealed {
            path: self.path,
            final_hash,
            entries: count + 1,
            signed_by,
        })
    }
}

/// The bytes a seal signature covers: the canonical JSON of
/// `{"chain_head": HEX, "count": N, "type": "ceremony-transcript-seal v1"}`.
/// The `type` keeps a transcript signature from ever being mistaken for a
/// signature over metadata.
pub fn seal_message(head: &EntryHash, count: u64) -> Vec<u8> {
    cjson::encode(&json!({
        "chain_head": head.to_hex(),
        "count": count,
        "type": SEAL_SIGNATURE_TYPE,
    }))
    .expect("integers and strings only")
}

/// The TUF key ID of a public key, to match against the keys listed in root.json.
pub(super) fn tuf_key_id(public: &PublicKey) -> String {
    crate::tuf::key::key_id(
        &crate::tuf::key::tuf_key(public),
        crate::tuf::metadata::Flavour::Tuf,
    )
}

/// The signature recorded in a seal, after it verified.
#[derive(Debug, Clone)]
pub struct SealSignature {
    pub public_key: PublicKey,
    /// TUF key ID of the public key.
    pub keyid: String,
    /// The token as it described itself.
    pub signer: String,
}

/// The TUF key ID of a public key (how reports and witness files name a key).
pub fn tuf_key_id_of(public: &PublicKey) -> String {
    tuf_key_id(public)
}

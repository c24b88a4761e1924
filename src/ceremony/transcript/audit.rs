//! The record an auditor files: a transcript's facts grouped as an auditor reads
//! them (who, what devices, what was generated, what was signed, what was
//! written, exceptions, verification), in plain words, every value in full, with
//! a glossary and what the record cannot prove. One model, two forms: Markdown
//! (`transcript.md`) and an A4 PDF (see [`super::pdf`]).

use super::*;
use std::collections::BTreeMap;

/// A report: an optional banner (the first line: not a production ceremony, or
/// verification failed), a title and its sections.
#[derive(Debug, Clone)]
pub struct Doc {
    pub banner: Option<String>,
    pub title: String,
    pub sections: Vec<Section>,
    /// Shown at the foot of every printed page.
    pub footer: String,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// What a section holds.
#[derive(Debug, Clone)]
pub enum Block {
    /// A paragraph of plain text.
    Para(String),
    /// Facts, one a line: a label and its value in full.
    Facts(Vec<(String, String)>),
    /// Items (a person, a key, a file), each a title and its facts.
    Items(Vec<Item>),
    /// Lines kept as they are (the final hash in witness groups).
    Mono(Vec<String>),
    /// The key hierarchy before and after the ceremony.
    Hierarchy(Hierarchy),
    /// Plain points, one a bullet.
    Bullets(Vec<String>),
    /// Lines to sign by hand.
    Signatures(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Item {
    pub title: String,
    pub facts: Vec<(String, String)>,
}

/// Which keys hold which roles, and the thresholds, before and after.
#[derive(Debug, Clone, Default)]
pub struct Hierarchy {
    pub before: Option<(u64, Roles)>,
    pub after: Option<(u64, Roles)>,
}

/// Role → (threshold, key IDs).
pub type Roles = BTreeMap<String, (u64, Vec<String>)>;

impl Hierarchy {
    /// The hierarchy as text: one block per role, a key per line, marked `+` when
    /// the ceremony added it and `-` when it removed it.
    pub fn text_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let empty = Roles::new();
        let before = self.before.as_ref().map(|(_, r)| r).unwrap_or(&empty);
        let after = self.after.as_ref().map(|(_, r)| r).unwrap_or(&empty);
        for (label, side, other, mark) in [
            ("before", &self.before, after, '-'),
            ("after", &self.after, before, '+'),
        ] {
            let Some((version, roles)) = side else {
                continue;
            };
            lines.push(format!("{label}: version {version}"));
            for (role, (threshold, keyids)) in roles {
                lines.push(format!("  {role}: {threshold} of {} key(s)", keyids.len()));
                for k in keyids {
                    let changed = self.before.is_some()
                        && !other.get(role).is_some_and(|(_, o)| o.contains(k));
                    lines.push(format!(
                        "    {} {}",
                        if changed { mark } else { ' ' },
                        crate::tuf::verify::fingerprint(k)
                    ));
                }
            }
        }
        if self.before.is_some() {
            lines.push("(+ added by this ceremony, - removed; key IDs' first 64 bits)".into());
        } else {
            lines
                .push("(key IDs' first 64 bits; in full under 'What was built and signed')".into());
        }
        lines
    }
}

/// At most this many entries, and this many bytes of their data, are grouped into
/// the report's sections (a batch over many repositories lists its repositories in
/// the appendix).
const MAX_FACTS: usize = 5_000;
const MAX_FACT_BYTES: usize = 64 << 20;
/// Repositories of a batch named in the sections (all are in the appendix).
const MAX_REPOSITORIES: usize = 50;

/// The entries a report groups, gathered as the transcript is verified.
#[derive(Default)]
pub struct Gathered {
    pub entries: Vec<Entry>,
    pub omitted: u64,
    pub bookkeeping: u64,
    pub repositories: Vec<Entry>,
    pub repository_count: u64,
    bytes: usize,
}

impl Gathered {
    /// Keep what the report groups; count the rest.
    pub fn take(&mut self, e: &Entry) {
        match Event::from_name(&e.kind) {
            Some(Event::StepStart | Event::StepDone) => self.bookkeeping += 1,
            Some(Event::Repository) => {
                self.repository_count += 1;
                if self.repositories.len() < MAX_REPOSITORIES {
                    self.repositories.push(e.clone());
                }
            }
            _ => {
                let size = e.data.to_string().len();
                if self.entries.len() < MAX_FACTS && self.bytes + size <= MAX_FACT_BYTES {
                    self.bytes += size;
                    self.entries.push(e.clone());
                } else {
                    self.omitted += 1;
                }
            }
        }
    }

    fn of(&self, event: Event) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.kind == event.name())
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A JSON value as plain text: strings as they are, the rest as compact JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn fact(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_owned(), value.into())
}

fn roles_of(v: &Value) -> Option<Roles> {
    let map = v.as_object()?;
    Some(
        map.iter()
            .map(|(role, r)| {
                let threshold = r.get("threshold").and_then(Value::as_u64).unwrap_or(0);
                let keyids = r
                    .get("keyids")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(text).collect())
                    .unwrap_or_default();
                (role.clone(), (threshold, keyids))
            })
            .collect(),
    )
}

/// Build the report of a transcript from what was gathered while verifying it.
pub fn build(path: &Path, g: &Gathered, verdict: &Result<VerifyReport>) -> Doc {
    let begin = g.entries.iter().find(|e| e.kind == Event::Begin.name());
    let b = begin.map(|e| &e.data).unwrap_or(&Value::Null);
    let ceremony = match s(b, "ceremony") {
        "" => "(unknown)",
        c => c,
    };
    let banner = match verdict {
        Ok(r) if !r.practice.is_empty() => Some(format!(
            "NOT A PRODUCTION CEREMONY: {}.",
            r.practice.join("; ")
        )),
        Ok(_) => None,
        Err(_) => Some(
            "VERIFICATION FAILED — do not rely on this transcript. What follows is shown as \
             found in the file and is not verified."
                .into(),
        ),
    };
    let final_hash = match verdict {
        Ok(r) => r.final_hash.to_hex(),
        Err(_) => "none (the chain does not verify)".into(),
    };
    let mut sections = vec![
        at_a_glance(path, g, b, verdict),
        who(g, b),
        room_facts(g),
        devices(g),
        generated(g),
        built_and_signed(g),
        written(g),
        signing_event(path, b),
        witnesses(path),
        exceptions(g, verdict),
        verification(path, verdict),
        cannot_prove(),
        glossary(),
        signatures(g, b),
    ];
    sections.retain(|s| !s.blocks.is_empty());
    // A fact the transcript does not hold is left out, not shown empty.
    for block in sections.iter_mut().flat_map(|s| s.blocks.iter_mut()) {
        match block {
            Block::Facts(f) => f.retain(|(_, v)| !v.is_empty()),
            Block::Items(items) => {
                for it in items {
                    it.facts.retain(|(_, v)| !v.is_empty());
                }
            }
            _ => {}
        }
    }
    Doc {
        banner,
        title: format!("Key ceremony record: {ceremony}"),
        sections,
        footer: format!(
            "{ceremony} · final hash {}",
            &final_hash[..final_hash.floor_char_boundary(16)]
        ),
    }
}

/// A signing event across sites: this site's place, every earlier site's
/// transcript and final hash, and where the thresholds stand (from the export's
/// `signing-event.json` beside the transcript).
fn signing_event(path: &Path, b: &Value) -> Section {
    let dir = path.parent().unwrap_or(Path::new("."));
    let site = b
        .get(crate::ceremony::event::BEGIN_PARAMETER)
        .and_then(|p| p.get("site"))
        .and_then(Value::as_u64);
    let Some(site) = site else {
        return section("Signing event across sites", Vec::new());
    };
    let mut blocks = vec![Block::Para(format!(
        "This ceremony is site {site} of a signing event: one root signed at several offline \
         ceremonies, one after the other. Each site's transcript begins from the final hash of \
         the one before; `ceremony transcript verify EXPORT` checks the whole chain."
    ))];
    let event = crate::inputs::read_file(&dir.join(crate::ceremony::event::EVENT_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<crate::ceremony::event::EventFile>(&b).ok());
    if let Some(ev) = event {
        let mut items: Vec<Item> = ev
            .sites
            .iter()
            .map(|s| Item {
                title: format!("Site {}", s.site),
                facts: vec![
                    ("Transcript".into(), s.transcript.clone()),
                    ("Final hash".into(), s.final_hash.clone()),
                ],
            })
            .collect();
        items.push(Item {
            title: format!("Site {} (this transcript)", ev.site),
            facts: vec![("Transcript".into(), "transcript.jsonl".into())],
        });
        blocks.push(Block::Items(items));
        blocks.push(Block::Facts(vec![
            ("Root version".into(), ev.version.to_string()),
            (
                "Complete".into(),
                if ev.complete {
                    "yes: both thresholds met".into()
                } else {
                    "no: below threshold, not publishable".into()
                },
            ),
        ]));
        blocks.push(Block::Mono(
            ev.thresholds.iter().map(|t| t.describe()).collect(),
        ));
    }
    section("Signing event across sites", blocks)
}

/// The witnesses who signed the final hash (from `witnesses.json` beside the
/// transcript; `transcript verify --witness KEY` checks each signature).
fn witnesses(path: &Path) -> Section {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = match crate::ceremony::witness::read(dir) {
        Ok(Some(f)) => f,
        _ => return section("Witness signatures", Vec::new()),
    };
    let items = file
        .signatures
        .iter()
        .map(|w| Item {
            title: match &w.name {
                Some(n) => format!("{} ({n})", w.participant),
                None => w.participant.clone(),
            },
            facts: vec![
                (
                    "Signed".into(),
                    format!("final hash {}", file.transcript_final_hash),
                ),
                ("Method".into(), w.method.clone()),
                ("Key".into(), w.key.clone()),
                ("Key is on".into(), w.signer.clone()),
                ("When".into(), w.signed_at.clone()),
            ],
        })
        .collect();
    section(
        "Witness signatures",
        vec![
            Block::Para(
                "Each witness signed the transcript's final hash with a key of their own. \
                 Listed as found beside the transcript; check each with `ceremony transcript \
                 verify EXPORT --witness KEY` (and an OpenSSH signature with `ssh-keygen -Y \
                 verify`)."
                    .into(),
            ),
            Block::Items(items),
        ],
    )
}

fn section(title: &str, blocks: Vec<Block>) -> Section {
    Section {
        title: title.into(),
        blocks,
    }
}

fn at_a_glance(path: &Path, g: &Gathered, b: &Value, verdict: &Result<VerifyReport>) -> Section {
    let mut f = vec![fact("Transcript file", path.display().to_string())];
    f.push(fact("Ceremony", s(b, "ceremony")));
    for (label, key) in [
        ("Repository", "repository"),
        ("Flavour", "flavour"),
        ("Kind", "kind"),
    ] {
        if let Some(v) = b.get(key) {
            f.push(fact(label, text(v)));
        }
    }
    if let Some(first) = g.entries.first() {
        f.push(fact("Started", first.time.clone()));
    }
    if let Ok(r) = verdict {
        f.push(fact(
            "Last entry",
            format!("{} at {}", r.last_seq(), r.last.time),
        ));
        f.push(fact(
            "Result",
            match (r.sealed, r.practice.is_empty()) {
                (true, true) => "sealed and intact: a complete production ceremony record",
                (true, false) => "sealed and intact, but a practice run (see Exceptions)",
                (false, _) => "intact but NOT sealed: the ceremony did not finish",
            },
        ));
    } else {
        f.push(fact("Result", "the transcript does not verify"));
    }
    f.push(fact("Script SHA-256 (as run)", s(b, "script_sha256")));
    if let Some(h) = b.get("approved_script_sha256") {
        f.push(fact("Approved script SHA-256", text(h)));
    }
    if let Some(o) = b.get("overrides").and_then(Value::as_object)
        && !o.is_empty()
    {
        f.push(fact(
            "Parameters set over the script",
            o.iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if let Some(tool) = b.get("tool") {
        f.push(fact(
            "Tool",
            format!("{} {}", s(tool, "name"), s(tool, "version")),
        ));
        f.push(fact(
            "Tool binary SHA-256",
            tool.get("binary_sha256").map(text).unwrap_or_default(),
        ));
    }
    for e in g.of(Event::Input) {
        let d = &e.data;
        if let Some(v) = d.get("version") {
            f.push(fact(
                &format!("Current root {}", text(v)),
                format!("{} SHA-256 {}", s(d, "file"), s(d, "sha256")),
            ));
        } else if let Some(t) = d.get("trusted_root") {
            f.push(fact(
                "Trusted root",
                format!("{} SHA-256 {}", text(t), s(d, "sha256")),
            ));
        } else if let Some(t) = d.get("current_targets") {
            f.push(fact(
                "Current targets",
                format!("{} SHA-256 {}", text(t), s(d, "sha256")),
            ));
        } else if let Some(t) = d.get("request_bundle") {
            f.push(fact(
                "Request bundle",
                format!("{} bundle hash {}", text(t), s(d, "bundle_hash")),
            ));
        } else if let Some(t) = d.get("targets_decision") {
            f.push(fact("Decision on the current targets", text(t)));
        }
    }
    let mut blocks = vec![Block::Facts(f)];
    if let Ok(r) = verdict {
        blocks.push(Block::Para(format!(
            "The final hash ({} of entry {}), to compare with the one the witnesses wrote down:",
            if r.sealed {
                "the hash of the seal"
            } else {
                "the hash of the last entry, not sealed"
            },
            r.last_seq()
        )));
        blocks.push(Block::Mono(vec![witness_words(&r.final_hash)]));
    }
    section("At a glance", blocks)
}

fn who(g: &Gathered, b: &Value) -> Section {
    let mut people: BTreeMap<String, Item> = BTreeMap::new();
    for p in b
        .get("participants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = s(p, "id").to_owned();
        let mut facts = vec![fact("role", s(p, "role"))];
        if let Some(t) = p.get("title").filter(|t| !t.is_null()) {
            facts.push(fact("title", text(t)));
        }
        people.insert(id.clone(), Item { title: id, facts });
    }
    for e in g.of(Event::SignIn).chain(g.of(Event::SignOut)) {
        let id = s(&e.data, "participant").to_owned();
        let item = people.entry(id.clone()).or_insert_with(|| Item {
            title: id,
            facts: Vec::new(),
        });
        if e.kind == Event::SignIn.name() {
            item.facts.push(fact("name", s(&e.data, "name")));
            item.facts.push(fact("signed in", e.time.clone()));
        } else {
            item.facts.push(fact("signed out", e.time.clone()));
        }
        let by = s(&e.data, "answered_by");
        if by != "terminal" && !by.is_empty() && e.kind == Event::SignIn.name() {
            item.facts.push(fact("entered by", by));
        }
    }
    let mut blocks = Vec::new();
    if !people.is_empty() {
        blocks.push(Block::Para(
            "The people the script names, with the names they typed at sign-in and the times \
             they signed in and out (the tool records what was typed; it cannot check an \
             identity)."
                .into(),
        ));
        blocks.push(Block::Items(people.into_values().collect()));
    }
    section("Who took part", blocks)
}

fn room_facts(g: &Gathered) -> Section {
    let items: Vec<Item> = g
        .of(Event::Recorded)
        .map(|e| {
            let d = &e.data;
            let mut facts = vec![
                fact("value", s(d, "value")),
                fact("typed by", e.actor.clone().unwrap_or_default()),
            ];
            if let Some(r) = d.get("retyped_by") {
                facts.push(fact("typed again, the same, by", text(r)));
            }
            facts.push(fact("form required", s(d, "pattern")));
            facts.push(fact("at", e.time.clone()));
            let by = s(d, "answered_by");
            if by != "terminal" {
                facts.push(fact("entered by", by));
            }
            if d.get("example").and_then(Value::as_bool) == Some(true) {
                facts.push(fact(
                    "note",
                    "the script's example value (an unattended run)",
                ));
            }
            Item {
                title: s(d, "label").to_owned(),
                facts,
            }
        })
        .collect();
    let mut blocks = Vec::new();
    if !items.is_empty() {
        blocks.push(Block::Items(items));
    }
    section("Facts recorded in the room", blocks)
}

fn devices(g: &Gathered) -> Section {
    let mut items = Vec::new();
    for e in g.of(Event::Token) {
        let d = &e.data;
        if let Some(b) = d.get("bindings").and_then(Value::as_object) {
            for (key, token) in b {
                items.push(Item {
                    title: format!("key {key}"),
                    facts: vec![fact("bound to", text(token))],
                });
            }
            for (key, file) in d
                .get("keyfiles")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                items.push(Item {
                    title: format!("key {key}"),
                    facts: vec![fact("public key file", text(file))],
                });
            }
        } else if d.get("selected").is_some() {
            items.push(Item {
                title: format!("key {} (selected at the terminal)", s(d, "key")),
                facts: vec![
                    fact("token", s(d, "selected")),
                    fact("token serial", s(d, "token_serial")),
                    fact("token model", s(d, "token_model")),
                ],
            });
        }
    }
    for e in g.of(Event::KeyGenerated) {
        let ev = e.data.get("evidence").unwrap_or(&Value::Null);
        let mut facts = vec![fact("token", s(&e.data, "token"))];
        for (label, key) in [
            ("kind", "kind"),
            ("token label", "token_label"),
            ("token serial", "token_serial"),
            ("manufacturer", "token_manufacturer"),
            ("model", "token_model"),
            ("serial", "serial"),
            ("firmware", "firmware"),
            ("reader", "reader"),
        ] {
            if let Some(v) = ev.get(key).filter(|v| !v.is_null()) {
                facts.push(fact(label, text(v)));
            }
        }
        items.push(Item {
            title: format!("device of key {}", s(&e.data, "key")),
            facts,
        });
    }
    let mut blocks = Vec::new();
    if !items.is_empty() {
        blocks.push(Block::Items(items));
    }
    section("Devices", blocks)
}

fn generated(g: &Gathered) -> Section {
    let mut items = Vec::new();
    for e in g.of(Event::KeyGenerated) {
        let d = &e.data;
        let ev = d.get("evidence").unwrap_or(&Value::Null);
        let keyid = s(d, "tuf_keyid");
        let mut facts = vec![
            fact("algorithm", s(d, "algorithm")),
            fact("key ID", keyid),
            fact("as read aloud", crate::tuf::verify::fingerprint(keyid)),
            fact("public key (hex)", s(d, "public")),
            fact("generated by", e.actor.clone().unwrap_or_default()),
            fact("at", e.time.clone()),
        ];
        if let Some(attrs) = ev.get("attributes").and_then(Value::as_object) {
            for (k, v) in attrs {
                facts.push(fact(k, text(v)));
            }
        }
        for key in [
            "local",
            "never_extractable",
            "always_sensitive",
            "sensitive",
            "extractable",
            "self_test_verified",
            "mode",
            "policy",
        ] {
            if let Some(v) = ev.get(key).filter(|v| !v.is_null()) {
                facts.push(fact(key, text(v)));
            }
        }
        if let Some(a) = ev.get("attestation") {
            let mut what = s(a, "status").to_owned();
            for key in ["root_subject", "root_sha256", "serial", "reason"] {
                if let Some(v) = a.get(key).filter(|v| !v.is_null()) {
                    what.push_str(&format!("; {key} {}", text(v)));
                }
            }
            facts.push(fact("attestation", what));
        }
        if d.get("committed_after_interruption")
            .and_then(Value::as_bool)
            == Some(true)
        {
            facts.push(fact(
                "note",
                "made before an interruption and recorded whole on resume",
            ));
        }
        items.push(Item {
            title: format!("key {} on {}", s(d, "key"), s(d, "token")),
            facts,
        });
    }
    for e in g.of(Event::BackupWritten) {
        let d = &e.data;
        items.push(Item {
            title: format!("backup of key {}", s(d, "key")),
            facts: vec![
                fact("recipient", s(d, "recipient")),
                fact("file", s(d, "file")),
                fact("SHA-256", s(d, "sha256")),
            ],
        });
    }
    let mut blocks = Vec::new();
    if !items.is_empty() {
        blocks.push(Block::Items(items));
    }
    section("Keys generated", blocks)
}

fn built_and_signed(g: &Gathered) -> Section {
    let mut blocks = Vec::new();
    let before = g
        .of(Event::Input)
        .filter_map(|e| {
            let roles = roles_of(e.data.get("roles")?)?;
            Some((e.data.get("version")?.as_u64()?, roles))
        })
        .last();
    let mut after = None;
    for e in g.of(Event::RootBuilt) {
        let d = &e.data;
        let mut facts = vec![
            fact(
                "metadata",
                if s(d, "metadata").is_empty() {
                    "root"
                } else {
                    s(d, "metadata")
                },
            ),
            fact("version", d.get("version").map(text).unwrap_or_default()),
            fact("expires", s(d, "expires")),
            fact("SHA-256 of its signed part", s(d, "sha256_of_signed")),
        ];
        for key in ["repositories", "delegation", "added", "removed"] {
            if let Some(v) = d.get(key).filter(|v| !v.is_null()) {
                facts.push(fact(key, text(v)));
            }
        }
        if let Some(roles) = d.get("roles").and_then(roles_of) {
            for (role, (threshold, keyids)) in &roles {
                facts.push(fact(
                    &format!("role {role}"),
                    format!("{threshold} of {}: {}", keyids.len(), keyids.join(", ")),
                ));
            }
            after = Some((d.get("version").and_then(Value::as_u64).unwrap_or(0), roles));
        }
        blocks.push(Block::Items(vec![Item {
            title: format!(
                "built at {} by {}",
                e.time,
                e.actor.clone().unwrap_or_default()
            ),
            facts,
        }]));
    }
    if after.is_some() {
        blocks.push(Block::Para(
            "The key hierarchy: which keys hold which roles, and how many of them must sign."
                .into(),
        ));
        blocks.push(Block::Hierarchy(Hierarchy { before, after }));
    }
    let mut items = Vec::new();
    for e in g.of(Event::Confirmation) {
        let d = &e.data;
        let mut facts = vec![
            fact("answer", s(d, "answer")),
            fact("by", e.actor.clone().unwrap_or_default()),
            fact("at", e.time.clone()),
            fact("entered by", s(d, "answered_by")),
        ];
        if let Some(h) = d.get("summary_sha256") {
            facts.push(fact("SHA-256 of the summary read aloud", text(h)));
        }
        // (`question`: how early transcripts named the statement.)
        let statement = match s(d, "statement") {
            "" => s(d, "question"),
            st => st,
        };
        items.push(Item {
            title: statement.to_owned(),
            facts,
        });
    }
    if !items.is_empty() {
        blocks.push(Block::Para("What the people in the room confirmed:".into()));
        blocks.push(Block::Items(items));
    }
    let mut items = Vec::new();
    for e in g.of(Event::Signature) {
        let d = &e.data;
        let mut facts = vec![
            fact("key ID", s(d, "keyid")),
            fact("token", s(d, "token")),
            fact("by", e.actor.clone().unwrap_or_default()),
            fact("at", e.time.clone()),
        ];
        for key in ["version", "metadata", "own_threshold", "signed"] {
            if let Some(v) = d.get(key).filter(|v| !v.is_null()) {
                facts.push(fact(key, text(v)));
            }
        }
        if d.get("recovered_after_interruption")
            .and_then(Value::as_bool)
            == Some(true)
        {
            facts.push(fact("note", "made before an interruption, found on resume"));
        }
        items.push(Item {
            title: format!("signature by key {}", s(d, "key")),
            facts,
        });
    }
    for e in g.of(Event::Verified) {
        items.push(Item {
            title: "verified as clients verify it".into(),
            facts: vec![
                fact("result", s(&e.data, "result")),
                fact("at", e.time.clone()),
            ],
        });
    }
    if !items.is_empty() {
        blocks.push(Block::Items(items));
    }
    if g.repository_count > 0 {
        let mut items: Vec<Item> = g
            .repositories
            .iter()
            .map(|e| Item {
                title: s(&e.data, "repository").to_owned(),
                facts: vec![
                    fact(
                        "version",
                        e.data.get("version").map(text).unwrap_or_default(),
                    ),
                    fact("SHA-256", s(&e.data, "sha256")),
                ],
            })
            .collect();
        if g.repository_count > g.repositories.len() as u64 {
            items.push(Item {
                title: format!(
                    "and {} more repositories: see the transcript",
                    g.repository_count - g.repositories.len() as u64
                ),
                facts: Vec::new(),
            });
        }
        blocks.push(Block::Para(format!(
            "Repositories of this batch: {}.",
            g.repository_count
        )));
        blocks.push(Block::Items(items));
    }
    section("What was built and signed", blocks)
}

fn written(g: &Gathered) -> Section {
    let items: Vec<Item> = g
        .of(Event::FileWritten)
        .map(|e| Item {
            title: s(&e.data, "path").to_owned(),
            facts: vec![
                fact(
                    "size",
                    format!(
                        "{} bytes",
                        e.data.get("size").map(text).unwrap_or_else(|| "?".into())
                    ),
                ),
                fact("SHA-256", s(&e.data, "sha256")),
            ],
        })
        .collect();
    let blocks = if items.is_empty() {
        vec![Block::Para("None.".into())]
    } else {
        vec![
            Block::Para(
                "Every file the export step wrote (the transcript and this report are \
                 not listed: the transcript cannot record its own hash)."
                    .into(),
            ),
            Block::Items(items),
        ]
    };
    section("What was written", blocks)
}

fn exceptions(g: &Gathered, verdict: &Result<VerifyReport>) -> Section {
    let mut items = Vec::new();
    if let Ok(r) = verdict {
        for why in &r.practice {
            items.push(Item {
                title: "not a production ceremony".into(),
                facts: vec![fact("because", why.clone())],
            });
        }
    }
    for e in &g.entries {
        let d = &e.data;
        let item = match Event::from_name(&e.kind) {
            Some(Event::Deviation) => Item {
                title: format!("deviation: {}", s(d, "what")),
                facts: vec![
                    fact("reason", s(d, "reason")),
                    fact("approved by", s(d, "approved_by")),
                    fact("entered by", s(d, "answered_by")),
                ],
            },
            Some(Event::Error) => Item {
                title: "error".into(),
                facts: vec![fact("message", s(d, "error"))],
            },
            Some(Event::Retry) => Item {
                title: "retried".into(),
                facts: vec![
                    fact("token", s(d, "token")),
                    fact("error", s(d, "error")),
                    fact("attempt", d.get("attempt").map(text).unwrap_or_default()),
                ],
            },
            Some(Event::Interruption) => Item {
                title: "interrupted".into(),
                facts: vec![
                    fact(
                        "next step",
                        d.get("next_step").map(text).unwrap_or_default(),
                    ),
                    fact(
                        "steps done before",
                        d.get("completed_steps")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default(),
                    ),
                ],
            },
            Some(Event::Resume) => Item {
                title: "resumed".into(),
                facts: Vec::new(),
            },
            Some(Event::NetworkOverride) => Item {
                title: "the air-gap check was overridden (--allow-network)".into(),
                facts: d
                    .get("findings")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|f| fact("found", text(f)))
                    .collect(),
            },
            Some(Event::KeyDiscarded) => Item {
                title: format!("an interrupted generation of key {} destroyed", s(d, "key")),
                facts: vec![fact("reason", s(d, "reason"))],
            },
            _ => continue,
        };
        let mut item = item;
        item.facts
            .push(fact("at", format!("{} (entry {})", e.time, e.seq)));
        items.push(item);
    }
    if g.omitted > 0 {
        items.push(Item {
            title: format!(
                "{} entries are not grouped in this report (it groups at most {MAX_FACTS}, \
                 of at most {} MiB); they are in the transcript",
                g.omitted,
                MAX_FACT_BYTES >> 20
            ),
            facts: Vec::new(),
        });
    }
    let blocks = if items.is_empty() {
        vec![Block::Para(
            "None: the ceremony ran as its script says, without error, interruption or override."
                .into(),
        )]
    } else {
        vec![Block::Items(items)]
    };
    section("Exceptions", blocks)
}

fn verification(path: &Path, verdict: &Result<VerifyReport>) -> Section {
    let mut f = Vec::new();
    let mut blocks = Vec::new();
    match verdict {
        Ok(r) => {
            f.push(fact(
                "Chain",
                format!(
                    "intact: {} entries, each carrying the hash of the one before it",
                    r.count
                ),
            ));
            f.push(fact(
                "Sealed",
                if r.sealed {
                    "yes".to_owned()
                } else {
                    format!(
                        "NO: the ceremony did not finish (interrupted after entry {}), or \
                         trailing entries were removed",
                        r.last_seq()
                    )
                },
            ));
            f.push(fact(
                "Seal signature",
                match &r.signature {
                    Some(sig) => format!(
                        "valid: {} key {} (key ID {}), {}",
                        sig.public_key.algorithm(),
                        hex::encode(sig.public_key.as_bytes()),
                        sig.keyid,
                        sig.signer
                    ),
                    None if r.sealed => "none (unsigned seal)".into(),
                    None => "none".into(),
                },
            ));
            f.push(fact(
                "Witnessed hash",
                match r.expected_hash_matched {
                    Some(true) => "matches the final hash".into(),
                    _ => "not compared: compare the final hash with the one written down at the \
                          ceremony"
                        .to_owned(),
                },
            ));
        }
        Err(e) => {
            f.push(fact("Result", one_line(&e.to_string())));
        }
    }
    blocks.push(Block::Facts(f));
    blocks.push(Block::Para(format!(
        "To check it again, with the hash the witnesses wrote down: ceremony transcript verify \
         --expect-hash \"HASH\" {}",
        path.display()
    )));
    section("Verification", blocks)
}

fn cannot_prove() -> Section {
    section(
        "What this record cannot prove",
        vec![Block::Bullets(
            [
                "Who pressed the keys. The tool records the actor the script names for each \
                 step, and whether an answer was typed at the terminal or came from a file; \
                 names are as typed at sign-in. Only the people in the room, and their \
                 signatures below, vouch for who they were.",
                "That nothing happened outside the tool: a token swapped before the ceremony, \
                 a key copied by another program, a camera in the room. Bag numbers, the \
                 operating system image's hash and the clock source are recorded as typed, not \
                 checked against the world.",
                "That the machine was the one described: the binary's SHA-256 names the build \
                 that wrote this record, but a changed operating system could change anything.",
                "The times: they come from the offline machine's clock.",
                "That this is the only transcript: the chain proves the entries were not \
                 changed since they were written, and the witnessed hash proves it is the one \
                 the witnesses saw end, but a whole transcript could be made again by someone \
                 who controls the machine. The seal signature, made by a root key, binds it to \
                 a key holder.",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        )],
    )
}

fn glossary() -> Section {
    section(
        "Glossary",
        vec![Block::Facts(vec![
            fact(
                "chain",
                "each entry of the transcript holds the SHA-256 of the entry before it, so \
                 changing, removing or reordering any entry breaks every later link",
            ),
            fact(
                "seal",
                "the last entry, written when the ceremony ends: the count of entries and the \
                 hash of the last, signed where a root key signed in the ceremony; nothing can \
                 be added after it",
            ),
            fact(
                "witnessed hash",
                "the final hash, shown at the end of the ceremony and written down on paper by \
                 the witnesses; it ties this file to what they saw",
            ),
            fact(
                "key ID",
                "the SHA-256 of a public key, as TUF names keys; read aloud as its first 64 \
                 bits in groups of four hex digits",
            ),
            fact(
                "threshold",
                "how many of a role's keys must sign for clients to accept what the role signs",
            ),
            fact(
                "practice run",
                "a rehearsal or test: answers from a file, software keys or test tokens, or \
                 the air-gap check overridden; never evidence of a production ceremony",
            ),
            fact(
                "deviation",
                "a departure from the script (an interruption, a network override), recorded \
                 with the reason and who approved going on",
            ),
        ])],
    )
}

fn signatures(g: &Gathered, b: &Value) -> Section {
    let mut names: Vec<String> = g
        .of(Event::SignIn)
        .map(|e| {
            format!(
                "{} ({}, {})",
                s(&e.data, "name"),
                s(&e.data, "participant"),
                s(&e.data, "role")
            )
        })
        .collect();
    if names.is_empty() {
        names = b
            .get("participants")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| format!("{} ({})", s(p, "id"), s(p, "role")))
            .collect();
    }
    names.push("Auditor".into());
    section(
        "Signatures",
        vec![
            Block::Para(
                "We were present (or, for the auditor, reviewed this record) and the final hash \
                 above is the one shown at the end of the ceremony."
                    .into(),
            ),
            Block::Signatures(names),
        ],
    )
}

/// Lines of at most `width` characters: words kept whole where they fit, a
/// longer word cut; continuation lines start with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    wrap_with(text, width, indent, true)
}

/// [`wrap`], or with `cut` false, a word longer than a line kept whole on a line
/// of its own (a hash in Markdown, which a reader searches for).
pub fn wrap_with(text: &str, width: usize, indent: &str, cut: bool) -> Vec<String> {
    let mut lines = Vec::new();
    // The text's own leading spaces stay (a nested item).
    let body = text.trim_start_matches(' ');
    let mut line = " ".repeat(text.len() - body.len());
    let text = body;
    let room = |line: &String| width.saturating_sub(line.chars().count());
    for word in text.split(' ') {
        let mut word: String = word.to_owned();
        loop {
            let n = word.chars().count();
            let sep = usize::from(!line.is_empty() && line.chars().any(|c| c != ' '));
            if n + sep <= room(&line) {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            let fresh = line.chars().all(|c| c == ' ');
            if !fresh {
                lines.push(std::mem::replace(&mut line, indent.to_owned()));
                continue;
            }
            // A word longer than a whole line: cut it, or keep it whole.
            if !cut {
                line.push_str(&word);
                lines.push(std::mem::replace(&mut line, indent.to_owned()));
                break;
            }
            let take = room(&line).max(1);
            let head: String = word.chars().take(take).collect();
            word = word.chars().skip(take).collect();
            line.push_str(&head);
            lines.push(std::mem::replace(&mut line, indent.to_owned()));
            if word.is_empty() {
                break;
            }
        }
    }
    if line.chars().any(|c| c != ' ') || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The report as Markdown: lines of at most 100 characters where the content
/// allows (a list item's continuation lines are indented).
pub fn markdown(
    doc: &Doc,
    appendix: &mut dyn std::io::Read,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut o = String::new();
    if let Some(b) = &doc.banner {
        let b = match b.split_once(": ") {
            Some((head, rest)) => format!("**{head}**: {}", md_text(rest)),
            None => format!("**{}**", md_text(b)),
        };
        push_wrapped(&mut o, &b, "");
        o.push('\n');
    }
    o.push_str(&format!("# {}\n", md_text(&doc.title)));
    for sec in &doc.sections {
        while o.ends_with("\n\n") {
            o.pop();
        }
        o.push_str(&format!("\n\n## {}\n\n", sec.title));
        for block in &sec.blocks {
            match block {
                Block::Para(t) => {
                    push_wrapped(&mut o, &md_text(t), "");
                    o.push('\n');
                }
                Block::Facts(f) => {
                    for (k, v) in f {
                        push_wrapped(&mut o, &format!("- {}: {}", md_text(k), md_value(v)), "  ");
                    }
                    o.push('\n');
                }
                Block::Items(items) => {
                    for it in items {
                        push_wrapped(&mut o, &format!("- **{}**", md_text(&it.title)), "  ");
                        for (k, v) in &it.facts {
                            push_wrapped(
                                &mut o,
                                &format!("  - {}: {}", md_text(k), md_value(v)),
                                "    ",
                            );
                        }
                    }
                    o.push('\n');
                }
                Block::Mono(lines) => {
                    o.push_str("```\n");
                    for l in lines {
                        o.push_str(&one_line(l));
                        o.push('\n');
                    }
                    o.push_str("```\n\n");
                }
                Block::Hierarchy(h) => {
                    o.push_str("```\n");
                    for l in h.text_lines() {
                        o.push_str(&one_line(&l));
                        o.push('\n');
                    }
                    o.push_str("```\n\n");
                }
                Block::Bullets(points) => {
                    for t in points {
                        push_wrapped(&mut o, &format!("- {}", md_text(t)), "  ");
                    }
                    o.push('\n');
                }
                Block::Signatures(names) => {
                    for n in names {
                        o.push_str(&format!(
                            "- {}: signature ____________________ date __________\n",
                            md_text(n)
                        ));
                    }
                    o.push('\n');
                }
            }
        }
    }
    while o.ends_with("\n\n") {
        o.pop();
    }
    o.push_str(
        "\n\n## Appendix: every entry\n\n<details><summary>Every entry of the transcript, in \
         order</summary>\n\nStep started and step done entries are not listed: they are in the \
         transcript,\nverified with it.\n\n",
    );
    out.write_all(o.as_bytes())?;
    std::io::copy(appendix, out)?;
    out.write_all(b"\n</details>\n")?;
    Ok(())
}

/// `text` wrapped to the Markdown report's width, a line at a time (a word longer
/// than a line kept whole: a hash a reader searches for).
fn push_wrapped(o: &mut String, text: &str, indent: &str) {
    for line in wrap_with(text, 100, indent, false) {
        o.push_str(&line);
        o.push('\n');
    }
}

/// Text safe in Markdown prose: one line, no table or emphasis markup from data.
pub(super) fn md_text(text: &str) -> String {
    one_line(text)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
        .replace('`', "\\`")
        .replace('<', "&lt;")
}

/// A value in Markdown: in a code span (hashes, IDs, paths read exactly).
fn md_value(v: &str) -> String {
    let v = one_line(v);
    if v.contains('`') || v.contains(' ') || v.is_empty() {
        md_text(&v)
    } else {
        format!("`{v}`")
    }
}

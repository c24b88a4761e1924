//! The steps that ask the room: the air-gap check, the token list, the read-aloud review and every recorded confirmation.

use super::*;

impl Engine<'_> {
    pub(super) fn check_air_gap(&mut self, step: &Step) -> Result<()> {
        self.air_gap(Some(step))
    }

    /// On resume, the air gap is checked again before anything else (a machine
    /// may be moved or plugged in between runs), unless the next step checks it.
    pub(super) fn check_air_gap_on_resume(mut self) -> Result<Self> {
        let next = self
            .script
            .steps
            .iter()
            .find(|s| !self.state.completed.contains(&s.id));
        let checks_first = next.is_some_and(|s| matches!(s.plan, Plan::CheckAirGap));
        let checked_at_start = self
            .script
            .steps
            .iter()
            .any(|s| matches!(s.plan, Plan::CheckAirGap));
        if next.is_some() && checked_at_start && !checks_first {
            self.ui.say("resuming: checking the air gap again");
            if let Err(e) = self.air_gap(None) {
                let _ = self.transcript.record(
                    None,
                    None,
                    &rec::Failed {
                        error: crate::ceremony::transcript::one_line(&e.to_string()),
                    },
                );
                return Err(e);
            }
        }
        Ok(self)
    }

    /// Check this machine is offline and record what was found; a networked
    /// machine needs this run's `--allow-network`, and the override is recorded.
    fn air_gap(&mut self, step: Option<&Step>) -> Result<()> {
        let (id, actor) = match step {
            Some(s) => (Some(s.id.as_str()), Some(s.actor.as_str())),
            None => (None, None),
        };
        let report = airgap::check_this_machine();
        let text = report.to_string();
        for line in text.lines() {
            self.ui.say(line);
        }
        if report.is_air_gapped() {
            self.transcript
                .record(id, actor, &rec::AirGap { air_gapped: true })?;
            return Ok(());
        }
        if self.state.bindings.allow_network {
            self.ui.say(
                "--allow-network: continuing on a networked machine (recorded in the transcript)",
            );
            self.transcript.record(
                id,
                actor,
                &rec::NetworkOverride {
                    findings: text.lines().map(str::to_owned).collect(),
                },
            )?;
            self.deviation(
                "network-override",
                "Why the ceremony goes on on a networked machine",
                "a rehearsal on a workstation",
            )?;
            return Ok(());
        }
        Err(usage(format!(
            "this machine is not air-gapped:\n{}unplug every network cable and disable wireless, then continue \
             with: ceremony run --resume --workdir {} (for a rehearsal only, add --allow-network)",
            text,
            self.work.0.display()
        )))
    }

    /// A revocation's facts for the room to check against the incident ticket,
    /// before anything is built: each key to remove, in full and as read aloud,
    /// and the replacement key the online side sent.
    pub(super) fn incident_facts(&self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let b = &self.state.bindings;
        if b.batch {
            lines.push(format!(
                "to remove from the targets role of every repository in the request: {}",
                if b.revoke.is_empty() {
                    "the keys each repository's entry names".to_owned()
                } else {
                    b.revoke.join(", ")
                }
            ));
        } else if let Some(current) = self.current.last() {
            let root = current.root();
            let targets = &root.roles["targets"].keyids;
            for given in &b.revoke {
                let full = crate::tuf::edit::resolve_keyid(
                    &root.keys,
                    targets,
                    self.flavour,
                    "targets",
                    given,
                )
                .map_err(|e| usage(e.to_string()))?;
                lines.push(format!(
                    "key to remove from targets (root version {}): {full}\n  read aloud: {}",
                    current.version(),
                    fingerprint(&full)
                ));
            }
        }
        for (name, spec) in &self.script.keys {
            if spec.role != KeyRole::Targets || spec.generate {
                continue;
            }
            if let Some(path) = b.keyfiles.get(name) {
                let key = bindings::read_keyfile(path, self.flavour)?;
                let id = key_id(&key, self.flavour);
                lines.push(format!(
                    "replacement targets key ({name}, from {}): {id}\n  read aloud: {}",
                    path.display(),
                    fingerprint(&id)
                ));
            }
        }
        Ok(lines)
    }

    pub(super) fn list_tokens(&mut self, step: &Step) -> Result<()> {
        let names: Vec<String> = self.script.keys.keys().cloned().collect();
        for name in names {
            let spec = self.script.keys[&name].clone();
            let line = match (
                self.state.bindings.tokens.get(&name),
                self.state.bindings.keyfiles.get(&name),
            ) {
                (Some(t), _) => {
                    let have = if spec.generate {
                        "key to be generated"
                    } else {
                        "holds the key"
                    };
                    format!("{name} ({}): {t} — {have}", spec.role)
                }
                (None, Some(f)) => {
                    format!("{name} ({}): public key from {}", spec.role, f.display())
                }
                (None, None) if spec.generate || spec.role.signs_root() => {
                    format!(
                        "{name} ({}): token to be selected when it is needed",
                        spec.role
                    )
                }
                (None, None) => format!("{name} ({}): from the current root", spec.role),
            };
            self.ui.say(&line);
        }
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::TokensBound {
                bindings: self.state.bindings.tokens.clone(),
                keyfiles: self
                    .state
                    .bindings
                    .keyfiles
                    .iter()
                    .map(|(k, v)| (k.clone(), v.display().to_string()))
                    .collect(),
            },
        )?;
        Ok(())
    }

    pub(super) fn review(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        let backed_up: Vec<String> = self
            .script
            .keys
            .iter()
            .filter(|(_, k)| k.backup)
            .map(|(n, _)| {
                let count = self
                    .state
                    .bindings
                    .backups
                    .get(n)
                    .map(Vec::len)
                    .unwrap_or(0);
                format!("{n} ({count} encrypted backup(s))")
            })
            .collect();
        let backups = if backed_up.is_empty() {
            "no key is backed up: every key generated here was born on its token and never leaves it".to_owned()
        } else {
            format!(
                "backed up: {}; every other key generated here was born on its token, with no backup",
                backed_up.join(", ")
            )
        };
        let mut text = summary(&doc, self.current.last(), &backups);
        if let Some(decision) = &self.state.bindings.targets_decision {
            text.push_str(&decision.summary());
        }
        self.read_aloud_and_confirm(step, &text)
    }

    /// Show what will be signed, to be read aloud, and have everyone agree.
    pub(super) fn read_aloud_and_confirm(&mut self, step: &Step, text: &str) -> Result<()> {
        self.ui.read_aloud(text);
        self.confirm_recorded(
            step,
            "The administrator has read this aloud and everyone present agrees it is what we intend to sign",
            "the summary was not agreed; nothing was signed",
            Some(hex::encode(Sha256::digest(text.as_bytes()))),
        )
    }

    /// Ask the step's actor to confirm `statement`; a "no" stops the ceremony with
    /// `refusal`, a "yes" is recorded in the transcript (with the SHA-256 of the
    /// summary read aloud, for a review).
    pub(super) fn confirm_recorded(
        &mut self,
        step: &Step,
        statement: &str,
        refusal: &str,
        summary_sha256: Option<String>,
    ) -> Result<()> {
        if !self.ui.confirm(&step.id, statement).map_err(ui_err)? {
            return Err(usage(format!("step {}: {refusal}", step.id)));
        }
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::Confirmation {
                statement: crate::ceremony::transcript::one_line(statement),
                answer: "yes".into(),
                summary_sha256,
                answered_by: Some(self.ui.answered_by().into()),
            },
        )?;
        Ok(())
    }

    /// A typed fact: asked until it has the script's form (and, with
    /// `retyped_by`, until a second person types the same), then recorded.
    pub(super) fn record_fact(&mut self, step: &Step, fact: &Fact) -> Result<()> {
        let (value, example) = loop {
            let first = self.typed(&step.id, &fact.label, &fact.example, |v| fact.check(v))?;
            let Some(who) = &fact.retyped_by else {
                break (first.value, first.example);
            };
            self.ui.say(&format!(
                "{who}: type the value again as you read it yourself (not from the screen)"
            ));
            let again = self.typed(
                &format!("{}.retyped", step.id),
                &format!("{} (typed again by {who})", fact.label),
                &fact.example,
                |v| fact.check(v),
            )?;
            if again.value == first.value {
                break (first.value, first.example && again.example);
            }
            self.ui.say(&format!(
                "the two entries differ ({:?} and {:?}): read it again, and both type it again",
                first.value, again.value
            ));
        };
        self.ui.say(&format!("recorded: {}: {value}", fact.label));
        self.transcript.record(
            Some(&step.id),
            Some(&step.actor),
            &rec::Recorded {
                label: crate::ceremony::transcript::one_line(&fact.label),
                value,
                pattern: fact.pattern.clone(),
                retyped_by: fact.retyped_by.clone(),
                answered_by: self.ui.answered_by().into(),
                example,
            },
        )?;
        Ok(())
    }

    /// Each participant types their name; each sign-in is recorded (its time is
    /// the entry's).
    pub(super) fn sign_in(&mut self, step: &Step) -> Result<()> {
        let people = self.script.participants.clone();
        let mut names = BTreeMap::new();
        for p in &people {
            let who = match &p.title {
                Some(t) => format!("{} ({t})", p.id),
                None => p.id.clone(),
            };
            let typed = self.typed(
                &format!("{}.{}", step.id, p.id),
                &format!("Full name of {who}"),
                &p.id,
                super::super::script::check_typed,
            )?;
            self.transcript.record(
                Some(&step.id),
                Some(&p.id),
                &rec::SignedIn {
                    participant: p.id.clone(),
                    role: format!("{:?}", p.role).to_lowercase(),
                    name: typed.value.clone(),
                    answered_by: self.ui.answered_by().into(),
                    example: typed.example,
                },
            )?;
            names.insert(p.id.clone(), typed.value);
        }
        self.state.signed_in = names;
        Ok(())
    }

    /// Each participant who signed in confirms leaving; each is recorded.
    pub(super) fn sign_out(&mut self, step: &Step) -> Result<()> {
        let names = self.state.signed_in.clone();
        for (id, name) in &names {
            let statement = format!("{name} ({id}) signs out and leaves the room");
            if !self
                .ui
                .confirm(&format!("{}.{id}", step.id), &statement)
                .map_err(ui_err)?
            {
                return Err(usage(format!(
                    "step {}: {name} ({id}) did not sign out; resume with --resume when they do",
                    step.id
                )));
            }
            self.transcript.record(
                Some(&step.id),
                Some(id),
                &rec::SignedOut {
                    participant: id.clone(),
                    name: name.clone(),
                    answered_by: self.ui.answered_by().into(),
                },
            )?;
        }
        Ok(())
    }

    /// A typed value, asked again (saying why) until `check` accepts it.
    fn typed(
        &mut self,
        key: &str,
        prompt: &str,
        example: &str,
        check: impl Fn(&str) -> std::result::Result<(), String>,
    ) -> Result<crate::ceremony::ui::Typed> {
        loop {
            let typed = self.ui.entry(key, prompt, example).map_err(ui_err)?;
            match check(&typed.value) {
                Ok(()) => return Ok(typed),
                // (Never asked again with the same answer.)
                Err(why) if typed.example => {
                    return Err(usage(format!(
                        "{key}: the script's example does not fit: {why}"
                    )));
                }
                Err(why) => self.ui.say(&format!("{why}: type it again")),
            }
        }
    }

    /// A departure from the script: the reason and who approves going on, typed
    /// at the time, recorded before anything else is done.
    pub(super) fn deviation(&mut self, what: &str, question: &str, example: &str) -> Result<()> {
        self.ui.say(&format!(
            "a deviation from the script ({what}): it is recorded with a reason and who approves going on"
        ));
        let check = super::super::script::check_typed;
        let reason = self.typed(&format!("{what}.reason"), question, example, check)?;
        let approver = self.typed(
            &format!("{what}.approved_by"),
            "Name of who approves going on",
            "the administrator",
            check,
        )?;
        self.transcript.record(
            None,
            None,
            &rec::Deviation {
                what: what.into(),
                reason: reason.value,
                approved_by: approver.value,
                answered_by: self.ui.answered_by().into(),
                example: reason.example || approver.example,
            },
        )?;
        Ok(())
    }
}

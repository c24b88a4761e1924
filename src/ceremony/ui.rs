//! The operator UI: how the engine talks to the people in the room. A trait, with
//! a terminal implementation (dialoguer) and a scripted one that reads answers
//! from a file, so every ceremony can run unattended in tests and rehearsals.

use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("the operator cancelled at step {0}")]
    Cancelled(String),
    #[error("answers file {file}: {reason}")]
    Answers { file: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("terminal: {0}")]
    Terminal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Passphrase,
    Pin,
    /// A YubiKey's PIV management key (hex).
    ManagementKey,
}

/// What a secret is for, shown to the person asked.
#[derive(Debug, Clone)]
pub struct SecretRequest {
    pub token: String,
    pub kind: SecretKind,
    /// PIN state read from the token before asking, e.g. "final try".
    pub status: Option<String>,
    /// A hardware test token (SoftHSM): PINs may come from an answers file.
    pub test_token: bool,
    /// Ask twice (a new passphrase).
    pub confirm: bool,
}

pub trait OperatorUi {
    /// Is a person answering (so a mistyped secret can be asked again)?
    fn interactive(&self) -> bool;
    /// Who answers, as the transcript records each confirmation: `terminal` (a
    /// person typed it), `answers-file` (`--answers`) or `rehearsal` (`--yes`).
    fn answered_by(&self) -> &'static str {
        if self.interactive() {
            "terminal"
        } else {
            "answers-file"
        }
    }
    /// A header per step: number, title, who acts.
    fn header(&mut self, step: usize, total: usize, title: &str, actor: &str);
    /// Plain information.
    fn say(&mut self, text: &str);
    /// A yes/no confirmation by the actor of `step`.
    fn confirm(&mut self, step: &str, prompt: &str) -> Result<bool, UiError>;
    /// Choose one of `items` (e.g. a connected token); returns its index.
    fn select(&mut self, step: &str, prompt: &str, items: &[String]) -> Result<usize, UiError>;
    /// A typed value that is not secret (a bag number, a name). `key` names the
    /// question in an answers file (`[entries]`); `example` is a value of the form
    /// asked for.
    fn entry(&mut self, key: &str, prompt: &str, example: &str) -> Result<Typed, UiError>;
    /// A hidden passphrase or PIN.
    fn secret(&mut self, step: &str, request: &SecretRequest) -> Result<Secret, UiError>;
    /// The text the administrator reads aloud before anyone signs.
    fn read_aloud(&mut self, text: &str);
    /// Progress of a multi-part step.
    fn progress(&mut self, done: usize, total: usize, label: &str);
    /// The final screen: the transcript hash for witnesses to write down.
    fn finish(&mut self, hash: &str, groups: &str);
}

/// A typed value, and whether it is the script's example (taken by an
/// unattended run that answers yes to everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    pub value: String,
    pub example: bool,
}

/// The terminal: dialoguer prompts, hidden input, colours where supported.
pub struct TerminalUi {
    term: console::Term,
    quiet: Option<QuietTerminal>,
}

impl Default for TerminalUi {
    fn default() -> Self {
        TerminalUi {
            term: console::Term::stderr(),
            quiet: QuietTerminal::new(),
        }
    }
}

impl TerminalUi {
    /// Before every question: what was typed while the tool was busy is thrown
    /// away, so it can neither answer this question nor show.
    fn before_question(&self) {
        if let Some(q) = &self.quiet
            && q.discard_typed_ahead()
        {
            // Said, so the person knows to type it again; never what it was.
            let _ = self.term.write_line(
                "   (keys typed while the tool was busy were thrown away unseen: \
                 type your answer at the prompt below)",
            );
        }
    }
}

/// The room's terminal while a ceremony runs. Between questions the terminal
/// does not echo: keys typed while the tool generates or signs (a passphrase typed
/// a moment early) never show on a screen that may be filmed. Each question
/// echoes what it reads itself (or hides it, for a secret). The terminal's own
/// settings come back when the ceremony ends, on an error, and on SIGINT, SIGTERM,
/// SIGHUP or SIGQUIT (a SIGKILL cannot be caught: `stty sane` restores it).
struct QuietTerminal {
    tty: std::fs::File,
    original: rustix::termios::Termios,
    /// The settings between questions: `original` without echo.
    quiet: rustix::termios::Termios,
    signals: Option<signal_hook::iterator::Handle>,
}

impl QuietTerminal {
    fn new() -> Option<Self> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let original = tcgetattr(&tty).ok()?;
        let mut quiet = original.clone();
        quiet
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHONL);
        // A signal that ends the ceremony gives the terminal back first.
        let signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGQUIT,
        ])
        .ok()
        .and_then(|mut signals| {
            let handle = signals.handle();
            let fd = tty.try_clone().ok()?;
            let saved = original.clone();
            std::thread::Builder::new()
                .name("terminal-restore".into())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        let _ = tcsetattr(&fd, OptionalActions::Now, &saved);
                        let _ = signal_hook::low_level::emulate_default_handler(signal);
                    }
                })
                .ok()?;
            Some(handle)
        });
        tcsetattr(&tty, OptionalActions::Now, &quiet).ok()?;
        Some(QuietTerminal {
            tty,
            original,
            quiet,
            signals,
        })
    }

    /// Throw away what was typed since the last question; whether there was any.
    /// In line mode the terminal counts only finished lines as pending, so for
    /// the count line mode is off a moment: a passphrase typed early without
    /// Enter is seen (and thrown away) too.
    fn discard_typed_ahead(&self) -> bool {
        use rustix::termios::{LocalModes, OptionalActions, QueueSelector, tcflush, tcsetattr};
        let mut uncooked = self.quiet.clone();
        uncooked.local_modes.remove(LocalModes::ICANON);
        let counted = tcsetattr(&self.tty, OptionalActions::Now, &uncooked).is_ok();
        let pending = rustix::io::ioctl_fionread(&self.tty).unwrap_or(0);
        let _ = tcflush(&self.tty, QueueSelector::IFlush);
        if counted {
            let _ = tcsetattr(&self.tty, OptionalActions::Now, &self.quiet);
        }
        pending > 0
    }
}

impl Drop for QuietTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.tty,
            rustix::termios::OptionalActions::Now,
            &self.original,
        );
        if let Some(signals) = self.signals.take() {
            signals.close();
        }
    }
}

impl OperatorUi for TerminalUi {
    fn interactive(&self) -> bool {
        true
    }

    fn header(&mut self, step: usize, total: usize, title: &str, actor: &str) {
        let _ = self.term.write_line("");
        let _ = self.term.write_line(&format!(
            "{} {}",
            console::style(format!("── step {step} of {total}:")).bold(),
            console::style(title).bold()
        ));
        let _ = self.term.write_line(&format!("   acting: {actor}"));
    }

    fn say(&mut self, text: &str) {
        let _ = self.term.write_line(&format!("   {text}"));
    }

    fn confirm(&mut self, step: &str, prompt: &str) -> Result<bool, UiError> {
        self.before_question();
        typed_confirm(&self.term, prompt)
            .map_err(|e| UiError::Terminal(format!("step {step}: {e}")))
    }

    fn select(&mut self, step: &str, prompt: &str, items: &[String]) -> Result<usize, UiError> {
        self.before_question();
        dialoguer::Select::new()
            .with_prompt(prompt)
            .items(items)
            .default(0)
            .interact_on(&self.term)
            .map_err(|e| UiError::Terminal(format!("step {step}: {e}")))
    }

    fn entry(&mut self, key: &str, prompt: &str, example: &str) -> Result<Typed, UiError> {
        self.before_question();
        dialoguer::Input::<String>::new()
            .with_prompt(format!("{prompt} (for example {example})"))
            .interact_text_on(&self.term)
            .map(|value| Typed {
                value: value.trim().to_owned(),
                example: false,
            })
            .map_err(|e| UiError::Terminal(format!("{key}: {e}")))
    }

    fn secret(&mut self, step: &str, request: &SecretRequest) -> Result<Secret, UiError> {
        let what = match request.kind {
            SecretKind::Passphrase => "Passphrase",
            SecretKind::Pin => "PIN",
            SecretKind::ManagementKey => "PIV management key (hex)",
        };
        if let Some(status) = &request.status {
            let _ = self
                .term
                .write_line(&format!("   {}: {status}", request.token));
        }
        self.before_question();
        let mut p = dialoguer::Password::new().with_prompt(format!("{what} for {}", request.token));
        if request.confirm {
            p = p.with_confirmation(format!("Repeat the {what}"), "They differ; try again");
        }
        p.interact_on(&self.term)
            .map(Secret::new)
            .map_err(|e| UiError::Terminal(format!("step {step}: {e}")))
    }

    fn read_aloud(&mut self, text: &str) {
        let _ = self.term.write_line(
            &console::style("   READ ALOUD ───────────────────────────────")
                .bold()
                .to_string(),
        );
        for line in text.lines() {
            let _ = self.term.write_line(&format!("   │ {line}"));
        }
        let _ = self
            .term
            .write_line("   ───────────────────────────────────────────");
    }

    fn progress(&mut self, done: usize, total: usize, label: &str) {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total.max(done) as u64),
            indicatif::ProgressDrawTarget::term(self.term.clone(), 4),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template("   {bar:20} {pos}/{len} {msg}")
                .expect("valid template"),
        );
        bar.set_position(done as u64);
        bar.abandon_with_message(label.to_owned());
    }

    fn finish(&mut self, hash: &str, groups: &str) {
        let _ = self.term.write_line("");
        let _ = self.term.write_line(
            &console::style("Ceremony complete. Witnesses: write down the transcript hash.")
                .bold()
                .to_string(),
        );
        let _ = self.term.write_line(&format!("   {groups}"));
        let _ = self.term.write_line(&format!("   ({hash})"));
    }
}

/// An answers file for unattended runs (TOML):
///
/// ```toml
/// [confirm]
/// default = true          # the answer to every confirmation not named below
/// review = true           # by step id
///
/// [entries]               # typed values, by step id (`STEP.retyped` for the
/// "bag-root-1" = "TEB-0001"  # second typing, `STEP.PARTICIPANT` for a sign-in);
/// "bag-root-2" = ["x", "TEB-0002"]  # a list answers the same question again
///
/// [secrets]               # software tokens and hardware *test* tokens only
/// "soft:keys/root-1.age" = "passphrase"
/// ```
///
/// With `default = true`, a typed value the file does not give is the script's
/// example (recorded as such).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    #[serde(default)]
    pub confirm: BTreeMap<String, bool>,
    #[serde(default)]
    entries: BTreeMap<String, EntryAnswers>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    /// Where the answers come from, as the transcript records it.
    #[serde(skip, default = "answers_file")]
    source: &'static str,
}

/// One typed value, or the values given in turn when the question is asked again.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EntryAnswers {
    One(String),
    InTurn(std::collections::VecDeque<String>),
}

fn answers_file() -> &'static str {
    "answers-file"
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            confirm: BTreeMap::new(),
            entries: BTreeMap::new(),
            secrets: BTreeMap::new(),
            source: answers_file(),
        }
    }
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("confirm", &self.confirm)
            .field("entries", &self.entries)
            .field("secrets", &format!("<{} redacted>", self.secrets.len()))
            .finish()
    }
}

impl Answers {
    /// Parse an answers file. Errors never quote the file: it may hold secrets.
    pub fn parse(text: &str, file: &str) -> Result<Self, UiError> {
        toml::from_str(text).map_err(|e| UiError::Answers {
            file: file.into(),
            reason: match e.span() {
                Some(r) => format!(
                    "not a valid answers file (near line {}); expected [confirm] with true/false \
                     answers, [entries] with quoted strings (or lists of them) and [secrets] with \
                     quoted strings",
                    text[..r.start.min(text.len())].matches('\n').count() + 1
                ),
                None => "not a valid answers file".into(),
            },
        })
    }

    /// Answers for a rehearsal: yes to everything, with the given secrets.
    pub fn rehearsal(secrets: BTreeMap<String, String>) -> Self {
        let mut confirm = BTreeMap::new();
        confirm.insert("default".into(), true);
        Answers {
            confirm,
            entries: BTreeMap::new(),
            secrets,
            source: "rehearsal",
        }
    }
}

impl Drop for Answers {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for v in self.secrets.values_mut() {
            v.zeroize();
        }
    }
}

/// Answers from a file; every screen is written to `out` as plain text.
pub struct ScriptedUi<W: Write> {
    answers: Answers,
    out: W,
}

impl<W: Write> ScriptedUi<W> {
    pub fn new(answers: Answers, out: W) -> Self {
        ScriptedUi { answers, out }
    }
}

impl<W: Write> OperatorUi for ScriptedUi<W> {
    fn interactive(&self) -> bool {
        false
    }

    fn answered_by(&self) -> &'static str {
        self.answers.source
    }

    fn header(&mut self, step: usize, total: usize, title: &str, actor: &str) {
        let _ = writeln!(
            self.out,
            "\n── step {step} of {total}: {title}\n   acting: {actor}"
        );
    }

    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "   {text}");
    }

    fn confirm(&mut self, step: &str, prompt: &str) -> Result<bool, UiError> {
        // The final PIN try of a token is never confirmed by a default answer.
        let default = if step.ends_with("-final-pin-try") {
            None
        } else {
            self.answers.confirm.get("default")
        };
        let answer = self
            .answers
            .confirm
            .get(step)
            .or(default)
            .copied()
            .ok_or_else(|| UiError::Refused(format!(
                "step {step} asks {prompt:?} and the answers file has no answer (add `{step} = true` or `default = true` under [confirm])"
            )))?;
        let _ = writeln!(
            self.out,
            "   {prompt} [scripted: {}]",
            if answer { "yes" } else { "no" }
        );
        Ok(answer)
    }

    fn entry(&mut self, key: &str, prompt: &str, example: &str) -> Result<Typed, UiError> {
        let given = match self.answers.entries.get_mut(key) {
            // Given once: asked again, the file has nothing more to say.
            Some(answer @ EntryAnswers::One(_)) => {
                match std::mem::replace(answer, EntryAnswers::InTurn(Default::default())) {
                    EntryAnswers::One(v) => Some(v),
                    EntryAnswers::InTurn(_) => None,
                }
            }
            Some(EntryAnswers::InTurn(values)) => Some(values.pop_front().ok_or_else(|| {
                UiError::Refused(format!(
                    "{key} asks {prompt:?} again and the answers file's list for it is used up"
                ))
            })?),
            None => None,
        };
        let typed = match given {
            Some(value) => Typed {
                value,
                example: false,
            },
            None if self.answers.confirm.get("default") == Some(&true) => Typed {
                value: example.to_owned(),
                example: true,
            },
            None => {
                return Err(UiError::Refused(format!(
                    "{key} asks {prompt:?} and the answers file has no answer \
                     (add `\"{key}\" = \"…\"` under [entries])"
                )));
            }
        };
        let _ = writeln!(
            self.out,
            "   {prompt}: {} [scripted{}]",
            typed.value,
            if typed.example { ", the example" } else { "" }
        );
        Ok(typed)
    }

    fn select(&mut self, step: &str, prompt: &str, _items: &[String]) -> Result<usize, UiError> {
        Err(UiError::Refused(format!(
            "step {step} asks {prompt:?}: an unattended run binds every token with --token NAME=REF"
        )))
    }

    fn secret(&mut self, step: &str, request: &SecretRequest) -> Result<Secret, UiError> {
        let allowed = request.token.starts_with("soft:")
            || request.token.starts_with("ssh:")
            || request.test_token;
        if !allowed {
            return Err(UiError::Refused(format!(
                "step {step}: the answers file may hold secrets only for software and test tokens; \
                 {} needs its PIN typed at the terminal",
                request.token
            )));
        }
        if let Some(status) = &request.status {
            let _ = writeln!(self.out, "   {}: {status}", request.token);
        }
        let value = self.answers.secrets.get(&request.token).ok_or_else(|| {
            UiError::Refused(format!(
                "step {step}: the answers file has no secret for {}",
                request.token
            ))
        })?;
        let _ = writeln!(
            self.out,
            "   secret for {} [scripted, hidden]",
            request.token
        );
        Ok(Secret::new(value.clone()))
    }

    fn read_aloud(&mut self, text: &str) {
        let _ = writeln!(self.out, "   READ ALOUD ───────────────────────────────");
        for line in text.lines() {
            let _ = writeln!(self.out, "   │ {line}");
        }
        let _ = writeln!(self.out, "   ───────────────────────────────────────────");
    }

    fn progress(&mut self, done: usize, total: usize, label: &str) {
        let mark = if done >= total {
            "threshold met"
        } else {
            "below threshold"
        };
        let _ = writeln!(self.out, "   {label} ({mark})");
    }

    fn finish(&mut self, hash: &str, groups: &str) {
        let _ = writeln!(
            self.out,
            "\nCeremony complete. Witnesses: write down the transcript hash.\n   {groups}\n   ({hash})"
        );
    }
}

/// A confirmation at the terminal is a typed word and Enter, never one key: a
/// key pressed by accident (an Enter left over from the last answer) cannot
/// agree to, or refuse, the next question. Anything but `yes` or `no` asks again.
pub fn typed_confirm(term: &console::Term, prompt: &str) -> Result<bool, dialoguer::Error> {
    loop {
        let answer: String = dialoguer::Input::new()
            .with_prompt(format!("{prompt} (type yes or no)"))
            .allow_empty(true)
            .interact_text_on(term)?;
        match answer.trim() {
            "yes" => return Ok(true),
            "no" => return Ok(false),
            _ => {
                let _ = term.write_line("   please type yes or no, then Enter");
            }
        }
    }
}

//! The verify step: the draft root checked as clients will check it.

use super::*;

impl Engine<'_> {
    pub(super) fn verify(&mut self, step: &Step) -> Result<()> {
        let doc = self.draft()?;
        let options = ChainOptions {
            now: Utc::now(),
            gun: (self.flavour == Flavour::Notary)
                .then(|| self.script.parameters.repository.clone()),
        };
        let report = verify_chain(self.current.last().cloned(), vec![doc.clone()], &options)?;
        let line = format!(
            "trustworthy: {} root version {}, expires {}",
            doc.flavour(),
            doc.version(),
            doc.root().expires
        );
        self.ui.say(&line);
        if self.flavour == Flavour::Tuf {
            self.ui.say("checked: its own root threshold and, for a new version, the previous root's threshold");
        }
        self.record_verified(step, line, Some(report.steps.len()))
    }
}

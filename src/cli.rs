//! Command-line definitions only; behaviour lives in `commands/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ceremony",
    version,
    about = "Offline root-key ceremonies for TUF and Notary (Docker Content Trust)",
    long_about = "Offline root-key ceremonies for TUF and Notary (Docker Content Trust).\n\n\
        Keys are generated on tokens and never leave them; every signature a token returns is \
        verified in software before it is used; signed files are never overwritten.\n\n\
        Exit codes: 0 done, 1 refused (bad input, failed verification, policy), 2 device or internal failure.",
    after_help = "Examples:\n  \
        ceremony rehearse --yes --out rehearsal\n  \
        ceremony verify --trusted 1.root.json repo/metadata\n  \
        ceremony root inspect root.json"
)]
pub struct Cli {
    /// PKCS#11 module to load for pkcs11: tokens (default: the first found of
    /// the usual locations, e.g. /usr/lib/softhsm/libsofthsm2.so on Debian).
    #[arg(
        long,
        global = true,
        env = "CEREMONY_PKCS11_MODULE",
        value_name = "PATH"
    )]
    pub module: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a ceremony script: the guided ceremony on the air-gapped machine.
    Run(RunArgs),
    /// Run a complete practice ceremony on disposable software keys.
    Rehearse(RehearseArgs),
    /// Verify a root, or a chain of roots, and say exactly what was checked.
    Verify(VerifyArgs),
    /// Build, edit and sign root metadata step by step.
    #[command(subcommand)]
    Root(RootCommand),
    /// Generate and show keys on tokens.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Verify a ceremony transcript, or write a readable report of it.
    #[command(subcommand)]
    Transcript(TranscriptCommand),
    /// Check that this machine is offline: no interface but lo up, no default route.
    AirgapCheck(AirgapCheckArgs),
    /// List PKCS#11 modules, their tokens and the public keys on them (no PIN needed).
    Tokens(TokensArgs),
    /// Online machine: collect what a ceremony needs into a request bundle.
    Request(RequestArgs),
    /// Online machine: verify an export bundle and publish it to a TUF repository
    /// directory or a Notary server.
    Publish(PublishArgs),
    /// Carry a bundle across the air gap as QR codes: encode, show, decode.
    #[command(subcommand)]
    Qr(QrCommand),
    /// Online machine: the online key store, e.g. hand a key to the publisher's tools.
    #[command(subcommand)]
    Keystore(KeystoreCommand),
    /// Check an export or request bundle: its manifest, every file's hash, nothing extra.
    #[command(name = "bundle-verify")]
    BundleVerify(BundleVerifyArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    # a new Notary repository: a new tagging key in the online key store, the\n  \
    # timestamp and snapshot keys held by the server\n  \
    ceremony request --flavour notary --repository example.com/org/app --out /media/usb/request \\\n    \
      --server https://notary.example.com:4443 --server-ca ca.pem --keystore ~/.ceremony/keys --new-key targets\n  \
    # the tagging key leaked: a replacement, and the key ID to remove\n  \
    ceremony request --flavour notary --repository example.com/org/app --out /media/usb/request \\\n    \
      --server https://notary.example.com:4443 --keystore ~/.ceremony/keys --new-key targets --revoke 3f2a9c01")]
pub struct RequestArgs {
    /// Where the request bundle goes (removable media); must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "tuf")]
    pub flavour: FlavourArg,
    /// The repository: its GUN for Notary, its name for TUF. Repeatable: a
    /// request for several repositories is a batch (one revoke-tagging-key or
    /// refresh-expiry ceremony over all of them); --key and --new-key then give
    /// every repository the same key.
    #[arg(long = "repository", value_name = "NAME", required = true)]
    pub repositories: Vec<String>,
    /// Notary: the server to fetch the current roots and the server-held keys from.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The CA certificate(s) (PEM) that signed the server's TLS certificate.
    #[arg(long, value_name = "PEM")]
    pub server_ca: Option<PathBuf>,
    /// The current root chain (a directory of N.root.json; for several
    /// repositories, a directory per repository named like the key store's, `/`
    /// as `%2F`); for Notary it is fetched from --server when not given.
    #[arg(long, value_name = "DIR")]
    pub current: Option<PathBuf>,
    /// The online key store (age-encrypted online keys) for --new-key.
    #[arg(long, value_name = "DIR")]
    pub keystore: Option<PathBuf>,
    /// ROLE: generate a new key for this online role (targets, snapshot,
    /// timestamp) in the key store. Repeatable.
    #[arg(long = "new-key", value_name = "ROLE")]
    pub new_keys: Vec<String>,
    /// Algorithm of keys made with --new-key.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub algorithm: AlgorithmArg,
    /// ROLE=keyfile:PATH: an existing public key for an online role. Repeatable.
    #[arg(long = "key", value_name = "ROLE=keyfile:PATH")]
    pub keys: Vec<String>,
    /// Key ID the ceremony is asked to remove (a compromised tagging key). Repeatable.
    #[arg(long, value_name = "KEYID")]
    pub revoke: Vec<String>,
    /// Carry a signing event to the next site: a previous site's export, or a
    /// tuf-on-ci checkout whose metadata/root.json is being signed. The next
    /// site countersigns it with ceremony-scripts/root-countersign.toml
    /// (--previous this request).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["server", "current", "new_keys", "keys", "revoke"])]
    pub signing_event: Option<PathBuf>,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    ceremony publish /media/usb/export --tuf-repo /srv/tuf/metadata\n  \
    ceremony publish /media/usb/export --tuf-on-ci ~/src/our-tuf-repo   # a tuf-on-ci signing event\n  \
    ceremony publish /media/usb/export --notary https://notary.example.com:4443 --server-ca ca.pem \\\n    \
      --repository example.com/org/app --keystore ~/.ceremony/keys --add-target v1.2=app-1.2.tar.gz")]
pub struct PublishArgs {
    /// The export bundle from the ceremony.
    pub bundle: PathBuf,
    /// The SHA-256 of the bundle's manifest, as read out at the ceremony (or
    /// scanned from its QR code): the bundle must be that one.
    #[arg(long, value_name = "HEX")]
    pub expect_bundle: Option<String>,
    /// Publish to this TUF repository's metadata directory.
    #[arg(long, value_name = "DIR", conflicts_with = "notary")]
    pub tuf_repo: Option<PathBuf>,
    /// Publish to this Notary server (https only).
    #[arg(long, value_name = "URL", required_unless_present_any = ["tuf_repo", "tuf_on_ci"])]
    pub notary: Option<String>,
    /// Write the export's signatures into this tuf-on-ci checkout's signing
    /// event (metadata/root.json and its root_history copy): signatures are
    /// added, nothing else changes; commit and push them with git.
    #[arg(long, value_name = "CHECKOUT", conflicts_with_all = ["tuf_repo", "notary"])]
    pub tuf_on_ci: Option<PathBuf>,
    /// The CA certificate(s) (PEM) that signed the Notary server's TLS certificate.
    #[arg(long, value_name = "PEM")]
    pub server_ca: Option<PathBuf>,
    /// The repository (GUN) you mean to publish: the bundle must be for it.
    #[arg(long, value_name = "NAME")]
    pub repository: Option<String>,
    /// The root the online side trusts, which the bundle's chain must continue
    /// from. Default: the TUF repository's root.json, or the key store's record
    /// of the last root published for the repository.
    #[arg(long, value_name = "ROOT")]
    pub trusted: Option<PathBuf>,
    /// Accept the bundle's first root as the repository's first (a new
    /// repository that has no root anywhere yet). Compare the bundle hash with
    /// the one read out at the ceremony first.
    #[arg(long)]
    pub first_root: bool,
    /// Notary: the online key store holding the tagging key (and the snapshot
    /// key where the publisher holds it).
    #[arg(long, value_name = "DIR")]
    pub keystore: Option<PathBuf>,
    /// NAME=PATH: Notary: add (or replace) a target in targets.json. Repeatable.
    #[arg(long = "add-target", value_name = "NAME=PATH")]
    pub add_targets: Vec<String>,
    /// Notary: keep this target of the server's current targets.json, re-signed by
    /// the new tagging key. Every current target must be kept or dropped by name
    /// (or --keep-all-targets): after a leak, any of them may be the attacker's.
    #[arg(long = "keep-target", value_name = "NAME")]
    pub keep_targets: Vec<String>,
    /// Notary: leave this target of the current targets.json out. Repeatable.
    #[arg(long = "drop-target", value_name = "NAME")]
    pub drop_targets: Vec<String>,
    /// Notary: keep every current target (once you have checked each one).
    #[arg(long, conflicts_with = "drop_targets")]
    pub keep_all_targets: bool,
    /// Notary: days until the re-signed targets (and snapshot) expire.
    #[arg(long, default_value_t = 365, value_name = "DAYS")]
    pub expires_days: u32,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeystoreCommand {
    /// Write an online role's key, encrypted to a new passphrase, in the form the
    /// publisher's tools import (`notary key import`, or PKCS#8 for TUF tools).
    #[command(after_help = "Examples:\n  \
        ceremony keystore export --keystore /srv/ceremony/keys --repository example.com/org/app \\\n      \
        --role targets --format notary --out targets.pem\n  \
        notary key import targets.pem     # the stock Notary client; publish asks for the new passphrase\n\n\
        It asks for the key store's passphrase and a new one for the file (twice). The key\n\
        is never printed; the file is written new (mode 0600), never over another.")]
    Export(KeystoreExportArgs),
}

#[derive(Debug, Args)]
pub struct KeystoreExportArgs {
    /// The online key store (as given to `ceremony request --keystore`).
    #[arg(long, value_name = "DIR")]
    pub keystore: PathBuf,
    /// The repository: its GUN for Notary, its name for TUF.
    #[arg(long)]
    pub repository: String,
    /// The role whose key to export: targets, snapshot or timestamp.
    #[arg(long, default_value = "targets")]
    pub role: String,
    /// Which key, by key ID (or a unique prefix of 8 or more hex digits), where
    /// the store holds several for the role (an old key kept after a rotation).
    #[arg(long, value_name = "ID")]
    pub key: Option<String>,
    /// `notary`: for `notary key import` (Notary key IDs, Notary's encryption and
    /// headers); `pkcs8`: standard encrypted PKCS#8 PEM (TUF key IDs).
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The file to write; must not exist.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Read the key store's passphrase from this file's first line instead of
    /// asking at the terminal (tests only).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the new passphrase for the exported file from this file's first line
    /// instead of asking at the terminal (tests only).
    #[arg(long, value_name = "FILE")]
    pub new_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Notary,
    Pkcs8,
}

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Write a bundle as numbered QR codes: frame-NNN.png and frame-NNN.svg.
    #[command(after_help = "Examples:\n  ceremony qr encode /media/usb/export --out export-qr")]
    Encode(QrEncodeArgs),
    /// Show a bundle's QR codes on this terminal, one frame at a time (Enter for the next).
    #[command(
        after_help = "Examples:\n  ceremony qr show /media/usb/export\n  ceremony qr show --hash-only /media/usb/export"
    )]
    Show(QrShowArgs),
    /// Rebuild a bundle from images of its QR codes (any order) and check it.
    #[command(after_help = "Examples:\n  ceremony qr decode --out received scans/*.png")]
    Decode(QrDecodeArgs),
}

#[derive(Debug, Args)]
pub struct QrEncodeArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Where the images go; must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Payload bytes per frame, 64 to 1600 (smaller codes are easier to scan; 1600
    /// fills the largest QR code).
    #[arg(long, default_value_t = crate::transfer::qr::DEFAULT_MAX_CHUNK, value_name = "BYTES", value_parser = chunk_size)]
    pub chunk: usize,
}

/// A frame's payload size: small enough that a frame fits in one QR code, large
/// enough that its header does not dominate.
fn chunk_size(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (64..=1600).contains(&n) => Ok(n),
        _ => Err(format!(
            "{value} is not a payload size from 64 to 1600 bytes (1600 fills the largest QR code)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct QrShowArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Show only one code: the bundle hash (and the transcript hash of an export).
    #[arg(long)]
    pub hash_only: bool,
    /// Print every frame without waiting (for a terminal recorder).
    #[arg(long)]
    pub all: bool,
    /// Show the bundle as an animation of fountain-coded codes (BC-UR), one after
    /// another until Ctrl-C: a camera that catches enough of them, in any order,
    /// rebuilds the bundle (qr decode).
    #[arg(long, conflicts_with_all = ["hash_only", "all"])]
    pub animate: bool,
    /// With --animate: stop after this many codes (for a recording).
    #[arg(long, requires = "animate", value_name = "N")]
    pub parts: Option<usize>,
    /// With --animate: how long each code stays on the screen.
    #[arg(long, default_value_t = 400, value_name = "MS", value_parser = clap::value_parser!(u64).range(50..=10_000))]
    pub interval_ms: u64,
    /// Payload bytes per frame, 64 to 1600: at most this many; on a terminal, as many
    /// as let a code fit the window.
    #[arg(long, default_value_t = crate::transfer::qr::DEFAULT_MAX_CHUNK, value_name = "BYTES", value_parser = chunk_size)]
    pub chunk: usize,
}

#[derive(Debug, Args)]
pub struct QrDecodeArgs {
    /// Images of the frames (PNG or JPEG: screenshots or photographs), in any order.
    pub images: Vec<PathBuf>,
    /// A file of frame texts as a scanner app exports them, one a line (- reads
    /// standard input); repeatable, and may be given with images.
    #[arg(long, value_name = "FILE")]
    pub texts: Vec<PathBuf>,
    /// Where the rebuilt bundle goes; must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The bundle hash read out at the ceremony: frames of any other bundle are set
    /// aside (and said).
    #[arg(long, value_name = "HEX")]
    pub expect_bundle: Option<String>,
}

#[derive(Debug, Args)]
pub struct BundleVerifyArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Which kind of bundle it must be.
    #[arg(long, default_value = "export", value_parser = ["export", "request"])]
    pub kind: String,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    ceremony run ceremony-scripts/root-init.toml --workdir ceremony-2027-q1 --out /media/usb/export \\\n    \
      --token root-1='pkcs11:token=root-1;object=root-2027' --token root-2='pkcs11:token=root-2;object=root-2027' \\\n    \
      --key targets=keyfile:request/targets.json --key snapshot=keyfile:request/snapshot.json \\\n    \
      --key timestamp=keyfile:request/timestamp.json\n  \
    ceremony run --resume --workdir ceremony-2027-q1")]
pub struct RunArgs {
    /// The ceremony script (see ceremony-scripts/). Not needed with --resume.
    #[arg(required_unless_present = "resume")]
    pub script: Option<PathBuf>,
    /// Where the run keeps its state and transcript (new, or the one to resume).
    #[arg(long, value_name = "DIR")]
    pub workdir: PathBuf,
    /// Continue an interrupted run from its last completed step.
    #[arg(long)]
    pub resume: bool,
    /// Where the export goes (removable media); must not exist yet.
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// NAME=REF: the token holding (or to hold) the script's key NAME. Repeatable.
    #[arg(long = "token", value_name = "NAME=REF")]
    pub tokens: Vec<String>,
    /// NAME=keyfile:PATH: the public key of an online role's key NAME. Repeatable.
    #[arg(long = "key", value_name = "NAME=keyfile:PATH")]
    pub keys: Vec<String>,
    /// The current root chain: a directory of N.root.json, or a root file.
    #[arg(long, value_name = "DIR|FILE")]
    pub current: Option<PathBuf>,
    /// The root your key holders already trust, from offline storage (e.g. the
    /// previous ceremony's export): --current must continue from it.
    #[arg(long, value_name = "ROOT")]
    pub trusted: Option<PathBuf>,
    /// NAME=RECIPIENT: a backup of key NAME (scripts with backup = true) for a
    /// custodian: an age X25519 recipient (age1…) or passphrase:CUSTODIAN.
    /// Repeatable, one per custodian.
    #[arg(long = "backup", value_name = "NAME=RECIPIENT")]
    pub backups: Vec<String>,
    /// Where backups are written: the custodians' media, never the export.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// delegation-rotate: the current targets metadata (kept offline).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Key ID (or a unique prefix of 8+ hex digits) of a key to remove: a
    /// compromised targets key, a retiring root key, or a delegated role's key.
    #[arg(long, value_name = "KEYID")]
    pub revoke: Vec<String>,
    /// A request bundle from the online side (`ceremony request`): its
    /// repository, current chain, online keys and key IDs to remove.
    #[arg(long, value_name = "DIR")]
    pub request: Option<PathBuf>,
    /// Answers for an unattended run (rehearsals, tests). Secrets in it are accepted
    /// only for software and test tokens.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Continue on a networked machine (rehearsals); recorded in the transcript.
    #[arg(long)]
    pub allow_network: bool,
    /// KEY=VALUE: override one of the script's [parameters] (repository, flavour,
    /// expires_days, root_threshold, delegation, delegation_threshold). Repeatable;
    /// recorded with the script.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Re-sign this current target with the new tagging key (revoke-tagging-key from a
    /// request bundle that reviews the repository's targets). Repeatable; every
    /// reviewed target is kept or dropped, and the choice is recorded and exported.
    #[arg(long = "keep-target", value_name = "NAME")]
    pub keep_targets: Vec<String>,
    /// Leave this current target out: it is not re-signed, and `publish` removes it.
    /// Repeatable.
    #[arg(long = "drop-target", value_name = "NAME")]
    pub drop_targets: Vec<String>,
    /// Keep the targets listed since a targets.json version older than VERSION and
    /// drop the rest (those added since, e.g. after the key leaked), except those
    /// named with --keep-target or --drop-target.
    #[arg(long, value_name = "VERSION")]
    pub keep_targets_before: Option<u64>,
    /// root-countersign: the previous site's export of the signing event (or a
    /// request bundle carrying one, e.g. a tuf-on-ci signing event).
    #[arg(long, value_name = "DIR")]
    pub previous: Option<PathBuf>,
    /// WITNESS=REF: at the end, witness WITNESS (a participant of the script)
    /// signs the final transcript hash with their own key: a token (soft:…,
    /// pkcs11:…, yubikey:…) or ssh:PATH, an OpenSSH private key (an sshsig that
    /// `ssh-keygen -Y verify` checks). Repeatable.
    #[arg(long = "witness-key", value_name = "WITNESS=REF")]
    pub witness_keys: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    ceremony tokens\n  \
    ceremony tokens --module /usr/lib/softhsm/libsofthsm2.so")]
pub struct TokensArgs {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlavourArg {
    /// TUF 1.0 (python-tuf, go-tuf, tough)
    Tuf,
    /// Notary v1 / Docker Content Trust
    Notary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    Ed25519,
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// RSA-3072 signing RSASSA-PSS with SHA-256, on PKCS#11 tokens only, where an HSM
    /// policy requires RSA.
    Rsa,
}

/// How secrets reach us: never on the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct SecretArgs {
    /// Read the software-key passphrase from this file's first line instead of
    /// asking at the terminal (rehearsals and tests only).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Read a PKCS#11 token's user PIN from this file's first line instead of
    /// asking at the terminal (rehearsals and tests only).
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  ceremony rehearse --yes --out rehearsal")]
pub struct RehearseArgs {
    /// Run without asking anything.
    #[arg(long)]
    pub yes: bool,
    /// Directory for the rehearsal's export (every N.root.json); must not exist.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Metadata flavour to rehearse.
    #[arg(long, value_enum, default_value = "tuf")]
    pub flavour: FlavourArg,
    /// Repository name (GUN), for the Notary flavour.
    #[arg(long, default_value = "example.com/rehearsal/app")]
    pub gun: String,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    ceremony verify root.json\n  \
    ceremony verify 1.root.json 2.root.json 3.root.json\n  \
    ceremony verify --trusted trusted/root.json export/\n  \
    ceremony verify --gun example.com/app notary-root.json")]
pub struct VerifyArgs {
    /// Root files in version order, or a directory of N.root.json files.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
    /// A root you already trust; the chain must continue from it.
    #[arg(long, value_name = "ROOT")]
    pub trusted: Option<PathBuf>,
    /// Repository name (GUN) that Notary root certificates must carry.
    #[arg(long)]
    pub gun: Option<String>,
    /// Check expiry at this time instead of now (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Create a new unsigned root.
    #[command(
        after_help = "Example:\n  ceremony root create --out 1.root.json --expires 2027-06-30 \\\n    \
        --key root=soft:keys/root-a.age --key root=soft:keys/root-b.age --threshold root=2 \\\n    \
        --key targets=soft:keys/targets.age --key snapshot=soft:keys/snapshot.age \\\n    \
        --key timestamp=soft:keys/timestamp.age"
    )]
    Create(CreateArgs),
    /// Add a key to a role.
    AddKey(AddKeyArgs),
    /// Remove a key from a role.
    RemoveKey(RemoveKeyArgs),
    /// Set a role's threshold.
    SetThreshold(SetThresholdArgs),
    /// Set the expiry.
    SetExpiry(SetExpiryArgs),
    /// Increase the version by one (the start of a new root for a rotation).
    BumpVersion(EditArgs),
    /// Sign with a key on a token (a root key of this version, or of --previous).
    Sign(SignArgs),
    /// Print a readable summary: roles, thresholds, key IDs, expiry, who signed.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The root file to edit. Unsigned files are edited in place.
    pub file: PathBuf,
    /// Write the result here instead (must not exist). Required when FILE is signed.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Where to write the new root (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "tuf")]
    pub flavour: FlavourArg,
    /// Repository name (GUN); required for Notary (root certificates carry it).
    #[arg(long)]
    pub gun: Option<String>,
    /// Expiry (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    pub expires: String,
    /// Version of the new root.
    #[arg(long, default_value_t = 1)]
    pub version: u64,
    /// ROLE=KEY, repeatable. KEY is a token reference (pkcs11:token=LABEL;object=KEY,
    /// soft:PATH) or keyfile:PATH
    /// (a JSON key object, e.g. from `ceremony key show`).
    #[arg(long = "key", value_name = "ROLE=KEY", required = true)]
    pub keys: Vec<String>,
    /// ROLE=N, repeatable; roles not named get threshold 1.
    #[arg(long = "threshold", value_name = "ROLE=N")]
    pub thresholds: Vec<String>,
    /// Set consistent_snapshot (TUF only).
    #[arg(long)]
    pub consistent_snapshot: bool,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

#[derive(Debug, Args)]
pub struct AddKeyArgs {
    #[command(flatten)]
    pub edit: EditArgs,
    /// Role to add the key to (root, targets, snapshot, timestamp).
    #[arg(long)]
    pub role: String,
    /// The key: a token reference (pkcs11:token=LABEL;object=KEY, soft:PATH) or keyfile:PATH.
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Repository name (GUN), for a Notary root key's certificate.
    #[arg(long)]
    pub gun: Option<String>,
}

#[derive(Debug, Args)]
pub struct RemoveKeyArgs {
    #[command(flatten)]
    pub edit: EditArgs,
    #[arg(long)]
    pub role: String,
    /// Key ID to remove (a unique prefix of at least 8 hex digits is enough).
    #[arg(long)]
    pub keyid: String,
}

#[derive(Debug, Args)]
pub struct SetThresholdArgs {
    #[command(flatten)]
    pub edit: EditArgs,
    #[arg(long)]
    pub role: String,
    /// The new threshold (at least 1, at most the role's number of keys).
    pub threshold: u64,
}

#[derive(Debug, Args)]
pub struct SetExpiryArgs {
    #[command(flatten)]
    pub edit: EditArgs,
    /// RFC 3339 or YYYY-MM-DD (UTC).
    pub expires: String,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    ceremony root sign 2.root.json --token 'pkcs11:token=root-a;object=root-1'\n  \
    ceremony root sign 2.root.json --token soft:keys/root-b.age\n  \
    ceremony root sign 2.root.json --token soft:keys/root-a.age --previous 1.root.json")]
pub struct SignArgs {
    /// The root to sign. Signing in place only ever adds a signature.
    pub file: PathBuf,
    /// The token holding the key: pkcs11:token=LABEL;object=KEY (RFC 7512),
    /// yubikey:serial=NNN;slot=9c or soft:PATH.
    #[arg(long)]
    pub token: String,
    /// The previous root, when this key signs as an outgoing root key (rotation).
    #[arg(long, value_name = "ROOT")]
    pub previous: Option<PathBuf>,
    /// Write the signed root here instead of adding the signature in place.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key on a token.
    #[command(after_help = "Examples:\n  \
        ceremony key generate --token 'pkcs11:token=root-a;object=root-1' --algorithm ed25519\n  \
        ceremony key generate --token soft:keys/root-a.age --algorithm ed25519")]
    Generate(KeyGenerateArgs),
    /// Print a token's public key as a metadata key object, with its key ID.
    Show(KeyShowArgs),
}

#[derive(Debug, Args)]
pub struct KeyGenerateArgs {
    /// Where to generate: pkcs11:token=LABEL;object=KEY[;id=ID] (on the token),
    /// yubikey:serial=NNN;slot=9c (PIN and touch always, attested) or
    /// soft:PATH (a software key file for rehearsals).
    #[arg(long)]
    pub token: String,
    #[arg(long, value_enum)]
    pub algorithm: AlgorithmArg,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

#[derive(Debug, Args)]
pub struct KeyShowArgs {
    /// The key: pkcs11:token=LABEL;object=KEY, yubikey:serial=NNN;slot=9c or soft:PATH.
    /// No PIN is needed.
    #[arg(long)]
    pub token: String,
    #[arg(long, value_enum, default_value = "tuf")]
    pub flavour: FlavourArg,
}

#[derive(Debug, Subcommand)]
pub enum TranscriptCommand {
    /// Verify a transcript's hash chain and seal; print what was checked and the
    /// final hash.
    #[command(after_help = "Examples:\n  \
        ceremony transcript verify transcript.jsonl\n  \
        ceremony transcript verify transcript.jsonl --expect-hash '3fa2 91bc ... 07d1'\n\n\
        Exit codes: 0 sealed and intact; 1 tampered, not sealed, or not the witnessed \
        transcript; 2 unreadable.")]
    Verify(TranscriptVerifyArgs),
    /// Write the auditor's report of a transcript (verified first): Markdown, and
    /// with --pdf an A4 PDF for archiving (page numbers, a signature block).
    #[command(after_help = "Examples:\n  \
        ceremony transcript report transcript.jsonl --out report.md\n  \
        ceremony transcript report transcript.jsonl --expect-hash '3fa2 91bc ... 07d1' \
        --pdf report.pdf\n\n\
        Exit codes: as transcript verify (the report is written either way; its first line \
        says whether to rely on it).")]
    Report(TranscriptReportArgs),
}

#[derive(Debug, Args)]
pub struct TranscriptCheckArgs {
    /// The final hash the witnesses wrote down (64 hex digits; spaces allowed).
    #[arg(long, value_name = "HASH")]
    pub expect_hash: Option<String>,
    /// The TUF key ID of the key that must have signed the seal.
    #[arg(long, value_name = "KEYID")]
    pub expect_keyid: Option<String>,
    /// Accept a practice run (a rehearsal, answers from a file, the air-gap check
    /// overridden, software keys or test tokens): without it such a transcript exits
    /// 3, so it cannot pass for a production ceremony's.
    #[arg(long)]
    pub accept_practice: bool,
}

#[derive(Debug, Args)]
pub struct TranscriptVerifyArgs {
    /// The transcript (JSON lines), or an export directory: its manifest, its
    /// transcript and, for a signing event across sites, every site's transcript
    /// and their chain.
    pub file: PathBuf,
    /// A witness's public key (an OpenSSH public key such as id_ed25519.pub, or a
    /// key file as `ceremony key show` writes it): a witness signature by it over
    /// the transcript's final hash must be in the export. Repeatable.
    #[arg(long = "witness", value_name = "KEY")]
    pub witnesses: Vec<PathBuf>,
    #[command(flatten)]
    pub check: TranscriptCheckArgs,
}

#[derive(Debug, Args)]
pub struct TranscriptReportArgs {
    /// The transcript (JSON lines), or an export directory (for a signing event
    /// across sites, the Markdown report covers every site's transcript in order).
    pub file: PathBuf,
    /// Write the report here (must not exist) instead of to standard output.
    #[arg(long, value_name = "FILE.md")]
    pub out: Option<PathBuf>,
    /// Write the report as an A4 PDF here (must not exist); the Markdown is then
    /// written only with --out.
    #[arg(long, value_name = "FILE.pdf")]
    pub pdf: Option<PathBuf>,
    #[command(flatten)]
    pub check: TranscriptCheckArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 air-gapped; 1 a network interface is up or there is a \
    default route (or the check could not read what it needs)."
)]
pub struct AirgapCheckArgs {
    /// Read sysfs and procfs under this directory instead of / (for testing).
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    pub root: PathBuf,
}

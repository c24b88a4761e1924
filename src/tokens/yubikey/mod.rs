//! The YubiKey backend: keys generated in, and used from, a YubiKey's PIV applet
//! over PC/SC (the `yubikey` crate).
//!
//! - Keys are named `yubikey:serial=NNN;slot=9c` ([`YubiKeyRef`]). Several keys are
//!   connected at once in a ceremony, so a YubiKey is always chosen by serial.
//! - Listing ([`list`]) and reading public keys need no PIN; no PIN try is spent
//!   to learn the tries left.
//! - Signing: ECDSA P-256 over SHA-256 computed here, Ed25519 pure (firmware
//!   5.7+). Every signature is checked in software before it is returned.
//! - Generation refuses an occupied slot unless the script allows it and the
//!   operator confirms, refuses the factory-default management key unless the
//!   script allows it, and verifies the device's attestation (see [`attest`]).
//! - PINs and management keys are [`Secret`]s; nothing here logs, and no `log`
//!   backend is ever installed, so the crate's APDU traces go nowhere.
//! - Known limitation of `yubikey` 0.9.0-rc.0: after a successful VERIFY it keeps a
//!   copy of the PIN in the `YubiKey` value as a plain `Vec<u8>` (to re-verify after
//!   a reconnect), which is freed but not zeroized when the value is dropped.

pub mod attest;

use super::{Signer, TokenError};
use crate::keys::{Algorithm, PublicKey, SignatureEncoding, ecdsa_der_to_raw};
use crate::secret::Secret;
use crate::tokens::pkcs11::PinPrompt;
use der::Encode;
use sha2::{Digest, Sha256};
pub use yubikey::piv::SlotId;
use yubikey::piv::{self, AlgorithmId};
use yubikey::{Certificate, MgmAlgorithmId, MgmKey, Serial, YubiKey};
pub use yubikey::{PinPolicy, TouchPolicy};
use zeroize::Zeroizing;

/// Slots a signing key may be generated in: 9a, 9c, 9d, 9e and the retired
/// key-management slots 82–95.
pub fn signing_slots() -> Vec<SlotId> {
    let mut slots = vec![
        SlotId::Authentication,
        SlotId::Signature,
        SlotId::KeyManagement,
        SlotId::CardAuthentication,
    ];
    slots.extend((0x82u8..=0x95).filter_map(|b| SlotId::try_from(b).ok()));
    slots
}

/// A slot as people write it: two hex digits (`9c`).
pub fn parse_slot(s: &str) -> Result<SlotId, String> {
    let slot = u8::from_str_radix(s, 16)
        .ok()
        .filter(|_| s.len() == 2)
        .and_then(|b| SlotId::try_from(b).ok())
        .ok_or_else(|| {
            // Repeated only when short and plain: it may hold a PIN run into it.
            if s.len() <= 4 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                format!("slot {s:?} is not a PIV slot (two hex digits, e.g. 9c)")
            } else {
                "slot= is not a PIV slot (two hex digits, e.g. 9c)".to_owned()
            }
        })?;
    if !signing_slots().contains(&slot) {
        return Err(format!(
            "slot {s} is not a signing slot; use 9c (digital signature, the default), \
             9a, 9d, 9e or a retired slot 82-95"
        ));
    }
    Ok(slot)
}

pub fn slot_name(slot: SlotId) -> String {
    format!("{:02x}", u8::from(slot))
}

/// A key on a YubiKey: `yubikey:serial=NNN;slot=9c` (slot defaults to 9c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YubiKeyRef {
    pub serial: u32,
    pub slot: Option<SlotId>,
}

impl YubiKeyRef {
    pub fn parse(s: &str) -> Result<Self, String> {
        let body = s
            .strip_prefix("yubikey:")
            .ok_or("a YubiKey reference starts with yubikey:")?;
        let mut serial = None;
        let mut slot = None;
        for (i, part) in body.split(';').filter(|p| !p.is_empty()).enumerate() {
            // A part is never repeated whole: it may be a PIN typed in the wrong place.
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("attribute {} is not NAME=VALUE", i + 1))?;
            match k {
                "serial" => {
                    if serial.is_some() {
                        return Err("serial= is given twice".into());
                    }
                    serial = Some(v.parse::<u32>().map_err(|_| {
                        // Repeated only when it is digits: it may hold a PIN run into it.
                        if !v.is_empty() && v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()) {
                            format!("serial {v:?} is not a YubiKey serial number (too large)")
                        } else {
                            "serial= is not a YubiKey serial number (decimal digits)".to_owned()
                        }
                    })?);
                }
                "slot" => {
                    if slot.is_some() {
                        return Err("slot= is given twice".into());
                    }
                    slot = Some(parse_slot(v)?);
                }
                "pin" | "pin-value" | "pin-source" | "management-key" => {
                    return Err(format!(
                        "{k}= is not accepted: a PIN or management key never goes in a reference"
                    ));
                }
                other => {
                    let plain = other.len() <= 24
                        && other
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    return Err(if plain {
                        format!(
                            "unknown attribute {other:?}; a YubiKey key is yubikey:serial=NNN;slot=9c"
                        )
                    } else {
                        format!(
                            "attribute {} is not one a YubiKey reference takes; a YubiKey key is \
                             yubikey:serial=NNN;slot=9c",
                            i + 1
                        )
                    });
                }
            }
        }
        let serial = serial.ok_or(
            "serial= is required: several YubiKeys are connected in a ceremony \
             (see `ceremony tokens`)",
        )?;
        Ok(YubiKeyRef { serial, slot })
    }

    /// The slot, 9c when the reference names none.
    pub fn slot_or_default(&self) -> SlotId {
        self.slot.unwrap_or(SlotId::Signature)
    }

    /// The device, for messages: `YubiKey serial 1234`.
    pub fn device(&self) -> String {
        format!("YubiKey serial {}", self.serial)
    }
}

impl std::fmt::Display for YubiKeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "yubikey:serial={}", self.serial)?;
        if let Some(s) = self.slot {
            write!(f, ";slot={}", slot_name(s))?;
        }
        Ok(())
    }
}

/// A card another program opened exclusively, and how to release it.
pub const HELD: &str = "another program holds the YubiKey exclusively, so nothing can reach it \
    (usually gpg-agent's scdaemon: release it with `gpgconf --kill scdaemon`; else close the \
    browser, password manager or smart-card tool using it), then run the command again";

/// What the PC/SC service said when it could not be reached, in words.
fn pcsc_reason(e: &pcsc::Error) -> String {
    match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => match pcsc_sys::load_error() {
            Some(why) => format!(
                "PC/SC is not installed on this machine ({why}); YubiKeys need it: install \
                 pcscd and libpcsclite1 (Debian, Ubuntu) and start pcscd. PKCS#11 tokens and \
                 every other command work without it"
            ),
            None => "no PC/SC service is running (start pcscd)".into(),
        },
        pcsc::Error::NoReadersAvailable => "no smart-card reader is connected".into(),
        pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard => "the YubiKey was removed".into(),
        pcsc::Error::ResetCard => "the YubiKey was reset by another program".into(),
        pcsc::Error::SharingViolation => HELD.into(),
        other => format!("PC/SC error: {other}"),
    }
}

/// Turn a `yubikey` crate error into ours. Never carries a PIN or key bytes.
fn yk_err(token: &str, op: &'static str, e: yubikey::Error) -> TokenError {
    match e {
        yubikey::Error::PcscError { inner: Some(p) } => TokenError::Device {
            token: token.to_owned(),
            reason: format!(
                "{op}: {}{}",
                pcsc_reason(&p),
                if matches!(p, pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard) {
                    "; nothing was signed or written"
                } else {
                    ""
                }
            ),
        },
        yubikey::Error::PinLocked => TokenError::PinBlocked {
            token: token.to_owned(),
        },
        yubikey::Error::WrongPin { tries } => TokenError::WrongPin {
            token: token.to_owned(),
            tries: tries_left(tries),
        },
        other => TokenError::Device {
            token: token.to_owned(),
            reason: format!("{op} failed: {other}"),
        },
    }
}

fn tries_left(tries: u8) -> String {
    match tries {
        0 => "no tries left: the PIN is now BLOCKED (unblock it with the PUK)".into(),
        1 => "ONE try left: the next wrong PIN blocks the PIN".into(),
        n => format!("{n} tries left"),
    }
}

/// What a YubiKey says about its PIN, read without spending a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinTries {
    Left(u8),
    Blocked,
    /// The PIN is verified in this card session (the card does not report tries).
    Verified,
}

/// Ask the card how many PIN tries are left: a VERIFY without a PIN, which
/// spends none.
pub fn pin_tries(yk: &mut YubiKey) -> Result<PinTries, yubikey::Error> {
    match yk.verify_pin(&[]) {
        Ok(()) => Ok(PinTries::Verified),
        Err(yubikey::Error::WrongPin { tries: 0 }) | Err(yubikey::Error::PinLocked) => {
            Ok(PinTries::Blocked)
        }
        Err(yubikey::Error::WrongPin { tries }) => Ok(PinTries::Left(tries)),
        Err(e) => Err(e),
    }
}

/// What `ceremony tokens` shows of a connected YubiKey (read without a PIN).
#[derive(Debug, Clone)]
pub struct YubiKeySummary {
    pub reader: String,
    pub serial: u32,
    pub firmware: String,
    pub pin_retries: Result<PinTries, String>,
    /// Signing slots holding a key (by metadata) or a certificate, with what is known.
    pub occupied: Vec<(String, String)>,
}

/// Is the PC/SC service reachable? `Err` says why not, in words.
fn context() -> Result<yubikey::Context, String> {
    match yubikey::Context::open() {
        Ok(c) => Ok(c),
        Err(yubikey::Error::PcscError { inner: Some(p) }) => Err(pcsc_reason(&p)),
        Err(e) => Err(format!("PC/SC: {e}")),
    }
}

/// Every YubiKey connected, and the readers whose card another program holds
/// exclusively (its serial cannot be read, so it may be a YubiKey). `Err` when
/// there is no PC/SC service at all (which is not an error for a machine that
/// uses only PKCS#11 tokens).
pub fn list() -> Result<(Vec<YubiKeySummary>, Vec<String>), String> {
    let mut ctx = context()?;
    let readers = match ctx.iter() {
        Ok(r) => r,
        Err(yubikey::Error::PcscError {
            inner: Some(pcsc::Error::NoReadersAvailable),
        }) => return Ok((Vec::new(), Vec::new())),
        Err(yubikey::Error::PcscError { inner: Some(p) }) => return Err(pcsc_reason(&p)),
        Err(e) => return Err(format!("PC/SC: {e}")),
    };
    let mut out = Vec::new();
    let mut held = Vec::new();
    for reader in readers {
        let name = reader.name().into_owned();
        // Readers without a YubiKey (or with another card) are not ours.
        let mut yk = match reader.open() {
            Ok(yk) => yk,
            Err(yubikey::Error::PcscError {
                inner: Some(pcsc::Error::SharingViolation),
            }) => {
                held.push(name);
                continue;
            }
            Err(_) => continue,
        };
        let pin_retries = pin_tries(&mut yk).map_err(|e| e.to_string());
        let occupied = occupied_slots(&mut yk);
        out.push(YubiKeySummary {
            reader: name,
            serial: yk.serial().0,
            firmware: yk.version().to_string(),
            pin_retries,
            occupied,
        });
    }
    out.sort_by_key(|s| s.serial);
    Ok((out, held))
}

/// What a slot holds, if anything: metadata (firmware 5.3+) or a certificate.
fn slot_content(yk: &mut YubiKey, slot: SlotId) -> Option<String> {
    // Metadata (firmware 5.3+) counts only when it carries the key itself.
    if let Ok(meta) = piv::metadata(yk, slot)
        && meta.public.is_some()
    {
        let mut s = format!("{:?} key", meta.algorithm);
        if let Some((p, t)) = meta.policy {
            s.push_str(&format!(", PIN policy {p:?}, touch policy {t:?}"));
        }
        if let Some(origin) = meta.origin {
            s.push_str(&format!(", {origin:?}"));
        }
        return Some(s);
    }
    Certificate::read(yk, slot)
        .ok()
        .map(|c| format!("certificate {}", c.subject()))
}

fn occupied_slots(yk: &mut YubiKey) -> Vec<(String, String)> {
    signing_slots()
        .into_iter()
        .filter_map(|slot| slot_content(yk, slot).map(|c| (slot_name(slot), c)))
        .collect()
}

/// Open the YubiKey with `serial`.
fn open_device(r: &YubiKeyRef) -> Result<YubiKey, TokenError> {
    let token = r.device();
    context().map_err(|reason| TokenError::Device {
        token: token.clone(),
        reason,
    })?;
    let not_found = |e: &yubikey::Error| {
        matches!(
            e,
            yubikey::Error::NotFound
                | yubikey::Error::PcscError {
                    inner: Some(pcsc::Error::NoReadersAvailable),
                }
        )
    };
    let mut tries = 0;
    loop {
        match YubiKey::open_by_serial(Serial(r.serial)) {
            Ok(yk) => return Ok(yk),
            Err(e) if not_found(&e) => {
                let listed = list();
                let here = matches!(&listed, Ok((l, _)) if l.iter().any(|s| s.serial == r.serial));
                // Listed a moment after it could not be opened: another program
                // had it for that moment (gpg's scdaemon polls cards). Try again
                // briefly before saying anything.
                if here && tries < 5 {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    continue;
                }
                return Err(match listed {
                    Ok(_) if here => TokenError::Device {
                        token,
                        reason: format!("it is connected but could not be opened: {HELD}"),
                    },
                    Ok((_, held)) if !held.is_empty() => TokenError::Device {
                        token,
                        reason: format!(
                            "no YubiKey with serial {} can be seen, and the card in {} is held: \
                             {HELD}",
                            r.serial,
                            held.join(", ")
                        ),
                    },
                    Ok((l, _)) => TokenError::TokenNotFound {
                        wanted: format!("YubiKey with serial {}", r.serial),
                        detail: if l.is_empty() {
                            "no YubiKey is connected".into()
                        } else {
                            format!(
                                "connected: {}",
                                l.iter()
                                    .map(|s| format!("serial {}", s.serial))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        },
                    },
                    Err(e) => TokenError::TokenNotFound {
                        wanted: format!("YubiKey with serial {}", r.serial),
                        detail: e,
                    },
                });
            }
            Err(e) => return Err(yk_err(&token, "opening the YubiKey", e)),
        }
    }
}

/// The public key in `slot`: from the slot's metadata (firmware 5.3+), or from
/// the certificate stored with it.
fn read_public(yk: &mut YubiKey, slot: SlotId, token: &str) -> Result<PublicKey, TokenError> {
    let spki_der = match piv::metadata(yk, slot) {
        Ok(piv::SlotMetadata {
            public: Some(spki), ..
        }) => spki.to_der().ok(),
        _ => None,
    };
    let spki_der = match spki_der {
        Some(d) => d,
        None => {
            let cert = Certificate::read(yk, slot).map_err(|_| TokenError::KeyNotFound {
                token: token.to_owned(),
                key: format!("slot {}", slot_name(slot)),
                detail: " (the slot holds no certificate, and this firmware cannot report \
                          a key without one)"
                    .into(),
            })?;
            cert.cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|e| TokenError::Malformed {
                    token: token.to_owned(),
                    reason: format!("slot {} certificate: {e}", slot_name(slot)),
                })?
        }
    };
    PublicKey::from_spki_der(&spki_der).map_err(|e| TokenError::Malformed {
        token: token.to_owned(),
        reason: format!(
            "slot {} holds a key ceremony does not use ({e}); ceremony uses ecdsa-p256 and ed25519",
            slot_name(slot)
        ),
    })
}

/// Read the public key a reference names, without a PIN.
pub fn read_public_key(r: &YubiKeyRef) -> Result<PublicKey, TokenError> {
    let mut yk = open_device(r)?;
    read_public(&mut yk, r.slot_or_default(), &r.device())
}

/// The operator, for what a YubiKey needs beyond a PIN.
pub trait YubiKeyPrompt: PinPrompt {
    /// Ask for the management key (hex: 48 digits for 3DES or AES-192, 32 for
    /// AES-128, 64 for AES-256).
    fn management_key(&mut self, token: &str) -> Result<Secret, TokenError>;

    /// The script allows overwriting an occupied slot: does the operator agree?
    fn confirm_overwrite(&mut self, token: &str, what: &str) -> Result<bool, TokenError>;
}

/// Is this YubiKey in a virtual reader (a test card, never a real device)?
pub fn is_virtual_reader(reader: &str) -> bool {
    reader.starts_with("Virtual PCD")
}

/// Read the tries left (spends none), then ask for the PIN and verify it.
/// A blocked PIN is an error before anything is asked; the final try needs the
/// operator's explicit confirmation.
fn login(yk: &mut YubiKey, token: &str, prompt: &mut dyn PinPrompt) -> Result<Secret, TokenError> {
    let tries = pin_tries(yk).map_err(|e| yk_err(token, "reading the PIN tries left", e))?;
    match tries {
        PinTries::Blocked => {
            return Err(TokenError::PinBlocked {
                token: token.to_owned(),
            });
        }
        PinTries::Left(1) => {
            prompt.notice(&format!(
                "{token}: PIV PIN: ONE try left (a wrong PIN blocks it)"
            ));
            if !prompt.confirm_final_try(token)? {
                return Err(TokenError::Refused {
                    token: token.to_owned(),
                    reason: "the operator chose not to use the final PIN try; no PIN was sent"
                        .into(),
                });
            }
        }
        PinTries::Left(n) => prompt.notice(&format!("{token}: PIV PIN: {n} tries left")),
        PinTries::Verified => prompt.notice(&format!(
            "{token}: PIV PIN: verified earlier in this card session (tries left not reported)"
        )),
    }
    let pin = prompt.user_pin(token)?;
    if pin.is_empty() {
        return Err(TokenError::Refused {
            token: token.to_owned(),
            reason: "an empty PIN was given; nothing was sent to the YubiKey".into(),
        });
    }
    verify_pin(yk, token, &pin)?;
    Ok(pin)
}

fn verify_pin(yk: &mut YubiKey, token: &str, pin: &Secret) -> Result<(), TokenError> {
    yk.verify_pin(pin.expose_secret().as_bytes())
        .map_err(|e| yk_err(token, "verifying the PIN", e))
}

/// How the management key was found, for the transcript.
fn authenticate(
    yk: &mut YubiKey,
    token: &str,
    allow_default: bool,
    pin_verified: bool,
    prompt: &mut dyn YubiKeyPrompt,
) -> Result<String, TokenError> {
    // A failed management-key authentication has no retry counter on a YubiKey.
    if let Ok(default) = MgmKey::get_default(yk)
        && yk.authenticate(&default).is_ok()
    {
        if !allow_default {
            return Err(TokenError::DefaultManagementKey {
                token: token.to_owned(),
            });
        }
        prompt.notice(&format!(
            "{token}: WARNING: the PIV management key is the factory default; \
             the script allows it (rehearsal only)"
        ));
        return Ok("factory default (allowed by the script: rehearsal only)".into());
    }
    if pin_verified
        && let Ok(key) = MgmKey::get_protected(yk)
        && yk.authenticate(&key).is_ok()
    {
        return Ok(format!(
            "PIN-protected, stored on the device ({})",
            mgm_alg_name(key.algorithm_id())
        ));
    }
    let typed = prompt.management_key(token)?;
    let bytes = Zeroizing::new(hex::decode(typed.expose_secret().trim()).map_err(|_| {
        TokenError::Refused {
            token: token.to_owned(),
            reason: "the management key must be hex digits (48 for 3DES or AES-192, \
                     32 for AES-128, 64 for AES-256)"
                .into(),
        }
    })?);
    let candidates: &[MgmAlgorithmId] = match bytes.len() {
        24 => &[MgmAlgorithmId::ThreeDes, MgmAlgorithmId::Aes192],
        16 => &[MgmAlgorithmId::Aes128],
        32 => &[MgmAlgorithmId::Aes256],
        n => {
            return Err(TokenError::Refused {
                token: token.to_owned(),
                reason: format!("a management key is 16, 24 or 32 bytes; {n} bytes were given"),
            });
        }
    };
    for alg in candidates {
        if let Ok(key) = MgmKey::from_bytes(bytes.as_slice(), Some(*alg))
            && yk.authenticate(&key).is_ok()
        {
            return Ok(format!("entered by the operator ({})", mgm_alg_name(*alg)));
        }
    }
    Err(TokenError::Refused {
        token: token.to_owned(),
        reason: "the YubiKey did not accept the management key; nothing was generated".into(),
    })
}

fn mgm_alg_name(a: MgmAlgorithmId) -> &'static str {
    match a {
        MgmAlgorithmId::ThreeDes => "3DES",
        MgmAlgorithmId::Aes128 => "AES-128",
        MgmAlgorithmId::Aes192 => "AES-192",
        MgmAlgorithmId::Aes256 => "AES-256",
    }
}

/// PIN policy, as scripts write it.
pub fn parse_pin_policy(s: &str) -> Result<PinPolicy, String> {
    match s {
        "always" => Ok(PinPolicy::Always),
        "once" => Ok(PinPolicy::Once),
        "never" => Ok(PinPolicy::Never),
        other => Err(format!(
            "pin_policy {other:?}: use \"always\" (the default) or \"once\""
        )),
    }
}

/// Touch policy, as scripts write it.
pub fn parse_touch_policy(s: &str) -> Result<TouchPolicy, String> {
    match s {
        "always" => Ok(TouchPolicy::Always),
        "cached" => Ok(TouchPolicy::Cached),
        "never" => Ok(TouchPolicy::Never),
        other => Err(format!(
            "touch_policy {other:?}: use \"always\" (the default), \"cached\" or \"never\""
        )),
    }
}

fn pin_policy_name(p: PinPolicy) -> &'static str {
    match p {
        PinPolicy::Always => "always",
        PinPolicy::Once => "once",
        PinPolicy::Never => "never",
        PinPolicy::Default => "default",
    }
}

fn touch_policy_name(t: TouchPolicy) -> &'static str {
    match t {
        TouchPolicy::Always => "always",
        TouchPolicy::Cached => "cached",
        TouchPolicy::Never => "never",
        TouchPolicy::Default => "default",
    }
}

/// Whether an attestation must be produced and verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationPolicy {
    /// The device must attest the key, and the attestation must verify.
    Required,
    /// The script says this device cannot attest (an emulator in a rehearsal): a
    /// device that answers "not supported" is recorded as such. An attestation
    /// that is produced and does not verify still stops the ceremony.
    NotAvailable,
}

/// What the script asks of a generation.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub algorithm: Algorithm,
    pub pin_policy: PinPolicy,
    pub touch_policy: TouchPolicy,
    pub overwrite: bool,
    pub allow_default_management_key: bool,
    pub attestation: AttestationPolicy,
    /// The common name of the certificate stored in the slot (the repository).
    pub common_name: String,
}

impl GenerateOptions {
    /// Root-key defaults: PIN always, touch always, attestation required.
    pub fn root_defaults(algorithm: Algorithm, common_name: &str) -> Self {
        GenerateOptions {
            algorithm,
            pin_policy: PinPolicy::Always,
            touch_policy: TouchPolicy::Always,
            overwrite: false,
            allow_default_management_key: false,
            attestation: AttestationPolicy::Required,
            common_name: common_name.to_owned(),
        }
    }
}

/// The attestation outcome recorded in the transcript.
#[derive(Debug, Clone)]
pub enum AttestationOutcome {
    Verified(attest::Attestation),
    /// The device could not attest and the script allowed that.
    NotAvailable {
        device_said: String,
    },
}

/// What a generation proves, for the transcript.
#[derive(Debug, Clone)]
pub struct GenerationEvidence {
    pub reference: YubiKeyRef,
    pub reader: String,
    pub serial: u32,
    pub firmware: String,
    pub algorithm: Algorithm,
    pub public: PublicKey,
    pub pin_policy: &'static str,
    pub touch_policy: &'static str,
    pub management_key: String,
    pub overwrote: Option<String>,
    pub attestation: AttestationOutcome,
    /// The certificate stored in the slot with the key (PEM), if one was.
    pub slot_certificate: Option<String>,
    pub self_test_verified: bool,
}

/// The reader a YubiKey sits in (for messages and the test-card check).
pub fn reader_of(r: &YubiKeyRef) -> Result<String, TokenError> {
    Ok(open_device(r)?.name().to_owned())
}

fn algorithm_id(a: Algorithm, token: &str) -> Result<AlgorithmId, TokenError> {
    match a {
        Algorithm::EcdsaP256 => Ok(AlgorithmId::EccP256),
        Algorithm::EcdsaP384 => Ok(AlgorithmId::EccP384),
        Algorithm::Ed25519 => Ok(AlgorithmId::Ed25519),
        Algorithm::Rsa => Err(TokenError::Unsupported {
            token: token.to_owned(),
            what: "RSA keys (ed25519, ecdsa-p256 and ecdsa-p384 are)".into(),
        }),
    }
}

/// Generate a key in a slot, attest it, store its certificate, and self-test it.
pub fn generate(
    r: &YubiKeyRef,
    opts: &GenerateOptions,
    prompt: &mut dyn YubiKeyPrompt,
) -> Result<GenerationEvidence, TokenError> {
    let token = r.device();
    let slot = r.slot_or_default();
    let mut yk = open_device(r)?;
    let version = yk.version();
    if opts.algorithm == Algorithm::Ed25519 && (version.major, version.minor) < (5, 7) {
        return Err(TokenError::Unsupported {
            token,
            what: format!(
                "Ed25519 (needs firmware 5.7 or later; this YubiKey has {version}); \
                 use ecdsa-p256"
            ),
        });
    }
    if opts.pin_policy == PinPolicy::Never {
        return Err(TokenError::Refused {
            token,
            reason: "a root key must need the PIN (pin_policy never is refused)".into(),
        });
    }
    let overwrote = match slot_content(&mut yk, slot) {
        Some(what) if !opts.overwrite => {
            return Err(TokenError::SlotOccupied {
                token,
                slot: slot_name(slot),
                what,
            });
        }
        Some(what) => {
            let what = format!("slot {} ({what})", slot_name(slot));
            if !prompt.confirm_overwrite(&token, &what)? {
                return Err(TokenError::Refused {
                    token,
                    reason: format!("the operator did not confirm overwriting {what}"),
                });
            }
            Some(what)
        }
        None => None,
    };
    // The default management key is refused before a PIN try is spent.
    let default_in_use = match MgmKey::get_default(&yk) {
        Ok(k) => yk.authenticate(&k).is_ok(),
        Err(_) => false,
    };
    if default_in_use && !opts.allow_default_management_key {
        return Err(TokenError::DefaultManagementKey { token });
    }
    let pin = login(&mut yk, &token, prompt)?;
    let management_key = authenticate(
        &mut yk,
        &token,
        opts.allow_default_management_key,
        true,
        prompt,
    )?;
    let spki = piv::generate(
        &mut yk,
        slot,
        algorithm_id(opts.algorithm, &token)?,
        opts.pin_policy,
        opts.touch_policy,
    )
    .map_err(|e| yk_err(&token, "generating the key", e))?;
    let spki_der = spki.to_der().map_err(|e| TokenError::Malformed {
        token: token.clone(),
        reason: format!("generated public key: {e}"),
    })?;
    let public = PublicKey::from_spki_der(&spki_der).map_err(|e| TokenError::Malformed {
        token: token.clone(),
        reason: format!("generated public key: {e}"),
    })?;
    if public.algorithm() != opts.algorithm {
        return Err(TokenError::Malformed {
            token,
            reason: format!(
                "asked for {}, the YubiKey generated {}",
                opts.algorithm,
                public.algorithm()
            ),
        });
    }
    let attestation = attest_slot(&mut yk, &token, slot, &public, opts)?;

    let mut signer = YubiKeySigner {
        yk,
        reference: YubiKeyRef {
            serial: r.serial,
            slot: Some(slot),
        },
        slot,
        public: public.clone(),
        pin,
        touch: opts.touch_policy,
        announce_touch: false,
    };
    let slot_certificate = if opts.algorithm == Algorithm::EcdsaP256 {
        if let Some(n) = signer.touch_notice() {
            prompt.notice(&format!("{n} (signing the slot certificate)"));
        }
        let now = chrono::Utc::now();
        let cert = crate::tuf::notary::build_root_certificate(
            &opts.common_name,
            &mut signer,
            now,
            now + chrono::Duration::days(3650),
        )
        .map_err(|e| TokenError::Device {
            token: token.clone(),
            reason: format!("building the slot certificate: {e}"),
        })?;
        let (_, der) =
            der::pem::decode_vec(cert.pem.as_bytes()).map_err(|e| TokenError::Malformed {
                token: token.clone(),
                reason: e.to_string(),
            })?;
        let c = Certificate::from_bytes(der)
            .map_err(|e| yk_err(&token, "reading back the slot certificate", e))?;
        c.write(
            &mut signer.yk,
            slot,
            yubikey::certificate::CertInfo::Uncompressed,
        )
        .map_err(|e| yk_err(&token, "storing the certificate in the slot", e))?;
        Some(cert.pem)
    } else {
        // Ed25519 keys are reported by the slot's metadata (firmware 5.7+).
        None
    };
    let mut probe = [0u8; 32];
    getrandom::fill(&mut probe).expect("system randomness");
    if let Some(n) = signer.touch_notice() {
        prompt.notice(&format!("{n} (self-test signature)"));
    }
    let self_test_verified = signer.sign(&probe).is_ok();
    if !self_test_verified {
        return Err(TokenError::Device {
            token,
            reason: "the new key's self-test signature did not verify".into(),
        });
    }
    Ok(GenerationEvidence {
        reference: signer.reference.clone(),
        reader: signer.yk.name().to_owned(),
        serial: r.serial,
        firmware: version.to_string(),
        algorithm: opts.algorithm,
        public,
        pin_policy: pin_policy_name(opts.pin_policy),
        touch_policy: touch_policy_name(opts.touch_policy),
        management_key,
        overwrote,
        attestation,
        slot_certificate,
        self_test_verified,
    })
}

fn attest_slot(
    yk: &mut YubiKey,
    token: &str,
    slot: SlotId,
    public: &PublicKey,
    opts: &GenerateOptions,
) -> Result<AttestationOutcome, TokenError> {
    let fail = |reason: String| TokenError::Attestation {
        token: token.to_owned(),
        slot: slot_name(slot),
        reason,
    };
    let leaf = match piv::attest(yk, slot) {
        Ok(b) => b.to_vec(),
        Err(e) => {
            let said = format!("the device did not attest the key ({e})");
            return match opts.attestation {
                AttestationPolicy::NotAvailable => {
                    Ok(AttestationOutcome::NotAvailable { device_said: said })
                }
                AttestationPolicy::Required => Err(fail(said)),
            };
        }
    };
    let inter = Certificate::read(yk, SlotId::Attestation)
        .map_err(|e| fail(format!("the device attestation certificate (slot f9): {e}")))?;
    let inter_der = inter
        .cert
        .to_der()
        .map_err(|e| fail(format!("slot f9 certificate: {e}")))?;
    let cas = attest::yubico_cas().map_err(|e| fail(e.to_string()))?;
    let verified = attest::verify(
        &leaf,
        &inter_der,
        &cas,
        &attest::Expected {
            public,
            serial: yk.serial().0,
            pin_policy: pin_policy_name(opts.pin_policy),
            touch_policy: touch_policy_name(opts.touch_policy),
        },
        std::time::SystemTime::now(),
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(AttestationOutcome::Verified(verified))
}

/// Open the key a reference names for signing: find the device by serial, read
/// the public key, and log in (asking `prompt`).
pub fn open_signer(
    r: &YubiKeyRef,
    prompt: &mut dyn PinPrompt,
) -> Result<YubiKeySigner, TokenError> {
    let token = r.device();
    let slot = r.slot_or_default();
    let mut yk = open_device(r)?;
    let public = read_public(&mut yk, slot, &token)?;
    let touch = match piv::metadata(&mut yk, slot) {
        Ok(piv::SlotMetadata {
            policy: Some((_, t)),
            ..
        }) => t,
        // Unknown (firmware before 5.3): tell the operator to touch if it blinks.
        _ => TouchPolicy::Default,
    };
    let pin = login(&mut yk, &token, prompt)?;
    Ok(YubiKeySigner {
        yk,
        reference: YubiKeyRef {
            serial: r.serial,
            slot: Some(slot),
        },
        slot,
        public,
        pin,
        touch,
        announce_touch: true,
    })
}

/// A key in a YubiKey slot, logged in and ready to sign.
pub struct YubiKeySigner {
    yk: YubiKey,
    reference: YubiKeyRef,
    slot: SlotId,
    public: PublicKey,
    /// Kept to verify again before each signature: a PIN policy of `always`
    /// (the default for root keys) needs the PIN right before every signature.
    pin: Secret,
    touch: TouchPolicy,
    /// Print "touch the YubiKey" before each signature (during generation the
    /// operator prompt says it instead, before each use).
    announce_touch: bool,
}

impl std::fmt::Debug for YubiKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubiKeySigner")
            .field("reference", &self.reference.to_string())
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl YubiKeySigner {
    pub fn reference(&self) -> &YubiKeyRef {
        &self.reference
    }

    fn touch_notice(&self) -> Option<String> {
        match self.touch {
            TouchPolicy::Never => None,
            TouchPolicy::Always | TouchPolicy::Cached => Some(format!(
                "{}: TOUCH the YubiKey now (it blinks; about 15 seconds)",
                self.reference.device()
            )),
            TouchPolicy::Default => Some(format!(
                "{}: if the YubiKey blinks, touch it",
                self.reference.device()
            )),
        }
    }
}

impl Signer for YubiKeySigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} key on YubiKey firmware {}, reader {})",
            self.reference,
            self.public.algorithm(),
            self.yk.version(),
            self.yk.name()
        )
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let token = self.reference.device();
        let algorithm = self.public.algorithm();
        verify_pin(&mut self.yk, &token, &self.pin)?;
        if self.announce_touch
            && let Some(n) = self.touch_notice()
        {
            eprintln!("{n}");
        }
        let input: Vec<u8> = match algorithm {
            Algorithm::EcdsaP256 => Sha256::digest(message).to_vec(),
            Algorithm::EcdsaP384 => sha2::Sha384::digest(message).to_vec(),
            Algorithm::Ed25519 | Algorithm::Rsa => message.to_vec(),
        };
        let id = algorithm_id(algorithm, &token)?;
        let raw = piv::sign_data(&mut self.yk, &input, id, self.slot).map_err(|e| match e {
            yubikey::Error::AuthenticationError if self.touch != TouchPolicy::Never => {
                TokenError::Device {
                    token: token.clone(),
                    reason: "the YubiKey refused to sign: no touch within its time limit \
                                 (or the PIN was not accepted); nothing was signed"
                        .into(),
                }
            }
            other => yk_err(&token, "signing", other),
        })?;
        let (signature, encoding) = match algorithm {
            Algorithm::EcdsaP384 => (
                p384::ecdsa::Signature::from_der(&raw)
                    .map_err(|e| TokenError::Device {
                        token: token.clone(),
                        reason: format!(
                            "returned a malformed ECDSA signature ({e}); it was discarded"
                        ),
                    })?
                    .to_bytes()
                    .to_vec(),
                SignatureEncoding::EcdsaRaw,
            ),
            Algorithm::Rsa => (raw.to_vec(), SignatureEncoding::raw_for(algorithm)),
            Algorithm::EcdsaP256 => (
                ecdsa_der_to_raw(&raw).map_err(|e| TokenError::Device {
                    token: token.clone(),
                    reason: format!("returned a malformed ECDSA signature ({e}); it was discarded"),
                })?,
                SignatureEncoding::EcdsaRaw,
            ),
            Algorithm::Ed25519 => (raw.to_vec(), SignatureEncoding::Ed25519),
        };
        self.public
            .verify(message, &signature, encoding)
            .map_err(|e| TokenError::Device {
                token,
                reason: format!(
                    "returned a signature that does not verify against its public key ({e}); \
                     it was discarded"
                ),
            })?;
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print() {
        let r = YubiKeyRef::parse("yubikey:serial=5437251;slot=9c").unwrap();
        assert_eq!(r.serial, 5437251);
        assert_eq!(r.slot, Some(SlotId::Signature));
        assert_eq!(r.to_string(), "yubikey:serial=5437251;slot=9c");
        let r = YubiKeyRef::parse("yubikey:serial=12").unwrap();
        assert_eq!(r.slot_or_default(), SlotId::Signature);
        assert_eq!(
            YubiKeyRef::parse("yubikey:serial=1;slot=83")
                .unwrap()
                .to_string(),
            "yubikey:serial=1;slot=83"
        );
    }

    #[test]
    fn bad_references_are_refused() {
        for (r, want) in [
            ("yubikey:slot=9c", "serial= is required"),
            ("yubikey:serial=abc", "not a YubiKey serial"),
            ("yubikey:serial=1;slot=f9", "not a signing slot"),
            ("yubikey:serial=1;slot=zz", "not a PIV slot"),
            ("yubikey:serial=1;pin=123456", "never goes in a reference"),
            ("yubikey:serial=1;label=x", "unknown attribute"),
        ] {
            let e = YubiKeyRef::parse(r).unwrap_err();
            assert!(e.contains(want), "{r}: {e}");
            assert!(!e.contains("123456"), "{e}");
        }
    }

    #[test]
    fn policies_parse() {
        assert_eq!(parse_pin_policy("always").unwrap(), PinPolicy::Always);
        assert!(parse_pin_policy("sometimes").is_err());
        assert_eq!(parse_touch_policy("cached").unwrap(), TouchPolicy::Cached);
        assert!(parse_touch_policy("maybe").is_err());
    }
}

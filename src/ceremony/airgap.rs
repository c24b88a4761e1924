//! The air-gap self-check: is this machine offline?
//!
//! Read from Linux sysfs and procfs under a root directory (`/` normally; a fixture
//! tree in tests):
//!
//! - every network interface in `sys/class/net` other than `lo` that is **up**:
//!   `operstate` is `up`, or `unknown`/`dormant` with `carrier` 1 (tunnels, PPP
//!   and some virtual or Wi-Fi drivers never report `up`, but pass traffic);
//! - every **default route**: destination `00000000` with mask `00000000` in
//!   `proc/net/route`, and `::/0` in `proc/net/ipv6_route`, except reject
//!   (unreachable) routes and routes through `lo`, which the kernel installs on
//!   machines with no network at all.
//!
//! The check fails closed: if `sys/class/net` or `proc/net/route` cannot be read,
//! the machine is not reported as air-gapped. A missing `proc/net/ipv6_route` means
//! IPv6 is disabled, which is fine.
//!
//! This is a self-check, not a guarantee: it cannot see a radio that the kernel has
//! no driver loaded for. Unplug cables and remove (or switch off in firmware) every
//! wireless device before a real ceremony.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// `RTF_UP`: the route is usable.
const RTF_UP: u32 = 0x0001;
/// `RTF_REJECT`: an unreachable route.
const RTF_REJECT: u32 = 0x0200;

/// A network interface other than `lo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// `operstate` as the kernel reports it (`up`, `down`, `unknown`, …).
    pub operstate: String,
    /// `carrier`: None when it cannot be read (an interface that is down).
    pub carrier: Option<bool>,
    /// Whether it is a wireless interface (`sys/class/net/IF/wireless` exists).
    pub wireless: bool,
}

impl Interface {
    /// Whether this interface can pass traffic.
    pub fn is_up(&self) -> bool {
        match self.operstate.as_str() {
            "up" => true,
            "unknown" | "dormant" => self.carrier == Some(true),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// A default route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    pub family: Family,
    pub interface: String,
    /// The gateway (`0.0.0.0` / `::` when none).
    pub gateway: String,
}

impl fmt::Display for DefaultRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Family::Ipv4 => write!(f, "default via {} dev {}", self.gateway, self.interface),
            Family::Ipv6 => write!(
                f,
                "default (::/0) via {} dev {}",
                self.gateway, self.interface
            ),
        }
    }
}

/// What the air-gap check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirGapReport {
    /// The root the check read from.
    pub root: PathBuf,
    /// Every interface other than `lo`, up or not.
    pub interfaces: Vec<Interface>,
    /// Every default route found.
    pub default_routes: Vec<DefaultRoute>,
    /// What could not be read (the check then fails closed).
    pub unreadable: Vec<String>,
}

impl AirGapReport {
    /// Interfaces that are up.
    pub fn offending_interfaces(&self) -> impl Iterator<Item = &Interface> {
        self.interfaces.iter().filter(|i| i.is_up())
    }

    /// No interface but `lo` is up, there is no default route, and everything
    /// needed could be read.
    pub fn is_air_gapped(&self) -> bool {
        self.offending_interfaces().next().is_none()
            && self.default_routes.is_empty()
            && self.unreadable.is_empty()
    }
}

impl fmt::Display for AirGapReport {
    /// One line per finding; "air-gapped: …" when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_air_gapped() {
            let down: Vec<&str> = self.interfaces.iter().map(|i| i.name.as_str()).collect();
            return if down.is_empty() {
                writeln!(
                    f,
                    "air-gapped: no network interface but lo, no default route"
                )
            } else {
                writeln!(
                    f,
                    "air-gapped: no interface but lo is up ({} down), no default route",
                    down.join(", ")
                )
            };
        }
        for i in self.offending_interfaces() {
            writeln!(
                f,
                "interface {} is up{} (operstate {}{})",
                i.name,
                if i.wireless { " (wireless)" } else { "" },
                i.operstate,
                match i.carrier {
                    Some(true) => ", carrier 1",
                    _ => "",
                }
            )?;
        }
        for r in &self.default_routes {
            writeln!(f, "route: {r}")?;
        }
        for u in &self.unreadable {
            writeln!(f, "could not check: {u}")?;
        }
        Ok(())
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn interfaces(root: &Path, unreadable: &mut Vec<String>) -> Vec<Interface> {
    let dir = root.join("sys/class/net");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            unreadable.push(format!("{}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut found: Vec<Interface> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "lo" {
                return None;
            }
            let path = dir.join(&name);
            let operstate = read_trimmed(&path.join("operstate")).unwrap_or_else(|| "?".into());
            let carrier = read_trimmed(&path.join("carrier")).and_then(|c| match c.as_str() {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            });
            Some(Interface {
                wireless: path.join("wireless").exists() || path.join("phy80211").exists(),
                name,
                operstate,
                carrier,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// `/proc/net/route` stores addresses as 8 hex digits in host (little-endian) order.
fn ipv4_from_route_hex(hex: &str) -> Option<String> {
    let n = u32::from_str_radix(hex, 16).ok()?;
    Some(std::net::Ipv4Addr::from(n.to_le_bytes()).to_string())
}

fn ipv4_routes(root: &Path, unreadable: &mut Vec<String>) -> Vec<DefaultRoute> {
    let path = root.join("proc/net/route");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            unreadable.push(format!("{}: {e}", path.display()));
            return Vec::new();
        }
    };
    // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            let default = f[1] == "00000000" && f[7] == "00000000";
            (default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 && f[0] != "lo").then(|| {
                DefaultRoute {
                    family: Family::Ipv4,
                    interface: f[0].to_owned(),
                    gateway: ipv4_from_route_hex(f[2]).unwrap_or_else(|| f[2].to_owned()),
                }
            })
        })
        .collect()
}

fn ipv6_from_hex(hex: &str) -> Option<String> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(hex, &mut bytes).ok()?;
    Some(std::net::Ipv6Addr::from(bytes).to_string())
}

fn ipv6_routes(root: &Path, unreadable: &mut Vec<String>) -> Vec<DefaultRoute> {
    let path = root.join("proc/net/ipv6_route");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        // No file: IPv6 is disabled in this kernel.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            unreadable.push(format!("{}: {e}", path.display()));
            return Vec::new();
        }
    };
    // dest dest_plen src src_plen next_hop metric refcnt use flags iface
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            let default = f[0].bytes().all(|b| b == b'0') && f[1] == "00";
            (default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 && f[9] != "lo").then(|| {
                DefaultRoute {
                    family: Family::Ipv6,
                    interface: f[9].to_owned(),
                    gateway: ipv6_from_hex(f[4]).unwrap_or_else(|| f[4].to_owned()),
                }
            })
        })
        .collect()
}

/// Check whether the machine whose sysfs and procfs are under `root` is offline.
/// Never fails: what cannot be read is listed in the report, which is then not
/// air-gapped.
pub fn check(root: &Path) -> AirGapReport {
    let mut unreadable = Vec::new();
    let interfaces = interfaces(root, &mut unreadable);
    let mut default_routes = ipv4_routes(root, &mut unreadable);
    default_routes.extend(ipv6_routes(root, &mut unreadable));
    AirGapReport {
        root: root.to_owned(),
        interfaces,
        default_routes,
        unreadable,
    }
}

/// [`check`] of this machine.
pub fn check_this_machine() -> AirGapReport {
    check(Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
    const V4_DEFAULT: &str = "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";
    const V4_LAN: &str = "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
    const V6_DEFAULT: &str = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
        fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n";
    /// What the kernel lists on a machine with no IPv6 connectivity at all.
    const V6_UNREACHABLE_LO: &str = "00000000000000000000000000000000 00 \
        00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff \
        00000001 00000000 00200200       lo\n";

    /// A fake sysfs/procfs tree.
    struct Fixture(tempfile::TempDir);

    impl Fixture {
        fn new() -> Self {
            let f = Fixture(tempfile::tempdir().unwrap());
            f.interface("lo", "unknown", Some("1"));
            f.file("proc/net/route", ROUTE_HEADER);
            f.file("proc/net/ipv6_route", V6_UNREACHABLE_LO);
            f
        }

        fn root(&self) -> &Path {
            self.0.path()
        }

        fn file(&self, rel: &str, text: &str) {
            let p = self.root().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }

        fn interface(&self, name: &str, operstate: &str, carrier: Option<&str>) {
            self.file(
                &format!("sys/class/net/{name}/operstate"),
                &format!("{operstate}\n"),
            );
            if let Some(c) = carrier {
                self.file(&format!("sys/class/net/{name}/carrier"), &format!("{c}\n"));
            }
        }
    }

    #[test]
    fn route_addresses_decode() {
        assert_eq!(ipv4_from_route_hex("0101A8C0").unwrap(), "192.168.1.1");
        assert_eq!(
            ipv6_from_hex("fe800000000000000000000000000001").unwrap(),
            "fe80::1"
        );
    }

    #[test]
    fn only_loopback_is_air_gapped() {
        let f = Fixture::new();
        let r = check(f.root());
        assert!(r.is_air_gapped(), "{r}");
        assert!(r.interfaces.is_empty());
        assert_eq!(
            r.to_string(),
            "air-gapped: no network interface but lo, no default route\n"
        );
    }

    #[test]
    fn interfaces_that_are_down_are_fine() {
        let f = Fixture::new();
        f.interface("eth0", "down", None);
        f.interface("wlan0", "dormant", Some("0"));
        f.file("sys/class/net/wlan0/wireless/.keep", "");
        f.interface("tun0", "unknown", Some("0"));
        let r = check(f.root());
        assert!(r.is_air_gapped(), "{r}");
        assert_eq!(r.interfaces.len(), 3);
        assert!(r.interfaces.iter().any(|i| i.name == "wlan0" && i.wireless));
        assert_eq!(
            r.to_string(),
            "air-gapped: no interface but lo is up (eth0, tun0, wlan0 down), no default route\n"
        );
    }

    #[test]
    fn an_interface_that_is_up_is_reported() {
        let f = Fixture::new();
        f.interface("eth0", "up", Some("1"));
        f.interface("eth1", "down", None);
        let r = check(f.root());
        assert!(!r.is_air_gapped());
        let names: Vec<&str> = r.offending_interfaces().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0"]);
        assert_eq!(
            r.to_string(),
            "interface eth0 is up (operstate up, carrier 1)\n"
        );
    }

    #[test]
    fn unknown_operstate_counts_as_up_only_with_carrier() {
        let f = Fixture::new();
        f.interface("wg0", "unknown", Some("1"));
        f.interface("tun0", "unknown", Some("0"));
        f.interface("wlan0", "dormant", Some("1"));
        f.file("sys/class/net/wlan0/phy80211/name", "phy0\n");
        let r = check(f.root());
        let names: Vec<&str> = r.offending_interfaces().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["wg0", "wlan0"]);
        assert!(
            r.to_string()
                .contains("interface wlan0 is up (wireless) (operstate dormant, carrier 1)")
        );
    }

    #[test]
    fn default_routes_are_reported() {
        let f = Fixture::new();
        f.interface("eth0", "down", None);
        f.file(
            "proc/net/route",
            &format!("{ROUTE_HEADER}{V4_DEFAULT}{V4_LAN}"),
        );
        f.file(
            "proc/net/ipv6_route",
            &format!("{V6_DEFAULT}{V6_UNREACHABLE_LO}"),
        );
        let r = check(f.root());
        assert!(!r.is_air_gapped());
        assert_eq!(
            r.to_string(),
            "route: default via 192.168.1.1 dev eth0\n\
             route: default (::/0) via fe80::1 dev eth0\n"
        );
    }

    #[test]
    fn a_route_to_the_lan_alone_is_not_a_default_route() {
        let f = Fixture::new();
        f.file("proc/net/route", &format!("{ROUTE_HEADER}{V4_LAN}"));
        assert!(check(f.root()).is_air_gapped());
    }

    #[test]
    fn no_ipv6_is_fine_but_unreadable_sysfs_fails_closed() {
        let f = Fixture::new();
        fs::remove_file(f.root().join("proc/net/ipv6_route")).unwrap();
        assert!(check(f.root()).is_air_gapped());

        let empty = tempfile::tempdir().unwrap();
        let r = check(empty.path());
        assert!(!r.is_air_gapped());
        assert_eq!(r.unreadable.len(), 2, "{r}");
        assert!(r.to_string().starts_with("could not check: "), "{r}");
    }

    #[test]
    fn this_machine_can_be_checked() {
        // This machine may well be online; only check that the check runs and
        // says something either way.
        let r = check_this_machine();
        assert!(!r.to_string().is_empty());
    }
}

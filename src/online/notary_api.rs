//! The Notary server's HTTP API, as far as publishing needs it (the routes are
//! those of notary-server's `server.go`): fetch metadata and the server-held keys,
//! and push new metadata in one multipart upload. TLS only, with the server's CA
//! given explicitly where it is a private one.

use crate::error::{Error, Result};
use crate::tuf::json::parse_strict;
use crate::tuf::metadata::Key;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The most any metadata file may be.
const MAX_BODY: u64 = 16 << 20;

pub struct NotaryApi {
    base: String,
    agent: ureq::Agent,
}

fn remote(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Remote {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

impl NotaryApi {
    /// `url` is the server's base URL (`https://notary.example.com:4443`); `ca` a PEM
    /// file of the CA certificates to trust instead of the public web PKI.
    pub fn new(url: &str, ca: Option<&Path>) -> Result<NotaryApi> {
        if !url.starts_with("https://") {
            return Err(Error::Usage(format!(
                "notary server {url}: only https:// is allowed (metadata and keys travel over it)"
            )));
        }
        let roots = match ca {
            Some(path) => {
                let pem = crate::inputs::read_file(path)?;
                let mut certs = Vec::new();
                for item in ureq::tls::parse_pem(&pem) {
                    match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                        Ok(_) => {}
                        Err(e) => {
                            return Err(Error::Read {
                                path: path.display().to_string(),
                                reason: format!("not a PEM certificate file: {e}"),
                            });
                        }
                    }
                }
                if certs.is_empty() {
                    return Err(Error::Read {
                        path: path.display().to_string(),
                        reason: "no certificate in this PEM file".into(),
                    });
                }
                RootCerts::Specific(Arc::new(certs.iter().map(Certificate::to_owned).collect()))
            }
            None => RootCerts::WebPki,
        };
        let agent = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(NotaryApi {
            base: url.trim_end_matches('/').to_owned(),
            agent,
        })
    }

    fn url(&self, gun: &str, file: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{file}", self.base)
    }

    /// GET a metadata file (`root.json`, `3.root.json`, `targets.json`, …); `None`
    /// when the server has none.
    pub fn get(&self, gun: &str, file: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_stored(gun, file)?.map(|(bytes, _)| bytes))
    }

    /// [`NotaryApi::get`], with when the server stored the file (its
    /// `Last-Modified`, as RFC 3339), where it says.
    pub fn get_stored(&self, gun: &str, file: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let url = self.url(gun, file);
        let mut resp = self.agent.get(&url).call().map_err(|e| remote(&url, e))?;
        match resp.status().as_u16() {
            200 => {
                let stored = resp
                    .headers()
                    .get("last-modified")
                    .and_then(|v| v.to_str().ok())
                    // Go writes RFC 1123 with the zone's name, "UTC" where RFC 2822
                    // says "GMT".
                    .and_then(|v| {
                        let v = match v.strip_suffix(" UTC") {
                            Some(t) => format!("{t} GMT"),
                            None => v.to_owned(),
                        };
                        chrono::DateTime::parse_from_rfc2822(&v).ok()
                    })
                    // Go's zero time: the server does not know.
                    .filter(|t| t.timestamp() > 0)
                    .map(|t| {
                        t.with_timezone(&chrono::Utc)
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    });
                let bytes = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_BODY)
                    .read_to_vec()
                    .map_err(|e| remote(&url, e))?;
                Ok(Some((bytes, stored)))
            }
            404 => Ok(None),
            code => Err(remote(
                &url,
                format!("HTTP {code}: {}", body_text(resp.body_mut())),
            )),
        }
    }

    /// The public key the server holds for `role` (timestamp, or snapshot where the
    /// server manages it). Asking makes the server create it.
    pub fn server_key(&self, gun: &str, role: &str) -> Result<Key> {
        let file = format!("{role}.key");
        let bytes = self.get(gun, &file)?.ok_or_else(|| {
            remote(
                &self.url(gun, &file),
                "HTTP 404: the server holds no such key",
            )
        })?;
        let value = parse_strict(&bytes).map_err(|e| remote(&self.url(gun, &file), e))?;
        serde_json::from_value(value)
            .map_err(|e| remote(&self.url(gun, &file), format!("not a key object: {e}")))
    }

    /// Upload metadata files in one request: (role, bytes) pairs.
    pub fn publish(&self, gun: &str, files: &[(&str, &[u8])]) -> Result<()> {
        let url = self.url(gun, "");
        let mut rnd = [0u8; 16];
        getrandom::fill(&mut rnd).expect("system randomness");
        let boundary = format!("ceremony-{}", hex::encode(rnd));
        let mut body = Vec::new();
        for (role, bytes) in files {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{role}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").as_bytes());
        let mut resp = self
            .agent
            .post(&url)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..])
            .map_err(|e| remote(&url, e))?;
        match resp.status().as_u16() {
            200 => Ok(()),
            code => Err(Error::Usage(format!(
                "the notary server refused the upload to {gun} (HTTP {code}): {}",
                body_text(resp.body_mut())
            ))),
        }
    }
}

fn body_text(body: &mut ureq::Body) -> String {
    let bytes = body
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    crate::ceremony::transcript::one_line(&String::from_utf8_lossy(&bytes))
}

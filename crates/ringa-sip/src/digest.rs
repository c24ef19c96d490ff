//! SIP digest authentication (RFC 2617 / RFC 8760 with MD5): parsing a challenge from a
//! 401/407, computing the credentials a UAC sends back, and checking credentials a phone
//! sends when it registers or dials in.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

use std::fmt;
use std::fmt::Write as _;

use md5::{Digest as _, Md5};

/// Why a challenge or credentials header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// The scheme is not `Digest`.
    NotDigest,
    /// A required parameter is missing.
    Missing(&'static str),
    /// The algorithm is not MD5.
    UnsupportedAlgorithm(String),
    /// The offered qop values do not include `auth`.
    UnsupportedQop(String),
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::NotDigest => write!(f, "authentication scheme is not Digest"),
            DigestError::Missing(p) => write!(f, "digest parameter {p} is missing"),
            DigestError::UnsupportedAlgorithm(a) => write!(f, "digest algorithm {a} unsupported"),
            DigestError::UnsupportedQop(q) => write!(f, "digest qop {q} unsupported"),
        }
    }
}

impl std::error::Error for DigestError {}

/// Splits `Digest a=b, c="d, e"` into parameters, honouring quotes and escapes.
fn parameters(header: &str) -> Result<Vec<(String, String)>, DigestError> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',') {
            name.push(c);
        }
        if name.trim().is_empty() {
            if chars.peek().is_none() {
                return Ok(params);
            }
            chars.next();
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ',') {
                    value.push(c);
                }
            }
        }
        params.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn find<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The realm.
    pub realm: String,
    /// The server nonce.
    pub nonce: String,
    /// The opaque value to echo back.
    pub opaque: Option<String>,
    /// Whether `qop=auth` is in use.
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses a challenge header value.
    pub fn parse(header: &str) -> Result<Challenge, DigestError> {
        let params = parameters(header)?;
        if let Some(alg) = find(&params, "algorithm")
            && !alg.eq_ignore_ascii_case("MD5")
        {
            return Err(DigestError::UnsupportedAlgorithm(alg.to_string()));
        }
        let qop_auth = match find(&params, "qop") {
            None => false,
            Some(q) if q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth")) => true,
            Some(q) => return Err(DigestError::UnsupportedQop(q.to_string())),
        };
        Ok(Challenge {
            realm: find(&params, "realm").ok_or(DigestError::Missing("realm"))?.to_string(),
            nonce: find(&params, "nonce").ok_or(DigestError::Missing("nonce"))?.to_string(),
            opaque: find(&params, "opaque").map(str::to_string),
            qop_auth,
        })
    }

    /// The `Authorization` / `Proxy-Authorization` value answering this challenge.
    ///
    /// `nc` is the nonce count (1 for the first use) and `cnonce` a fresh client nonce.
    pub fn authorize(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let ha1 = md5_hex(&format!("{username}:{}:{password}", self.realm));
        let nc = format!("{nc:08x}");
        let response =
            response(&ha1, &self.nonce, method, uri, self.qop_auth.then_some((&nc, cnonce)));
        let mut h = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=MD5",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce)
        );
        if self.qop_auth {
            let _ = write!(h, ", qop=auth, nc={nc}, cnonce=\"{}\"", quote(cnonce));
        }
        if let Some(o) = &self.opaque {
            let _ = write!(h, ", opaque=\"{}\"", quote(o));
        }
        h
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn response(ha1: &str, nonce: &str, method: &str, uri: &str, qop: Option<(&str, &str)>) -> String {
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Credentials a client sent in `Authorization` / `Proxy-Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The realm.
    pub realm: String,
    /// The nonce the client answers.
    pub nonce: String,
    /// The request URI the digest covers.
    pub uri: String,
    /// The response digest.
    pub response: String,
    /// `(nc, cnonce)` when `qop=auth` was used.
    pub qop: Option<(String, String)>,
}

impl Credentials {
    /// Parses a credentials header value.
    pub fn parse(header: &str) -> Result<Credentials, DigestError> {
        let params = parameters(header)?;
        let get =
            |n: &'static str| find(&params, n).map(str::to_string).ok_or(DigestError::Missing(n));
        let qop = match find(&params, "qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => Some((get("nc")?, get("cnonce")?)),
            Some(q) => return Err(DigestError::UnsupportedQop(q.to_string())),
            None => None,
        };
        Ok(Credentials {
            username: get("username")?,
            realm: get("realm")?,
            nonce: get("nonce")?,
            uri: get("uri")?,
            response: get("response")?,
            qop,
        })
    }

    /// Whether these credentials prove knowledge of `password` for `method`, against the
    /// nonce and realm we issued. Compares in constant time.
    pub fn verify(&self, method: &str, realm: &str, nonce: &str, password: &str) -> bool {
        if self.realm != realm || self.nonce != nonce {
            return false;
        }
        let ha1 = md5_hex(&format!("{}:{realm}:{password}", self.username));
        let qop = self.qop.as_ref().map(|(nc, c)| (nc.as_str(), c.as_str()));
        let expected = response(&ha1, nonce, method, &self.uri, qop);
        let given = self.response.to_ascii_lowercase();
        expected.len() == given.len()
            && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_response() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("valid challenge");
        assert!(c.qop_auth);
        let h = c.authorize("GET", "/dir/index.html", "Mufasa", "Circle Of Life", 1, "0a4f113b");
        assert!(h.contains("response=\"6629fae49393a05397450978507c4ef1\""), "{h}");
        assert!(h.contains("nc=00000001"));
        assert!(h.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn credentials_verify_against_the_password() {
        let c = Challenge::parse("Digest realm=\"ringa\", nonce=\"abc\", algorithm=MD5")
            .expect("valid challenge");
        assert!(!c.qop_auth);
        let h = c.authorize("REGISTER", "sip:127.0.0.1", "agent1", "pw", 1, "x");
        let creds = Credentials::parse(&h).expect("our own header parses");
        assert_eq!(creds.username, "agent1");
        assert!(creds.verify("REGISTER", "ringa", "abc", "pw"));
        assert!(!creds.verify("REGISTER", "ringa", "abc", "wrong"));
        assert!(!creds.verify("INVITE", "ringa", "abc", "pw"));
        assert!(!creds.verify("REGISTER", "ringa", "other-nonce", "pw"));

        let q = Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"").expect("valid");
        let h = q.authorize("INVITE", "sip:x@y", "u", "p", 2, "cn");
        assert!(Credentials::parse(&h).expect("parses").verify("INVITE", "r", "n", "p"));
    }

    #[test]
    fn unusable_challenges_are_errors() {
        assert_eq!(Challenge::parse("Basic realm=\"x\""), Err(DigestError::NotDigest));
        assert_eq!(Challenge::parse("Digest nonce=\"n\""), Err(DigestError::Missing("realm")));
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, algorithm=SHA-256"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, qop=auth-int"),
            Err(DigestError::UnsupportedQop(_))
        ));
        assert_eq!(Challenge::parse(""), Err(DigestError::NotDigest));
        assert!(Challenge::parse("Digest ,,, =, realm=\"unterminated").is_err());
    }
}

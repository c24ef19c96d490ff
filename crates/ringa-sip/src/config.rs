//! Telephony configuration: the `[[trunk]]` sections of a TOML file, parsed by serde.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ringa_core::AgentId;
use serde::Deserialize;

use crate::driver::{AgentLegMode, DriverOptions};
use crate::prompt::Prompt;

/// The SIP transport to a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// SIP over UDP (the default).
    #[default]
    Udp,
    /// SIP over TCP.
    Tcp,
}

/// One SIP trunk calls leave through.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs and reports.
    pub name: String,
    /// The trunk's SIP address (its proxy or registrar).
    pub address: SocketAddr,
    /// The transport.
    #[serde(default)]
    pub transport: Transport,
    /// The digest username, if the trunk challenges.
    #[serde(default)]
    pub username: Option<String>,
    /// The digest password, if the trunk challenges.
    #[serde(default)]
    pub password: Option<String>,
    /// The most simultaneous calls on this trunk.
    pub line_limit: u32,
    /// The most new calls per second on this trunk.
    pub cps: f64,
}

impl fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("line_limit", &self.line_limit)
            .field("cps", &self.cps)
            .finish()
    }
}

/// The telephony section of a configuration file. Unknown keys are refused, so a misspelt
/// setting is an error rather than a silent default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelephonyConfig {
    /// `ringa telephony`'s own `[campaign]` section and `media` key, which that command
    /// reads from the same file.
    #[serde(default, rename = "campaign")]
    _campaign: Option<toml::Value>,
    #[serde(default, rename = "media")]
    _media: Option<toml::Value>,
    /// The trunks, in order of preference.
    #[serde(rename = "trunk", default)]
    pub trunks: Vec<TrunkConfig>,
    /// The agents' phones ringa calls when it connects a customer to them.
    #[serde(rename = "agent_phone", default)]
    pub agent_phones: Vec<AgentPhoneConfig>,
    /// Where ringa's SIP socket binds: an address (not 0.0.0.0) the trunk
    /// and the agents' phones can reach. Default 127.0.0.1:5060.
    #[serde(default)]
    pub sip_bind: Option<SocketAddr>,
    /// The IP address the calls' RTP ports bind to; default the SIP
    /// address's.
    #[serde(default)]
    pub media_ip: Option<IpAddr>,
    /// Whether an agent's phone stays connected for the shift (`nailed`,
    /// the default) or rings for each customer (`per_call`).
    #[serde(default)]
    pub agent_legs: AgentLegMode,
    /// A directory for one stereo WAV per answered call.
    #[serde(default)]
    pub recordings: Option<PathBuf>,
    /// An 8 kHz mono 16-bit WAV played to a person no agent could take.
    #[serde(default)]
    pub drop_message: Option<PathBuf>,
    /// An 8 kHz mono 16-bit WAV left on answering machines when the
    /// detection settings say so.
    #[serde(default)]
    pub machine_message: Option<PathBuf>,
    /// An 8 kHz mono 16-bit WAV played to a customer who calls back one of
    /// the campaigns' caller IDs through a trunk (who called and why).
    #[serde(default)]
    pub callback_message: Option<PathBuf>,
}

/// The default SIP address: loopback, so that nothing listens outside
/// until an operator says where.
pub const DEFAULT_SIP_BIND: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5060);

/// An agent's phone: `[[agent_phone]]` with the agent's id and either the phone's
/// `sip:user@ip:port` URI (ringa calls it there) or the account it registers with.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPhoneConfig {
    /// The agent's id.
    pub agent: u64,
    /// The phone's SIP URI, with a literal IP address.
    #[serde(default)]
    pub uri: Option<String>,
    /// The digest username the phone registers with.
    #[serde(default)]
    pub account: Option<String>,
    /// The account's password.
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for AgentPhoneConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentPhoneConfig")
            .field("agent", &self.agent)
            .field("uri", &self.uri)
            .field("account", &self.account)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a configuration is not usable.
#[derive(Debug)]
pub enum ConfigError {
    /// The TOML does not parse or does not match the schema.
    Toml(toml::de::Error),
    /// A file the configuration names cannot be used.
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A top-level setting has a value out of range.
    Setting {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A trunk has a value out of range.
    Invalid {
        /// The trunk's name.
        trunk: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Toml(e) => write!(f, "telephony configuration: {e}"),
            ConfigError::File { path, reason } => write!(f, "{}: {reason}", path.display()),
            ConfigError::Setting { key, reason } => write!(f, "{key}: {reason}"),
            ConfigError::Invalid { trunk, reason } => write!(f, "trunk {trunk:?}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Toml(e) => Some(e),
            ConfigError::File { .. }
            | ConfigError::Setting { .. }
            | ConfigError::Invalid { .. } => None,
        }
    }
}

impl TelephonyConfig {
    /// Parses and checks a TOML document.
    pub fn from_toml(text: &str) -> Result<TelephonyConfig, ConfigError> {
        let config: TelephonyConfig = toml::from_str(text).map_err(ConfigError::Toml)?;
        for t in &config.trunks {
            let invalid = |reason| ConfigError::Invalid { trunk: t.name.clone(), reason };
            if t.line_limit == 0 {
                return Err(invalid("line_limit must be at least 1"));
            }
            if !(t.cps.is_finite() && t.cps > 0.0) {
                return Err(invalid("cps must be a positive number"));
            }
            if t.username.is_some() != t.password.is_some() {
                return Err(invalid("username and password go together"));
            }
        }
        if config.sip_bind.is_some_and(|a| a.ip().is_unspecified()) {
            return Err(ConfigError::Setting {
                key: "sip_bind",
                reason: "must be an address the trunk can reach, not 0.0.0.0 or ::",
            });
        }
        let mut accounts = HashSet::new();
        for p in &config.agent_phones {
            let invalid =
                |reason| ConfigError::Invalid { trunk: format!("agent_phone {}", p.agent), reason };
            match (&p.uri, &p.account, &p.password) {
                (Some(uri), None, None) => {
                    if crate::agents::parse_agent_uri(uri).is_err() {
                        return Err(invalid("uri must be sip:user@ip:port"));
                    }
                }
                (None, Some(account), Some(password)) => {
                    if account.is_empty() || password.is_empty() {
                        return Err(invalid("account and password must not be empty"));
                    }
                    if !accounts.insert(account.as_str()) {
                        return Err(invalid("the account is given to another agent too"));
                    }
                }
                _ => return Err(invalid("give either uri, or account and password")),
            }
        }
        Ok(config)
    }
}

impl TelephonyConfig {
    /// The SIP address to bind.
    pub fn sip_address(&self) -> SocketAddr {
        self.sip_bind.unwrap_or(DEFAULT_SIP_BIND)
    }

    /// The driver's options: agents' phones, recordings and messages (read
    /// from their files now, so that a wrong path stops the start).
    pub fn driver_options(&self) -> Result<DriverOptions, ConfigError> {
        let media_ip = self.media_ip.unwrap_or_else(|| self.sip_address().ip());
        let mut options = DriverOptions::new(media_ip);
        for p in &self.agent_phones {
            let agent = AgentId(p.agent);
            if let Some(uri) = &p.uri {
                options.agent_phones.insert(agent, uri.clone());
            }
            if let (Some(account), Some(password)) = (&p.account, &p.password) {
                options.agent_accounts.insert(agent, account.clone());
                options.accounts.insert(account.clone(), password.clone());
            }
        }
        options.agent_legs = self.agent_legs;
        if let Some(dir) = &self.recordings {
            std::fs::create_dir_all(dir).map_err(|e| ConfigError::File {
                path: dir.clone(),
                reason: format!("cannot create the recordings directory: {e}"),
            })?;
            options.recordings = Some(dir.clone());
        }
        let load = |key: &str, path: &Option<PathBuf>| {
            let Some(path) = path else { return Ok(None) };
            Prompt::load(path).map(|p| Some(Arc::new(p))).map_err(|e| ConfigError::File {
                path: path.clone(),
                reason: format!("{key}: {e}"),
            })
        };
        options.drop_message = load("drop_message", &self.drop_message)?;
        options.machine_message = load("machine_message", &self.machine_message)?;
        options.callback_message = load("callback_message", &self.callback_message)?;
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunks_parse_with_defaults() {
        let text = r#"
            [[trunk]]
            name = "carrier"
            address = "127.0.0.1:5060"
            username = "ringa"
            password = "secret"
            line_limit = 30
            cps = 5.0

            [[trunk]]
            name = "backup"
            address = "127.0.0.1:5070"
            transport = "tcp"
            line_limit = 2
            cps = 0.5

            [[agent_phone]]
            agent = 3
            uri = "sip:agent3@127.0.0.1:5073"

            [[agent_phone]]
            agent = 4
            account = "agent4"
            password = "phone-secret"
        "#;
        let c = TelephonyConfig::from_toml(text).expect("the document above is valid");
        assert_eq!(c.trunks.len(), 2);
        assert_eq!(c.trunks[0].transport, Transport::Udp);
        assert_eq!(c.trunks[1].transport, Transport::Tcp);
        assert_eq!(c.trunks[0].line_limit, 30);
        assert_eq!(c.agent_phones[0].agent, 3);
        let shown = format!("{:?}", c.trunks[0]);
        assert!(!shown.contains("secret"), "{shown}");
        let shown = format!("{:?}", c.agent_phones[1]);
        assert!(!shown.contains("phone-secret"), "{shown}");
        let options = c.driver_options().expect("usable");
        assert_eq!(
            options.agent_phones.get(&AgentId(3)).map(String::as_str),
            c.agent_phones[0].uri.as_deref()
        );
        assert_eq!(options.agent_accounts.get(&AgentId(4)).map(String::as_str), Some("agent4"));
        assert_eq!(options.accounts.get("agent4").map(String::as_str), Some("phone-secret"));
    }

    #[test]
    fn bad_values_are_refused() {
        let base = "[[trunk]]\nname = \"t\"\naddress = \"127.0.0.1:5060\"\n";
        let zero = format!("{base}line_limit = 0\ncps = 1.0\n");
        assert!(matches!(TelephonyConfig::from_toml(&zero), Err(ConfigError::Invalid { .. })));
        let cps = format!("{base}line_limit = 1\ncps = -1.0\n");
        assert!(matches!(TelephonyConfig::from_toml(&cps), Err(ConfigError::Invalid { .. })));
        let half = format!("{base}line_limit = 1\ncps = 1.0\nusername = \"u\"\n");
        assert!(matches!(TelephonyConfig::from_toml(&half), Err(ConfigError::Invalid { .. })));
        let typo = format!("{base}line_limt = 1\ncps = 1.0\n");
        assert!(matches!(TelephonyConfig::from_toml(&typo), Err(ConfigError::Toml(_))));
        let top = format!("recording = \"/tmp/r\"\n{base}line_limit = 1\ncps = 1.0\n");
        assert!(matches!(TelephonyConfig::from_toml(&top), Err(ConfigError::Toml(_))));
        let theirs = format!(
            "media = \"127.0.0.1:4000\"\n{base}line_limit = 1\ncps = 1.0\n[campaign]\nagents = 1\n"
        );
        assert!(TelephonyConfig::from_toml(&theirs).is_ok(), "ringa telephony's own keys");
        let ok = format!("{base}line_limit = 1\ncps = 1.0\n");
        for phone in [
            "agent = 1",
            "agent = 1\nuri = \"sip:a@127.0.0.1:5071\"\naccount = \"a\"\npassword = \"p\"",
            "agent = 1\naccount = \"a\"",
            "agent = 1\naccount = \"\"\npassword = \"p\"",
            "agent = 1\nuri = \"sip:a@example.org\"",
        ] {
            let text = format!("{ok}[[agent_phone]]\n{phone}\n");
            let refused = TelephonyConfig::from_toml(&text);
            assert!(matches!(refused, Err(ConfigError::Invalid { .. })), "{phone}");
        }
        let twice = format!(
            "{ok}[[agent_phone]]\nagent = 1\naccount = \"a\"\npassword = \"p\"\n\
             [[agent_phone]]\nagent = 2\naccount = \"a\"\npassword = \"q\"\n"
        );
        assert!(matches!(TelephonyConfig::from_toml(&twice), Err(ConfigError::Invalid { .. })));
    }
}

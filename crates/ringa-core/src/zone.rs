//! Time zones of contacts, always as IANA names (`Europe/Stockholm`), never
//! as fixed offsets, so that calling hours stay right across daylight saving.
//!
//! A contact's zone comes from what the list said, else from its number's
//! country when that country has a single zone. When neither tells, the
//! campaign decides ([`UnknownZone`]); the server's own zone is never used.

use std::fmt;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::phone::{PhoneNumber, Region};

/// A validated IANA time-zone name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZoneName(Box<str>);

/// A zone name that the time-zone database does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownZoneName(pub String);

impl fmt::Display for UnknownZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown time zone {:?}: use an IANA name such as Europe/Stockholm", self.0)
    }
}

impl std::error::Error for UnknownZoneName {}

impl ZoneName {
    /// Checks the name against the bundled time-zone database. Fixed offsets
    /// such as `+01:00` or `UTC+1` are refused: they break at daylight saving.
    pub fn parse(name: &str) -> Result<ZoneName, UnknownZoneName> {
        let name = name.trim();
        let looks_fixed = name.starts_with('+')
            || name.starts_with('-')
            || name.starts_with("UTC+")
            || name.starts_with("UTC-")
            || name.starts_with("GMT+")
            || name.starts_with("GMT-");
        if looks_fixed || jiff::tz::db().get(name).is_err() {
            return Err(UnknownZoneName(name.to_string()));
        }
        Ok(ZoneName(name.into()))
    }

    /// The IANA name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's rules.
    pub fn tz(&self) -> TimeZone {
        jiff::tz::db().get(&self.0).expect("a ZoneName is checked against the database on parse")
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ZoneName {
    type Error = UnknownZoneName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ZoneName::parse(&value)
    }
}

impl From<ZoneName> for String {
    fn from(value: ZoneName) -> Self {
        value.0.into_string()
    }
}

/// What a campaign does with a contact whose zone cannot be told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy", content = "zone")]
pub enum UnknownZone {
    /// Use the campaign's default zone.
    Default(ZoneName),
    /// Dial only when the calling window is open in every one of these zones
    /// (the intersection of the zones the campaign reaches).
    AllOf(Vec<ZoneName>),
}

/// The zone or zones whose calling windows a dial must respect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactZone {
    One(ZoneName),
    AllOf(Vec<ZoneName>),
}

/// Resolves a contact's zone: the list's own hint first, then the number's
/// country when it has one zone, then the campaign's policy.
pub fn resolve_zone(
    hint: Option<&ZoneName>,
    number: &PhoneNumber,
    unknown: &UnknownZone,
) -> ContactZone {
    if let Some(zone) = hint {
        return ContactZone::One(zone.clone());
    }
    if let Some(zone) = number.region().and_then(single_zone_of) {
        return ContactZone::One(zone);
    }
    match unknown {
        UnknownZone::Default(zone) => ContactZone::One(zone.clone()),
        UnknownZone::AllOf(zones) => ContactZone::AllOf(zones.clone()),
    }
}

/// The zone of a country that has exactly one. Countries spanning several
/// zones (the United States, Canada, Russia, Brazil, Australia, Mexico,
/// Spain with the Canaries, Portugal with the Azores, ...) return `None`.
pub fn single_zone_of(region: Region) -> Option<ZoneName> {
    let name = match region.as_str() {
        "SE" => "Europe/Stockholm",
        "NO" => "Europe/Oslo",
        "DK" => "Europe/Copenhagen",
        "FI" => "Europe/Helsinki",
        "IS" => "Atlantic/Reykjavik",
        "EE" => "Europe/Tallinn",
        "LV" => "Europe/Riga",
        "LT" => "Europe/Vilnius",
        "DE" => "Europe/Berlin",
        "AT" => "Europe/Vienna",
        "CH" => "Europe/Zurich",
        "NL" => "Europe/Amsterdam",
        "BE" => "Europe/Brussels",
        "LU" => "Europe/Luxembourg",
        "FR" => "Europe/Paris",
        "IT" => "Europe/Rome",
        "GB" => "Europe/London",
        "IE" => "Europe/Dublin",
        "PL" => "Europe/Warsaw",
        "CZ" => "Europe/Prague",
        "SK" => "Europe/Bratislava",
        "HU" => "Europe/Budapest",
        "SI" => "Europe/Ljubljana",
        "HR" => "Europe/Zagreb",
        "GR" => "Europe/Athens",
        "RO" => "Europe/Bucharest",
        "BG" => "Europe/Sofia",
        "TR" => "Europe/Istanbul",
        "IL" => "Asia/Jerusalem",
        "IN" => "Asia/Kolkata",
        "JP" => "Asia/Tokyo",
        "ZA" => "Africa/Johannesburg",
        "NZ" => "Pacific/Auckland",
        _ => return None,
    };
    Some(ZoneName::parse(name).expect("the single-zone table holds database names"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_offsets_are_refused() {
        assert!(ZoneName::parse("+01:00").is_err());
        assert!(ZoneName::parse("UTC+1").is_err());
        assert!(ZoneName::parse("Mars/Olympus").is_err());
        assert_eq!(ZoneName::parse("Europe/Helsinki").unwrap().as_str(), "Europe/Helsinki");
    }

    #[test]
    fn zone_from_number_then_campaign_policy() {
        let se = PhoneNumber::from_e164("+46701740605").unwrap();
        let us = PhoneNumber::from_e164("+12025550143").unwrap();
        let fallback = UnknownZone::Default(ZoneName::parse("America/Chicago").unwrap());
        assert_eq!(
            resolve_zone(None, &se, &fallback),
            ContactZone::One(ZoneName::parse("Europe/Stockholm").unwrap())
        );
        assert_eq!(
            resolve_zone(None, &us, &fallback),
            ContactZone::One(ZoneName::parse("America/Chicago").unwrap())
        );
        let hint = ZoneName::parse("Europe/Helsinki").unwrap();
        assert_eq!(resolve_zone(Some(&hint), &se, &fallback), ContactZone::One(hint));
    }
}

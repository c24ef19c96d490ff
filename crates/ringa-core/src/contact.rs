//! Contacts (customer cards) and the dialing history the eligibility check
//! reads.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::ids::{ContactId, ListId};
use crate::outcome::CallResult;
use crate::phone::PhoneNumber;
use crate::zone::ZoneName;

/// One number of a contact, with the text it was imported from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactNumber {
    pub number: PhoneNumber,
    /// `main`, `mobile`, `work`, ...: shown on the card's dial buttons.
    pub label: String,
    /// The text as it stood in the imported file.
    #[serde(default)]
    pub raw: String,
}

/// One person or company to call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub list: ListId,
    pub numbers: Vec<ContactNumber>,
    #[serde(default)]
    pub name: Option<String>,
    /// The campaign's card fields: address, customer number, anything.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The contact's own zone when the list said it.
    #[serde(default)]
    pub zone: Option<ZoneName>,
    /// An inactive contact (marked so, or erased on request) is never dialed.
    #[serde(default = "yes")]
    pub active: bool,
    /// Arrived through lead intake: dialed first, within seconds.
    #[serde(default)]
    pub lead: bool,
    /// Higher is dialed earlier within its list.
    #[serde(default)]
    pub priority: i32,
}

fn yes() -> bool {
    true
}

impl Contact {
    /// A contact with these numbers and nothing else: no name, fields or
    /// zone, active, not a lead. The first number is labelled `main`, the
    /// others `other`; each number's text is its E.164 form.
    pub fn with_numbers(
        id: ContactId,
        list: ListId,
        numbers: impl IntoIterator<Item = PhoneNumber>,
    ) -> Contact {
        let numbers = numbers
            .into_iter()
            .enumerate()
            .map(|(i, number)| ContactNumber {
                raw: number.as_str().to_string(),
                number,
                label: if i == 0 { "main" } else { "other" }.to_string(),
            })
            .collect();
        Contact {
            id,
            list,
            numbers,
            name: None,
            fields: BTreeMap::new(),
            zone: None,
            active: true,
            lead: false,
            priority: 0,
        }
    }

    /// The number at `index`, if the contact has that many.
    pub fn number(&self, index: usize) -> Option<&PhoneNumber> {
        self.numbers.get(index).map(|n| &n.number)
    }
}

/// Why a contact will not be dialed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closure {
    /// An agent set a final outcome.
    FinalOutcome,
    /// The attempt budget is spent.
    MaxAttempts,
    /// The customer asked not to be called.
    DoNotCall,
    /// Every number is invalid.
    InvalidNumbers,
}

/// Calls to one number on one contact-local day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberDay {
    pub number: PhoneNumber,
    pub date: Date,
    pub dials: u32,
}

/// What the eligibility check needs to know of a contact's past. Every field
/// may be left out when read: `{}` is a contact never dialed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DialHistory {
    /// Attempts counted against the budget.
    pub attempts: u32,
    /// Dials of agreed callbacks, counted against their own budget.
    pub callback_attempts: u32,
    pub last_attempt: Option<Timestamp>,
    pub last_result: Option<CallResult>,
    /// No new regular attempt before this time.
    pub retry_at: Option<Timestamp>,
    pub last_drop: Option<Timestamp>,
    pub last_machine: Option<Timestamp>,
    pub closed: Option<Closure>,
    /// Recent per-number daily counts (only the latest day of each number
    /// matters).
    pub days: Vec<NumberDay>,
}

impl DialHistory {
    /// Dials of `number` on the local date `date`.
    pub fn dials_on(&self, number: &PhoneNumber, date: Date) -> u32 {
        self.days.iter().find(|d| &d.number == number && d.date == date).map_or(0, |d| d.dials)
    }

    /// Counts a dial of `number` on the local date `date`.
    pub fn count_dial(&mut self, number: &PhoneNumber, date: Date) {
        match self.days.iter_mut().find(|d| &d.number == number) {
            Some(day) if day.date == date => day.dials += 1,
            Some(day) => {
                day.date = date;
                day.dials = 1;
            }
            None => self.days.push(NumberDay { number: number.clone(), date, dials: 1 }),
        }
    }
}

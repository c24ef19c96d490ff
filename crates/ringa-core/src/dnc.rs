//! Do-not-call lookup: which list, if any, blocks a number.
//!
//! The engine asks immediately before every dial, through [`DncLookup`], so
//! that a number added a second ago is never dialed. [`DncIndex`] is the
//! in-memory index: exact numbers and prefixes (national registers list
//! whole number ranges).

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::DncListId;
use crate::phone::PhoneNumber;

/// The global list, attached to every campaign.
pub const GLOBAL_DNC: DncListId = DncListId(1);

/// Where a number was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncHit {
    pub list: DncListId,
    pub added_at: Option<Timestamp>,
    /// The entry was a prefix, not the whole number.
    pub prefix: bool,
}

/// Anything that can tell whether a number is blocked for a set of lists.
pub trait DncLookup {
    /// The first list among `lists` (and the global list) that blocks
    /// `number`.
    fn lookup(&self, number: &PhoneNumber, lists: &[DncListId]) -> Option<DncHit>;
}

/// Exact numbers and prefixes per list, in memory.
#[derive(Clone, Debug, Default)]
pub struct DncIndex {
    numbers: HashMap<Box<str>, Vec<(DncListId, Option<Timestamp>)>>,
    prefixes: HashMap<Box<str>, Vec<(DncListId, Option<Timestamp>)>>,
    longest_prefix: usize,
}

impl DncIndex {
    pub fn new() -> DncIndex {
        DncIndex::default()
    }

    /// Blocks one number on `list`.
    pub fn add(&mut self, list: DncListId, number: &PhoneNumber, added_at: Option<Timestamp>) {
        let entry = self.numbers.entry(number.digits().into()).or_default();
        if !entry.iter().any(|(l, _)| *l == list) {
            entry.push((list, added_at));
        }
    }

    /// Blocks every number starting with `digits` (country code first, no
    /// `+`) on `list`.
    pub fn add_prefix(&mut self, list: DncListId, digits: &str, added_at: Option<Timestamp>) {
        self.longest_prefix = self.longest_prefix.max(digits.len());
        let entry = self.prefixes.entry(digits.into()).or_default();
        if !entry.iter().any(|(l, _)| *l == list) {
            entry.push((list, added_at));
        }
    }

    /// Unblocks a number on a list.
    pub fn remove(&mut self, list: DncListId, number: &PhoneNumber) {
        if let Some(entry) = self.numbers.get_mut(number.digits()) {
            entry.retain(|(l, _)| *l != list);
        }
    }

    /// How many exact entries the index holds.
    pub fn len(&self) -> usize {
        self.numbers.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty() && self.prefixes.is_empty()
    }
}

impl DncLookup for DncIndex {
    fn lookup(&self, number: &PhoneNumber, lists: &[DncListId]) -> Option<DncHit> {
        let applies = |list: DncListId| list == GLOBAL_DNC || lists.contains(&list);
        if let Some(entries) = self.numbers.get(number.digits())
            && let Some((list, added_at)) = entries.iter().find(|(l, _)| applies(*l))
        {
            return Some(DncHit { list: *list, added_at: *added_at, prefix: false });
        }
        let digits = number.digits();
        for len in 1..=digits.len().min(self.longest_prefix) {
            if let Some(entries) = self.prefixes.get(&digits[..len])
                && let Some((list, added_at)) = entries.iter().find(|(l, _)| applies(*l))
            {
                return Some(DncHit { list: *list, added_at: *added_at, prefix: true });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_apply_only_to_their_campaigns_and_global_to_all() {
        let c1_only = DncListId(10);
        let number = PhoneNumber::from_e164("+46701740605").unwrap();
        let mut index = DncIndex::new();
        index.add(c1_only, &number, None);
        assert_eq!(index.lookup(&number, &[c1_only]).map(|h| h.list), Some(c1_only));
        assert_eq!(index.lookup(&number, &[]), None);
        index.add(GLOBAL_DNC, &number, None);
        assert_eq!(index.lookup(&number, &[]).map(|h| h.list), Some(GLOBAL_DNC));
    }

    #[test]
    fn prefixes_block_ranges() {
        let register = DncListId(20);
        let mut index = DncIndex::new();
        index.add_prefix(register, "4670174", None);
        let inside = PhoneNumber::from_e164("+46701740605").unwrap();
        let outside = PhoneNumber::from_e164("+46701750605").unwrap();
        assert!(index.lookup(&inside, &[register]).is_some_and(|h| h.prefix));
        assert_eq!(index.lookup(&outside, &[register]), None);
    }
}

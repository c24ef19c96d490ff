//! Customers who call a campaign's caller ID back: given to a free agent of the campaign
//! with their card, or answered with the callback message when no agent is free.
//!
//! An inbound call is not a dial. It never counts as placed, answered, connected or
//! dropped in the campaign's counters or its drop ledger (those measure the dialer's own
//! calls), but the agent it takes is in a call like any other, so the pacer sees that agent
//! busy. A caller whose number matches a contact of the campaign gets that contact's card
//! and an attempt of kind [`AttemptKind::Inbound`] journaled once the agent has it; an
//! unknown caller reaches the agent with no card and no attempt.

use jiff::SignedDuration;
use ringa_core::{AttemptId, CallId, CampaignId, ContactId, PhoneNumber, Pii};
use tracing::{debug, info};

use super::{Call, CallState, Engine, Slot};
use crate::io::{AttemptKind, AttemptRecord, Command, ContactEntry};

/// What the engine keeps about an inbound call from its arrival to the agent's outcome.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inbound {
    /// The campaign's contact whose number called, if one matched.
    pub(super) contact: Option<ContactId>,
    /// The engine held that contact idle and marked it busy for the call: the outcome
    /// updates its history and frees it.
    pub(super) took_slot: bool,
    /// The network gave the caller's number (the attempt's number is that number).
    pub(super) caller_known: bool,
}

impl Engine {
    pub(super) fn on_inbound(
        &mut self,
        call: CallId,
        campaign: CampaignId,
        caller: Option<PhoneNumber>,
        given: Option<Box<ContactEntry>>,
    ) {
        let now = self.now;
        if self.calls.contains_key(&call) || self.inbound.contains_key(&call) {
            debug!(%call, "an inbound call the engine already has");
            return;
        }
        // An agent held for a call being dialed is `Reserved`, not ready: never taken here.
        let agent = self.campaigns.contains_key(&campaign).then(|| self.pick_free_agent(campaign));
        let Some(agent) = agent.flatten() else {
            if let Some(rt) = self.campaigns.get_mut(&campaign) {
                rt.stats.inbound_messages += 1;
            }
            info!(%call, %campaign, from = %Pii(caller_text(&caller)), "call back: no free agent");
            self.emit(Command::InboundMessage { call, campaign });
            return;
        };

        let (contact, took_slot) =
            self.inbound_contact(campaign, caller.as_ref(), given.map(|e| *e));
        let Some(number) = caller.clone().or_else(|| self.record_number(campaign, contact)) else {
            // Unreachable in practice: the campaign was called on one of its caller IDs.
            self.emit(Command::InboundMessage { call, campaign });
            return;
        };
        let attempt = match contact {
            Some(_) => {
                let id = AttemptId(self.next_attempt);
                self.next_attempt = self.next_attempt.saturating_add(1);
                id
            }
            None => AttemptId(0),
        };
        let record = AttemptRecord {
            attempt,
            call,
            campaign,
            // Never journaled without a contact: see `Inbound`.
            contact: contact.unwrap_or(ContactId(0)),
            number,
            caller_id: None,
            attempt_no: 0,
            kind: AttemptKind::Inbound,
            placed_at: now,
            answered_at: Some(now),
            connected_at: None,
            ended_at: None,
            agent: Some(agent),
            result: None,
            sip_code: None,
            outcome: None,
            note: None,
            amd: false,
            amd_report: None,
        };
        info!(%call, %campaign, %agent, known = contact.is_some(), "call back to an agent");
        self.inbound.insert(call, Inbound { contact, took_slot, caller_known: caller.is_some() });
        let entry = Call {
            record,
            state: CallState::Dialing,
            reserved: None,
            callback: None,
            p_human: 1.0,
            ring_timeout: SignedDuration::ZERO,
            learned_ring: false,
            picked_up_at: Some(now),
            cancelled: false,
        };
        self.calls.insert(call, entry);
        self.connect(call, agent);
        if let (Some(c), Some(_)) = (self.calls.get(&call), contact) {
            let record = Box::new(c.record.clone());
            self.emit(Command::AttemptStarted { record });
        }
    }

    /// The contact an inbound call is about: the one the driver found (taken into the
    /// working set if the engine does not hold it), else the held contact of the campaign
    /// with the caller's number, lowest id first; and whether its slot was taken for the
    /// call (false when a call to it is in flight or a card shows it).
    fn inbound_contact(
        &mut self,
        campaign: CampaignId,
        caller: Option<&PhoneNumber>,
        given: Option<ContactEntry>,
    ) -> (Option<ContactId>, bool) {
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return (None, false) };
        let found = match given {
            Some(entry) => {
                let id = entry.contact.id;
                // Held from now on as if fetched (unless held already): the outcome moves
                // it on (a retry, a callback, closed) and releases it like any other contact.
                rt.contacts.entry(id).or_insert(Slot { entry, busy: false });
                Some(id)
            }
            None => caller.and_then(|caller| {
                let mut matching: Vec<ContactId> = rt
                    .contacts
                    .iter()
                    .filter(|(_, s)| s.entry.contact.numbers.iter().any(|n| &n.number == caller))
                    .map(|(id, _)| *id)
                    .collect();
                matching.sort();
                matching.first().copied()
            }),
        };
        let Some(contact) = found else { return (None, false) };
        match rt.contacts.get_mut(&contact) {
            Some(slot) if !slot.busy => {
                // Not dialed while the customer talks to the agent.
                slot.busy = true;
                (Some(contact), true)
            }
            _ => (Some(contact), false),
        }
    }

    /// Whether the engine still keeps `call` as an inbound call (until its outcome).
    pub(super) fn inbound_of(&self, call: CallId) -> Option<Inbound> {
        self.inbound.get(&call).copied()
    }

    /// The contact of a call: its attempt's, or an inbound call's if one matched.
    pub(super) fn contact_of(&self, call: CallId, record: &AttemptRecord) -> Option<ContactId> {
        match self.inbound_of(call) {
            Some(inbound) => inbound.contact,
            None => Some(record.contact),
        }
    }

    /// The number an inbound attempt carries for a caller who withheld theirs: the
    /// contact's first number, else the campaign's first caller ID.
    fn record_number(
        &self,
        campaign: CampaignId,
        contact: Option<ContactId>,
    ) -> Option<PhoneNumber> {
        let rt = self.campaigns.get(&campaign)?;
        let of_contact = contact
            .and_then(|id| rt.contacts.get(&id))
            .and_then(|slot| slot.entry.contact.numbers.first())
            .map(|n| n.number.clone());
        of_contact.or_else(|| rt.config.caller_ids.numbers.first().map(|c| c.number.clone()))
    }
}

fn caller_text(caller: &Option<PhoneNumber>) -> &str {
    caller.as_ref().map_or("anonymous", PhoneNumber::as_str)
}

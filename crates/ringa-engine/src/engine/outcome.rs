//! What happens after a call: agent outcomes, the contact's next attempt or
//! closure, callbacks and do-not-call requests.

use jiff::{SignedDuration, Timestamp};
use ringa_core::contact::Closure;
use ringa_core::outcome::OutcomeDef;
use ringa_core::{AgentId, CallResult, CallbackId, CampaignId, ContactId, OutcomeCode};

use super::Engine;
use super::inbound::Inbound;
use crate::agent::AgentState;
use crate::callback::{Callback, CallbackKind, CallbackRequest, CallbackState};
use crate::io::{AttemptKind, AttemptRecord, Command};

impl Engine {
    pub(super) fn on_outcome(
        &mut self,
        agent: AgentId,
        code: OutcomeCode,
        callback: Option<CallbackRequest>,
        note: Option<String>,
    ) {
        let now = self.now;
        let Some(a) = self.agents.get(&agent) else { return };
        let call = match a.state {
            AgentState::WrapUp { call, .. } => call,
            AgentState::InCall { call, .. } => {
                // Setting the outcome during the call ends it.
                self.emit(Command::Hangup { call });
                self.end_connected(call, false);
                call
            }
            _ => {
                self.reject(agent, "no call waiting for an outcome");
                return;
            }
        };
        // Wrap-up ran from the end of the call until now.
        let wrap = self.agents.get(&agent).map(|a| now.duration_since(a.since));
        let Some(record) = self.pending_outcomes.get(&call).cloned() else {
            self.reject(agent, "no call waiting for an outcome");
            return;
        };
        let Some(rt) = self.campaigns.get(&record.campaign) else { return };
        let Some(def) = rt.config.outcome(code.as_str()).cloned() else {
            let reason = format!("outcome {code} is not one of this campaign's outcomes");
            self.reject(agent, &reason);
            return;
        };
        let seen = record.result.unwrap_or(CallResult::Connected);
        if let Err(mismatch) = def.check_against(seen) {
            self.reject(agent, &mismatch.to_string());
            return;
        }
        if def.callback && callback.is_none() {
            self.reject(agent, "this outcome needs a callback time");
            return;
        }
        let inbound = self.inbound_of(call);
        if def.callback && inbound.is_some_and(|i| i.contact.is_none()) {
            self.reject(agent, "an unknown caller has no contact to call back");
            return;
        }
        let personal_enabled = rt.config.callbacks.personal_enabled;

        let mut record = self.pending_outcomes.remove(&call).expect("looked up above");
        record.outcome = Some(code.clone());
        record.note = note;
        if let Some(rt) = self.campaigns.get_mut(&record.campaign) {
            *rt.stats.outcomes.entry(code.as_str().to_string()).or_default() += 1;
            if let Some(wrap) = wrap {
                rt.pacer.observe(now, &ringa_pacer::PacerEvent::WrapEnded { agent, wrap });
            }
        }
        self.inbound.remove(&call);
        let journaled = inbound.is_none_or(|i| i.contact.is_some());
        if journaled {
            self.emit(Command::AttemptEnded { record: Box::new(record.clone()) });
        }

        if let Some(request) = callback.filter(|_| def.callback) {
            let owner = (request.personal && personal_enabled).then_some(agent);
            self.schedule_callback(record.campaign, record.contact, &request, owner);
        }
        match inbound {
            // The engine's own slot: history, closure and the next dial as after any call.
            None | Some(Inbound { took_slot: true, .. }) => self.attempt_done(&record, Some(&def)),
            Some(Inbound { caller_known: true, .. }) if def.dnc => {
                // A contact the engine does not hold (or an unknown caller): the number
                // that called goes on the list all the same.
                let list = self.campaigns.get(&record.campaign).map(|rt| rt.config.dnc_target);
                if let Some(list) = list {
                    self.dnc.add(list, &record.number, Some(now));
                    self.emit(Command::DncAdd { number: record.number.clone(), list });
                }
            }
            Some(_) => {}
        }

        // The agent is ready for the next call, or goes on the break that
        // was due meanwhile.
        let Some(a) = self.agents.get_mut(&agent) else { return };
        if let Some(reason) = a.take_pause(now) {
            a.enter(now, AgentState::Paused { reason });
            a.ready_since = None;
            self.emit(Command::ClearCard { agent });
            self.emit_state(agent);
        } else {
            self.emit(Command::ClearCard { agent });
            self.set_ready(agent);
        }
    }

    /// Updates the contact after an attempt ended (and, for connected calls,
    /// got its outcome): counts, next attempt, closure, release.
    pub(super) fn attempt_done(&mut self, record: &AttemptRecord, def: Option<&OutcomeDef>) {
        let now = self.now;
        let result = record.result.unwrap_or(CallResult::Interrupted);
        if result == CallResult::Connected && def.is_none() {
            // The agent's outcome decides what comes next.
            return;
        }
        self.learn_voicemail(record, def);
        let (campaign, contact) = (record.campaign, record.contact);
        let has_callback = self.callbacks.values().any(|cb| cb.contact == contact && cb.is_open());
        let release_after = self.config.release_after;
        let spread_max = self.config.retry_spread;
        let spread = Engine::spread(&mut self.rng, spread_max);
        let dnc_target;
        let mut closed_now = None;
        {
            let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
            dnc_target = rt.config.dnc_target;
            let rules = rt.config.rules.clone();
            let Some(slot) = rt.contacts.get_mut(&contact) else { return };
            let history = &mut slot.entry.history;
            history.last_result = Some(result);
            if !rules.counts_as_attempt(result) {
                match record.kind {
                    AttemptKind::Callback => {
                        history.callback_attempts = history.callback_attempts.saturating_sub(1)
                    }
                    _ => history.attempts = history.attempts.saturating_sub(1),
                }
            }
            match result {
                CallResult::Dropped => history.last_drop = Some(now),
                CallResult::Machine => history.last_machine = Some(now),
                _ => {}
            }
            let delay =
                def.and_then(|d| d.retry_after).unwrap_or_else(|| rules.retry.after(result));
            history.retry_at = Some(now + delay + spread);
            let single_invalid =
                result == CallResult::Invalid && slot.entry.contact.numbers.len() <= 1;
            if def.is_some_and(|d| d.dnc) {
                closed_now = Some(Closure::DoNotCall);
            } else if def.is_some_and(|d| d.is_final) {
                closed_now = Some(Closure::FinalOutcome);
            } else if single_invalid {
                closed_now = Some(Closure::InvalidNumbers);
            } else if history.attempts >= rules.max_attempts && !has_callback {
                closed_now = Some(Closure::MaxAttempts);
            }
            if let Some(reason) = closed_now {
                history.closed = Some(reason);
            }
        }

        if closed_now == Some(Closure::DoNotCall) {
            let numbers: Vec<_> = self
                .campaigns
                .get(&campaign)
                .and_then(|rt| rt.contacts.get(&contact))
                .map(|slot| slot.entry.contact.numbers.iter().map(|n| n.number.clone()).collect())
                .unwrap_or_default();
            for number in numbers {
                self.dnc.add(dnc_target, &number, Some(now));
                self.emit(Command::DncAdd { number, list: dnc_target });
            }
            self.cancel_callbacks_of(contact, "the customer asked not to be called");
        }

        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        let Some(slot) = rt.contacts.get_mut(&contact) else { return };
        slot.busy = false;
        let history = Box::new(slot.entry.history.clone());
        let retry_at = history.retry_at.unwrap_or(now);
        self.commands.push_back(Command::History { contact, history });
        if let Some(reason) = closed_now {
            rt.contacts.remove(&contact);
            self.commands.push_back(Command::ContactClosed { contact, reason });
            self.commands.push_back(Command::ContactReleased { campaign, contact, due: None });
            return;
        }
        if self.callbacks.values().any(|cb| cb.contact == contact && cb.is_open()) {
            // The callback governs the contact's next dial.
            return;
        }
        if retry_at.duration_since(now) > release_after {
            rt.contacts.remove(&contact);
            rt.released.insert((retry_at, contact));
            self.commands.push_back(Command::ContactReleased {
                campaign,
                contact,
                due: Some(retry_at),
            });
        } else {
            rt.parked.insert((retry_at, contact));
        }
    }

    /// Books (or moves) the contact's callback: a contact has at most one
    /// pending callback per campaign.
    pub(super) fn schedule_callback(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
        request: &CallbackRequest,
        owner: Option<AgentId>,
    ) {
        let now = self.now;
        let tz = request.zone.tz();
        let base = tz
            .to_ambiguous_timestamp(request.local)
            .compatible()
            .unwrap_or(now + SignedDuration::from_hours(1));
        let due = match request.around {
            Some(window) if !window.is_zero() => {
                let offset = window.as_secs_f64() * (2.0 * self.rng.unit() - 1.0);
                (base + SignedDuration::from_secs_f64(offset)).max(now)
            }
            _ => base,
        };
        let existing = self
            .callbacks
            .values()
            .find(|cb| cb.contact == contact && cb.campaign == campaign && cb.is_open())
            .map(|cb| cb.id);
        let id = existing.unwrap_or_else(|| {
            let id = CallbackId(self.next_callback);
            self.next_callback = self.next_callback.saturating_add(1);
            id
        });
        let callback = Callback {
            id,
            campaign,
            contact,
            kind: CallbackKind::Agreed,
            due,
            local: request.local,
            zone: request.zone.clone(),
            owner,
            state: CallbackState::Pending,
            tries: 0,
            created_at: now,
        };
        self.callbacks.insert(id, callback.clone());
        self.emit(Command::CallbackScheduled { callback: Box::new(callback) });
    }

    /// The one-to-one redial of a dropped call, as a global callback.
    pub(super) fn schedule_drop_redial(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
        due: Timestamp,
    ) {
        let Some(rt) = self.campaigns.get(&campaign) else { return };
        let zone = rt.zone();
        let local = zone.tz().to_datetime(due);
        let id = CallbackId(self.next_callback);
        self.next_callback += 1;
        let callback = Callback {
            id,
            campaign,
            contact,
            kind: CallbackKind::DropRedial,
            due,
            local,
            zone,
            owner: None,
            state: CallbackState::Pending,
            tries: 0,
            created_at: self.now,
        };
        self.callbacks.insert(id, callback.clone());
        self.emit(Command::CallbackScheduled { callback: Box::new(callback) });
    }

    /// A number went on a do-not-call list: pending callbacks of contacts
    /// with that number that the list applies to are cancelled at once.
    pub(super) fn on_dnc(&mut self, number: ringa_core::PhoneNumber, list: ringa_core::DncListId) {
        let now = self.now;
        self.dnc.add(list, &number, Some(now));
        let mut affected = Vec::new();
        for rt in self.campaigns.values() {
            let applies =
                list == ringa_core::dnc::GLOBAL_DNC || rt.config.rules.dnc_lists.contains(&list);
            if !applies {
                continue;
            }
            for (id, slot) in &rt.contacts {
                if slot.entry.contact.numbers.iter().any(|n| n.number == number) {
                    affected.push(*id);
                }
            }
        }
        affected.sort();
        for contact in affected {
            let reason = format!("the number was added to do-not-call list {list}");
            self.cancel_callbacks_of(contact, &reason);
        }
    }

    /// Moves a pending callback to the time of `request`.
    pub(super) fn change_callback(&mut self, id: CallbackId, request: &CallbackRequest) {
        let Some(cb) = self.callbacks.get(&id) else { return };
        if cb.state != CallbackState::Pending {
            return;
        }
        let (campaign, contact, owner) = (cb.campaign, cb.contact, cb.owner);
        let owner = if request.personal { owner } else { None };
        self.schedule_callback(campaign, contact, request, owner);
    }

    pub(super) fn cancel_callbacks_of(&mut self, contact: ContactId, reason: &str) {
        let mut ids: Vec<CallbackId> = self
            .callbacks
            .values()
            .filter(|cb| cb.contact == contact && cb.state == CallbackState::Pending)
            .map(|cb| cb.id)
            .collect();
        ids.sort();
        for id in ids {
            self.cancel_callback(id, reason);
        }
    }

    pub(super) fn cancel_callback(&mut self, id: CallbackId, reason: &str) {
        if let Some(cb) = self.callbacks.get_mut(&id) {
            cb.state = CallbackState::Cancelled;
            self.emit(Command::CallbackCancelled { callback: id, reason: reason.to_string() });
        }
    }
}

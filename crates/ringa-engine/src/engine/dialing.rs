//! The dialing pass that runs after every input: expiring calls, waking
//! parked contacts, serving answered calls, callbacks, the four dial modes,
//! and asking the driver for more contacts.

use jiff::{SignedDuration, Timestamp};
use ringa_core::DialMode;
use ringa_core::campaign::Campaign;
use ringa_core::eligibility::{DialCheck, DialKind, Refusal, may_dial};
use ringa_core::{AgentId, CallId, CallResult, CallbackId, CampaignId, ContactId, Pii};
use ringa_pacer::{AgentActivity, AgentView, CallFeatures, CallView, DropBudget, FloorView};
use tracing::debug;

use super::{Call, CallState, Engine, SplitMix};
use crate::agent::AgentState;
use crate::callback::{CallbackKind, CallbackState};
use crate::io::{AttemptKind, AttemptRecord, Command, DropReason};

/// How many queue entries a single search for a dialable contact looks at
/// before it gives up for this pass.
const SEARCH_LIMIT: usize = 400;

/// How often an exhausted contact source is asked again.
pub(super) const REFETCH_AFTER: SignedDuration = SignedDuration::from_secs(60);

impl Engine {
    pub(super) fn run(&mut self) {
        self.expire_calls();
        self.unpark();
        self.serve_waiting();
        self.run_callbacks();
        for campaign in self.campaign_order.clone() {
            let Some(rt) = self.campaigns.get(&campaign) else { continue };
            if !rt.active {
                continue;
            }
            if let Some(reason) = self.campaign_blocked(campaign) {
                let rt = self.campaigns.get_mut(&campaign).expect("campaign looked up above");
                if rt.blocked.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(%campaign, %reason, "campaign cannot dial");
                    rt.blocked = Some(reason);
                }
                continue;
            }
            match rt.config.mode {
                DialMode::Preview | DialMode::Progressive | DialMode::Power => {
                    self.reserve_agents(campaign, rt.config.mode)
                }
                DialMode::Predictive => self.pace(campaign),
            }
        }
        self.request_contacts();
    }

    /// A reason the whole campaign cannot dial now.
    fn campaign_blocked(&self, campaign: CampaignId) -> Option<String> {
        let rt = self.campaigns.get(&campaign)?;
        cannot_dial(&rt.config).into_iter().next()
    }

    /// Ends calls whose time is up: answered calls nobody took, and calls
    /// the telephony never reported on.
    fn expire_calls(&mut self) {
        let now = self.now;
        let mut drops = Vec::new();
        let mut stale = Vec::new();
        for (id, call) in &self.calls {
            match call.state {
                CallState::Waiting { deadline } if deadline <= now => drops.push(*id),
                CallState::Dialing
                    if call.record.placed_at + call.ring_timeout + self.config.ring_grace
                        <= now =>
                {
                    stale.push(*id)
                }
                _ => {}
            }
        }
        drops.sort();
        stale.sort();
        for call in drops {
            self.finish_drop(call, true);
        }
        for call in stale {
            self.emit(Command::Cancel { call });
            self.finish_unanswered(call, CallResult::NoAnswer, None);
        }
    }

    fn unpark(&mut self) {
        let now = self.now;
        for campaign in self.campaign_order.clone() {
            let Some(rt) = self.campaigns.get_mut(&campaign) else { continue };
            while let Some(&(at, contact)) = rt.parked.first() {
                if at > now {
                    break;
                }
                rt.parked.pop_first();
                if rt.contacts.contains_key(&contact) {
                    rt.retries.push_back(contact);
                }
            }
        }
    }

    /// Answered calls waiting for an agent take the agents who are free,
    /// oldest answer first.
    pub(super) fn serve_waiting(&mut self) {
        let mut waiting: Vec<(Timestamp, CallId, CampaignId)> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.state, CallState::Waiting { .. }))
            .map(|(id, c)| {
                (c.record.answered_at.unwrap_or(c.record.placed_at), *id, c.record.campaign)
            })
            .collect();
        waiting.sort();
        for (_, call, campaign) in waiting {
            if let Some(agent) = self.pick_free_agent(campaign) {
                self.connect(call, agent);
            }
        }
    }

    fn run_callbacks(&mut self) {
        let now = self.now;
        let mut due: Vec<(Timestamp, CallbackId)> = self
            .callbacks
            .values()
            .filter(|cb| cb.state == CallbackState::Pending && cb.due <= now)
            .map(|cb| (cb.due, cb.id))
            .collect();
        due.sort();
        for (_, id) in due {
            self.try_callback(id);
        }
    }

    fn try_callback(&mut self, id: CallbackId) {
        let now = self.now;
        let Some(cb) = self.callbacks.get(&id).cloned() else { return };
        let Some(rt) = self.campaigns.get(&cb.campaign) else { return };
        if !rt.active {
            return;
        }
        let Some(slot) = rt.contacts.get(&cb.contact) else {
            debug!(callback = %id, "callback's contact is not loaded yet");
            return;
        };
        if slot.busy {
            return;
        }
        let personal_enabled = rt.config.callbacks.personal_enabled;
        let offer_delay = rt.config.callbacks.offer_to_others_after;
        let preview_mode = rt.config.mode == DialMode::Preview;

        let owner_only = match cb.owner {
            Some(_) if personal_enabled => now < cb.due + offer_delay,
            _ => false,
        };
        let agent = match cb.owner {
            Some(owner)
                if self.agents.get(&owner).is_some_and(|a| {
                    a.state == AgentState::Ready && a.campaigns.contains(&cb.campaign)
                }) =>
            {
                Some(owner)
            }
            _ if owner_only => None,
            _ => self.pick_free_agent(cb.campaign),
        };
        let Some(agent) = agent else { return };

        let kind = match cb.kind {
            CallbackKind::Agreed => DialKind::Callback,
            CallbackKind::DropRedial => DialKind::DropRedial,
        };
        if let Err(refusal) = self.check_any_number(cb.campaign, cb.contact, None, kind, true) {
            self.count_refusal(cb.campaign, cb.contact, &refusal);
            match refusal.retry_at() {
                Some(at) => {
                    if let Some(cb) = self.callbacks.get_mut(&id) {
                        cb.due = at.max(now + SignedDuration::from_secs(1));
                    }
                }
                None => {
                    let reason = format!("callback cannot be dialed: {refusal}");
                    self.cancel_callback(id, &reason);
                }
            }
            return;
        }

        let personal = cb.owner == Some(agent) && personal_enabled;
        if let Some(cb) = self.callbacks.get_mut(&id) {
            cb.state = CallbackState::Dialing;
        }
        if personal || preview_mode {
            // The agent sees the card and history and dials when ready.
            self.reserve_for_card(agent, cb.campaign, cb.contact, true);
            return;
        }
        let attempt_kind = match cb.kind {
            CallbackKind::Agreed => AttemptKind::Callback,
            CallbackKind::DropRedial => AttemptKind::DropRedial,
        };
        self.reserve_for_card(agent, cb.campaign, cb.contact, false);
        if self
            .try_originate(cb.campaign, cb.contact, None, attempt_kind, Some(agent), Some(id))
            .is_err()
        {
            // Checked just above; a refusal now means the state moved under
            // us, so give the agent back and try later.
            self.release_card(cb.campaign, cb.contact);
            self.emit(Command::ClearCard { agent });
            self.set_ready(agent);
        }
    }

    /// Holds `agent` for a contact's card.
    fn reserve_for_card(
        &mut self,
        agent: AgentId,
        campaign: CampaignId,
        contact: ContactId,
        preview: bool,
    ) {
        let now = self.now;
        if let Some(slot) =
            self.campaigns.get_mut(&campaign).and_then(|rt| rt.contacts.get_mut(&contact))
        {
            slot.busy = true;
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.enter(now, AgentState::Reserved { campaign, contact, call: None });
        }
        self.emit(Command::ShowCard { agent, campaign, contact, call: None, preview });
        self.emit_state(agent);
    }

    /// Ready agents of agent-paced campaigns each take the next contact.
    fn reserve_agents(&mut self, campaign: CampaignId, mode: DialMode) {
        let lines = match mode {
            DialMode::Power => {
                self.campaigns.get(&campaign).map_or(1, |rt| rt.config.power_lines.max(1))
            }
            _ => 1,
        };
        let mut agents: Vec<(AgentId, u32)> =
            self.ready_agents(campaign).into_iter().map(|a| (a, 0)).collect();
        if lines > 1 {
            // Power agents still waiting on fewer lines than configured get
            // their lines topped up.
            for (id, a) in &self.agents {
                let on_call_here = matches!(
                    a.state,
                    AgentState::Reserved { call: Some(_), campaign: c, .. } if c == campaign
                );
                if !on_call_here {
                    continue;
                }
                let ringing = self
                    .calls
                    .values()
                    .filter(|c| c.reserved == Some(*id) && c.state == CallState::Dialing)
                    .count() as u32;
                if ringing > 0 && ringing < lines {
                    agents.push((*id, ringing));
                }
            }
            agents.sort();
        }
        for (agent, already) in agents {
            let mut placed = already;
            while placed < lines {
                if self.free_trunk_lines() == 0 {
                    return;
                }
                let kind = match mode {
                    DialMode::Preview => DialKind::Regular,
                    _ => DialKind::Regular,
                };
                let Some((contact, number)) = self.next_candidate(campaign, kind) else {
                    if placed == 0 {
                        return;
                    }
                    break;
                };
                let attempt_kind = self.attempt_kind_of(campaign, contact);
                match mode {
                    DialMode::Preview => {
                        self.reserve_for_card(agent, campaign, contact, true);
                        placed = lines;
                    }
                    DialMode::Progressive => {
                        self.reserve_for_card(agent, campaign, contact, false);
                        if self
                            .try_originate(
                                campaign,
                                contact,
                                Some(number),
                                attempt_kind,
                                Some(agent),
                                None,
                            )
                            .is_err()
                        {
                            self.release_card(campaign, contact);
                            self.emit(Command::ClearCard { agent });
                            self.set_ready(agent);
                        }
                        placed = lines;
                    }
                    DialMode::Power | DialMode::Predictive => {
                        if self
                            .try_originate(
                                campaign,
                                contact,
                                Some(number),
                                attempt_kind,
                                Some(agent),
                                None,
                            )
                            .is_ok()
                        {
                            placed += 1;
                        }
                    }
                }
            }
        }
    }

    fn attempt_kind_of(&self, campaign: CampaignId, contact: ContactId) -> AttemptKind {
        let lead = self
            .campaigns
            .get(&campaign)
            .and_then(|rt| rt.contacts.get(&contact))
            .is_some_and(|slot| slot.entry.contact.lead);
        if lead { AttemptKind::Lead } else { AttemptKind::List }
    }

    /// Ready agents who work `campaign`, longest waiting first.
    fn ready_agents(&self, campaign: CampaignId) -> Vec<AgentId> {
        let mut ready: Vec<(Timestamp, AgentId)> = self
            .agent_order
            .iter()
            .filter_map(|id| self.agents.get(id).map(|a| (*id, a)))
            .filter(|(_, a)| a.state == AgentState::Ready && a.campaigns.contains(&campaign))
            .map(|(id, a)| (a.ready_since.unwrap_or(a.since), id))
            .collect();
        ready.sort();
        ready.into_iter().map(|(_, id)| id).collect()
    }

    /// Lines the trunk can still take.
    fn free_trunk_lines(&self) -> u32 {
        match self.config.trunk_lines {
            Some(lines) => lines.saturating_sub(self.calls.len() as u32),
            None => u32::MAX,
        }
    }

    /// Predictive dialing under the campaign's pacer.
    fn pace(&mut self, campaign: CampaignId) {
        let now = self.now;
        let Some(rt) = self.campaigns.get(&campaign) else { return };
        let min_agents = rt.config.min_agents_predictive;
        let target = rt.config.effective_drop_target();
        let max_lines = rt.config.max_lines_per_agent;

        let agents: Vec<AgentView> = self
            .agent_order
            .iter()
            .filter_map(|id| self.agents.get(id).map(|a| (*id, a)))
            .filter(|(_, a)| a.state != AgentState::LoggedOut && a.campaigns.contains(&campaign))
            .map(|(id, a)| AgentView {
                agent: id,
                activity: match a.state {
                    AgentState::Ready => AgentActivity::Ready,
                    AgentState::Reserved { .. } => AgentActivity::Reserved,
                    AgentState::InCall { .. } => AgentActivity::InCall,
                    AgentState::WrapUp { .. } => AgentActivity::WrapUp,
                    AgentState::Paused { .. } | AgentState::LoggedOut => AgentActivity::Paused,
                },
                since: a.since,
                // An agent who asked to pause leaves as soon as the call is done.
                leaves_at: if a.pause_after.is_some() { Some(now) } else { a.leaves_at },
                shared: a.campaigns.len() > 1,
            })
            .collect();
        let working = agents.iter().filter(|a| a.activity != AgentActivity::Paused).count();
        let over_budget = {
            let rt = self.campaigns.get_mut(&campaign).expect("campaign looked up above");
            rt.ledger.prune(now);
            rt.ledger.drops() > 0.0 && rt.ledger.drops() >= target * rt.ledger.live()
        };
        if (working as u32) < min_agents || over_budget {
            // Too few agents to pace safely, or the drop budget is spent:
            // one reserved call per ready agent, which cannot drop.
            self.reserve_agents(campaign, DialMode::Predictive);
            return;
        }
        // The pacer throttles its work: skip building its view between steps.
        if !self.campaigns.get(&campaign).is_some_and(|rt| rt.pacer.wants_decision(now)) {
            return;
        }

        let calls: Vec<CallView> = self
            .calls
            .values()
            .filter(|c| c.record.campaign == campaign && c.reserved.is_none())
            .filter(|c| !matches!(c.state, CallState::Connected { .. }))
            .map(|c| CallView {
                call: c.record.call,
                placed_at: c.record.placed_at,
                waiting_for_agent: matches!(c.state, CallState::Waiting { .. }),
                p_human: c.p_human,
                ring_timeout: c.ring_timeout,
            })
            .collect();
        let campaign_lines = self.calls.values().filter(|c| c.record.campaign == campaign).count();
        let line_cap = match max_lines {
            Some(per_agent) => {
                let cap = (per_agent * working as f64).floor() as usize;
                cap.saturating_sub(campaign_lines) as u32
            }
            None => u32::MAX,
        };
        let candidates = self.candidate_probabilities(campaign, agents.len() * 3);
        let free_lines = self.free_trunk_lines();
        let rt = self.campaigns.get_mut(&campaign).expect("campaign looked up above");
        let queued = rt.queued() as u32;
        let budget = DropBudget {
            target,
            live_answers: rt.ledger.live().round() as u64,
            drops: rt.ledger.drops(),
            placed: rt.ledger.placed(),
        };
        let view = FloorView {
            now,
            agents: &agents,
            calls: &calls,
            candidates: &candidates,
            budget,
            max_new: free_lines.min(line_cap).min(queued.max(1)),
        };
        let wanted = rt.pacer.decide(&view).min(view.max_new);
        for _ in 0..wanted {
            let Some((contact, number)) = self.next_candidate(campaign, DialKind::Regular) else {
                break;
            };
            let kind = self.attempt_kind_of(campaign, contact);
            if self.try_originate(campaign, contact, Some(number), kind, None, None).is_err() {
                break;
            }
        }
    }

    /// The pacer's answer probabilities for the next `n` queued contacts.
    fn candidate_probabilities(&self, campaign: CampaignId, n: usize) -> Vec<f64> {
        let Some(rt) = self.campaigns.get(&campaign) else { return Vec::new() };
        rt.leads
            .iter()
            .chain(rt.retries.iter())
            .chain(rt.fresh.iter())
            .take(n)
            .filter_map(|id| rt.contacts.get(id))
            .map(|slot| {
                let features = self.features(campaign, slot, 0);
                rt.pacer.p_human(&features)
            })
            .collect()
    }

    fn features(&self, campaign: CampaignId, slot: &super::Slot, number: usize) -> CallFeatures {
        let history = &slot.entry.history;
        let (hour, weekday) = match self.campaigns.get(&campaign) {
            Some(rt) => {
                let zone = match &rt.config.rules.unknown_zone {
                    ringa_core::zone::UnknownZone::Default(z) => z.clone(),
                    ringa_core::zone::UnknownZone::AllOf(z) => z
                        .first()
                        .cloned()
                        .unwrap_or_else(|| ringa_core::ZoneName::parse("UTC").expect("UTC exists")),
                };
                let local =
                    slot.entry.contact.zone.as_ref().unwrap_or(&zone).tz().to_datetime(self.now);
                (local.hour() as u8, local.weekday().to_monday_zero_offset() as u8)
            }
            None => (0, 0),
        };
        CallFeatures {
            attempt: history.attempts.saturating_add(1),
            list: slot.entry.contact.list.get(),
            list_age_days: 0,
            hour,
            weekday,
            region: slot
                .entry
                .contact
                .number(number)
                .map(|n| n.prefix(4).to_string())
                .unwrap_or_default(),
            caller_id: None,
            past: history.last_result.into_iter().collect(),
        }
    }

    /// Takes contacts from the queues (leads, then due retries, then fresh
    /// contacts) until one may be dialed now; parks or gives back the others
    /// with their reason.
    pub(super) fn next_candidate(
        &mut self,
        campaign: CampaignId,
        kind: DialKind,
    ) -> Option<(ContactId, usize)> {
        let now = self.now;
        let mut refused_any = false;
        for _ in 0..SEARCH_LIMIT {
            let rt = self.campaigns.get_mut(&campaign)?;
            let new_cap_reached = match rt.config.new_per_day {
                Some(cap) => {
                    let today = rt.ledger_zone_date(now);
                    rt.new_today.0 == Some(today) && rt.new_today.1 >= cap
                }
                None => false,
            };
            let contact = match rt.leads.pop_front().or_else(|| rt.retries.pop_front()) {
                Some(contact) => contact,
                None if new_cap_reached => return None,
                None => match rt.fresh.pop_front() {
                    Some(contact) => contact,
                    None => {
                        if refused_any {
                            // Nothing in hand can be dialed now: do not
                            // churn through the source for more at once.
                            rt.fetch_after = Some(now + REFETCH_AFTER);
                        }
                        return None;
                    }
                },
            };
            let Some(slot) = rt.contacts.get(&contact) else { continue };
            if slot.busy {
                continue;
            }
            if self.has_open_callback(contact) {
                continue;
            }
            if let Some(due) = self.voicemail_deferral(campaign, contact) {
                self.defer_contact(campaign, contact, due);
                continue;
            }
            match self.check_any_number(campaign, contact, None, kind, false) {
                Ok(number) => return Some((contact, number)),
                Err(refusal) => {
                    refused_any = true;
                    self.handle_refusal(campaign, contact, refusal);
                }
            }
        }
        if let Some(rt) = self.campaigns.get_mut(&campaign) {
            rt.fetch_after = Some(now + REFETCH_AFTER);
        }
        None
    }

    fn has_open_callback(&self, contact: ContactId) -> bool {
        self.callbacks.values().any(|cb| cb.contact == contact && cb.is_open())
    }

    /// Checks the contact's numbers, starting with the one the attempt
    /// count points at (or only `only`), and returns the first that may be
    /// dialed.
    pub(super) fn check_any_number(
        &self,
        campaign: CampaignId,
        contact: ContactId,
        only: Option<usize>,
        kind: DialKind,
        agent_reserved: bool,
    ) -> Result<usize, Refusal> {
        let rt = self.campaigns.get(&campaign).ok_or(Refusal::Inactive)?;
        let slot = rt.contacts.get(&contact).ok_or(Refusal::Inactive)?;
        let numbers = &slot.entry.contact.numbers;
        if numbers.is_empty() {
            return Err(Refusal::UnknownNumber);
        }
        let order: Vec<usize> = match only {
            Some(index) => vec![index],
            None => {
                let start = slot.entry.history.attempts as usize % numbers.len();
                (0..numbers.len()).map(|i| (start + i) % numbers.len()).collect()
            }
        };
        let mut first_refusal = None;
        for index in order {
            let Some(number) = slot.entry.contact.number(index) else {
                first_refusal.get_or_insert(Refusal::UnknownNumber);
                continue;
            };
            let check = DialCheck {
                now: self.now,
                rules: &rt.config.rules,
                contact: &slot.entry.contact,
                number,
                history: &slot.entry.history,
                dnc: &self.dnc,
                kind,
                agent_reserved,
            };
            match may_dial(&check) {
                Ok(()) => return Ok(index),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        Err(first_refusal.unwrap_or(Refusal::UnknownNumber))
    }

    fn count_refusal(&mut self, campaign: CampaignId, contact: ContactId, refusal: &Refusal) {
        if let Some(rt) = self.campaigns.get_mut(&campaign) {
            rt.stats.count_refusal(refusal.code());
        }
        debug!(%campaign, %contact, reason = %refusal, "dial refused");
        self.emit(Command::Refused {
            campaign,
            contact,
            code: refusal.code().to_string(),
            reason: refusal.to_string(),
        });
    }

    /// Parks a contact refused for a while, or closes one refused for good.
    fn handle_refusal(&mut self, campaign: CampaignId, contact: ContactId, refusal: Refusal) {
        self.count_refusal(campaign, contact, &refusal);
        let now = self.now;
        let release_after = self.config.release_after;
        let closure = match &refusal {
            Refusal::DoNotCall(_) => Some(ringa_core::contact::Closure::DoNotCall),
            Refusal::AttemptLimit { .. } => Some(ringa_core::contact::Closure::MaxAttempts),
            Refusal::Closed(reason) => Some(*reason),
            _ => None,
        };
        let due = match &refusal {
            Refusal::DailyCap { .. } => {
                self.campaigns.get(&campaign).map(|rt| rt.next_local_midnight(now))
            }
            other => other.retry_at(),
        };
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        if let Some(reason) = closure {
            if let Some(mut slot) = rt.contacts.remove(&contact)
                && slot.entry.history.closed.is_none()
            {
                slot.entry.history.closed = Some(reason);
                self.emit(Command::History {
                    contact,
                    history: Box::new(slot.entry.history.clone()),
                });
                self.emit(Command::ContactClosed { contact, reason });
            }
            self.emit(Command::ContactReleased { campaign, contact, due: None });
            return;
        }
        match due {
            Some(at) if at.duration_since(now) <= release_after => {
                rt.parked.insert((at, contact));
            }
            Some(at) => {
                rt.contacts.remove(&contact);
                rt.released.insert((at, contact));
                self.emit(Command::ContactReleased { campaign, contact, due: Some(at) });
            }
            None => {
                // Inactive, unknown numbers, rule-set restrictions that no
                // waiting lifts: the contact leaves the working set.
                rt.contacts.remove(&contact);
                self.emit(Command::ContactReleased { campaign, contact, due: None });
            }
        }
    }

    /// Places a call to `contact` after checking it once more against the
    /// live data. Returns the call, or the refusal.
    pub(super) fn try_originate(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
        number: Option<usize>,
        kind: AttemptKind,
        agent: Option<AgentId>,
        callback: Option<CallbackId>,
    ) -> Result<CallId, Refusal> {
        let now = self.now;
        let dial_kind = match kind {
            AttemptKind::Callback => DialKind::Callback,
            AttemptKind::DropRedial => DialKind::DropRedial,
            // Inbound calls are never originated; checked as a regular dial if they were.
            AttemptKind::List | AttemptKind::Lead | AttemptKind::Preview | AttemptKind::Inbound => {
                DialKind::Regular
            }
        };
        let index =
            match self.check_any_number(campaign, contact, number, dial_kind, agent.is_some()) {
                Ok(index) => index,
                Err(refusal) => {
                    if agent.is_none() || number.is_none() {
                        self.handle_refusal(campaign, contact, refusal.clone());
                    } else {
                        self.count_refusal(campaign, contact, &refusal);
                    }
                    return Err(refusal);
                }
            };

        let call = CallId(self.next_call);
        self.next_call = self.next_call.saturating_add(1);
        let attempt = ringa_core::AttemptId(self.next_attempt);
        self.next_attempt = self.next_attempt.saturating_add(1);
        let caller_id = self.choose_caller_id(campaign);
        let slot_features = {
            let rt = self.campaigns.get(&campaign).expect("checked by check_any_number");
            let slot = rt.contacts.get(&contact).expect("checked by check_any_number");
            self.features(campaign, slot, index)
        };

        let rt = self.campaigns.get_mut(&campaign).expect("checked by check_any_number");
        let today = rt.ledger_zone_date(now);
        let amd = rt.config.amd;
        let slot = rt.contacts.get_mut(&contact).expect("checked by check_any_number");
        let number = slot.entry.contact.numbers[index].number.clone();
        let (ring_timeout, learned_ring) = rt.voicemail.ring_timeout(&rt.config, &number);
        let history = &mut slot.entry.history;
        let first_attempt = history.attempts == 0 && history.callback_attempts == 0;
        match dial_kind {
            DialKind::Callback => {
                history.callback_attempts = history.callback_attempts.saturating_add(1)
            }
            DialKind::Regular | DialKind::DropRedial => {
                history.attempts = history.attempts.saturating_add(1)
            }
        }
        history.last_attempt = Some(now);
        let local_date = {
            let zone = slot.entry.contact.zone.clone().unwrap_or_else(|| {
                match &rt.config.rules.unknown_zone {
                    ringa_core::zone::UnknownZone::Default(z) => z.clone(),
                    ringa_core::zone::UnknownZone::AllOf(z) => z
                        .first()
                        .cloned()
                        .unwrap_or_else(|| ringa_core::ZoneName::parse("UTC").expect("UTC exists")),
                }
            });
            let zone = ringa_core::zone::resolve_zone(
                slot.entry.contact.zone.as_ref(),
                &number,
                &ringa_core::zone::UnknownZone::Default(zone),
            );
            match zone {
                ringa_core::zone::ContactZone::One(z) => z.tz().to_datetime(now).date(),
                ringa_core::zone::ContactZone::AllOf(_) => today,
            }
        };
        history.count_dial(&number, local_date);
        let attempt_no = history.attempts.saturating_add(history.callback_attempts);
        slot.busy = true;
        if first_attempt {
            if rt.new_today.0 != Some(today) {
                rt.new_today = (Some(today), 0);
            }
            rt.new_today.1 += 1;
        }
        let p_human = rt.pacer.p_human(&slot_features);
        rt.pacer.observe(
            now,
            &ringa_pacer::PacerEvent::Placed { call, features: slot_features, p_human },
        );
        rt.stats.placed += 1;
        rt.ledger.record_placed(now);

        let record = AttemptRecord {
            attempt,
            call,
            campaign,
            contact,
            number: number.clone(),
            caller_id: caller_id.clone(),
            attempt_no,
            kind,
            placed_at: now,
            answered_at: None,
            connected_at: None,
            ended_at: None,
            agent,
            result: None,
            sip_code: None,
            outcome: None,
            note: None,
            amd,
            amd_report: None,
        };
        tracing::debug!(%call, %campaign, %contact, number = %Pii(&number), "originate");
        self.calls.insert(
            call,
            Call {
                record: record.clone(),
                state: CallState::Dialing,
                reserved: agent,
                callback,
                p_human,
                ring_timeout,
                learned_ring,
                picked_up_at: None,
                cancelled: false,
            },
        );
        self.emit(Command::AttemptStarted { record: Box::new(record) });
        self.emit(Command::Originate {
            call,
            attempt,
            campaign,
            contact,
            number,
            caller_id,
            ring_timeout,
            amd,
            agent,
        });
        if let Some(agent) = agent {
            if let Some(a) = self.agents.get_mut(&agent) {
                let keep = matches!(a.state, AgentState::Reserved { call: Some(_), .. });
                if !keep {
                    a.enter(now, AgentState::Reserved { campaign, contact, call: Some(call) });
                }
            }
            self.emit_state(agent);
        }
        Ok(call)
    }

    /// A caller ID from the campaign's pool under its daily cap.
    fn choose_caller_id(&mut self, campaign: CampaignId) -> Option<ringa_core::PhoneNumber> {
        let now = self.now;
        let rt = self.campaigns.get_mut(&campaign)?;
        let today = rt.ledger_zone_date(now);
        let pool = &rt.config.caller_ids;
        rt.caller_id_use.resize(pool.numbers.len(), (None, 0));
        let usable: Vec<usize> = (0..pool.numbers.len())
            .filter(|&i| {
                let used = match rt.caller_id_use[i] {
                    (Some(day), n) if day == today => n,
                    _ => 0,
                };
                pool.numbers[i].daily_cap.is_none_or(|cap| used < cap)
            })
            .collect();
        if usable.is_empty() {
            return None;
        }
        let pick = match pool.rotation {
            ringa_core::campaign::CallerIdRotation::First => usable[0],
            ringa_core::campaign::CallerIdRotation::Random => {
                usable[self.rng.below(usable.len() as u64) as usize]
            }
        };
        let entry = &mut rt.caller_id_use[pick];
        if entry.0 != Some(today) {
            *entry = (Some(today), 0);
        }
        entry.1 += 1;
        Some(pool.numbers[pick].number.clone())
    }

    /// Asks the driver for contacts where the working set runs low: at
    /// once, unless the source said it had no more or the last batch held
    /// nothing dialable, in which case at most once a minute, and always when
    /// a contact handed back earlier comes due.
    fn request_contacts(&mut self) {
        let now = self.now;
        let working_set = self.config.working_set;
        let mut asks = Vec::new();
        for campaign in &self.campaign_order {
            let Some(rt) = self.campaigns.get_mut(campaign) else { continue };
            let held = rt.queued() as u32;
            if !rt.active || rt.fetch_pending || held >= working_set / 2 {
                continue;
            }
            let released_due = rt.released.first().is_some_and(|&(at, _)| at <= now);
            let source_rested = rt.exhausted_at.is_none_or(|at| now >= at + REFETCH_AFTER)
                && rt.fetch_after.is_none_or(|at| now >= at);
            if !(released_due || source_rested) {
                continue;
            }
            while rt.released.first().is_some_and(|&(at, _)| at <= now) {
                rt.released.pop_first();
            }
            rt.fetch_pending = true;
            rt.fetch_after = None;
            asks.push(Command::FetchContacts { campaign: *campaign, want: working_set - held });
        }
        for ask in asks {
            self.emit(ask);
        }
    }

    /// A random spread of up to `max`.
    pub(super) fn spread(rng: &mut SplitMix, max: SignedDuration) -> SignedDuration {
        if max.is_zero() {
            return SignedDuration::ZERO;
        }
        SignedDuration::from_secs_f64(max.as_secs_f64() * rng.unit())
    }

    /// Ends the call as a drop: a person answered and no agent came.
    pub(super) fn finish_drop(&mut self, call: CallId, engine_initiated: bool) {
        let now = self.now;
        let Some(c) = self.calls.remove(&call) else { return };
        let mut record = c.record;
        record.ended_at = Some(now);
        record.result = Some(CallResult::Dropped);
        let (campaign, contact) = (record.campaign, record.contact);
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        let table = rt.config.rules.rule_set.table();
        rt.stats.live_answers += 1;
        rt.stats.drops += 1;
        rt.stats.count_result(CallResult::Dropped);
        rt.ledger.record(now, 1.0, 1.0);
        rt.pacer.observe(now, &ringa_pacer::PacerEvent::Dropped { call });
        if engine_initiated {
            self.emit(Command::Drop {
                call,
                reason: DropReason::NoAgent,
                message: table.message_on_drop,
            });
        }
        self.emit(Command::AttemptEnded { record: Box::new(record.clone()) });
        if let ringa_core::rules::AfterDrop::OneToOneCallback { after } = table.after_drop {
            self.schedule_drop_redial(campaign, contact, now + after);
        }
        self.attempt_done(&record, None);
    }

    /// Ends a call that no person took: no answer, busy, invalid, machine,
    /// cancelled.
    pub(super) fn finish_unanswered(
        &mut self,
        call: CallId,
        result: CallResult,
        sip_code: Option<u16>,
    ) {
        let now = self.now;
        let Some(c) = self.calls.remove(&call) else { return };
        let mut record = c.record;
        record.ended_at = Some(now);
        record.result = Some(result);
        record.sip_code = sip_code.or(record.sip_code);
        let campaign = record.campaign;
        if let Some(rt) = self.campaigns.get_mut(&campaign) {
            rt.stats.count_result(result);
            if result == CallResult::AvoidedVoicemail {
                rt.stats.avoided_voicemail += 1;
            }
            if result != CallResult::Machine {
                let after = now.duration_since(record.placed_at);
                rt.pacer.observe(now, &ringa_pacer::PacerEvent::Unanswered { call, result, after });
            }
        }
        self.emit(Command::AttemptEnded { record: Box::new(record.clone()) });

        if let Some(id) = c.callback {
            self.callback_failed(id, result);
        }
        if let Some(agent) = c.reserved {
            self.free_reserved_agent(agent, call);
        }
        self.attempt_done(&record, None);
    }

    /// A reserved agent's call ended without a person: the agent gets the
    /// next call (or keeps waiting on its other lines).
    fn free_reserved_agent(&mut self, agent: AgentId, call: CallId) {
        let now = self.now;
        let other = self
            .calls
            .iter()
            .find(|(_, c)| c.reserved == Some(agent) && c.state == CallState::Dialing)
            .map(|(id, c)| (*id, c.record.campaign, c.record.contact));
        let Some(a) = self.agents.get_mut(&agent) else { return };
        let AgentState::Reserved { call: Some(current), .. } = a.state else { return };
        if let Some((other, campaign, contact)) = other {
            if current == call {
                a.enter(now, AgentState::Reserved { campaign, contact, call: Some(other) });
                self.emit_state(agent);
            }
            return;
        }
        if let Some(reason) = a.take_pause(now) {
            a.enter(now, AgentState::Paused { reason });
            a.ready_since = None;
            self.emit(Command::ClearCard { agent });
            self.emit_state(agent);
            return;
        }
        // The wait between calls runs on from when the agent first became
        // ready, across unanswered calls.
        let since = a.ready_since;
        self.emit(Command::ClearCard { agent });
        self.set_ready(agent);
        if let Some(a) = self.agents.get_mut(&agent) {
            a.ready_since = since.or(a.ready_since);
        }
    }

    fn callback_failed(&mut self, id: CallbackId, result: CallResult) {
        let now = self.now;
        let Some(cb) = self.callbacks.get_mut(&id) else { return };
        let (window, max_tries) =
            self.campaigns.get(&cb.campaign).map_or((SignedDuration::from_mins(15), 1), |rt| {
                (rt.config.callbacks.retry_window, rt.config.rules.max_callback_attempts)
            });
        cb.tries = cb.tries.saturating_add(1);
        let retry_at = now + SignedDuration::from_mins(3);
        // The window runs from the agreed time, not from the last retry; and
        // every try is a dial of the contact, so the callback budget bounds
        // the tries whatever the window would still allow (a try the network
        // refused reached nobody and is bounded by the window alone).
        let agreed = cb.zone.tz().to_ambiguous_timestamp(cb.local).compatible().unwrap_or(cb.due);
        let budget_left = !result.reached_network() || cb.tries < max_tries;
        if retry_at <= agreed + window && budget_left {
            cb.state = CallbackState::Pending;
            cb.due = retry_at;
            let callback = Box::new(cb.clone());
            self.emit(Command::CallbackScheduled { callback });
        } else {
            cb.state = CallbackState::Escalated;
            let reason = format!(
                "callback not completed within its window after {} tries (last: {result})",
                cb.tries
            );
            self.emit(Command::CallbackEscalated { callback: id, reason });
        }
    }
}

impl super::CampaignRt {
    /// Today's date in the campaign's zone.
    pub(super) fn ledger_zone_date(&self, now: Timestamp) -> jiff::civil::Date {
        self.zone().tz().to_datetime(now).date()
    }

    /// The next midnight in the campaign's zone.
    pub(super) fn next_local_midnight(&self, now: Timestamp) -> Timestamp {
        let tz = self.zone().tz();
        let tomorrow = tz.to_datetime(now).date().tomorrow().unwrap_or(jiff::civil::Date::MAX);
        tz.to_ambiguous_timestamp(tomorrow.to_datetime(jiff::civil::Time::MIN))
            .compatible()
            .unwrap_or(now + SignedDuration::from_hours(24))
    }

    pub(super) fn zone(&self) -> ringa_core::ZoneName {
        match &self.config.rules.unknown_zone {
            ringa_core::zone::UnknownZone::Default(zone) => zone.clone(),
            ringa_core::zone::UnknownZone::AllOf(zones) => zones
                .first()
                .cloned()
                .unwrap_or_else(|| ringa_core::ZoneName::parse("UTC").expect("UTC exists")),
        }
    }
}

/// Why a campaign's configuration keeps it from dialing at all, each reason
/// saying what to do about it; empty when it may dial.
pub fn cannot_dial(campaign: &Campaign) -> Vec<String> {
    let table = campaign.rules.rule_set.table();
    let mut reasons = Vec::new();
    if let Some(register) = table.register_required
        && campaign.rules.register_washed.is_none()
    {
        reasons.push(format!(
            "the {} rule set requires a wash against {register}: load its extract for \
             this campaign with `ringa dnc load FILE --list {register} --register \
             --wash-date YYYY-MM-DD --campaign {}`",
            table.rule_set, campaign.name
        ));
    }
    if table.caller_id_required && campaign.caller_ids.numbers.is_empty() {
        reasons.push(format!(
            "the {} rule set requires a caller ID pool: add at least one caller ID \
             to this campaign",
            table.rule_set
        ));
    }
    reasons
}

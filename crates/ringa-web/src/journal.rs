//! The bridge between the engine's journal commands and the store: claims
//! contacts for `FetchContacts`, journals each attempt when it starts and
//! when it ends, and moves the contact on as the engine decided. Calls back
//! (attempts of kind `inbound`) are journaled apart, in the store's
//! `inbound_calls`, never as a dial.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use ringa_core::contact::{Contact, ContactNumber, DialHistory};
use ringa_core::{AttemptId, CallId, CallResult, CampaignId, ContactId, Pii, ZoneName};
use ringa_engine::{AttemptKind, AttemptRecord, Callback, Command, ContactEntry, Engine};
use ringa_store::{
    AttemptEnd, AttemptStart, Claim, ContactRow, InboundStart, NextStep, Store, StoreError,
    StoredNumber,
};
use tracing::{debug, warn};

/// What the engine decided for a contact after an attempt, gathered from
/// the commands that follow the attempt's end.
#[derive(Clone, Debug)]
pub enum Decision {
    Closed,
    Released(Option<Timestamp>),
    Callback(Box<Callback>),
}

/// One thing the journal does for an engine step (see [`Journal::plan`]).
#[derive(Clone, Debug)]
pub enum Step {
    Start(Box<AttemptRecord>),
    End { record: Box<AttemptRecord>, decision: Option<Decision>, window: SignedDuration },
    Release { contact: ContactId, due: Option<Timestamp> },
}

/// Claims and attempts the floor holds in the store.
pub struct Journal {
    store: Store,
    worker: String,
    /// Contacts claimed for the engine, by contact.
    claims: HashMap<ContactId, Claim>,
    /// The engine's attempt id → the store's.
    attempts: HashMap<AttemptId, AttemptId>,
    /// The engine's attempt id of a call back → the store's inbound call.
    inbound: HashMap<AttemptId, i64>,
}

impl Journal {
    pub fn new(store: Store, worker: &str) -> Journal {
        Journal {
            store,
            worker: worker.to_string(),
            claims: HashMap::new(),
            attempts: HashMap::new(),
            inbound: HashMap::new(),
        }
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Claims up to `want` contacts of `campaign`; returns them and whether
    /// the store ran out.
    pub async fn fetch(
        &mut self,
        campaign: CampaignId,
        want: u32,
        now: Timestamp,
    ) -> Result<(Vec<ContactEntry>, bool), StoreError> {
        let mut out = Vec::new();
        for _ in 0..want.min(100) {
            let Some(claim) = self.store.next_contact(campaign, &self.worker, now).await? else {
                return Ok((out, true));
            };
            if let Some(entry) = self.admit(claim, now).await? {
                out.push(entry);
            }
        }
        Ok((out, false))
    }

    /// Claims one contact by id (a lead just stored).
    pub async fn claim_one(
        &mut self,
        contact: ContactId,
        now: Timestamp,
    ) -> Result<Option<ContactEntry>, StoreError> {
        match self.store.claim_contact(contact, &self.worker, now).await? {
            Some(claim) => self.admit(claim, now).await,
            None => Ok(None),
        }
    }

    /// Washes a claimed contact against the do-not-call lists and turns it
    /// into the engine's entry; a blocked contact is released as blocked.
    async fn admit(
        &mut self,
        claim: Claim,
        now: Timestamp,
    ) -> Result<Option<ContactEntry>, StoreError> {
        let blocked = claim
            .numbers
            .iter()
            .find_map(|n| self.store.dnc_check(&n.number, Some(claim.campaign)));
        if let Some(block) = blocked {
            debug!(contact = %claim.contact, list = %block.list,
                "claimed contact is on a do-not-call list");
            self.store
                .release_claim(&claim, &NextStep::Block, Some("suppressed: do-not-call"), now)
                .await?;
            return Ok(None);
        }
        let row = self.store.contact(claim.contact).await?;
        let zone = row.zone.as_deref().and_then(|z| ZoneName::parse(z).ok());
        let contact = contact_of(&claim, row.name, row.fields, zone, row.active, row.lead);
        let past = self.store.attempts_of_contact(claim.contact).await?;
        let history = history_of(&contact, claim.attempts, &past);
        self.claims.insert(claim.contact, claim);
        Ok(Some(ContactEntry { contact, history }))
    }

    /// Takes over a lead that intake stored already claimed for this
    /// worker: washes it once more (a do-not-call entry may have arrived
    /// since) and turns it into the engine's entry without reading it back.
    pub async fn adopt(
        &mut self,
        lead: crate::intake::StoredLead,
        now: Timestamp,
    ) -> Result<Option<ContactEntry>, StoreError> {
        let claim = lead.claim;
        let blocked = claim
            .numbers
            .iter()
            .find_map(|n| self.store.dnc_check(&n.number, Some(claim.campaign)));
        if blocked.is_some() {
            self.store
                .release_claim(&claim, &NextStep::Block, Some("suppressed: do-not-call"), now)
                .await?;
            return Ok(None);
        }
        let contact = contact_of(&claim, lead.name, lead.fields, lead.zone, true, true);
        let history = DialHistory { attempts: claim.attempts, ..DialHistory::default() };
        self.claims.insert(claim.contact, claim);
        Ok(Some(ContactEntry { contact, history }))
    }

    /// Journals the start of an attempt. `Err` means the call must not be
    /// placed (the contact could not be claimed).
    pub async fn started(
        &mut self,
        record: &AttemptRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if record.kind == AttemptKind::Inbound {
            // The customer is on the line already: a journal error never ends the call.
            let start = InboundStart {
                campaign: record.campaign,
                contact: Some(record.contact),
                number: Some(record.number.clone()),
                agent: record.agent,
            };
            match self.store.begin_inbound(&start, &self.worker, now).await {
                Ok(id) => {
                    self.inbound.insert(record.attempt, id);
                }
                Err(err) => warn!(contact = %record.contact, error = %err,
                    "the call back could not be journaled"),
            }
            return Ok(());
        }
        if !self.claims.contains_key(&record.contact) {
            match self.store.claim_contact(record.contact, &self.worker, now).await? {
                Some(claim) => {
                    self.claims.insert(record.contact, claim);
                }
                None => {
                    return Err(StoreError::Conflict(format!(
                        "{} is held elsewhere or closed",
                        record.contact
                    )));
                }
            }
        }
        let claim = self.claims.get(&record.contact).expect("inserted above when missing");
        let start = AttemptStart {
            number: record.number.clone(),
            caller_id: record.caller_id.as_ref().map(|c| c.as_str().to_string()),
            agent: record.agent,
            amd: serde_json::json!({ "enabled": record.amd }),
        };
        let id = self.store.begin_attempt(claim, &start, now).await?;
        debug!(attempt = %record.attempt, stored = %id, number = %Pii(&record.number),
            "attempt journaled");
        self.attempts.insert(record.attempt, id);
        Ok(())
    }

    /// The store's id of a call back until its outcome.
    pub fn inbound(&self, attempt: AttemptId) -> Option<i64> {
        self.inbound.get(&attempt).copied()
    }

    /// The store's id of an attempt in flight.
    pub fn stored(&self, attempt: AttemptId) -> Option<AttemptId> {
        self.attempts.get(&attempt).copied()
    }

    /// Whether an ended attempt is complete: connected calls wait for the
    /// agent's outcome.
    pub fn is_final(record: &AttemptRecord) -> bool {
        match record.result {
            Some(CallResult::Connected) => record.outcome.is_some(),
            Some(_) => true,
            None => false,
        }
    }

    /// Journals the end of an attempt and moves the contact on.
    pub async fn ended(
        &mut self,
        record: &AttemptRecord,
        decision: Option<Decision>,
        retry_window: SignedDuration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if record.kind == AttemptKind::Inbound {
            return self.inbound_ended(record, decision, retry_window, now).await;
        }
        let Some(stored) = self.attempts.remove(&record.attempt) else {
            return Ok(());
        };
        let result = record.result.unwrap_or(CallResult::Interrupted);
        let next = next_step(decision, record, retry_window, now);
        self.finish(stored, record, next, result, now).await
    }

    /// Journals a call back's outcome and moves its contact on as after an attempt, when
    /// the floor holds it.
    async fn inbound_ended(
        &mut self,
        record: &AttemptRecord,
        decision: Option<Decision>,
        retry_window: SignedDuration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(id) = self.inbound.remove(&record.attempt) {
            let outcome = record.outcome.as_ref().map(|o| o.as_str());
            let ended = record.ended_at.unwrap_or(now);
            match self.store.finish_inbound(id, outcome, record.note.as_deref(), ended).await {
                Ok(Some(order)) => debug!(inbound = id, order, "a sale on a call back"),
                Ok(None) => {}
                Err(err) => {
                    warn!(inbound = id, error = %err, "could not journal the end of a call back")
                }
            }
        }
        if let Some(claim) = self.claims.remove(&record.contact) {
            let next = next_step(decision, record, retry_window, now);
            let outcome = record.outcome.as_ref().map(|o| o.as_str());
            self.store.release_claim(&claim, &next, outcome, now).await?;
        }
        Ok(())
    }

    async fn finish(
        &mut self,
        stored: AttemptId,
        record: &AttemptRecord,
        next: NextStep,
        result: CallResult,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(report) = &record.amd_report {
            // The verdict and the settings it was given with, next to `enabled`.
            let settings = serde_json::from_str::<serde_json::Value>(&report.settings)
                .unwrap_or(serde_json::Value::Null);
            let amd = serde_json::json!({
                "enabled": record.amd,
                "class": report.class,
                "reason": report.reason,
                "at_ms": report.at_ms,
                "settings": settings,
            });
            if let Err(err) = self.store.record_attempt_amd(stored, &amd).await {
                warn!(attempt = %stored, error = %err, "could not journal the detector's verdict");
            }
        }
        let end = AttemptEnd {
            result,
            sip_code: record.sip_code,
            outcome: record.outcome.as_ref().map(|o| o.as_str().to_string()),
            agent: record.agent,
            answered_at: record.answered_at,
            next,
        };
        if let Err(err) = self.store.finish_attempt(stored, &end, now).await {
            warn!(attempt = %stored, error = %err, "could not journal the end of an attempt");
            return Err(err);
        }
        self.claims.remove(&record.contact);
        Ok(())
    }

    /// Gives back a contact the engine released without dialing.
    pub async fn release(
        &mut self,
        contact: ContactId,
        due: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(claim) = self.claims.remove(&contact) {
            let next = match due {
                Some(at) => NextStep::Retry { at },
                None => NextStep::Close,
            };
            self.store.release_claim(&claim, &next, None, now).await?;
        }
        Ok(())
    }

    /// What one engine step's commands ask of the journal, in order: the
    /// start of each attempt, the end of each finished one with what the
    /// engine decided for its contact, then the contacts released without
    /// a dial. Read from the engine before anything is awaited.
    pub fn plan(engine: &Engine, batch: &[Command]) -> Vec<Step> {
        let mut decisions: HashMap<ContactId, Decision> = HashMap::new();
        for cmd in batch {
            match cmd {
                Command::ContactClosed { contact, .. } => {
                    decisions.insert(*contact, Decision::Closed);
                }
                Command::ContactReleased { contact, due, .. } => {
                    decisions.entry(*contact).or_insert(Decision::Released(*due));
                }
                Command::CallbackScheduled { callback } => {
                    decisions.insert(callback.contact, Decision::Callback(callback.clone()));
                }
                _ => {}
            }
        }
        let mut steps = Vec::new();
        for cmd in batch {
            match cmd {
                Command::AttemptStarted { record } => steps.push(Step::Start(record.clone())),
                Command::AttemptEnded { record } if Journal::is_final(record) => {
                    // Without a decision in this batch the engine keeps the
                    // contact for its next attempt: the store learns when that
                    // is, so it does not offer the contact earlier.
                    let decision = decisions.remove(&record.contact).or_else(|| {
                        let history = engine.contact_history(record.campaign, record.contact)?;
                        match (history.closed, history.retry_at) {
                            (Some(_), _) => Some(Decision::Closed),
                            (None, Some(at)) => Some(Decision::Released(Some(at))),
                            (None, None) => None,
                        }
                    });
                    let window = engine
                        .campaign(record.campaign)
                        .map_or(SignedDuration::from_mins(15), |c| c.callbacks.retry_window);
                    steps.push(Step::End { record: record.clone(), decision, window });
                }
                _ => {}
            }
        }
        for (contact, decision) in decisions {
            if let Decision::Released(due) = decision {
                steps.push(Step::Release { contact, due });
            }
        }
        steps
    }

    /// Carries out a [`Journal::plan`]. Returns the calls whose attempt
    /// could not be journaled: they must not be placed.
    pub async fn carry(&mut self, steps: Vec<Step>, now: Timestamp) -> Vec<CallId> {
        let mut suppressed = Vec::new();
        for step in steps {
            match step {
                Step::Start(record) => {
                    if let Err(err) = self.started(&record, now).await {
                        warn!(contact = %record.contact, error = %err,
                            "attempt not journaled; the call is suppressed");
                        suppressed.push(record.call);
                    }
                }
                Step::End { record, decision, window } => {
                    let _ = self.ended(&record, decision, window, now).await;
                }
                Step::Release { contact, due } => {
                    if self.holds(contact)
                        && let Err(err) = self.release(contact, due, now).await
                    {
                        warn!(%contact, error = %err, "could not release a contact");
                    }
                }
            }
        }
        suppressed
    }

    /// The agent of an attempt in flight, for reports.
    pub fn holds(&self, contact: ContactId) -> bool {
        self.claims.contains_key(&contact)
    }
}

/// What happens to a contact in the store after an attempt, from what the engine decided.
fn next_step(
    decision: Option<Decision>,
    record: &AttemptRecord,
    retry_window: SignedDuration,
    now: Timestamp,
) -> NextStep {
    match decision {
        Some(Decision::Closed) => NextStep::Close,
        Some(Decision::Released(Some(at))) => NextStep::Retry { at },
        Some(Decision::Released(None)) => NextStep::Close,
        Some(Decision::Callback(cb)) => NextStep::Callback(ringa_store::CallbackRequest {
            campaign: cb.campaign,
            contact: cb.contact,
            owner: cb.owner,
            local: cb.local,
            zone: cb.zone.clone(),
            window_before: SignedDuration::ZERO,
            window_after: retry_window,
            note: record.note.clone(),
        }),
        // The engine keeps the contact for its next attempt: the store
        // sees it due now and the engine claims it again when it dials.
        None => NextStep::Retry { at: now },
    }
}

/// The engine's contact for a claim and the contact's stored data.
/// What the engine must know of a contact's stored attempts to apply the
/// rules to it again: the callback dials (their own budget), the last
/// attempt, drop and machine answer, and each number's dials on its latest
/// local day (the daily cap). `attempts` is the store's count of attempts
/// against the budget.
fn history_of(contact: &Contact, attempts: u32, past: &[ringa_store::AttemptRow]) -> DialHistory {
    let mut history = DialHistory { attempts, ..DialHistory::default() };
    for row in past {
        let result = row.result.as_deref().and_then(|r| r.parse::<CallResult>().ok());
        if row.callback.is_some() && result.is_none_or(CallResult::reached_network) {
            history.callback_attempts = history.callback_attempts.saturating_add(1);
        }
        history.last_attempt = Some(row.started_at);
        history.last_result = result;
        match result {
            Some(CallResult::Dropped) => history.last_drop = Some(row.started_at),
            Some(CallResult::Machine) => history.last_machine = Some(row.started_at),
            _ => {}
        }
        if result.is_some_and(|r| !r.reached_network()) {
            continue;
        }
        let Some(number) = contact.numbers.iter().find(|n| n.number.as_str() == row.number) else {
            continue;
        };
        // The contact's zone, else the number's country's one zone. A number
        // of a country with several zones and no zone of its own is counted
        // on its UTC date, which can differ from its local date near
        // midnight.
        let unknown =
            ringa_core::zone::UnknownZone::Default(ZoneName::parse("UTC").expect("UTC is a zone"));
        let date =
            match ringa_core::zone::resolve_zone(contact.zone.as_ref(), &number.number, &unknown) {
                ringa_core::zone::ContactZone::One(zone) => {
                    zone.tz().to_datetime(row.started_at).date()
                }
                ringa_core::zone::ContactZone::AllOf(_) => {
                    jiff::tz::TimeZone::UTC.to_datetime(row.started_at).date()
                }
            };
        history.count_dial(&number.number, date);
    }
    history
}

/// The callbacks of `campaign` still pending in the store, as the engine
/// takes them when a worker starts: each is dialed one-to-one (for its owner
/// first) once the store hands its contact over at the due time.
pub async fn pending_callbacks(
    store: &Store,
    campaign: CampaignId,
    now: Timestamp,
) -> Result<Vec<Callback>, StoreError> {
    let pending = store.callbacks_in_state(campaign, ringa_store::CallbackState::Pending).await?;
    Ok(pending
        .into_iter()
        .map(|row| Callback {
            id: row.id,
            campaign,
            contact: row.contact,
            kind: ringa_engine::CallbackKind::Agreed,
            due: row.dial_at,
            local: row.local,
            zone: row.zone,
            owner: row.owner,
            state: ringa_engine::CallbackState::Pending,
            tries: row.tries,
            created_at: now,
        })
        .collect())
}

fn contact_of(
    claim: &Claim,
    name: Option<String>,
    fields: std::collections::BTreeMap<String, String>,
    zone: Option<ZoneName>,
    active: bool,
    lead: bool,
) -> Contact {
    Contact {
        id: claim.contact,
        list: claim.list,
        numbers: numbers_of(&claim.numbers),
        name,
        fields,
        zone,
        active,
        lead,
        priority: 0,
    }
}

/// A contact as the store has it, for the engine, `active` as given (a contact the floor
/// could not claim is handed over inactive, so that the engine never dials it).
pub(crate) fn contact_of_row(row: &ContactRow, active: bool) -> Contact {
    Contact {
        id: row.id,
        list: row.list,
        numbers: numbers_of(&row.numbers),
        name: row.name.clone(),
        fields: row.fields.clone(),
        zone: row.zone.as_deref().and_then(|z| ZoneName::parse(z).ok()),
        active,
        lead: row.lead,
        priority: 0,
    }
}

fn numbers_of(stored: &[StoredNumber]) -> Vec<ContactNumber> {
    stored
        .iter()
        .map(|n| ContactNumber {
            number: n.number.clone(),
            label: n.label.clone(),
            raw: n.raw.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ringa_core::{AgentId, CallbackId, ListId, PhoneNumber, Region};
    use ringa_store::AttemptRow;

    use super::*;

    fn row(id: u64, number: &str, at: &str, result: &str, callback: bool) -> AttemptRow {
        AttemptRow {
            id: AttemptId(id),
            contact: ContactId(7),
            campaign: CampaignId(1),
            list: ListId(1),
            attempt_no: id as u32,
            claim_version: id as i64,
            callback: callback.then_some(CallbackId(3)),
            number: number.to_string(),
            caller_id: None,
            agent: Some(AgentId(1)),
            worker: "web".to_string(),
            amd: serde_json::Value::Null,
            open: false,
            started_at: at.parse().expect("a timestamp"),
            answered_at: None,
            ended_at: None,
            sip_code: None,
            result: Some(result.to_string()),
            outcome: None,
        }
    }

    #[test]
    fn a_reclaimed_contact_keeps_its_callback_dials_drops_and_daily_counts() {
        let mobile = PhoneNumber::parse("070-174 06 05", Region::SE).expect("a number");
        let home = PhoneNumber::parse("08-123 456 78", Region::SE).expect("a number");
        let numbers = [mobile.clone(), home.clone()];
        let contact = Contact::with_numbers(ContactId(7), ListId(1), numbers);
        let past = [
            row(1, mobile.as_str(), "2026-12-03T08:50:00Z", "busy", false),
            row(2, home.as_str(), "2026-12-03T09:20:00Z", "dropped", false),
            row(3, home.as_str(), "2026-12-03T09:35:00Z", "no_answer", true),
            row(4, home.as_str(), "2026-12-03T09:38:00Z", "congestion", true),
            row(5, home.as_str(), "2026-12-03T23:30:00Z", "no_answer", true),
        ];
        let history = history_of(&contact, 2, &past);
        assert_eq!(history.attempts, 2);
        // The refused try reached nobody and is not counted.
        assert_eq!(history.callback_attempts, 2);
        assert_eq!(history.last_drop, Some("2026-12-03T09:20:00Z".parse().unwrap()));
        assert_eq!(history.last_result, Some(CallResult::NoAnswer));
        let day = jiff::civil::date(2026, 12, 3);
        assert_eq!(history.dials_on(&mobile, day), 1);
        // 23:30 UTC is already the 4th in Stockholm: the home number's
        // latest local day holds one dial.
        assert_eq!(history.dials_on(&home, jiff::civil::date(2026, 12, 4)), 1);
    }
}

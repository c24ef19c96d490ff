//! Answering-machine methods 2 and 3 inside the engine, each switched on
//! per campaign (`Campaign::amd_methods`): the voicemail history of each
//! contact, which may move or skip a dial before it is placed, and the ring
//! time before each number's voicemail picks up, which sets that one call's
//! ring timeout. Both learn from the results of ended attempts. Neither
//! acts on an answered call: the answer path of the engine never looks at
//! them.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use ringa_amd::history::{
    Advice, AdvicePolicy, AnsweredBy as Answer, CampaignPrior, HistoryConfig, VoicemailHistory,
    advise,
};
use ringa_amd::ringtime::{RingPolicy, RingTimeModel};
use ringa_core::campaign::Campaign;
use ringa_core::outcome::OutcomeDef;
use ringa_core::{CallId, CallResult, CampaignId, ContactId, PhoneNumber};

use super::Engine;
use crate::io::{AttemptRecord, Command};
use crate::learned::{ContactVoicemailState, NumberRingState, VoicemailState};

/// Voicemail probabilities at which a contact is skipped or re-timed, and
/// the evidence (in answers) needed first.
const POLICY: AdvicePolicy = AdvicePolicy { skip_at: 0.78, retime_at: 0.6, min_evidence: 2.0 };

/// Deferrals in a row after which a contact is dialed whatever its history
/// says, so that history never shuts a contact out for good.
const MAX_DEFERRALS: u32 = 2;

/// How far a re-timed contact is moved: another part of the day.
const RETIME_BY: SignedDuration = SignedDuration::from_hours(3);

/// Weight (in answers) of the campaign's voicemail rate in each contact's
/// estimate, and the rate assumed before the campaign has answers.
const PRIOR_STRENGTH: f64 = 2.0;
const PRIOR_RATE: f64 = 0.3;

/// The ring timeout is set this far below the earliest voicemail pickup.
const RING_MARGIN_MS: u32 = 1_000;

/// One contact's voicemail history and how often in a row it was deferred.
#[derive(Clone, Debug, Default)]
struct ContactVoicemail {
    history: VoicemailHistory,
    deferred: u32,
}

/// The models of one campaign.
#[derive(Clone, Debug, Default)]
pub(super) struct VoicemailModels {
    contacts: HashMap<ContactId, ContactVoicemail>,
    numbers: HashMap<PhoneNumber, RingTimeModel>,
    /// How long answered calls in flight rang before the far end picked
    /// up, until their attempt ends.
    rings: HashMap<CallId, SignedDuration>,
    /// Answers of the campaign by voicemail and by a person (the prior).
    voicemail_answers: f64,
    person_answers: f64,
}

impl VoicemailModels {
    fn prior(&self) -> CampaignPrior {
        let rate = (self.voicemail_answers + PRIOR_RATE * 10.0)
            / (self.voicemail_answers + self.person_answers + 10.0);
        CampaignPrior { voicemail_rate: rate, strength: PRIOR_STRENGTH }
    }

    /// The ring timeout of the next call to `number` and whether it was
    /// learned (shorter than the campaign's): never below the rule set's
    /// minimum ring, never above the campaign's ring timeout.
    pub(super) fn ring_timeout(
        &self,
        campaign: &Campaign,
        number: &PhoneNumber,
    ) -> (SignedDuration, bool) {
        let base = campaign.effective_ring_timeout();
        if !campaign.amd_methods.ring_time {
            return (base, false);
        }
        let Some(model) = self.numbers.get(number) else { return (base, false) };
        let min = campaign.rules.rule_set.table().min_ring.unwrap_or_default();
        let ms = |d: SignedDuration| u32::try_from(d.as_millis().max(0)).unwrap_or(u32::MAX);
        let policy = RingPolicy {
            min_ring_ms: ms(min),
            default_ring_ms: ms(base),
            margin_ms: RING_MARGIN_MS,
            min_observations: 2,
            max_spread_ms: 3_000,
        };
        let proposal = model.propose(&policy);
        let ring = SignedDuration::from_millis(i64::from(proposal.ring_ms)).clamp(min, base);
        (ring, proposal.learned && ring < base)
    }

    /// Notes how long an answered call rang before the far end picked up
    /// (the 200 OK when the driver reported it, else the answer).
    pub(super) fn note_ring(&mut self, call: CallId, rang: SignedDuration) {
        self.rings.insert(call, rang);
    }

    /// Learns from an ended attempt.
    fn learn(&mut self, record: &AttemptRecord, def: Option<&OutcomeDef>) {
        let rang = self.rings.remove(&record.call);
        let result = record.result.unwrap_or(CallResult::Interrupted);
        let agent_heard_machine = def.is_some_and(|d| d.code.as_str() == "answering_machine");
        let answer = if result == CallResult::Machine || agent_heard_machine {
            Answer::Voicemail
        } else if result.person_answered() {
            Answer::Person
        } else {
            Answer::Nobody
        };
        match answer {
            Answer::Voicemail => {
                self.voicemail_answers += 1.0;
                let rang = rang
                    .or_else(|| record.answered_at.map(|at| at.duration_since(record.placed_at)));
                if let Some(rang) = rang {
                    let ring = u32::try_from(rang.as_millis().max(0)).unwrap_or(u32::MAX);
                    self.numbers
                        .entry(record.number.clone())
                        .or_default()
                        .record_voicemail_pickup(ring);
                }
            }
            Answer::Person => {
                self.person_answers += 1.0;
                if let Some(model) = self.numbers.get_mut(&record.number) {
                    model.record_person_answer();
                }
            }
            Answer::Nobody => return,
        }
        let entry = self.contacts.entry(record.contact).or_default();
        entry.history.record(answer, &HistoryConfig::standard());
    }

    /// The models as a document, in a stable order (contacts by id, numbers
    /// by E.164); calls in flight are left out.
    pub(super) fn export(&self) -> VoicemailState {
        let mut contacts: Vec<_> = self
            .contacts
            .iter()
            .map(|(&contact, c)| ContactVoicemailState {
                contact,
                history: c.history,
                deferred: c.deferred,
            })
            .collect();
        contacts.sort_by_key(|c| c.contact);
        let mut numbers: Vec<_> = self
            .numbers
            .iter()
            .map(|(number, model)| NumberRingState {
                number: number.clone(),
                ring_time: model.clone(),
            })
            .collect();
        numbers.sort_by(|a, b| a.number.cmp(&b.number));
        VoicemailState {
            contacts,
            numbers,
            voicemail_answers: self.voicemail_answers,
            person_answers: self.person_answers,
        }
    }

    /// Models from a document, or why it does not fit (a count that is
    /// negative or not a number). Calls in flight are kept.
    pub(super) fn import(&self, state: VoicemailState) -> Result<VoicemailModels, String> {
        let counts = [state.voicemail_answers, state.person_answers];
        if !counts.iter().all(|x| x.is_finite() && *x >= 0.0) {
            return Err(format!(
                "{} voicemail and {} person answers",
                state.voicemail_answers, state.person_answers
            ));
        }
        let mut models = VoicemailModels {
            rings: self.rings.clone(),
            voicemail_answers: state.voicemail_answers,
            person_answers: state.person_answers,
            ..VoicemailModels::default()
        };
        let prior = models.prior();
        for entry in state.contacts {
            let evidence = entry.history.evidence();
            let p = entry.history.p_voicemail(&prior);
            if !(evidence.is_finite() && evidence >= 0.0 && (0.0..=1.0).contains(&p)) {
                return Err(format!("contact {}: evidence {evidence}", entry.contact));
            }
            let deferred = entry.deferred.min(MAX_DEFERRALS);
            models
                .contacts
                .insert(entry.contact, ContactVoicemail { history: entry.history, deferred });
        }
        for entry in state.numbers {
            models.numbers.insert(entry.number, entry.ring_time);
        }
        Ok(models)
    }

    /// The contact's pre-dial advice; counts a deferral, and gives
    /// `DialNormally` once the contact was deferred too often in a row.
    fn advice(&mut self, contact: ContactId) -> Advice {
        let prior = self.prior();
        let Some(entry) = self.contacts.get_mut(&contact) else { return Advice::DialNormally };
        let advice = advise(&entry.history, &prior, &POLICY);
        if advice == Advice::DialNormally || entry.deferred >= MAX_DEFERRALS {
            entry.deferred = 0;
            return Advice::DialNormally;
        }
        entry.deferred += 1;
        advice
    }
}

impl Engine {
    /// Updates the campaign's voicemail models from an ended attempt, when
    /// a method is on.
    pub(super) fn learn_voicemail(&mut self, record: &AttemptRecord, def: Option<&OutcomeDef>) {
        let Some(rt) = self.campaigns.get_mut(&record.campaign) else { return };
        let methods = rt.config.amd_methods;
        if methods.history || methods.ring_time {
            rt.voicemail.learn(record, def);
        }
    }

    /// Method 2 before a dial: when the contact's history says voicemail
    /// will most likely answer, the time it should be moved to (re-timed a
    /// few hours on, or skipped to the next local day). `None`: dial now.
    pub(super) fn voicemail_deferral(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
    ) -> Option<Timestamp> {
        let now = self.now;
        let rt = self.campaigns.get_mut(&campaign)?;
        if !rt.config.amd_methods.history {
            return None;
        }
        match rt.voicemail.advice(contact) {
            Advice::DialNormally => None,
            Advice::Retime => {
                rt.stats.history_retimed += 1;
                Some(now + RETIME_BY)
            }
            Advice::Skip => {
                rt.stats.history_skipped += 1;
                Some(rt.next_local_midnight(now).max(now + RETIME_BY))
            }
        }
    }

    /// Holds a contact back until `due`: parked in memory, or handed back
    /// to the driver when that is far off.
    pub(super) fn defer_contact(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
        due: Timestamp,
    ) {
        let now = self.now;
        let release_after = self.config.release_after;
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        if due.duration_since(now) <= release_after {
            rt.parked.insert((due, contact));
            return;
        }
        rt.contacts.remove(&contact);
        rt.released.insert((due, contact));
        self.commands.push_back(Command::ContactReleased { campaign, contact, due: Some(due) });
    }
}

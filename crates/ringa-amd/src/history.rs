//! Method 2: predicting from a contact's past attempts that voicemail will
//! answer. Each contact keeps decayed counts of voicemail and person
//! answers; the probability is shrunk toward the campaign's voicemail rate,
//! so a contact with little history behaves like the campaign. A person
//! answering a contact that had voicemail cuts the voicemail evidence at
//! once. The advice is for before dialing only: nothing here ever ends an
//! answered call.

use serde::{Deserialize, Serialize};

/// Who answered one past attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person.
    Person,
    /// Voicemail or another answering machine.
    Voicemail,
    /// Nobody (no answer, busy).
    Nobody,
}

/// The campaign-wide voicemail rate that contacts are shrunk toward.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CampaignPrior {
    /// Share of answered attempts that voicemail answered, 0 to 1.
    pub voicemail_rate: f64,
    /// Weight of the prior in attempts: how many of a contact's own answers
    /// it takes to count as much as the campaign mean.
    pub strength: f64,
}

/// How fast evidence fades and how hard a person's answer resets it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistoryConfig {
    /// Factor applied to older evidence at each new answer (0 to 1).
    pub decay: f64,
    /// Factor applied to the voicemail count when a person answers.
    pub person_resets_voicemail: f64,
}

impl HistoryConfig {
    /// Settings that keep about the last six answers and drop most of the
    /// voicemail evidence when a person answers.
    pub fn standard() -> Self {
        Self { decay: 0.85, person_resets_voicemail: 0.2 }
    }
}

/// One contact's answering history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VoicemailHistory {
    voicemail: f64,
    person: f64,
    last: Option<AnsweredBy>,
    voicemail_then_person: bool,
}

impl VoicemailHistory {
    /// A contact never answered before.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the outcome of one attempt.
    pub fn record(&mut self, answered: AnsweredBy, config: &HistoryConfig) {
        match answered {
            AnsweredBy::Voicemail => {
                self.voicemail = self.voicemail * config.decay + 1.0;
                self.person *= config.decay;
            }
            AnsweredBy::Person => {
                self.voicemail_then_person = self.voicemail > 0.5;
                self.voicemail *= config.decay * config.person_resets_voicemail;
                self.person = self.person * config.decay + 1.0;
            }
            AnsweredBy::Nobody => {}
        }
        if answered != AnsweredBy::Nobody {
            self.last = Some(answered);
        }
    }

    /// Probability that voicemail answers the next attempt that is answered.
    pub fn p_voicemail(&self, prior: &CampaignPrior) -> f64 {
        let rate = prior.voicemail_rate.clamp(0.0, 1.0);
        let strength = prior.strength.max(0.0);
        let n = self.voicemail + self.person + strength;
        if n <= 0.0 { rate } else { (self.voicemail + rate * strength) / n }
    }

    /// Whether a person answered the last time after voicemail had answered
    /// before: the contact's voicemail habit has changed.
    pub fn voicemail_stopped(&self) -> bool {
        self.voicemail_then_person && self.last == Some(AnsweredBy::Person)
    }

    /// Weight of the contact's own evidence, in attempts.
    pub fn evidence(&self) -> f64 {
        self.voicemail + self.person
    }
}

/// What to do before dialing a contact. There is deliberately no variant
/// that ends an answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advice {
    /// Dial as usual.
    DialNormally,
    /// Move the attempt to another time of day.
    Retime,
    /// Leave the contact out of this round.
    Skip,
}

/// Limits for [`advise`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdvicePolicy {
    /// Skip at or above this voicemail probability.
    pub skip_at: f64,
    /// Re-time at or above this voicemail probability.
    pub retime_at: f64,
    /// Least own evidence (in attempts) before anything but dialing.
    pub min_evidence: f64,
}

/// Pre-dial advice for a contact.
pub fn advise(history: &VoicemailHistory, prior: &CampaignPrior, policy: &AdvicePolicy) -> Advice {
    if history.evidence() < policy.min_evidence || history.voicemail_stopped() {
        return Advice::DialNormally;
    }
    let p = history.p_voicemail(prior);
    if p >= policy.skip_at {
        Advice::Skip
    } else if p >= policy.retime_at {
        Advice::Retime
    } else {
        Advice::DialNormally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIOR: CampaignPrior = CampaignPrior { voicemail_rate: 0.3, strength: 2.0 };
    const POLICY: AdvicePolicy = AdvicePolicy { skip_at: 0.78, retime_at: 0.6, min_evidence: 2.0 };

    fn history(outcomes: &[AnsweredBy]) -> VoicemailHistory {
        let mut h = VoicemailHistory::new();
        for &o in outcomes {
            h.record(o, &HistoryConfig::standard());
        }
        h
    }

    #[test]
    fn a_new_contact_gets_the_campaign_mean() {
        let h = VoicemailHistory::new();
        assert!((h.p_voicemail(&PRIOR) - 0.3).abs() < 1e-12);
        assert_eq!(advise(&h, &PRIOR, &POLICY), Advice::DialNormally);
    }

    #[test]
    fn repeated_voicemail_raises_the_probability_toward_one() {
        use AnsweredBy::*;
        let one = history(&[Voicemail]).p_voicemail(&PRIOR);
        let five = history(&[Voicemail; 5]).p_voicemail(&PRIOR);
        assert!(one > 0.3 && one < 0.6, "one voicemail: {one}");
        assert!(five > 0.7 && five > one, "five voicemails: {five}");
        assert_eq!(advise(&history(&[Voicemail; 8]), &PRIOR, &POLICY), Advice::Skip);
        let retime = history(&[Voicemail, Person, Voicemail, Voicemail, Voicemail]);
        assert_eq!(advise(&retime, &PRIOR, &POLICY), Advice::Retime, "{retime:?}");
    }

    #[test]
    fn a_person_answering_quickly_reduces_the_voicemail_probability() {
        use AnsweredBy::*;
        let before = history(&[Voicemail; 6]);
        let mut after = before;
        after.record(Person, &HistoryConfig::standard());
        let (p_before, p_after) = (before.p_voicemail(&PRIOR), after.p_voicemail(&PRIOR));
        assert!(p_before > 0.75, "{p_before}");
        assert!(p_after < 0.45, "one person answer must cut it: {p_after}");
        assert!(after.voicemail_stopped());
        assert_eq!(advise(&after, &PRIOR, &POLICY), Advice::DialNormally);
    }

    #[test]
    fn unanswered_attempts_are_no_evidence() {
        use AnsweredBy::*;
        let h = history(&[Nobody, Nobody, Nobody]);
        assert_eq!(h.evidence(), 0.0);
        assert!((h.p_voicemail(&PRIOR) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn people_who_answer_stay_below_the_campaign_mean() {
        let h = history(&[AnsweredBy::Person; 4]);
        assert!(h.p_voicemail(&PRIOR) < 0.15);
        assert_eq!(advise(&h, &PRIOR, &POLICY), Advice::DialNormally);
    }
}

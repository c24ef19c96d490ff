//! The simulated world the floor dials into when no telephony is
//! configured: customers who answer (or not, or with a machine) after a
//! ring, talk for a while and hang up, and simulated agents who fill the
//! seats no person has taken.
//!
//! The world is driven by the floor's loop: it is told what the engine
//! commanded and answers with inputs at instants of its choosing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use ringa_core::outcome::Requires;
use ringa_core::{AgentId, CallId, CallResult, CampaignId, OutcomeDef};
use ringa_engine::{AgentState, AnsweredBy, CallEvent, Command, Input};

/// How the simulated customers and agents behave.
#[derive(Clone, Debug)]
pub struct WorldProfile {
    /// Probability that a person answers.
    pub p_human: f64,
    /// Probability that an answering machine answers.
    pub p_machine: f64,
    /// Probability of a busy signal.
    pub p_busy: f64,
    /// Seconds of ringing before an answer, uniform in this range.
    pub ring_secs: (f64, f64),
    /// Seconds a customer talks with a simulated agent.
    pub talk_secs: (f64, f64),
    /// Seconds a customer stays on the line with a person at the desktop
    /// before hanging up.
    pub human_agent_talk_secs: (f64, f64),
    /// Seconds a simulated agent spends in wrap-up.
    pub wrap_secs: (f64, f64),
}

impl WorldProfile {
    /// Figures close to a consumer list on weekday afternoons.
    pub fn realistic() -> WorldProfile {
        WorldProfile {
            p_human: 0.30,
            p_machine: 0.15,
            p_busy: 0.08,
            ring_secs: (4.0, 18.0),
            talk_secs: (40.0, 180.0),
            human_agent_talk_secs: (300.0, 900.0),
            wrap_secs: (3.0, 15.0),
        }
    }

    /// Every call answered by a person within a second or two, and long
    /// patience with people at the desktop: for demonstrations and tests.
    pub fn quick() -> WorldProfile {
        WorldProfile {
            p_human: 1.0,
            p_machine: 0.0,
            p_busy: 0.0,
            ring_secs: (0.5, 1.5),
            talk_secs: (3.0, 8.0),
            human_agent_talk_secs: (600.0, 900.0),
            wrap_secs: (1.0, 2.0),
        }
    }
}

/// Something the world will do at an instant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Ringing(CallId),
    Answer(CallId, bool),
    Fail(CallId, u16),
    CustomerHangsUp(CallId),
    AgentReady(AgentId),
    AgentOutcome(AgentId),
    AgentDial(AgentId),
}

/// The simulated customers and agents.
pub struct World {
    profile: WorldProfile,
    rng: StdRng,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Act)>>,
    seq: u64,
    /// Calls placed and not yet ended.
    calls: HashSet<CallId>,
    /// Calls an undetected answering machine took, until an agent's outcome.
    machine_calls: HashSet<CallId>,
    bots: HashSet<AgentId>,
    /// Outcomes a simulated agent picks from, by campaign.
    outcomes: HashMap<CampaignId, Vec<OutcomeDef>>,
}

impl World {
    pub fn new(profile: WorldProfile, seed: u64) -> World {
        World {
            profile,
            rng: StdRng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            calls: HashSet::new(),
            machine_calls: HashSet::new(),
            bots: HashSet::new(),
            outcomes: HashMap::new(),
        }
    }

    /// Adds a simulated agent; the floor logs it in.
    pub fn add_bot(&mut self, agent: AgentId, now: Timestamp) {
        self.bots.insert(agent);
        self.at(now + SignedDuration::from_millis(200), Act::AgentReady(agent));
    }

    /// The simulated agents.
    pub fn bots(&self) -> Vec<AgentId> {
        let mut bots: Vec<AgentId> = self.bots.iter().copied().collect();
        bots.sort();
        bots
    }

    pub fn is_bot(&self, agent: AgentId) -> bool {
        self.bots.contains(&agent)
    }

    /// The outcomes simulated agents of `campaign` may set.
    pub fn set_outcomes(&mut self, campaign: CampaignId, outcomes: Vec<OutcomeDef>) {
        self.outcomes.insert(campaign, outcomes);
    }

    fn at(&mut self, when: Timestamp, act: Act) {
        self.seq += 1;
        self.queue.push(Reverse((when, self.seq, act)));
    }

    fn secs(&mut self, range: (f64, f64)) -> SignedDuration {
        let (lo, hi) = range;
        let v = if hi > lo { self.rng.random_range(lo..hi) } else { lo };
        SignedDuration::from_secs_f64(v)
    }

    /// When the world next wants to act.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Learns what the engine commanded.
    pub fn observe(&mut self, now: Timestamp, command: &Command) {
        match command {
            Command::Originate { call, ring_timeout, amd, .. } => {
                let draw: f64 = self.rng.random();
                let p = self.profile.clone();
                let ring = self.secs(p.ring_secs);
                self.at(now + SignedDuration::from_millis(300), Act::Ringing(*call));
                let machine = draw >= p.p_human && draw < p.p_human + p.p_machine;
                self.calls.insert(*call);
                if machine && !*amd {
                    self.machine_calls.insert(*call);
                }
                if draw < p.p_human + p.p_machine && ring < *ring_timeout {
                    self.at(now + ring, Act::Answer(*call, machine && *amd));
                } else if draw < p.p_human + p.p_machine + p.p_busy {
                    self.at(now + SignedDuration::from_secs(2), Act::Fail(*call, 486));
                } else {
                    self.at(now + *ring_timeout, Act::Fail(*call, 480));
                }
            }
            Command::Cancel { call } if self.calls.remove(call) => {
                self.at(now, Act::Fail(*call, 487));
            }
            Command::Connect { call, agent } => {
                let human_desk = !self.bots.contains(agent);
                let talk = if human_desk {
                    self.secs(self.profile.human_agent_talk_secs)
                } else {
                    self.secs(self.profile.talk_secs)
                };
                self.at(now + talk, Act::CustomerHangsUp(*call));
            }
            Command::Drop { call, .. } => {
                self.calls.remove(call);
                self.machine_calls.remove(call);
            }
            Command::Hangup { call } => {
                self.calls.remove(call);
            }
            Command::AgentState { agent, state, .. } if self.bots.contains(agent) => match state {
                AgentState::WrapUp { .. } => {
                    let wrap = self.secs(self.profile.wrap_secs);
                    self.at(now + wrap, Act::AgentOutcome(*agent));
                }
                AgentState::Paused { .. } => {
                    self.at(now + SignedDuration::from_secs(1), Act::AgentReady(*agent));
                }
                _ => {}
            },
            Command::ShowCard { agent, preview: true, .. } if self.bots.contains(agent) => {
                self.at(now + SignedDuration::from_secs(2), Act::AgentDial(*agent));
            }
            _ => {}
        }
    }

    /// The inputs due at `now`, with the campaigns of the agents' calls for
    /// choosing outcomes.
    pub fn due(
        &mut self,
        now: Timestamp,
        last_campaign: &dyn Fn(AgentId) -> Option<(CampaignId, CallResult, Option<CallId>)>,
    ) -> Vec<Input> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, act))) = self.queue.pop() else { break };
            match act {
                Act::Ringing(call) => {
                    if self.calls.contains(&call) {
                        out.push(Input::Call { call, event: CallEvent::Ringing });
                    }
                }
                Act::Answer(call, machine) => {
                    if self.calls.contains(&call) {
                        let by = if machine { AnsweredBy::Machine } else { AnsweredBy::Human };
                        out.push(Input::Call { call, event: CallEvent::Answered { by } });
                    }
                }
                Act::Fail(call, code) => {
                    self.calls.remove(&call);
                    self.machine_calls.remove(&call);
                    let result = CallResult::from_sip(code);
                    out.push(Input::Call {
                        call,
                        event: CallEvent::Failed { result, sip_code: Some(code) },
                    });
                }
                Act::CustomerHangsUp(call) => {
                    if self.calls.remove(&call) {
                        out.push(Input::Call {
                            call,
                            event: CallEvent::HungUp { by_customer: true },
                        });
                    }
                }
                Act::AgentReady(agent) => out.push(Input::AgentReady { agent }),
                Act::AgentDial(agent) => out.push(Input::AgentDial { agent, number: 0 }),
                Act::AgentOutcome(agent) => {
                    if let Some(input) = self.bot_outcome(agent, last_campaign(agent)) {
                        out.push(input);
                    }
                }
            }
        }
        out
    }

    fn bot_outcome(
        &mut self,
        agent: AgentId,
        last: Option<(CampaignId, CallResult, Option<CallId>)>,
    ) -> Option<Input> {
        let (campaign, seen, call) = last?;
        // A machine the campaign did not detect reached the agent, who
        // says so with an outcome that needs no person.
        let machine = call.is_some_and(|c| self.machine_calls.remove(&c));
        let fitting: Vec<OutcomeDef> = self
            .outcomes
            .get(&campaign)?
            .iter()
            .filter(|o| !o.callback && o.check_against(seen).is_ok())
            .cloned()
            .collect();
        let want_sale = self.rng.random::<f64>() < 0.2;
        let pick = fitting
            .iter()
            .find(|o| machine && o.requires == Requires::Answer)
            .or_else(|| fitting.iter().find(|o| !machine && o.sale == want_sale && !o.dnc))
            .or_else(|| fitting.iter().find(|o| !o.dnc))
            .or_else(|| fitting.first())?;
        Some(Input::AgentOutcome { agent, outcome: pick.code.clone(), callback: None, note: None })
    }
}

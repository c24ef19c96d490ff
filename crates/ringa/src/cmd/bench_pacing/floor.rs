//! A pacer-level floor model for `ringa bench pacing`: agents, calls with a
//! per-contact chance of a live answer after a random ring time, zero
//! patience, working days back to back with a sliding drop window, and the
//! engine's rule of one reserved call per ready agent once the window's drop
//! budget is spent. It drives any `Pacer` through its trait and can also
//! play a clairvoyant reference that knows every call's fate in advance.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ringa_core::{AgentId, CallId, CallResult};
use ringa_pacer::{
    AgentActivity, AgentView, CallFeatures, CallView, DropBudget, FloorView, Pacer, PacerEvent,
};

/// Talk-time distribution.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Talk {
    Exponential { mean: f64 },
    LogNormal { mean: f64, sigma: f64 },
}

/// One floor to simulate.
#[derive(Clone, Debug)]
pub(crate) struct FloorScenario {
    pub(crate) agents: usize,
    /// Mean chance that a call is answered by a person.
    pub(crate) p: f64,
    /// Per-contact chances vary this many times from the lowest to the
    /// highest of five contact groups (1 = all equal).
    pub(crate) spread: f64,
    pub(crate) talk: Talk,
    pub(crate) answer_mean: f64,
    pub(crate) other_mean: f64,
    pub(crate) ring_timeout: f64,
    pub(crate) target: f64,
    /// The drop window in hours (24 for the UK rule set).
    pub(crate) window_hours: f64,
    pub(crate) day_hours: f64,
    pub(crate) days: usize,
    /// Lines per agent at most (the engine's cap).
    pub(crate) max_lines_per_agent: f64,
}

impl FloorScenario {
    /// The standard floor: handle time Exp(120 s), live answers after
    /// Exp(10 s), other outcomes after Exp(25 s), zero patience.
    pub(crate) fn standard(agents: usize, p: f64) -> FloorScenario {
        FloorScenario {
            agents,
            p,
            spread: 1.0,
            talk: Talk::Exponential { mean: 120.0 },
            answer_mean: 10.0,
            other_mean: 25.0,
            ring_timeout: 60.0,
            target: 0.03,
            window_hours: 24.0,
            day_hours: 8.0,
            days: 1,
            max_lines_per_agent: 5.0,
        }
    }
}

/// What one simulated day measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct DayResult {
    pub(crate) talk_secs: f64,
    pub(crate) agent_secs: f64,
    pub(crate) placed: u64,
    pub(crate) live: u64,
    pub(crate) drops: u64,
    pub(crate) connects: u64,
    pub(crate) wait_secs: f64,
}

/// What a run of several days measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunResult {
    pub(crate) days: Vec<DayResult>,
    /// Drop rate of the window ending at each working hour.
    pub(crate) windows: Vec<f64>,
    /// Drops among the first 50 live answers.
    pub(crate) first50_drops: u64,
}

/// How calls are paced.
pub(crate) enum Policy<'a> {
    Pacer(&'a mut dyn Pacer),
    /// Knows each call's outcome, ring time and talk time in advance.
    Clairvoyant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Answer(u64),
    Fail(u64),
    TalkEnd(usize),
}

/// A contact's fate, drawn before it is dialed.
#[derive(Clone, Copy, Debug)]
struct Fate {
    group: usize,
    live: bool,
    /// Seconds from dial to the answer or to the other outcome.
    delay: f64,
    talk: f64,
}

struct Call {
    placed: f64,
    p: f64,
    reserved: Option<usize>,
    fate: Fate,
}

#[derive(Clone, Copy)]
struct Agent {
    activity: AgentActivity,
    since: f64,
    /// When the current talk ends (for the clairvoyant).
    free_at: f64,
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random::<f64>().max(1e-300);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Runs `scenario` for its days with one policy.
pub(crate) fn run(scenario: &FloorScenario, mut policy: Policy<'_>, seed: u64) -> RunResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t0 = Timestamp::from_second(1_767_000_000).expect("a valid instant");
    let at = |t: f64| t0 + SignedDuration::from_secs_f64(t);
    let micros = |t: f64| (t * 1e6) as u64;
    let raw: Vec<f64> = (0..5).map(|g| scenario.spread.powf(g as f64 / 4.0)).collect();
    let norm = raw.iter().sum::<f64>() / 5.0;
    let groups: Vec<f64> = raw.iter().map(|g| (scenario.p * g / norm).min(0.95)).collect();
    let draw = |rng: &mut ChaCha8Rng| {
        let group = rng.random_range(0..5usize);
        let live = rng.random_bool(groups[group]);
        let delay = if live {
            exp(rng, scenario.answer_mean)
        } else {
            exp(rng, scenario.other_mean).min(scenario.ring_timeout)
        };
        let live = live && delay < scenario.ring_timeout;
        let delay = delay.min(scenario.ring_timeout);
        let talk = match scenario.talk {
            Talk::Exponential { mean } => exp(rng, mean),
            Talk::LogNormal { mean, sigma } => {
                (mean.ln() - sigma * sigma / 2.0 + sigma * normal(rng)).exp()
            }
        };
        Fate { group, live, delay, talk }
    };

    let n = scenario.agents;
    let mut agents = vec![Agent { activity: AgentActivity::Paused, since: 0.0, free_at: 0.0 }; n];
    let mut ready_since = vec![0.0f64; n];
    let mut calls: HashMap<u64, Call> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    // Contacts' fates, drawn ahead so the clairvoyant can look at them.
    let mut upcoming: VecDeque<Fate> = VecDeque::new();
    let mut next_id = 0u64;
    // (time, was a drop) of live answers, and placement times, in the window.
    let mut window: VecDeque<(f64, bool)> = VecDeque::new();
    let mut placed_window: VecDeque<f64> = VecDeque::new();
    let mut window_drops = 0u64;
    let window_secs = scenario.window_hours * 3600.0;
    let mut out = RunResult::default();
    let mut total_live = 0u64;
    let mut first50_set = false;

    for day in 0..scenario.days {
        let start = day as f64 * 86_400.0;
        let end = start + scenario.day_hours * 3600.0;
        let mut result = DayResult { agent_secs: n as f64 * (end - start), ..DayResult::default() };
        for (i, a) in agents.iter_mut().enumerate() {
            *a = Agent { activity: AgentActivity::Ready, since: start, free_at: start };
            ready_since[i] = start;
        }
        let mut now = start;
        let mut next_hour = start + 3600.0;
        loop {
            // Keep the window.
            while window.front().is_some_and(|&(t, _)| t < now - window_secs) {
                let (_, dropped) = window.pop_front().expect("front exists");
                window_drops -= u64::from(dropped);
            }
            while placed_window.front().is_some_and(|&t| t < now - window_secs) {
                placed_window.pop_front();
            }
            let live_w = window.len() as u64;
            while now >= next_hour && next_hour <= end {
                if live_w > 0 {
                    out.windows.push(window_drops as f64 / live_w as f64);
                }
                next_hour += 3600.0;
            }

            // Decide and place.
            let mut to_place: Vec<Option<usize>> = Vec::new();
            if now < end {
                let over =
                    window_drops > 0 && window_drops as f64 >= scenario.target * live_w as f64;
                let lines = calls.len();
                let cap =
                    ((scenario.max_lines_per_agent * n as f64) as usize).saturating_sub(lines);
                match &mut policy {
                    Policy::Pacer(_) if over => {
                        for (i, a) in agents.iter_mut().enumerate() {
                            if a.activity == AgentActivity::Ready {
                                a.activity = AgentActivity::Reserved;
                                a.since = now;
                                to_place.push(Some(i));
                            }
                        }
                    }
                    Policy::Pacer(pacer) => {
                        let views: Vec<AgentView> = agents
                            .iter()
                            .enumerate()
                            .map(|(i, a)| AgentView {
                                agent: AgentId(i as u64),
                                activity: a.activity,
                                since: at(a.since),
                                leaves_at: None,
                                shared: false,
                            })
                            .collect();
                        let call_views: Vec<CallView> = calls
                            .iter()
                            .filter(|(_, c)| c.reserved.is_none())
                            .map(|(&id, c)| CallView {
                                call: CallId(id),
                                placed_at: at(c.placed),
                                waiting_for_agent: false,
                                p_human: c.p,
                                ring_timeout: SignedDuration::from_secs_f64(scenario.ring_timeout),
                            })
                            .collect();
                        if upcoming.is_empty() {
                            upcoming.push_back(draw(&mut rng));
                        }
                        let candidates = [pacer.p_human(&features(upcoming[0].group))];
                        let view = FloorView {
                            now: at(now),
                            agents: &views,
                            calls: &call_views,
                            candidates: &candidates,
                            budget: DropBudget {
                                target: scenario.target,
                                live_answers: live_w,
                                drops: window_drops as f64,
                                placed: placed_window.len() as u64,
                            },
                            max_new: cap as u32,
                        };
                        let k = pacer.decide(&view).min(view.max_new);
                        to_place.extend((0..k).map(|_| None));
                    }
                    Policy::Clairvoyant => {
                        let k = clairvoyant(now, end, &agents, &calls, &mut upcoming, cap, || {
                            draw(&mut rng)
                        });
                        to_place.extend((0..k).map(|_| None));
                    }
                }
            }
            for reserved in to_place {
                let fate = upcoming.pop_front().unwrap_or_else(|| draw(&mut rng));
                let id = next_id;
                next_id += 1;
                result.placed += 1;
                placed_window.push_back(now);
                let p = match &mut policy {
                    Policy::Pacer(pacer) => {
                        let f = features(fate.group);
                        let p = pacer.p_human(&f);
                        pacer.observe(
                            at(now),
                            &PacerEvent::Placed { call: CallId(id), features: f, p_human: p },
                        );
                        p
                    }
                    Policy::Clairvoyant => 0.0,
                };
                let event = if fate.live { Event::Answer(id) } else { Event::Fail(id) };
                heap.push(Reverse((micros(now + fate.delay), event)));
                calls.insert(id, Call { placed: now, p, reserved, fate });
            }

            // The next moment.
            let tick = match &policy {
                Policy::Pacer(p) => p.next_decision().map(|t| t.duration_since(t0).as_secs_f64()),
                Policy::Clairvoyant => Some(now + 0.25),
            }
            .filter(|&t| t > now && t < end);
            let event_at = heap.peek().map(|Reverse((t, _))| *t as f64 / 1e6);
            let next = match (tick, event_at) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next >= end && heap.is_empty() {
                break;
            }
            now = next.max(now);
            if !event_at.is_some_and(|t| t <= now) {
                continue;
            }
            let Reverse((_, event)) = heap.pop().expect("peeked above");
            match event {
                Event::Answer(id) => {
                    let Some(c) = calls.remove(&id) else { continue };
                    if let Policy::Pacer(pacer) = &mut policy {
                        let after = SignedDuration::from_secs_f64(now - c.placed);
                        pacer.observe(at(now), &PacerEvent::Answered { call: CallId(id), after });
                    }
                    let agent = c.reserved.or_else(|| {
                        agents
                            .iter()
                            .enumerate()
                            .filter(|(_, a)| a.activity == AgentActivity::Ready)
                            .min_by(|x, y| ready_since[x.0].total_cmp(&ready_since[y.0]))
                            .map(|(i, _)| i)
                    });
                    total_live += 1;
                    match agent {
                        Some(a) => {
                            window.push_back((now, false));
                            result.live += 1;
                            result.connects += 1;
                            result.wait_secs += now - ready_since[a];
                            agents[a] = Agent {
                                activity: AgentActivity::InCall,
                                since: now,
                                free_at: now + c.fate.talk,
                            };
                            if let Policy::Pacer(pacer) = &mut policy {
                                pacer.observe(
                                    at(now),
                                    &PacerEvent::Connected {
                                        call: CallId(id),
                                        agent: AgentId(a as u64),
                                        waited: SignedDuration::ZERO,
                                    },
                                );
                            }
                            heap.push(Reverse((micros(now + c.fate.talk), Event::TalkEnd(a))));
                        }
                        None => {
                            window.push_back((now, true));
                            window_drops += 1;
                            result.live += 1;
                            result.drops += 1;
                            if let Policy::Pacer(pacer) = &mut policy {
                                pacer.observe(at(now), &PacerEvent::Dropped { call: CallId(id) });
                            }
                        }
                    }
                    if total_live == 50 && !first50_set {
                        out.first50_drops = result.drops;
                        first50_set = true;
                    }
                }
                Event::Fail(id) => {
                    let Some(c) = calls.remove(&id) else { continue };
                    if let Policy::Pacer(pacer) = &mut policy {
                        pacer.observe(
                            at(now),
                            &PacerEvent::Unanswered {
                                call: CallId(id),
                                result: CallResult::NoAnswer,
                                after: SignedDuration::from_secs_f64(now - c.placed),
                            },
                        );
                    }
                    if let Some(a) = c.reserved {
                        agents[a] =
                            Agent { activity: AgentActivity::Ready, since: now, free_at: now };
                    }
                }
                Event::TalkEnd(a) => {
                    let started = agents[a].since;
                    result.talk_secs += (now.min(end) - started.min(end)).max(0.0);
                    let working = now < end;
                    agents[a] = Agent {
                        activity: if working {
                            AgentActivity::Ready
                        } else {
                            AgentActivity::Paused
                        },
                        since: now,
                        free_at: now,
                    };
                    ready_since[a] = now;
                    if let Policy::Pacer(pacer) = &mut policy {
                        pacer.observe(
                            at(now),
                            &PacerEvent::TalkEnded {
                                agent: AgentId(a as u64),
                                talk: SignedDuration::from_secs_f64(now - started),
                            },
                        );
                    }
                }
            }
        }
        // Agents still waiting at the end of the day log out.
        for a in agents.iter_mut() {
            a.activity = AgentActivity::Paused;
        }
        out.days.push(result);
    }
    if !first50_set {
        out.first50_drops = out.days.first().map_or(0, |d| d.drops);
    }
    out
}

fn features(group: usize) -> CallFeatures {
    const REGIONS: [&str; 5] = ["46870", "46871", "46872", "46873", "46874"];
    CallFeatures { attempt: 1, region: REGIONS[group % 5].to_string(), ..CallFeatures::default() }
}

/// The clairvoyant reference: it dials the next contact when that contact
/// will not answer, or when an agent will certainly be free at the moment it
/// answers, given every answer already on its way and every talk's end.
fn clairvoyant(
    now: f64,
    end: f64,
    agents: &[Agent],
    calls: &HashMap<u64, Call>,
    upcoming: &mut VecDeque<Fate>,
    cap: usize,
    mut draw: impl FnMut() -> Fate,
) -> u32 {
    // Answers already on their way, with their talk times.
    let mut coming: Vec<(f64, f64)> = calls
        .values()
        .filter(|c| c.fate.live)
        .map(|c| (c.placed + c.fate.delay, c.fate.talk))
        .collect();
    let mut placed = 0usize;
    while placed < cap {
        while upcoming.len() <= placed {
            upcoming.push_back(draw());
        }
        let next = upcoming[placed];
        if next.live {
            // Agents log out at the end of the day.
            if now + next.delay >= end {
                break;
            }
            let mut trial = coming.clone();
            trial.push((now + next.delay, next.talk));
            if !all_connect(now, agents, &mut trial) {
                break;
            }
            coming.push((now + next.delay, next.talk));
        }
        placed += 1;
    }
    placed as u32
}

/// Whether every coming answer finds a free agent (agents freed by earlier
/// answers' talks count).
fn all_connect(now: f64, agents: &[Agent], coming: &mut [(f64, f64)]) -> bool {
    coming.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut free: BinaryHeap<Reverse<u64>> = agents
        .iter()
        .filter(|a| a.activity != AgentActivity::Paused)
        .map(|a| {
            let t = match a.activity {
                AgentActivity::InCall => a.free_at,
                _ => now,
            };
            Reverse((t * 1e6) as u64)
        })
        .collect();
    for &(answer, talk) in coming.iter() {
        let Some(&Reverse(first)) = free.peek() else { return false };
        if first as f64 / 1e6 >= answer {
            return false;
        }
        free.pop();
        free.push(Reverse(((answer + talk) * 1e6) as u64));
    }
    true
}

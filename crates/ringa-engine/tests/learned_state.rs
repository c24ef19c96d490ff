//! A campaign's learned state (pacer models, voicemail models of methods 2
//! and 3) taken from one engine and given to another: the new engine makes
//! the same decisions on the same next situation, and a state that does not
//! fit (corrupt, another version, another pacer, counts that are not
//! numbers) is refused as a whole while the campaign keeps starting cold.

use jiff::{SignedDuration, Timestamp};
use ringa_core::{CallResult, CampaignId, DialMode, RuleSet};
use ringa_engine::{
    AnsweredBy, CallEvent, Command, LEARNED_STATE_VERSION, LearnedState, LearnedStateError,
};
use ringa_pacer::{CallFeatures, Pacer, Predictive, StateError};

use crate::support::{World, at, campaign, contact};

fn start() -> Timestamp {
    at("2026-12-07T09:00:00+01:00")
}

/// A progressive US campaign with both methods on and a 25 s ring timeout.
fn methods_campaign() -> ringa_core::Campaign {
    let mut config = campaign(1, DialMode::Progressive, RuleSet::Us);
    config.amd = true;
    config.ring_timeout = SignedDuration::from_secs(25);
    config.rules.max_attempts = 20;
    config.rules.retry.default = SignedDuration::from_secs(60);
    config.rules.retry.machine = Some(SignedDuration::from_secs(60));
    config.amd_methods.history = true;
    config.amd_methods.ring_time = true;
    config
}

/// A world whose one contact's voicemail picked up twice after 20 s.
fn world_that_learned() -> World {
    let mut world = World::new(start());
    world.add_campaign(methods_campaign(), vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    for _ in 0..2 {
        let call = world.last_originate().call;
        world.advance(SignedDuration::from_secs(20));
        world.call_event(call, CallEvent::Answered { by: AnsweredBy::Machine });
        world.advance(SignedDuration::from_secs(61));
    }
    world
}

/// The ring timeout of the first call a fresh world places to the same
/// contact, after `restore` had its say.
fn first_ring_timeout(restore: impl FnOnce(&mut World)) -> SignedDuration {
    let mut world = World::new(start() + SignedDuration::from_hours(24));
    world.add_campaign(methods_campaign(), vec![contact(1, "+46701740601")]);
    restore(&mut world);
    world.login(1, &[1]);
    match world.log.iter().find_map(|(_, c)| match c {
        Command::Originate { ring_timeout, .. } => Some(*ring_timeout),
        _ => None,
    }) {
        Some(ring) => ring,
        None => panic!("the contact is dialed: {:?}", world.log),
    }
}

fn state_json(world: &World) -> String {
    let state = world.engine.learned_state(CampaignId(1)).expect("the campaign exists");
    state.to_json().expect("the state serialises")
}

#[test]
fn a_restored_engine_gives_a_number_its_learned_ring_timeout() {
    let learned = world_that_learned();
    let original = learned.last_originate().call;
    let original_ring = learned
        .log
        .iter()
        .find_map(|(_, c)| match c {
            Command::Originate { call, ring_timeout, .. } if *call == original => {
                Some(*ring_timeout)
            }
            _ => None,
        })
        .expect("the third call was placed");
    assert_eq!(original_ring, SignedDuration::from_secs(19), "learned just below 20 s");

    let text = state_json(&learned);
    let state = LearnedState::from_json(&text).expect("the stored document reads back");
    assert_eq!(state.voicemail.numbers.len(), 1, "{text}");
    let cold = first_ring_timeout(|_| {});
    assert_eq!(cold, SignedDuration::from_secs(25), "a cold engine knows nothing");

    let mut restored_json = String::new();
    let warm = first_ring_timeout(|world| {
        world.engine.restore_learned_state(CampaignId(1), state).expect("the state fits");
        restored_json = state_json(world);
    });
    assert_eq!(warm, original_ring, "the new engine decides as the old one would");
    assert_eq!(restored_json, text, "the restored state is the saved one");
}

/// A predictive campaign whose calls are mostly not answered: the pacer's
/// answer model moves well below its prior of one half.
fn predictive_world_that_learned() -> World {
    let mut world = World::new(start());
    let mut config = campaign(1, DialMode::Predictive, RuleSet::None);
    config.min_agents_predictive = 1;
    config.rules.retry.default = SignedDuration::from_hours(10);
    let contacts = (1..=90).map(|i| contact(i, &format!("+467017406{i:02}"))).collect();
    world.add_campaign(config, contacts);
    world.engine.set_pacer(CampaignId(1), Box::new(Predictive::default()));
    world.login(1, &[1]);
    world.login(2, &[1]);
    for _ in 0..40 {
        for call in world.open_calls() {
            world.fail(call.call, CallResult::NoAnswer, 480);
        }
        world.advance(SignedDuration::from_secs(5));
    }
    world
}

#[test]
fn a_restored_pacer_predicts_as_the_one_that_learned() {
    let learned = predictive_world_that_learned();
    let features = CallFeatures { attempt: 1, ..Default::default() };
    let pacer = learned.engine.pacer(CampaignId(1)).expect("the campaign exists");
    let p_learned = pacer.p_human(&features);
    assert!(p_learned < 0.3, "the pacer learned few answers: {p_learned}");
    let state = LearnedState::from_json(&state_json(&learned)).expect("reads back");
    assert_eq!(state.pacer.as_ref().map(|p| p.name.as_str()), Some("predictive"));

    let mut world = World::new(start());
    let mut config = campaign(1, DialMode::Predictive, RuleSet::None);
    config.min_agents_predictive = 1;
    world.input(ringa_engine::Input::Campaign { campaign: Box::new(config) });
    world.engine.set_pacer(CampaignId(1), Box::new(Predictive::default()));
    let cold = world.engine.pacer(CampaignId(1)).expect("exists").p_human(&features);
    let fresh = world.engine.learned_state(CampaignId(1)).expect("exists");
    assert!(fresh.is_empty() && !state.is_empty(), "only the one that learned has something");
    world.engine.restore_learned_state(CampaignId(1), state.clone()).expect("the state fits");
    let warm = world.engine.pacer(CampaignId(1)).expect("exists").p_human(&features);

    // The restored pacer predicts exactly as one that imported the same
    // models, and as the original up to the original's last refresh of
    // its level table (it is refreshed every few outcomes).
    let mut reference = Predictive::default();
    reference.import_state(state.pacer.expect("pacer models").state).expect("fits");
    assert_eq!(warm, reference.p_human(&features));
    assert!((warm - p_learned).abs() < 0.01, "warm {warm}, learned {p_learned}");
    assert!((cold - 0.5).abs() < 1e-9 && (cold - warm).abs() > 0.2, "cold {cold}, warm {warm}");
    assert_eq!(state_json(&world), state_json(&learned), "the models are the same");
}

#[test]
fn a_state_that_does_not_fit_is_refused_and_the_campaign_starts_cold() {
    let learned = world_that_learned();
    let text = state_json(&learned);

    let corrupt = LearnedState::from_json("{\"version\": 1, \"voicemail\": 7}");
    assert!(matches!(corrupt, Err(LearnedStateError::Corrupt(_))), "{corrupt:?}");
    let not_json = LearnedState::from_json("\u{0}garbage");
    assert!(matches!(not_json, Err(LearnedStateError::Corrupt(_))), "{not_json:?}");
    let newer = text.replacen("\"version\":1", "\"version\":2", 1);
    let newer = LearnedState::from_json(&newer);
    let expected = LearnedStateError::Version { found: 2, supported: LEARNED_STATE_VERSION };
    assert_eq!(newer.expect_err("a later version"), expected);

    // A version given in the value itself is checked too.
    let mut state = LearnedState::from_json(&text).expect("reads back");
    state.version = 9;
    let refused = first_ring_timeout(|world| {
        let err = world.engine.restore_learned_state(CampaignId(1), state).expect_err("refused");
        assert!(matches!(err, LearnedStateError::Version { found: 9, .. }), "{err}");
    });
    assert_eq!(refused, SignedDuration::from_secs(25), "the campaign starts cold");

    // Pacer models of the predictive pacer for a campaign that runs the
    // progressive one: refused, and the voicemail models are not taken
    // either.
    let mut state = LearnedState::from_json(&text).expect("reads back");
    state.pacer = Predictive::default()
        .export_state()
        .map(|state| ringa_engine::learned::LearnedPacer { name: "predictive".into(), state });
    let refused = first_ring_timeout(|world| {
        let err = world.engine.restore_learned_state(CampaignId(1), state).expect_err("refused");
        let LearnedStateError::OtherPacer { saved, running } = &err else { panic!("{err}") };
        assert_eq!((saved.as_str(), running.as_str()), ("predictive", "progressive"));
        assert!(err.to_string().contains("pacer predictive"), "{err}");
    });
    assert_eq!(refused, SignedDuration::from_secs(25), "the campaign starts cold");

    // Counts that are not numbers in the voicemail models.
    let mut state = LearnedState::from_json(&text).expect("reads back");
    state.voicemail.person_answers = -1.0;
    let refused = first_ring_timeout(|world| {
        let err = world.engine.restore_learned_state(CampaignId(1), state).expect_err("refused");
        assert!(matches!(err, LearnedStateError::Voicemail(_)), "{err}");
    });
    assert_eq!(refused, SignedDuration::from_secs(25), "the campaign starts cold");

    // Pacer models of the right pacer but the wrong shape.
    let mut world = World::new(start());
    world.input(ringa_engine::Input::Campaign { campaign: Box::new(methods_campaign()) });
    world.engine.set_pacer(CampaignId(1), Box::new(Predictive::default()));
    let mut pacer = serde_json::to_value(Predictive::default().export_state()).expect("json");
    pacer["talk"]["events"] = serde_json::json!([]);
    let mut state = LearnedState::from_json(&text).expect("reads back");
    state.pacer = Some(ringa_engine::learned::LearnedPacer {
        name: "predictive".into(),
        state: serde_json::from_value(pacer).expect("the state's shape"),
    });
    let err = world.engine.restore_learned_state(CampaignId(1), state).expect_err("refused");
    assert!(matches!(err, LearnedStateError::Pacer(StateError::Invalid(_))), "{err}");

    // No such campaign.
    let state = LearnedState::from_json(&text).expect("reads back");
    let err = world.engine.restore_learned_state(CampaignId(5), state).expect_err("refused");
    assert_eq!(err, LearnedStateError::UnknownCampaign(CampaignId(5)));
}

//! Answering-machine methods 2 (voicemail history) and 3 (ring time before
//! voicemail) measured on the same seeded day, each on and off: switching a
//! method on must reduce the machines that reach agents and the agent time
//! they cost, without breaking the drop target.

use ringa_sim::{Report, Scenario, Simulation};

fn scenario(history: bool, ring_time: bool) -> Scenario {
    let mut s = Scenario::from_toml(include_str!("../../../scenarios/voicemail.toml"))
        .expect("shipped scenario parses");
    // A smaller floor and list than the shipped day, so the test is quick.
    s.agents.count = 8;
    s.population.size = Some(3000);
    s.campaign.amd_history = history;
    s.campaign.amd_ring_time = ring_time;
    s
}

fn run(history: bool, ring_time: bool) -> Report {
    let s = scenario(history, ring_time);
    let pacer = ringa_pacer::by_name("predictive").expect("pacer exists");
    let report = Simulation::new(&s, pacer, 5).run(1, |_| {});
    assert_eq!(report.rejected, 0, "rejected agent actions: {:?}", report.rejected_reasons);
    report
}

fn line(name: &str, r: &Report) -> String {
    format!(
        "{name}: machines to agents {}, agent s lost {:.0}, avoided {}, live {}, conv {}, \
         drop {:.4}, placed {}, retimed {}, skipped {}, people rang out {}",
        r.machines_to_agents,
        r.agent_time_lost_to_machines_s,
        r.avoided_voicemail,
        r.live_answers,
        r.conversations,
        r.drop_rate,
        r.placed,
        r.history_retimed,
        r.history_skipped,
        r.people_rang_out,
    )
}

#[test]
fn each_method_on_reduces_machines_reaching_agents_on_the_same_seed() {
    let none = run(false, false);
    let history = run(true, false);
    let ring = run(false, true);
    let all = run(true, true);
    for (name, r) in [("none", &none), ("history", &history), ("ringtime", &ring), ("all", &all)] {
        eprintln!("{}", line(name, r));
    }
    assert!(none.machines_to_agents > 0, "the day must have machines to reduce");
    assert_eq!(none.avoided_voicemail, 0, "no learned ring timeouts with the methods off");
    assert_eq!(none.history_retimed + none.history_skipped, 0);

    assert!(ring.avoided_voicemail > 0);
    assert!(history.history_retimed + history.history_skipped > 0);
    for (name, on) in [("history", &history), ("ringtime", &ring), ("all", &all)] {
        assert!(
            on.machines_to_agents < none.machines_to_agents,
            "{name}: {} machines reached agents, {} with the methods off",
            on.machines_to_agents,
            none.machines_to_agents
        );
        assert!(
            on.agent_time_lost_to_machines_s < none.agent_time_lost_to_machines_s,
            "{name}: agent time lost to machines did not fall"
        );
    }
    for (name, r) in [("none", &none), ("history", &history), ("ringtime", &ring), ("all", &all)] {
        assert!(r.drop_rate <= r.drop_target, "{name}: drop rate {}", r.drop_rate);
    }
}

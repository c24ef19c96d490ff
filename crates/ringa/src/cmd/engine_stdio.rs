//! `ringa engine --stdio`: the engine driven from outside over JSON lines.
//!
//! Each line read is one timestamped input; after each, the engine's
//! commands are written one per line, then a `ready` line that carries the
//! time the engine next wants to be woken. A line that cannot be read gets an
//! `error` line and changes nothing. The protocol is described in
//! `docs/engine-protocol.md`.

use std::io::{BufRead, Write};

use anyhow::Context;
use jiff::Timestamp;
use ringa_core::{AgentId, CampaignId};
use ringa_engine::{AgentState, Command, Engine, EngineConfig, Input, LearnedState};
use serde::Serialize;

/// Arguments of `ringa engine`.
#[derive(clap::Args)]
pub(crate) struct EngineArgs {
    /// Speak the JSON-lines protocol on standard input and output.
    #[arg(long)]
    stdio: bool,
    /// Seed of the engine's own random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lines the trunk can carry at once.
    #[arg(long)]
    trunk_lines: Option<u32>,
}

/// `agent_state` with the time of the change as `since`: the line's own `at`
/// is the time of the input, and one object cannot hold two `at` keys.
#[derive(Serialize)]
#[serde(tag = "type", rename = "agent_state")]
struct AgentStateLine<'a> {
    agent: AgentId,
    state: &'a AgentState,
    since: Timestamp,
}

/// A campaign's learned state, in answer to a `learned_state` line
/// (`null` for a campaign the engine does not know).
#[derive(Serialize)]
#[serde(tag = "type", rename = "learned_state")]
struct LearnedLine {
    campaign: CampaignId,
    state: Option<LearnedState>,
}

/// One line written by the engine.
#[derive(Serialize)]
struct Out<'a, T: Serialize> {
    at: Timestamp,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Control {
    /// Every command of the input has been written.
    Ready { wake_at: Option<Timestamp> },
    /// The input line could not be used.
    Error { line: u64, message: String },
}

pub(crate) fn run(args: EngineArgs) -> anyhow::Result<()> {
    if !args.stdio {
        anyhow::bail!("only the --stdio transport exists: run `ringa engine --stdio`");
    }
    let config =
        EngineConfig { seed: args.seed, trunk_lines: args.trunk_lines, ..EngineConfig::default() };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    serve(&mut Engine::new(config), stdin.lock(), stdout.lock())
}

/// Runs the protocol over any reader and writer until the input ends.
pub(crate) fn serve(
    engine: &mut Engine,
    input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<()> {
    let mut last = Timestamp::UNIX_EPOCH;
    let mut input = input;
    let mut number = 0u64;
    loop {
        number += 1;
        let line = match read_line(&mut input).context("reading standard input")? {
            Some(Ok(line)) => line,
            Some(Err(message)) => {
                write_line(&mut output, last, &Control::Error { line: number, message })?;
                output.flush().context("writing standard output")?;
                continue;
            }
            None => break,
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok((at, Request::Input(input))) => {
                last = at.max(last);
                engine.handle(at, *input);
                while let Some(command) = engine.poll_command() {
                    write_command(&mut output, last, &command)?;
                }
            }
            Ok((at, Request::SetPacer { campaign, pacer })) => {
                last = at.max(last);
                match ringa_pacer::by_name(&pacer) {
                    Ok(pacer) => engine.set_pacer(campaign, pacer),
                    Err(err) => {
                        let error = Control::Error { line: number, message: err.to_string() };
                        write_line(&mut output, last, &error)?;
                        continue;
                    }
                }
            }
            Ok((at, Request::LearnedState { campaign })) => {
                last = at.max(last);
                let state = engine.learned_state(campaign);
                write_line(&mut output, last, &LearnedLine { campaign, state })?;
            }
            Ok((at, Request::RestoreLearned { campaign, state })) => {
                last = at.max(last);
                if let Err(err) = engine.restore_learned_state(campaign, *state) {
                    let error = Control::Error { line: number, message: err.to_string() };
                    write_line(&mut output, last, &error)?;
                    continue;
                }
            }
            Err(message) => {
                write_line(&mut output, last, &Control::Error { line: number, message })?;
                continue;
            }
        }
        let ready = Control::Ready { wake_at: engine.poll_timeout() };
        write_line(&mut output, last, &ready)?;
        output.flush().context("writing standard output")?;
    }
    Ok(())
}

/// The longest line read, in bytes: far above any real batch of contacts.
/// A longer one is answered with an error and skipped, not held in memory.
const MAX_LINE: usize = 64 << 20;

/// The next line: `None` at the end of the input, `Some(Err)` when the line is
/// too long or not UTF-8 (the whole line is consumed either way).
fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<Result<String, String>>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            if line.is_empty() && !too_long {
                return Ok(None);
            }
            break;
        }
        let (take, ends) = match buffer.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        if !too_long && line.len() + take <= MAX_LINE + 1 {
            line.extend_from_slice(&buffer[..take]);
        } else {
            too_long = true;
            line.clear();
        }
        input.consume(take);
        if ends {
            break;
        }
    }
    if too_long {
        return Ok(Some(Err(format!("line longer than {MAX_LINE} bytes, skipped"))));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(Some(String::from_utf8(line).map_err(|err| {
        format!("not UTF-8 (bad byte at offset {}): {err}", err.utf8_error().valid_up_to())
    })))
}

/// The earliest and latest input times taken: a century each side of 2000
/// (later times plus the engine's delays would overflow the clock).
fn in_era(at: Timestamp) -> Result<Timestamp, String> {
    let first = Timestamp::constant(-2_208_988_800, 0);
    let last = Timestamp::constant(7_258_118_400, 0);
    if at < first || at > last {
        return Err(format!("the time {at} is outside 1900-2200, the times the engine takes"));
    }
    Ok(at)
}

/// Every time inside an input (a callback's `due`, a history's `retry_at`,
/// a break's time) must lie in the same era as `at`: the engine adds its
/// delays to them.
fn times_in_era(value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::String(text) => match text.parse::<Timestamp>() {
            Ok(at) => in_era(at).map(|_| ()),
            Err(_) => Ok(()),
        },
        serde_json::Value::Array(items) => items.iter().try_for_each(times_in_era),
        serde_json::Value::Object(fields) => fields.values().try_for_each(times_in_era),
        _ => Ok(()),
    }
}

enum Request {
    Input(Box<Input>),
    SetPacer { campaign: CampaignId, pacer: String },
    LearnedState { campaign: CampaignId },
    RestoreLearned { campaign: CampaignId, state: Box<LearnedState> },
}

fn parse_line(line: &str) -> Result<(Timestamp, Request), String> {
    let mut value: serde_json::Value =
        serde_json::from_str(line).map_err(|err| format!("not JSON: {err}"))?;
    let object = value.as_object_mut().ok_or("a line must be a JSON object")?;
    let at = object.remove("at").ok_or("missing \"at\": the time of the input (RFC 3339)")?;
    let at: Timestamp = serde_json::from_value(at)
        .map_err(|err| format!("\"at\" is not an RFC 3339 time: {err}"))?;
    let at = in_era(at)?;
    object.values().try_for_each(times_in_era)?;
    // The break's time cannot be called `at` on a line: it is `leaves_at`.
    if object.get("type").and_then(|t| t.as_str()) == Some("agent_leaves_at") {
        let leaves_at = object.remove("leaves_at").unwrap_or(serde_json::Value::Null);
        object.insert("at".to_string(), leaves_at);
    }
    if object.get("type").and_then(|t| t.as_str()) == Some("set_pacer") {
        let campaign = object
            .get("campaign")
            .and_then(|c| c.as_u64())
            .ok_or("set_pacer needs \"campaign\" (a number)")?;
        let pacer = object
            .get("pacer")
            .and_then(|p| p.as_str())
            .ok_or("set_pacer needs \"pacer\" (a name)")?;
        return Ok((at, Request::SetPacer { campaign: CampaignId(campaign), pacer: pacer.into() }));
    }
    match object.get("type").and_then(|t| t.as_str()) {
        Some("learned_state") => {
            let campaign = object
                .get("campaign")
                .and_then(|c| c.as_u64())
                .ok_or("learned_state needs \"campaign\" (a number)")?;
            return Ok((at, Request::LearnedState { campaign: CampaignId(campaign) }));
        }
        Some("restore_learned_state") => {
            let campaign = object
                .get("campaign")
                .and_then(|c| c.as_u64())
                .ok_or("restore_learned_state needs \"campaign\" (a number)")?;
            let state = object
                .get("state")
                .ok_or("restore_learned_state needs \"state\" (a learned state)")?;
            let state = LearnedState::from_json(&state.to_string()).map_err(|e| e.to_string())?;
            let state = Box::new(state);
            return Ok((at, Request::RestoreLearned { campaign: CampaignId(campaign), state }));
        }
        _ => {}
    }
    let input: Input = serde_json::from_value(value).map_err(|err| format!("bad input: {err}"))?;
    Ok((at, Request::Input(Box::new(input))))
}

fn write_command(output: &mut impl Write, at: Timestamp, command: &Command) -> anyhow::Result<()> {
    match command {
        Command::AgentState { agent, state, at: since } => {
            write_line(output, at, &AgentStateLine { agent: *agent, state, since: *since })
        }
        other => write_line(output, at, other),
    }
}

fn write_line<T: Serialize>(
    output: &mut impl Write,
    at: Timestamp,
    body: &T,
) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *output, &Out { at, body }).context("encoding a line")?;
    output.write_all(b"\n").context("writing standard output")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_lines(lines: &[&str]) -> Vec<serde_json::Value> {
        let mut engine = Engine::new(EngineConfig::default());
        let input = lines.join("\n");
        let mut out = Vec::new();
        serve(&mut engine, input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn a_campaign_contact_and_agent_lead_to_a_dial() {
        let campaign = ringa_core::Campaign::new(
            CampaignId(1),
            "stdio",
            ringa_core::DialMode::Progressive,
            ringa_core::RuleSet::None,
        );
        let mut campaign = serde_json::to_value(campaign).unwrap();
        campaign["rules"]["windows"] = serde_json::json!({
            "spans": [{"days": "all", "start": "00:00", "end": "00:00"}]
        });
        let campaign_line = serde_json::json!({
            "at": "2026-12-07T09:00:00Z", "type": "campaign", "campaign": campaign
        })
        .to_string();
        let contacts = r#"{"at":"2026-12-07T09:00:00Z","type":"contacts","campaign":1,
            "exhausted":true,"contacts":[{"contact":{"id":7,"list":1,
            "numbers":[{"number":"+46701740605","label":"main"}]},"history":{}}]}"#
            .replace('\n', "");
        let lines = [
            campaign_line.as_str(),
            contacts.as_str(),
            r#"{"at":"2026-12-07T09:00:01Z","type":"agent_login","agent":3,"campaigns":[1]}"#,
            r#"{"at":"2026-12-07T09:00:02Z","type":"agent_ready","agent":3}"#,
        ];
        let out = run_lines(&lines);
        let originate = out.iter().find(|v| v["type"] == "originate").expect("a dial");
        assert_eq!(originate["number"], "+46701740605");
        assert_eq!(originate["contact"], 7);
        assert_eq!(originate["agent"], 3);
        assert_eq!(originate["at"], "2026-12-07T09:00:02Z");
        assert_eq!(out.iter().filter(|v| v["type"] == "ready").count(), 4);
        let ready = out.iter().find(|v| v["type"] == "agent_state" && v["agent"] == 3).unwrap();
        assert_eq!(ready["since"], "2026-12-07T09:00:01Z");
    }

    #[test]
    fn agent_state_lines_have_one_at_and_a_break_is_read_from_leaves_at() {
        let lines = [
            r#"{"at":"2026-12-07T09:00:01Z","type":"agent_login","agent":3,"campaigns":[1]}"#,
            r#"{"at":"2026-12-07T09:00:02Z","type":"agent_leaves_at","agent":3,
                "leaves_at":"2026-12-07T09:30:00Z"}"#,
            r#"{"at":"2026-12-07T09:00:03Z","type":"agent_ready","agent":3}"#,
        ]
        .map(|l| l.replace('\n', ""));
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        serve(&mut engine, lines.join("\n").as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert_eq!(line.matches("\"at\":").count(), 1, "{line}");
        }
        let ready_times: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "ready")
            .map(|v| v["at"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            ready_times,
            ["2026-12-07T09:00:01Z", "2026-12-07T09:00:02Z", "2026-12-07T09:00:03Z"]
        );
        let break_at: Timestamp = "2026-12-07T09:30:00Z".parse().unwrap();
        assert_eq!(engine.agent(AgentId(3)).and_then(|a| a.leaves_at), Some(break_at));
    }

    #[test]
    fn a_learned_state_is_given_back_and_taken_and_one_that_does_not_fit_is_refused() {
        let campaign = ringa_core::Campaign::new(
            CampaignId(1),
            "stdio",
            ringa_core::DialMode::Progressive,
            ringa_core::RuleSet::None,
        );
        let campaign_line = serde_json::json!({
            "at": "2026-12-07T09:00:00Z", "type": "campaign", "campaign": campaign
        })
        .to_string();
        let restore = |version: u32, campaign: u64| {
            serde_json::json!({
                "at": "2026-12-07T09:00:01Z", "type": "restore_learned_state",
                "campaign": campaign,
                "state": {
                    "version": version, "pacer": null,
                    "voicemail": {
                        "contacts": [], "voicemail_answers": 2.0, "person_answers": 0.0,
                        "numbers": [{
                            "number": "+46701740605",
                            "ring_time": { "pickups_ms": [20000, 20400] },
                        }],
                    },
                },
            })
            .to_string()
        };
        let query = r#"{"at":"2026-12-07T09:00:02Z","type":"learned_state","campaign":1}"#;
        let lines = [
            campaign_line.clone(),
            query.to_string(),
            restore(2, 1),
            restore(1, 9),
            restore(1, 1),
            query.to_string(),
        ];
        let out = run_lines(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let states: Vec<_> = out.iter().filter(|v| v["type"] == "learned_state").collect();
        assert_eq!(states.len(), 2, "{out:?}");
        assert_eq!(states[0]["state"]["voicemail"]["numbers"], serde_json::json!([]));
        assert_eq!(states[1]["campaign"], 1);
        let numbers = &states[1]["state"]["voicemail"]["numbers"];
        assert_eq!(numbers[0]["number"], "+46701740605", "{numbers}");
        assert_eq!(numbers[0]["ring_time"]["pickups_ms"], serde_json::json!([20000, 20400]));
        let errors: Vec<_> = out.iter().filter(|v| v["type"] == "error").collect();
        assert_eq!(errors.len(), 2, "{out:?}");
        assert_eq!(errors[0]["line"], 3);
        assert!(errors[0]["message"].as_str().unwrap().contains("version 2"), "{errors:?}");
        assert!(errors[1]["message"].as_str().unwrap().contains("no campaign-9"), "{errors:?}");
    }

    #[test]
    fn bad_lines_get_an_error_and_change_nothing() {
        let out = run_lines(&[
            "not json",
            r#"{"type":"tick"}"#,
            r#"{"at":"yesterday","type":"tick"}"#,
            r#"{"at":"2026-12-07T09:00:00Z","type":"no_such_input"}"#,
            r#"{"at":"2026-12-07T09:00:00Z","type":"set_pacer","campaign":1,"pacer":"magic"}"#,
            r#"{"at":"2026-12-07T09:00:00Z","type":"tick"}"#,
        ]);
        let errors: Vec<_> = out.iter().filter(|v| v["type"] == "error").collect();
        assert_eq!(errors.len(), 5, "{out:?}");
        assert_eq!(errors[0]["line"], 1);
        assert!(errors[1]["message"].as_str().unwrap().contains("\"at\""));
        assert!(errors[4]["message"].as_str().unwrap().contains("unknown pacer"));
        assert_eq!(out.last().unwrap()["type"], "ready");
    }
}

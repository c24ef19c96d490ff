//! The OpenAPI 3.1 document of `/api/v1`, built from one table of routes so
//! that it lists exactly what [`crate::api::routes`] serves, with the
//! request and response schemas of the routes an integrator needs (leads,
//! contacts, campaigns, lists, outcomes and callbacks, users, tokens, the
//! wall) in `components.schemas`, so that a client can be generated.

use axum::Json;
use serde_json::{Map, Value, json};

/// (method, path, summary, who may call it).
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "post",
        "/login",
        "Log in with login and password; sets the session cookie, returns the CSRF token",
        "public",
    ),
    ("post", "/logout", "End the session", "session"),
    (
        "get",
        "/me",
        "The caller: user, role, CSRF token, assigned campaigns",
        "any role; token scope read",
    ),
    (
        "post",
        "/me/password",
        "Set your own password {old_password, new_password (8+)}; your other sessions end \
         and a one-time password is replaced",
        "session",
    ),
    (
        "get",
        "/campaigns",
        "Campaigns the caller may see",
        "any role (agents: their own); scope read",
    ),
    ("post", "/campaigns", "Create a campaign {name, mode, rule_set}", "admin; scope admin"),
    (
        "get",
        "/campaigns/{id}",
        "A campaign's whole configuration",
        "any role (agents: their own); scope read",
    ),
    ("put", "/campaigns/{id}", "Replace a campaign's configuration", "admin; scope admin"),
    (
        "get",
        "/campaigns/{id}/stats",
        "Figures for a period (from, to) with their formulas",
        "admin, supervisor; scope read",
    ),
    (
        "get",
        "/campaigns/{id}/diagnostics",
        "Contacts counted by what keeps them from being dialed now",
        "admin, supervisor; scope read",
    ),
    (
        "get",
        "/campaigns/{id}/learned-state",
        "What the campaign has learned (pacer and voicemail models): live and as last saved",
        "admin, supervisor; scope read",
    ),
    (
        "post",
        "/campaigns/{id}/learned-state/copy-from/{from}",
        "Warm-start the campaign from what another campaign has learned; 409 when it does \
         not fit the campaign's pacer",
        "admin; scope admin",
    ),
    ("get", "/campaigns/{id}/lists", "The campaign's lists", "admin, supervisor; scope read"),
    ("post", "/campaigns/{id}/lists", "Create a list {name}", "admin; scope admin"),
    (
        "get",
        "/campaigns/{id}/contacts",
        "Search contacts (query q: a whole phone number, or part of a name in any case); \
         at most 50",
        "any role (agents: their own campaigns); scope read",
    ),
    (
        "get",
        "/campaigns/{id}/contacts/{contact}",
        "A contact with its history and callbacks",
        "any role (agents: their own campaigns); scope read",
    ),
    (
        "patch",
        "/campaigns/{id}/contacts/{contact}",
        "Deactivate or reactivate a contact {active}: an inactive contact is never dialed \
         and its pending callbacks are cancelled",
        "admin; scope admin",
    ),
    (
        "post",
        "/campaigns/{id}/contacts/{contact}/erase",
        "Erase a contact on request: personal data and recordings are removed, a one-way \
         hash keeps its numbers blocked",
        "admin; scope admin",
    ),
    (
        "post",
        "/campaigns/{id}/orders/cancellations",
        "Cancel the orders a client's file names (CSV body: an order number or the \
         customer's phone number a line; query: reason)",
        "admin; scope admin",
    ),
    (
        "patch",
        "/lists/{id}",
        "Change a list {enabled, weight, priority, new_per_day}; fields left out stay",
        "admin; scope admin",
    ),
    (
        "post",
        "/lists/{id}/reset",
        "Reset a list {outcomes}: finished contacts with these outcomes (every outcome when \
         empty) are dialable again, never past do-not-call or final-by-rule outcomes",
        "admin; scope admin",
    ),
    ("post", "/orders/{id}/cancel", "Cancel one order {reason}", "admin, supervisor; scope admin"),
    (
        "post",
        "/lists/{id}/import",
        "Import a CSV body (query: mapping, encoding, dedupe); returns the import report",
        "admin; scope admin",
    ),
    ("get", "/dnc", "Do-not-call lists", "admin, supervisor; scope read"),
    ("post", "/dnc", "Create a do-not-call list {name, campaign}", "admin; scope admin"),
    (
        "post",
        "/dnc/{id}/numbers",
        "Add numbers {numbers, region} to a do-not-call list",
        "admin; scope admin",
    ),
    ("get", "/users", "Users with their roles and campaigns", "admin, supervisor; scope admin"),
    (
        "post",
        "/users",
        "Create a user {login, name, role, password, campaigns}",
        "admin; scope admin",
    ),
    (
        "patch",
        "/users/{id}",
        "Disable, enable or change the role of a user {active, role}: disabling ends the \
         user's sessions and revokes the user's tokens at once; a role change ends the \
         user's sessions",
        "admin; scope admin",
    ),
    (
        "post",
        "/users/{id}/password",
        "Set a password {password}: the user's own needs old_password; an admin may make \
         another user's one-time (must_change_password); the user's other sessions end",
        "the user, or admin",
    ),
    ("put", "/users/{id}/campaigns", "Assign campaigns [ids]", "admin; scope admin"),
    ("get", "/tokens", "API tokens (without secrets)", "admin; scope admin"),
    (
        "post",
        "/tokens",
        "Create an API token {name, scopes}; the secret is shown once",
        "admin session",
    ),
    ("delete", "/tokens/{id}", "Revoke an API token", "admin; scope admin"),
    (
        "post",
        "/leads",
        "Lead intake {campaign, phone, name, fields}: washed, stored and dialed first",
        "admin; scope leads",
    ),
    ("get", "/agent/state", "The caller's agent state and card summary", "session"),
    (
        "get",
        "/agent/card",
        "The caller's card: contact, history, fields, script, outcomes",
        "session",
    ),
    ("post", "/agent/login", "Join a campaign {campaign}", "session"),
    ("post", "/agent/ready", "Go ready", "session"),
    ("post", "/agent/pause", "Pause {reason}", "session"),
    ("post", "/agent/logout", "Leave the floor", "session"),
    ("post", "/agent/dial", "Preview: dial number {number} of the card", "session"),
    ("post", "/agent/skip", "Preview: close the card without dialing", "session"),
    ("post", "/agent/hangup", "Hang up the current call", "session"),
    (
        "post",
        "/agent/outcome",
        "Set the outcome {outcome, note, callback {at, around_minutes, personal, zone}}",
        "session",
    ),
    (
        "get",
        "/wall",
        "The live floor: agents, calls, campaign figures and their definitions",
        "admin, supervisor; scope read",
    ),
    (
        "post",
        "/wall/agents/{id}/release",
        "Force-release a stuck agent",
        "admin, supervisor; scope admin",
    ),
    (
        "post",
        "/wall/agents/{id}/campaigns",
        "Move an agent to campaigns [ids]",
        "admin, supervisor; scope admin",
    ),
    (
        "get",
        "/events/wall",
        "Server-sent events: the floor snapshot on every change",
        "admin, supervisor; scope read",
    ),
    (
        "get",
        "/events/agent",
        "Server-sent events: the caller's agent view on every change",
        "session",
    ),
    ("get", "/openapi.json", "This document", "public"),
];

/// One row of [`BODIES`].
pub type Body =
    (&'static str, &'static str, Option<&'static str>, &'static str, Option<&'static str>);

/// (method, path, request body schema, success status, response schema).
/// A schema written `[Name]` is an array of `Name`; no response schema
/// means an empty answer.
pub const BODIES: &[Body] = &[
    ("post", "/login", Some("Login"), "200", Some("LoginAnswer")),
    ("post", "/logout", None, "204", None),
    ("get", "/me", None, "200", Some("Me")),
    ("post", "/me/password", Some("OwnPassword"), "204", None),
    ("get", "/campaigns", None, "200", Some("[Campaign]")),
    ("post", "/campaigns", Some("NewCampaign"), "201", Some("Campaign")),
    ("get", "/campaigns/{id}", None, "200", Some("Campaign")),
    ("put", "/campaigns/{id}", Some("Campaign"), "200", Some("Campaign")),
    ("get", "/campaigns/{id}/stats", None, "200", Some("Stats")),
    ("get", "/campaigns/{id}/diagnostics", None, "200", Some("Diagnostics")),
    ("get", "/campaigns/{id}/learned-state", None, "200", Some("LearnedState")),
    ("post", "/campaigns/{id}/learned-state/copy-from/{from}", None, "200", Some("LearnedCopy")),
    ("get", "/campaigns/{id}/lists", None, "200", Some("[List]")),
    ("post", "/campaigns/{id}/lists", Some("NewList"), "201", Some("Created")),
    ("get", "/campaigns/{id}/contacts", None, "200", Some("ContactSearch")),
    ("get", "/campaigns/{id}/contacts/{contact}", None, "200", Some("Contact")),
    ("patch", "/campaigns/{id}/contacts/{contact}", Some("ContactChange"), "200", Some("Contact")),
    ("post", "/campaigns/{id}/contacts/{contact}/erase", None, "200", Some("Erasure")),
    ("post", "/campaigns/{id}/orders/cancellations", Some("Csv"), "200", Some("Cancellations")),
    ("patch", "/lists/{id}", Some("ListChange"), "200", Some("List")),
    ("post", "/lists/{id}/reset", Some("ListReset"), "200", Some("ListResetReport")),
    ("post", "/orders/{id}/cancel", Some("OrderCancel"), "200", Some("OrderCancelled")),
    ("post", "/lists/{id}/import", Some("Csv"), "200", Some("ImportReport")),
    ("get", "/dnc", None, "200", Some("[DncList]")),
    ("post", "/dnc", Some("NewDncList"), "201", Some("Created")),
    ("post", "/dnc/{id}/numbers", Some("DncNumbers"), "200", Some("DncAdded")),
    ("get", "/users", None, "200", Some("[User]")),
    ("post", "/users", Some("NewUser"), "201", Some("Created")),
    ("patch", "/users/{id}", Some("UserChange"), "200", Some("User")),
    ("post", "/users/{id}/password", Some("NewPassword"), "204", None),
    ("put", "/users/{id}/campaigns", Some("CampaignIds"), "204", None),
    ("get", "/tokens", None, "200", Some("[Token]")),
    ("post", "/tokens", Some("NewToken"), "201", Some("TokenCreated")),
    ("delete", "/tokens/{id}", None, "204", None),
    ("post", "/leads", Some("Lead"), "202", Some("LeadAnswer")),
    ("post", "/agent/login", Some("AgentLogin"), "204", None),
    ("post", "/agent/ready", None, "204", None),
    ("post", "/agent/pause", Some("Pause"), "204", None),
    ("post", "/agent/logout", None, "204", None),
    ("post", "/agent/dial", Some("Dial"), "204", None),
    ("post", "/agent/skip", None, "204", None),
    ("post", "/agent/hangup", None, "204", None),
    ("post", "/agent/outcome", Some("SetOutcome"), "204", None),
    ("get", "/wall", None, "200", Some("Wall")),
    ("post", "/wall/agents/{id}/release", None, "204", None),
    ("post", "/wall/agents/{id}/campaigns", Some("CampaignIds"), "204", None),
];

/// A `$ref` to a schema, or an array of them for `[Name]`.
fn schema_ref(name: &str) -> Value {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(item) => json!({ "type": "array", "items": schema_ref(item) }),
        None => json!({ "$ref": format!("#/components/schemas/{name}") }),
    }
}

fn content(name: &str) -> Value {
    let media = if name == "Csv" { "text/csv" } else { "application/json" };
    json!({ media: { "schema": schema_ref(name) } })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

/// The schemas the routes refer to.
pub fn schemas() -> Value {
    let int = json!({ "type": "integer" });
    let text = json!({ "type": "string" });
    let flag = json!({ "type": "boolean" });
    let time = json!({ "type": "string", "format": "date-time" });
    let texts = json!({ "type": "array", "items": { "type": "string" } });
    let ids = json!({ "type": "array", "items": { "type": "integer" } });
    let map = json!({ "type": "object", "additionalProperties": { "type": "string" } });
    let mode = json!({ "enum": ["preview", "progressive", "power", "predictive"] });
    let rule_set = json!({ "enum": ["se", "us", "uk", "none"] });
    let role = json!({ "enum": ["admin", "supervisor", "agent"] });
    let scope = json!({ "enum": ["leads", "read", "admin", "metrics"] });
    let mut parts = vec![json!({
        "Error": object(&["error"], json!({ "error": text })),
        "Login": object(&["login", "password"], json!({ "login": text, "password": text })),
        "LoginAnswer": object(&["csrf", "role", "user", "must_change_password"], json!({
            "csrf": text, "role": role, "user": int, "must_change_password": flag,
        })),
        "Me": object(&["user", "role"], json!({
            "user": int, "name": text, "role": role, "csrf": nullable("string"),
            "campaigns": ids, "must_change_password": flag,
        })),
        "OwnPassword": object(&["old_password", "new_password"], json!({
            "old_password": text, "new_password": { "type": "string", "minLength": 8 },
        })),
        "NewCampaign": object(&["name"], json!({
            "name": text, "mode": mode, "rule_set": rule_set,
        })),
        "Outcome": object(&["code", "label", "requires"], json!({
            "code": text, "label": text,
            "requires": { "enum": ["person", "answer", "no_person"] },
            "conversation": flag, "sale": flag, "callback": flag, "is_final": flag,
            "retry_after": { "description": "a duration such as `PT4H`",
                "type": ["string", "null"] },
            "dnc": flag, "key": nullable("string"),
        })),
        "Campaign": {
            "description": "The whole campaign document (ringa_core::Campaign): send back \
                what GET returned, changed; `cannot_dial` is answered only.",
            "type": "object",
            "required": ["id", "name", "mode", "rules", "outcomes"],
            "additionalProperties": true,
            "properties": {
                "id": int, "name": text, "mode": mode, "region": text,
                "drop_target": { "type": "number", "minimum": 0, "maximum": 1 },
                "max_lines_per_agent": nullable("number"),
                "ring_timeout": text,
                "rules": { "type": "object", "additionalProperties": true,
                    "properties": { "rule_set": rule_set, "max_attempts": int,
                        "windows": { "type": "object" } } },
                "outcomes": { "type": "array", "items": schema_ref("Outcome") },
                "card_fields": texts, "script": text, "amd": flag,
                "caller_ids": { "type": "object" },
                "cannot_dial": texts,
            },
        },
    })];
    parts.push(json!({
        "Stats": object(&["from", "to", "campaigns", "formulas"], json!({
            "from": time, "to": time,
            "campaigns": { "type": "array", "items": { "type": "object" } },
            "formulas": map,
        })),
        "Diagnostics": object(&["campaign"], json!({
            "campaign": int, "dialable_now": int, "quarantined": int, "list_disabled": int,
            "claimed": int, "waiting_callback": int, "done": int, "blocked": int,
            "refused_since_start": { "type": "object",
                "additionalProperties": { "type": "integer" } },
        })),
        "LearnedFigures": object(&[], json!({
            "version": int, "pacer": nullable("string"), "outcomes_seen": int,
            "answer_rate": nullable("number"), "contacts": int, "numbers": int,
            "voicemail_answers": { "type": "number" }, "person_answers": { "type": "number" },
            "error": text,
        })),
        "LearnedState": object(&["campaign", "live", "saved"], json!({
            "campaign": int,
            "live": { "oneOf": [schema_ref("LearnedFigures"), { "type": "null" }] },
            "saved": { "oneOf": [
                object(&["updated_at", "state"], json!({
                    "updated_at": time, "state": schema_ref("LearnedFigures"),
                })),
                { "type": "null" },
            ] },
        })),
        "LearnedCopy": object(&["campaign", "from", "state"], json!({
            "campaign": int, "from": int, "state": schema_ref("LearnedFigures"),
        })),
        "List": object(&["id", "name"], json!({
            "id": int, "campaign": int, "name": text, "enabled": flag, "weight": int,
            "priority": int, "new_per_day": nullable("integer"),
        })),
        "ListChange": object(&[], json!({
            "enabled": flag, "weight": { "type": "integer", "minimum": 1 }, "priority": int,
            "new_per_day": { "description": "never-dialed contacts started a day; null: no cap",
                "type": ["integer", "null"] },
        })),
        "ListReset": object(&[], json!({ "outcomes": texts })),
        "ListResetReport": object(&["reset", "kept_dnc", "kept_final", "kept_inactive"], json!({
            "reset": int, "kept_dnc": int, "kept_final": int, "kept_inactive": int,
        })),
        "ContactChange": object(&["active"], json!({ "active": flag })),
        "Erasure": object(&["numbers_hashed", "callbacks_cancelled", "recordings_removed",
            "recordings_missing", "recordings_left"],
            json!({ "numbers_hashed": int, "callbacks_cancelled": int,
                "recordings_removed": int, "recordings_missing": int,
                "recordings_left": { "description": "files that could not be deleted: personal \
                    data still on disk, to remove by hand", "type": "array",
                    "items": object(&["path", "why"], json!({ "path": text, "why": text })) },
            })),
        "OrderCancel": object(&[], json!({ "reason": text })),
        "OrderCancelled": object(&["order", "cancelled"], json!({
            "order": int, "cancelled": { "type": "boolean",
                "description": "false when the order was cancelled already" },
        })),
        "Cancellations": object(&["cancelled", "already_cancelled", "not_found"], json!({
            "cancelled": int, "already_cancelled": int,
            "not_found": { "type": "array", "items": object(&["line", "text", "why"],
                json!({ "line": int, "text": text, "why": text })) },
        })),
        "NewList": object(&["name"], json!({ "name": text })),
        "Created": object(&["id"], json!({ "id": int })),
        "Csv": { "type": "string", "description": "a delimited text file; its header names \
            the columns" },
        "ImportReport": object(&["total", "counts", "report"], json!({
            "total": int,
            "counts": { "type": "object", "additionalProperties": { "type": "integer" } },
            "report": { "type": "object" },
        })),
    }));
    parts.push(json!({
        "Number": object(&["number"], json!({
            "number": { "type": "string", "description": "E.164" }, "label": text,
            "display": text,
        })),
        "Attempt": object(&["attempt_no", "started_at"], json!({
            "attempt_no": int, "started_at": time,
            "started_local": { "type": "string",
                "description": "in history_zone, with its abbreviation" },
            "result": nullable("string"), "outcome": nullable("string"),
            "sip_code": nullable("integer"), "agent": nullable("integer"),
        })),
        "ContactCallback": object(&["id", "due_at", "local", "zone"], json!({
            "id": int, "due_at": time, "local": text, "zone": text, "personal": flag,
            "state": text, "note": nullable("string"), "tries": int,
            "cancel_reason": nullable("string"),
        })),
        "Contact": object(&["id", "campaign", "numbers", "history", "callbacks"], json!({
            "id": int, "campaign": int, "list": int, "name": nullable("string"),
            "address": nullable("string"), "postal_code": nullable("string"),
            "zone": nullable("string"), "fields": map,
            "numbers": { "type": "array", "items": schema_ref("Number") },
            "state": text, "attempts": int, "last_outcome": nullable("string"),
            "history": { "type": "array", "items": schema_ref("Attempt") },
            "history_zone": text,
            "active": flag, "erased": flag,
            "callbacks": { "type": "array", "items": schema_ref("ContactCallback") },
        })),
        "ContactMatch": object(&["id", "numbers", "state", "attempts", "next_at"], json!({
            "id": int, "name": nullable("string"),
            "numbers": { "type": "array", "items": { "type": "string",
                "description": "E.164" } },
            "state": text, "attempts": int,
            "next_at": { "type": "string", "format": "date-time",
                "description": "when the contact is next due" },
        })),
        "ContactSearch": object(&["contacts", "limit", "more"], json!({
            "contacts": { "type": "array", "items": schema_ref("ContactMatch") },
            "limit": int,
            "more": { "type": "boolean", "description": "more contacts matched than limit" },
        })),
    }));
    parts.push(json!({
        "DncList": object(&["id", "name", "kind"], json!({
            "id": int, "name": text, "kind": text, "campaign": nullable("integer"),
        })),
        "NewDncList": object(&["name"], json!({ "name": text, "campaign": nullable("integer") })),
        "DncNumbers": object(&["numbers"], json!({ "numbers": texts, "region": text })),
        "DncAdded": object(&["added", "invalid"], json!({
            "added": int, "invalid": { "type": "array", "items": { "type": "object" } },
        })),
    }));
    parts.push(json!({
        "User": object(&["id", "login", "role"], json!({
            "id": int, "login": text, "name": text, "role": role, "active": flag,
            "campaigns": ids,
        })),
        "NewUser": object(&["login", "role", "password"], json!({
            "login": text, "name": text, "role": role,
            "password": { "type": "string", "minLength": 8 }, "campaigns": ids,
            "must_change_password": flag,
        })),
        "NewPassword": object(&["password"], json!({
            "password": { "type": "string", "minLength": 8 },
            "old_password": text, "must_change_password": flag,
        })),
        "UserChange": object(&[], json!({ "active": flag, "role": role })),
        "CampaignIds": ids,
        "Token": object(&["id", "name", "scopes"], json!({
            "id": int, "name": text, "scopes": { "type": "array", "items": scope },
            "created_at": time, "revoked": flag,
        })),
        "NewToken": object(&["name", "scopes"], json!({
            "name": text, "scopes": { "type": "array", "items": scope },
        })),
        "TokenCreated": object(&["id", "token", "scopes"], json!({
            "id": int, "token": { "type": "string", "description": "shown once" },
            "scopes": { "type": "array", "items": scope },
        })),
    }));
    parts.push(json!({
        "Lead": object(&["campaign", "phone"], json!({
            "campaign": int,
            "phone": { "type": "string", "description": "any written form; national \
                numbers are read with the campaign's region" },
            "name": nullable("string"), "fields": map,
        })),
        "LeadAnswer": object(&["contact", "campaign", "duplicate"], json!({
            "contact": int, "campaign": int,
            "duplicate": { "type": "boolean", "description": "true (answered 200): an \
                open contact of the campaign has the number already; nothing was stored" },
        })),
        "AgentLogin": object(&["campaign"], json!({ "campaign": int })),
        "Pause": object(&["reason"], json!({ "reason": text })),
        "Dial": object(&[], json!({ "number": { "type": "integer", "minimum": 0 } })),
        "Callback": object(&["at"], json!({
            "at": { "type": "string", "description": "local wall-clock time, \
                2026-12-04T15:00" },
            "around_minutes": nullable("integer"), "personal": flag,
            "zone": { "type": ["string", "null"],
                "description": "IANA zone; the contact's, else the campaign's" },
        })),
        "SetOutcome": object(&["outcome"], json!({
            "outcome": text, "note": nullable("string"),
            "callback": { "oneOf": [schema_ref("Callback"), { "type": "null" }] },
        })),
        "Wall": object(&["snapshot", "escalated_callbacks", "definitions"], json!({
            "snapshot": { "type": "object", "properties": {
                "agents": { "type": "array", "items": { "type": "object" } },
                "campaigns": { "type": "array", "items": { "type": "object" } },
            } },
            "escalated_callbacks": { "description": "callbacks that could not be made within \
                their window, waiting for a supervisor", "type": "array",
                "items": object(&["id", "campaign", "contact", "due_at", "tries"], json!({
                    "id": int, "campaign": int, "contact": int, "due_at": time,
                    "local": text, "zone": text, "tries": int, "note": nullable("string"),
                })) },
            "definitions": { "type": "array", "items": texts },
        })),
    }));
    let mut all = Map::new();
    for part in parts {
        if let Value::Object(map) = part {
            all.extend(map);
        }
    }
    Value::Object(all)
}

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, who) in ROUTES {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        let error = content("Error");
        let mut op = json!({
            "summary": summary,
            "description": format!("Who may call: {who}."),
            "responses": {
                "200": { "description": "done" },
                "400": { "description": "the request is not valid", "content": error },
                "401": { "description": "no session or token", "content": error },
                "403": {
                    "description": "role, scope, campaign or CSRF token refused",
                    "content": error,
                },
                "409": {
                    "description": "a clash with what is stored or the floor's state; also \
                        every call but the password change while the caller's password is \
                        one-time",
                    "content": error,
                },
            },
        });
        let body = BODIES.iter().find(|b| b.0 == *method && b.1 == *path);
        if let Some((_, _, request, status, response)) = body {
            if let Some(request) = request {
                op["requestBody"] = json!({ "required": true, "content": content(request) });
            }
            if let Some(answers) = op["responses"].as_object_mut() {
                answers.remove("200");
                let mut ok = json!({ "description": "done" });
                if let Some(response) = response {
                    ok["content"] = content(response);
                }
                answers.insert(status.to_string(), ok);
                if *path == "/leads" {
                    answers.insert(
                        "200".into(),
                        json!({
                            "description": "a duplicate: the open contact with the number",
                            "content": content("LeadAnswer"),
                        }),
                    );
                    answers.insert(
                        "409".into(),
                        json!({
                            "description": "the number is on a do-not-call list",
                            "content": error,
                        }),
                    );
                }
            }
        }
        if *who != "public" {
            op["security"] = json!([{ "session": [], "csrf": [] }, { "bearer": [] }]);
        }
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true, "schema": { "type":
                "integer" } })
            })
            .collect();
        let mut params = params;
        if *path == "/campaigns/{id}/contacts" {
            params.push(json!({
                "name": "q", "in": "query", "required": true, "schema": { "type": "string" },
                "description": "a whole phone number (national form in the campaign's region) \
                    or part of a name",
            }));
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "ringa", "version": env!("CARGO_PKG_VERSION") },
        "servers": [{ "url": "/api/v1" }],
        "paths": paths,
        "components": { "schemas": schemas(), "securitySchemes": {
            "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
            "csrf": { "type": "apiKey", "in": "header", "name": crate::auth::CSRF_HEADER },
            "bearer": { "type": "http", "scheme": "bearer" },
        }},
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `value`.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_main_routes_have_request_and_response_schemas_that_resolve() {
        let doc = build();
        let op = |method: &str, path: &str| doc["paths"][path][method].clone();
        let body = |method: &str, path: &str| {
            op(method, path)["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let answer = |method: &str, path: &str, status: &str| {
            op(method, path)["responses"][status]["content"]["application/json"]["schema"].clone()
        };
        assert_eq!(body("post", "/leads"), "#/components/schemas/Lead");
        assert_eq!(answer("post", "/leads", "202")["$ref"], "#/components/schemas/LeadAnswer");
        assert_eq!(answer("post", "/leads", "200")["$ref"], "#/components/schemas/LeadAnswer");
        let contact = answer("get", "/campaigns/{id}/contacts/{contact}", "200");
        assert_eq!(contact["$ref"], "#/components/schemas/Contact");
        assert_eq!(
            answer("get", "/campaigns", "200")["items"]["$ref"],
            "#/components/schemas/Campaign"
        );
        assert_eq!(body("post", "/campaigns"), "#/components/schemas/NewCampaign");
        assert_eq!(body("put", "/campaigns/{id}"), "#/components/schemas/Campaign");
        assert_eq!(body("post", "/agent/outcome"), "#/components/schemas/SetOutcome");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["SetOutcome"]["properties"]["callback"]["oneOf"][0]["$ref"],
            "#/components/schemas/Callback"
        );
        assert_eq!(
            schemas["Campaign"]["properties"]["outcomes"]["items"]["$ref"],
            "#/components/schemas/Outcome"
        );
        assert_eq!(schemas["Lead"]["required"], json!(["campaign", "phone"]));

        // Every reference resolves, and every table row names a served route.
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 40, "{}", all.len());
        for r in &all {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas[name].is_object() || schemas[name].is_array(), "{r} does not resolve");
            assert!(!schemas[name].is_null(), "{r}");
        }
        for (method, path, ..) in BODIES {
            assert!(ROUTES.iter().any(|r| r.0 == *method && r.1 == *path), "{method} {path}");
        }
    }
}

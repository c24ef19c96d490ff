// The desktop and the wall: small vanilla script over the JSON API and
// server-sent events. Every state-changing call carries the session's
// CSRF token in the X-CSRF-Token header.
"use strict";
(function () {
  const csrfMeta = document.querySelector('meta[name="csrf"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const $ = (sel) => document.querySelector(sel);

  async function api(method, path, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch("/api/v1" + path, opts);
    if (!res.ok) {
      let msg = res.status + "";
      try { msg = (await res.json()).error; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return res.status === 204 ? null : res.json();
  }

  function secsSince(ts) {
    return Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  }
  function clock(s) {
    const m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function text(el, value) { if (el) el.textContent = value == null ? "" : String(value); }
  function pct(v) { return v == null ? "–" : (v * 100).toFixed(1) + "%"; }

  // ----- agent desktop -----------------------------------------------------
  function desktop() {
    let me = null, cardKey = null, card = null;
    const msg = $("#message");
    const show = (e) => text(msg, e ? e.message || e : "");
    const run = (fn) => async () => { show(""); try { await fn(); } catch (e) { show(e); } };

    $("#join").onclick = run(() => api("POST", "/agent/login", { campaign: Number($("#campaign").value) }));
    $("#ready").onclick = run(() => api("POST", "/agent/ready"));
    $("#pause").onclick = run(() => api("POST", "/agent/pause", { reason: $("#pause-reason").value }));
    $("#leave").onclick = run(() => api("POST", "/agent/logout"));
    $("#hangup").onclick = run(() => api("POST", "/agent/hangup"));
    $("#skip").onclick = run(() => api("POST", "/agent/skip"));

    async function setOutcome(o) {
      const body = { outcome: o.code, note: $("#note").value };
      if (o.callback) {
        const at = $("#cb-at").value;
        if (!at) throw new Error("choose the callback time first");
        body.callback = { at: at.length === 16 ? at + ":00" : at,
          around_minutes: Number($("#cb-around").value) || 0, personal: $("#cb-personal").checked };
      }
      await api("POST", "/agent/outcome", body);
      $("#note").value = "";
    }

    function renderCard(data) {
      card = data;
      const box = $("#card");
      if (!data) { box.hidden = true; return; }
      box.hidden = false;
      const c = data.contact;
      text($("#contact-name"), c.name || (c.id == null ? "Unknown caller" : "(no name)"));
      const nums = $("#numbers"); nums.innerHTML = "";
      c.numbers.forEach((n, i) => {
        const b = document.createElement("button");
        b.type = "button"; b.className = "dial";
        b.textContent = (data.card.preview ? "Dial " : "") + n.label + ": " + n.display;
        b.disabled = !data.card.preview || !!data.card.call_state;
        b.onclick = run(() => api("POST", "/agent/dial", { number: i }));
        nums.appendChild(b);
      });
      const dl = $("#fields"); dl.innerHTML = "";
      const keys = data.card_fields.length ? data.card_fields : Object.keys(c.fields);
      keys.forEach((k) => {
        const dt = document.createElement("dt"); dt.textContent = k;
        const dd = document.createElement("dd"); dd.textContent = c.fields[k] || "";
        dl.appendChild(dt); dl.appendChild(dd);
      });
      text($("#script"), data.script);
      const tb = $("#history tbody"); tb.innerHTML = "";
      text($("#history-zone"), c.history_zone ? "(" + c.history_zone + ")" : "");
      c.history.forEach((h) => {
        const tr = document.createElement("tr");
        [h.attempt_no, h.started_local || h.started_at, h.result || "in call", h.outcome || ""].forEach((v) => {
          const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        });
        tb.appendChild(tr);
      });
      const cbs = $("#card-callbacks");
      if (cbs) {
        cbs.innerHTML = "";
        (c.callbacks || []).forEach((cb) => {
          const li = document.createElement("li");
          li.textContent = cb.local + " " + cb.zone + ": " + cb.state +
            (cb.cancel_reason ? " (" + cb.cancel_reason + ")" : "") +
            (cb.note ? " - " + cb.note : "");
          cbs.appendChild(li);
        });
      }
      const out = $("#outcomes"); out.innerHTML = "";
      data.outcomes.forEach((o) => {
        const b = document.createElement("button");
        b.type = "button"; b.dataset.code = o.code;
        b.textContent = o.label + (o.key ? " [" + o.key + "]" : "");
        b.disabled = !o.allowed;
        b.onclick = run(() => setOutcome(o));
        out.appendChild(b);
      });
      $("#cb-personal").disabled = !data.personal_callbacks;
    }

    async function refreshCard() {
      try { renderCard(await api("GET", "/agent/card")); } catch (e) { show(e); }
    }

    function onAgent(agent) {
      me = agent;
      const st = $("#state");
      const state = agent ? agent.state : "logged_out";
      text(st, state.replace("_", " ") + (agent && agent.reason ? " (" + agent.reason + ")" : ""));
      st.className = "state " + state;
      st.dataset.state = state;
      if (agent && agent.rejected) show(agent.rejected);
      const c = agent && agent.card;
      const callState = c ? (c.call_state || (c.preview ? "preview" : "-")) : "-";
      text($("#call-state"), c && c.inbound ? "call back · " + callState : callState);
      $("#call-state").dataset.state = c ? (c.call_state || "") : "";
      const key = c ? [c.contact, c.call, c.call_state, (c.allowed_outcomes || []).join()].join("/") : null;
      if (key !== cardKey) { cardKey = key; if (c) refreshCard(); else renderCard(null); }
    }

    setInterval(() => {
      text($("#timer"), me && me.state !== "logged_out" ? clock(secsSince(me.since)) : "");
      const c = me && me.card;
      text($("#call-timer"), c && c.call_since ? clock(secsSince(c.call_since)) : "");
    }, 500);

    const es = new EventSource("/api/v1/events/agent");
    es.addEventListener("snapshot", (ev) => onAgent(JSON.parse(ev.data).agent));

    document.addEventListener("keydown", (ev) => {
      if (ev.key === "F2") { ev.preventDefault(); $("#ready").click(); }
      else if (ev.key === "F3") { ev.preventDefault(); $("#pause").click(); }
      else if (ev.key === "F4") { ev.preventDefault(); $("#hangup").click(); }
      else if (ev.altKey && card) {
        const o = card.outcomes.find((x) => x.key && x.key === ev.key.toLowerCase());
        if (o && o.allowed) { ev.preventDefault(); run(() => setOutcome(o))(); }
      }
    });
  }

  // ----- supervisor wall ---------------------------------------------------
  function wall() {
    const root = $("#wall");
    const campaigns = JSON.parse(root.dataset.campaigns || "[]");
    let snap = null;
    const kpi = (label, value, formula, cls) =>
      '<div class="kpi ' + (cls || "") + '"><div>' + label + '</div><div class="v">' + value +
      '</div><div class="f">' + formula + "</div></div>";
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

    function render() {
      if (!snap) return;
      const box = $("#campaigns");
      box.innerHTML = snap.campaigns.map((c) => {
        const over = c.window_drop_rate != null && c.window_drop_rate > c.drop_target;
        return '<section class="campaign" data-campaign="' + c.id + '"><h2>' + esc(c.name) + " · " + c.mode +
          " · " + c.agents_logged_in + " agents · " + c.ringing + " ringing · " + c.connected + " connected</h2>" +
          '<div class="kpis">' +
          kpi("drop rate", pct(c.window_drop_rate), "drops / live answers in the " + c.window_label +
            " = " + c.window_drops + " / " + c.window_live + "; target " + pct(c.drop_target), over ? "over" : "") +
          kpi("attempts", c.attempts, "calls placed") +
          kpi("live answers", c.live_answers, "pickups + drops") +
          kpi("pickups", c.pickups, "live answers connected to an agent") +
          kpi("conversations", c.conversations, "outcomes counted as conversation") +
          kpi("sales", c.sales, "outcomes counted as sale") +
          kpi("hit rate", pct(c.hit_rate), "sales / conversations") +
          kpi("orders per hour", c.orders_per_hour == null ? "–" : c.orders_per_hour.toFixed(1), "sales / talk hours") +
          kpi("mean wait", c.mean_wait_seconds == null ? "–" : c.mean_wait_seconds.toFixed(1) + " s", "ready → connected") +
          kpi("contacts left", c.contacts_left == null ? "–" : c.contacts_left, "not finished") +
          kpi("callbacks", c.callbacks_pending, "booked, waiting for their time") +
          "</div></section>";
      }).join("");
      const tb = $("#agents tbody");
      tb.innerHTML = snap.agents.map((a) => {
        const call = a.card ? (a.card.call_state || (a.card.preview ? "preview" : "")) : "";
        const opts = campaigns.map((c) => '<option value="' + c[0] + '"' + (a.campaigns.includes(c[0]) ? " selected" : "") +
          ">" + esc(c[1]) + "</option>").join("");
        return '<tr data-agent="' + a.id + '" data-state="' + a.state + '"><td>' + esc(a.name) + (a.simulated ? " (sim)" : "") +
          '</td><td class="st"><span class="state ' + a.state + '">' + a.state + (a.reason ? " (" + esc(a.reason) + ")" : "") +
          '</span></td><td class="since" data-since="' + a.since + '"></td><td><select class="move">' + opts +
          '</select></td><td>' + call + "</td><td>" + clock(Math.round(a.times.in_call)) + " / " +
          clock(Math.round(a.times.ready)) + " / " + clock(Math.round(a.times.paused)) +
          '</td><td><button class="release" type="button">Force release</button></td></tr>';
      }).join("");
      tick();
    }
    function tick() {
      document.querySelectorAll("#agents td.since").forEach((td) => { td.textContent = clock(secsSince(td.dataset.since)); });
    }
    setInterval(tick, 1000);
    $("#agents").addEventListener("click", async (ev) => {
      const row = ev.target.closest("tr");
      if (ev.target.classList.contains("release")) {
        try { await api("POST", "/wall/agents/" + row.dataset.agent + "/release"); } catch (e) { alert(e.message); }
      }
    });
    $("#agents").addEventListener("change", async (ev) => {
      const row = ev.target.closest("tr");
      if (ev.target.classList.contains("move")) {
        try { await api("POST", "/wall/agents/" + row.dataset.agent + "/campaigns", [Number(ev.target.value)]); }
        catch (e) { alert(e.message); }
      }
    });
    const es = new EventSource("/api/v1/events/wall");
    es.addEventListener("snapshot", (ev) => { snap = JSON.parse(ev.data); render(); });
  }

  if ($("#desktop")) desktop();
  if ($("#wall")) wall();
})();

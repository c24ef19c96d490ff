// Browser tests of the web product: an administrator sets up a campaign
// and imports a list, an agent works two simulated calls on the desktop,
// and a supervisor's wall follows every state change within a second.
// Started by scripts/browser-tests, which serves ringa on a free loopback
// port and passes RINGA_URL and RINGA_ADMIN_PASSWORD.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.RINGA_URL;
const adminPassword = process.env.RINGA_ADMIN_PASSWORD;
const artifacts = path.resolve(process.env.RINGA_ARTIFACTS || "../test-artifacts");
fs.mkdirSync(artifacts, { recursive: true });

// One chromium with one isolated context per user. Playwright starts
// chromium with a fresh temporary --user-data-dir of its own (it refuses the
// flag in `args`), so every run begins from an empty profile.
async function launch() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  return { browser };
}

async function login(browser, user, password) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base + "/login");
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  return page;
}

// Fills the password form the one-time password leads to: the session
// goes on to the user's own page.
async function setPassword(page, old, password) {
  await page.fill('input[name="old_password"]', old);
  await page.fill('input[name="password"]', password);
  await page.fill('input[name="repeat"]', password);
  await Promise.all([page.waitForNavigation(), page.click("text=Set password")]);
}

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });

test("admin imports a list, agent works calls, the wall follows within a second", async () => {
  assert.ok(base && adminPassword, "RINGA_URL and RINGA_ADMIN_PASSWORD must be set");
  const { browser } = await launch();
  try {
    // ----- the administrator sets up a campaign and imports a CSV -------
    // The one-time password only sets a new one, then logs in no more.
    const first = await login(browser, "admin", adminPassword);
    assert.match(first.url(), /\/password$/);
    await first.goto(base + "/admin");
    assert.match(first.url(), /\/password$/);
    await setPassword(first, adminPassword, "admin-password-1");
    assert.match(first.url(), /\/admin$/);
    const spent = await login(browser, "admin", adminPassword);
    assert.match(spent.url(), /\/login\?error=/);
    const admin = await login(browser, "admin", "admin-password-1");
    assert.match(admin.url(), /\/admin$/);
    await admin.fill('input[placeholder="new campaign name"]', "Browser");
    await admin.selectOption('form[action="/admin/campaigns"] select[name="mode"]', "progressive");
    await admin.selectOption('form[action="/admin/campaigns"] select[name="rule_set"]', "none");
    await Promise.all([admin.waitForNavigation(), admin.click('text=Create campaign')]);
    const campaignUrl = admin.url();
    const campaignId = campaignUrl.split("/").pop();
    await admin.fill('input[name="windows"]', "all 00:00-00:00");
    await admin.fill('input[name="card_fields"]', "city");
    await admin.fill('textarea[name="script"]', "Good afternoon, this is ringa.");
    await Promise.all([admin.waitForNavigation(), admin.click('text=Save campaign')]);
    await admin.fill('input[placeholder="new list name"]', "Autumn");
    await Promise.all([admin.waitForNavigation(), admin.click('text=Create list')]);

    const csv = "Namn;Telefon;Stad\nAnna Andersson;070-123 45 67;Lund\nBo Berg;0701234568;Kiruna\n" +
      "Cecilia;not a number;Malmö\n";
    await admin.setInputFiles('form.upload input[type="file"]', {
      name: "list.csv", mimeType: "text/csv", buffer: Buffer.from(csv, "utf-8"),
    });
    await admin.fill('form.upload input[name="mapping"]', "Stad=field:city");
    await Promise.all([admin.waitForNavigation(), admin.click('form.upload button[type="submit"]')]);
    await admin.waitForSelector("#import-counts");
    assert.equal((await admin.textContent("#import-total")).trim(), "3");
    assert.equal((await admin.textContent('td[data-bucket="created"]')).trim(), "2");
    assert.equal((await admin.textContent('td[data-bucket="invalid"]')).trim(), "1");
    assert.match(await admin.textContent("#import-rows"), /invalid/);
    await shot(admin, "admin-import-report");

    // Users: one agent on the campaign with a one-time password, one
    // supervisor with a password of her own.
    await admin.goto(base + "/admin");
    const users = [["agent1", "Agent One", "agent", "temporary-1", true],
      ["sup1", "Sue Visor", "supervisor", "password-1", false]];
    for (const [login, name, role, password, oneTime] of users) {
      const form = 'form[action="/admin/users"]';
      await admin.fill(form + ' input[name="login"]', login);
      await admin.fill(form + ' input[name="name"]', name);
      await admin.selectOption(form + ' select[name="role"]', role);
      await admin.fill(form + ' input[name="password"]', password);
      await admin.fill(form + ' input[name="campaigns"]', campaignId);
      if (oneTime) await admin.check(form + ' input[name="one_time"]');
      await Promise.all([admin.waitForNavigation(), admin.click(form + " button")]);
    }

    // ----- the supervisor watches the wall ------------------------------
    const wall = await login(browser, "sup1", "password-1");
    assert.match(wall.url(), /\/wall$/);
    // The agent's first login leads to the password form, then on to the
    // desktop in the same session.
    const agent = await login(browser, "agent1", "temporary-1");
    assert.match(agent.url(), /\/password$/);
    assert.match(await agent.textContent("#one-time"), /one-time password/);
    await setPassword(agent, "temporary-1", "password-1");
    assert.match(agent.url(), /\/agent$/);

    // Each state the desktop shows must reach the wall within a second.
    const lags = [];
    async function expectState(state) {
      await agent.waitForSelector(`#state[data-state="${state}"]`, { timeout: 10000 });
      const seen = Date.now();
      await wall.waitForSelector(`#agents tr[data-state="${state}"]:has-text("Agent One")`, { timeout: 1000 });
      lags.push([state, Date.now() - seen]);
    }

    await agent.selectOption("#campaign", campaignId);
    await agent.click("#join");
    await expectState("paused");
    await agent.click("#ready");

    // Progressive: the first card is dialed at once and a simulated
    // customer answers.
    await expectState("in_call");
    await agent.waitForSelector("#card:not([hidden])");
    await agent.waitForSelector('#call-state[data-state="connected"]');
    await agent.waitForSelector('#outcomes button[data-code="sale"]:not([disabled])');
    const name = (await agent.textContent("#contact-name")).trim();
    assert.ok(["Anna Andersson", "Bo Berg"].includes(name), name);
    assert.match(await agent.textContent("#fields"), /city/);
    assert.match(await agent.textContent("#script"), /Good afternoon/);
    // Outcomes that need an unanswered call are not offered.
    assert.equal(await agent.isDisabled('#outcomes button[data-code="no_answer"]'), true);
    await shot(agent, "agent-card-connected");
    await shot(wall, "wall-agent-in-call");
    await agent.click('#outcomes button[data-code="sale"]');

    // The second card: book a callback for tomorrow 15:00.
    await agent.waitForFunction((first) => {
      const n = document.querySelector("#contact-name");
      const s = document.querySelector("#call-state");
      return n && s && n.textContent.trim() !== first && s.dataset.state === "connected";
    }, name, { timeout: 10000 });
    await expectState("in_call");
    const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    await agent.fill("#cb-at", tomorrow + "T15:00");
    await agent.fill("#note", "Call back after lunch");
    await agent.waitForSelector('#outcomes button[data-code="callback"]:not([disabled])');
    await agent.click('#outcomes button[data-code="callback"]');
    await expectState("ready");
    assert.equal(await agent.textContent("#message"), "");

    // A pause with a reason.
    await agent.fill("#pause-reason", "lunch");
    await agent.click("#pause");
    await expectState("paused");
    assert.match(await agent.textContent("#state"), /lunch/);
    await shot(agent, "agent-paused");
    await shot(wall, "wall-agent-paused");

    // The callback is stored with the agreed local time.
    const res = await admin.request.get(base + `/api/v1/campaigns/${campaignId}/contacts/2`);
    const contact = await res.json();
    const all = [contact, await (await admin.request.get(base + `/api/v1/campaigns/${campaignId}/contacts/1`)).json()];
    const callbacks = all.flatMap((c) => c.callbacks);
    assert.equal(callbacks.length, 1, JSON.stringify(callbacks));
    assert.match(callbacks[0].local, new RegExp(tomorrow + "T15:00"));

    console.log("wall lag per state change (ms):", JSON.stringify(lags));
    for (const [state, lag] of lags) assert.ok(lag <= 1000, `${state} reached the wall after ${lag} ms`);
  } finally {
    await browser.close();
  }
});

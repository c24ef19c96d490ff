// The HTML report `ringa demo` writes: opened from disk in headless
// chromium, its four charts must render (SVG elements of nonzero size with
// bars drawn), and a screenshot is kept as an artifact. scripts/browser-tests
// runs the demo in a temporary directory and passes RINGA_DEMO_REPORT.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const report = process.env.RINGA_DEMO_REPORT;
const artifacts = path.resolve(process.env.RINGA_ARTIFACTS || "../test-artifacts");
fs.mkdirSync(artifacts, { recursive: true });

test("the demo report's charts render in chromium", async () => {
  assert.ok(report && fs.existsSync(report), "RINGA_DEMO_REPORT must name the demo's report");
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await (await browser.newContext()).newPage();
    const requests = [];
    page.on("request", (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(report).href);
    await page.waitForSelector("svg.chart");

    const charts = await page.$$eval("svg.chart", (svgs) => svgs.map((svg) => {
      const box = svg.getBoundingClientRect();
      const bars = [...svg.querySelectorAll("rect.bar")].map((r) => r.getBoundingClientRect());
      return {
        id: svg.id,
        width: box.width,
        height: box.height,
        bars: bars.length,
        drawn: bars.filter((b) => b.width > 0 && b.height > 0).length,
      };
    }));
    const ids = charts.map((c) => c.id).sort();
    assert.deepEqual(ids, ["calls-by-hour", "hit-rate-by-attempt", "hit-rate-by-hour", "sales-by-agent"]);
    for (const chart of charts) {
      assert.ok(chart.width > 100 && chart.height > 100, `${chart.id} is ${chart.width}x${chart.height}`);
      assert.ok(chart.bars > 0 && chart.drawn > 0, `${chart.id} draws no bars: ${JSON.stringify(chart)}`);
    }
    const agents = charts.find((c) => c.id === "sales-by-agent");
    assert.equal(agents.bars, 20, "one bar per simulated agent");

    // Self-contained: nothing but the file itself was loaded.
    assert.deepEqual(requests.filter((u) => !u.startsWith("file:")), []);
    await page.screenshot({ path: path.join(artifacts, "demo-report.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});

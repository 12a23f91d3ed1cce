// Page load time of the dashboard's web UI in a real browser (issue 18): a
// head started with the built `lumen start`, a driver that records <tasks>
// tasks (tests/cluster/dashboard_ui_driver.cc), then each page loaded <loads>
// times in headless chromium (playwright-core from dashboard/client), from
// navigation until its data is on screen. Prints the median, min and max ms
// per page.
//
//   node bench/dashboard_page_load.mjs [--build build] [--tasks 10000] [--loads 10]
//
// Needs the UI built (ninja -C build dashboard_ui dashboard_ui_driver) and chromium.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const client = path.join(here, '..', 'dashboard', 'client');
const { values: opts } = parseArgs({
  options: {
    build: { type: 'string', default: path.join(here, '..', 'build') },
    tasks: { type: 'string', default: '10000' },
    loads: { type: 'string', default: '10' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const { chromium } = await import(path.join(client, 'node_modules', 'playwright-core', 'index.mjs'));
const { Cluster, DEADLINE_MS } = await import(path.join(client, 'tests', 'cluster.mjs'));
const build = path.resolve(opts.build);
const tasks = Number(opts.tasks);
const loads = Number(opts.loads);

// What "loaded" means on each page: its polled data is on screen.
const PAGES = [
  { route: '/overview', ready: '[data-testid=card-nodes] .card-value' },
  { route: '/tasks', ready: '[data-testid=task-count]' },
  { route: '/nodes', ready: '[data-testid=processes] tbody tr' },
  { route: '/actors', ready: '[data-testid=actors] tbody tr' },
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const cluster = new Cluster(path.join(build, 'bin', 'lumen'), 'lpb');
let browser;
try {
  cluster.startHead();
  const driver = cluster.spawn(path.join(build, 'bin', 'dashboard_ui_driver'), [
    cluster.address,
    path.join(cluster.root, 'release'),
    String(tasks),
  ]);
  await cluster.waitForOutput(driver, 'READY', 15 * 60_000);
  // Task events arrive in batches a moment after the fact. A submitter keeps a
  // bounded number of events between two batches, so at this rate some tasks
  // stay recorded as their executor saw them (RUNNING) and the rest of their
  // events are counted as dropped: the pages load them all the same.
  const want = tasks + 9;
  const end = Date.now() + DEADLINE_MS;
  let summary;
  for (;;) {
    summary = (await cluster.api('/api/v0/tasks/summarize')).data.result.result.node_id_to_summary.cluster;
    if (summary.total_tasks >= want) break;
    if (Date.now() > end) throw new Error(`only ${summary.total_tasks} of ${want} tasks recorded`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const states = {};
  for (const entry of Object.values(summary.summary))
    for (const [state, n] of Object.entries(entry.state_counts)) states[state] = (states[state] ?? 0) + n;
  browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(DEADLINE_MS);
  const login = await context.newPage();
  await login.goto(`${cluster.dashboard}/login`);
  await login.locator('#token').fill(cluster.token);
  await login.getByRole('button', { name: 'Sign in' }).click();
  await login.waitForURL(`${cluster.dashboard}/`);
  await login.close();
  console.log(`dashboard page load, ${summary.total_tasks} tasks recorded ${JSON.stringify(states)}, ${loads} loads each (chromium, headless)`);
  console.log('page       median_ms  min_ms  max_ms');
  for (const p of PAGES) {
    const times = [];
    for (let i = 0; i < loads; ++i) {
      const page = await context.newPage();
      const start = performance.now();
      await page.goto(`${cluster.dashboard}/#${p.route}`);
      await page.locator(p.ready).first().waitFor();
      times.push(performance.now() - start);
      await page.close();
    }
    console.log(
      `${p.route.padEnd(10)} ${median(times).toFixed(1).padStart(9)} ${Math.min(...times).toFixed(1).padStart(7)} ` +
        `${Math.max(...times).toFixed(1).padStart(7)}`,
    );
  }
  fs.writeFileSync(path.join(cluster.root, 'release'), '');
} finally {
  await browser?.close();
  cluster.stop();
}

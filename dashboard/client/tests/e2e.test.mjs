// The dashboard's web UI in a real browser (issue 18): a cluster started with
// the built `lumen start`, a driver (tests/cluster/dashboard_ui_driver.cc)
// with a named and an unnamed actor, finished tasks and a failing one, and
// Debian's chromium driven by playwright-core. Without the token the page and
// the API refuse; with it (through the login page) the overview, the nodes
// with their processes, the actors, the failed task with its error, the
// objects, jobs, logs and metrics pages show the cluster. Screenshots go to
// $LUMEN_UI_ARTIFACTS. Every check waits for its condition (playwright's
// waits, the pages' own polling) with a deadline only a hang reaches.
//
// Run by ctest (dashboard_ui_e2e) as `node e2e.test.mjs` with LUMEN_CLI and
// LUMEN_UI_DRIVER set; exits 77 (ctest: skipped) without chromium.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster, DEADLINE_MS } from './cluster.mjs';

const CHROMIUM = process.env.LUMEN_CHROMIUM ?? '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} is not installed (apt-get install chromium; scripts/install-deps.sh does)`);
  process.exit(77);
}
for (const name of ['LUMEN_CLI', 'LUMEN_UI_DRIVER']) {
  if (!process.env[name]) {
    console.error(`${name} is not set (ctest sets it: ctest -R dashboard_ui_e2e)`);
    process.exit(2);
  }
}
const { chromium } = await import('playwright-core');
const ARTIFACTS = process.env.LUMEN_UI_ARTIFACTS ?? path.resolve('test-output/dashboard_ui');
fs.mkdirSync(ARTIFACTS, { recursive: true });

const cluster = new Cluster(process.env.LUMEN_CLI);
process.on('SIGTERM', () => {
  cluster.stop();
  process.exit(143);
});
let driver;
let browser;
let page;

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function go(route) {
  await page.goto(`${cluster.dashboard}/#${route}`);
}

before(async () => {
  cluster.startHead();
  driver = cluster.spawn(process.env.LUMEN_UI_DRIVER, [cluster.address, path.join(cluster.root, 'release')]);
  await cluster.waitForOutput(driver, 'READY');
  // A submitted job (Ray's Jobs API), run to its end.
  const submitted = cluster.run(process.env.LUMEN_CLI, [
    'job',
    'submit',
    '--submission-id=ui-job',
    '--',
    '/bin/echo',
    'hello from the submitted job',
  ]);
  if (submitted.rc !== 0) throw new Error(`lumen job submit failed (${submitted.rc}): ${submitted.err}${submitted.out}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(DEADLINE_MS);
  page = await context.newPage();
});

after(async () => {
  try {
    if (page) await shot('last-page').catch(() => {});
    await browser?.close();
  } finally {
    cluster.stop();
  }
});

test('lumen start prints the dashboard address', () => {
  assert.match(cluster.startOutput, /Dashboard: http:\/\/127\.0\.0\.1:\d+/);
});

test('without the token the page and the API refuse', async () => {
  const api = await fetch(`${cluster.dashboard}/api/v0/nodes`);
  assert.equal(api.status, 401);
  const wrong = await fetch(`${cluster.dashboard}/api/v0/nodes`, { headers: { Authorization: 'Bearer nope' } });
  assert.equal(wrong.status, 401);
  const index = await fetch(`${cluster.dashboard}/`, { redirect: 'manual' });
  assert.equal(index.status, 303);
  assert.equal(index.headers.get('location'), '/login');
  // The UI's own files are behind the token too.
  const html = await (await fetch(`${cluster.dashboard}/`, { headers: { Authorization: `Bearer ${cluster.token}` } })).text();
  const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(html);
  assert.ok(script, html);
  const asset = await fetch(`${cluster.dashboard}/${script[1]}`, { redirect: 'manual' });
  assert.equal(asset.status, 303);

  // The browser is sent to the login page, and a wrong token keeps it there.
  await go('/overview');
  await page.waitForURL(/\/login(#.*)?$/);  // a redirect keeps the fragment
  await page.locator('#token').fill('not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText("That is not this cluster's token.").waitFor();
  await shot('login-refused');
});

test('with the token the overview shows the cluster', async () => {
  await page.goto(`${cluster.dashboard}/login`);
  await page.locator('#token').fill(cluster.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${cluster.dashboard}/`);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByTestId('card-nodes').locator('.card-value', { hasText: /^1$/ }).waitFor();
  await page.getByTestId('resources').getByText(/CPU \d/).waitFor();
  const failures = page.getByTestId('recent-failures');
  await failures.getByText('Boom', { exact: true }).waitFor();
  await failures.getByText('dashboard-ui boom: 7 is not allowed').waitFor();
  await shot('overview');
});

test('the nodes page shows each process with its role, CPU, memory and work', async () => {
  await go('/nodes');
  const processes = page.getByTestId('processes');
  const driverRow = processes.locator('tr', { has: page.locator('td', { hasText: new RegExp(`^${driver.pid}$`) }) });
  await driverRow.getByText('driver', { exact: true }).waitFor();
  await processes.locator('tr', { hasText: 'actor UiCounter "ui-counter"' }).waitFor();
  await processes.locator('tr', { hasText: /raylet|node/ }).first().waitFor();
  // Per-process figures from /api/v0/node_processes: an RSS in MiB on the driver's row.
  await driverRow.getByText(/\d+(\.\d)? MiB/).waitFor();
  const rows = await processes.locator('tbody tr').count();
  assert.ok(rows >= 3, `only ${rows} processes listed`);
  await shot('nodes');
});

test('the actors page shows the named actor with its state, pid and namespace', async () => {
  await go('/actors');
  const actors = page.getByTestId('actors');
  const named = actors.locator('tr', { hasText: 'ui-counter' });
  await named.getByText('ALIVE', { exact: true }).waitFor();
  await named.getByText('UiCounter').waitFor();
  // The states it went through, oldest first (the state API's events).
  await named.getByText('DEPENDENCIES_UNREADY → PENDING_CREATION → ALIVE', { exact: true }).waitFor();
  await named.getByText('ui-test').waitFor();
  const pid = Number(await named.locator('td.num').first().innerText());
  assert.ok(pid > 0, `pid ${pid}`);
  await actors.locator('tbody tr', { hasText: 'UiCounter' }).nth(1).waitFor();  // and the unnamed one
  // The state filter runs on the server.
  await page.locator('select').first().selectOption('DEAD');
  await actors.getByText('no actors').waitFor();
  await shot('actors');
});

test('the tasks page counts by function and shows the failed task with its error', async () => {
  await go('/tasks');
  const summary = page.getByTestId('task-summary');
  await summary.locator('tr', { hasText: 'Square' }).locator('.count', { hasText: /^FINISHED\s*4$/ }).waitFor();
  await summary.locator('tr', { hasText: 'Boom' }).locator('.count', { hasText: /^FAILED\s*1$/ }).waitFor();
  await page.locator('select[name=state]').selectOption('FAILED');
  const tasks = page.getByTestId('tasks');
  const boom = tasks.locator('tr.failed', { hasText: 'Boom' });
  await boom.getByText('TASK_EXECUTION_EXCEPTION').waitFor();
  await boom.getByText('dashboard-ui boom: 7 is not allowed').waitFor();
  await page.getByTestId('task-count').getByText(/^1–1 shown of 1 matching/).waitFor();
  assert.equal(await tasks.locator('tbody tr', { hasText: 'Square' }).count(), 0);
  await shot('tasks-failed');
});

test('the objects page shows the store use and the largest object with its holder', async () => {
  await go('/objects');
  await page.getByTestId('objects').getByText('2.0 MiB').waitFor();
  await page.getByTestId('objects').getByText(`driver pid ${driver.pid}`).waitFor();
  await page.getByTestId('store-use').getByText(/in 1 objects/).waitFor();
  await shot('objects');
});

test('the jobs page lists the driver job and the submitted job with its logs', async () => {
  await go('/jobs');
  await page.getByTestId('driver-jobs').getByText(String(driver.pid)).waitFor();
  const submitted = page.getByTestId('submitted-jobs');
  const row = submitted.locator('tr', { hasText: 'ui-job' });
  await row.getByText('SUCCEEDED').waitFor();
  await row.getByRole('link', { name: 'ui-job' }).click();
  await page.getByTestId('job-logs').getByText('hello from the submitted job').waitFor();
  await shot('jobs');
});

test('the logs page lists the log files and shows one', async () => {
  await go('/logs');
  const files = page.getByTestId('log-files');
  await files.getByRole('link', { name: 'job-driver-ui-job.log' }).click();
  await page.getByText('hello from the submitted job').first().waitFor();
  await shot('logs');
});

test('the metrics page charts the cluster over time', async () => {
  await go('/metrics');
  const tasks = page.getByTestId('chart-tasks');
  await tasks.locator('canvas').waitFor();
  await tasks.getByText('FINISHED').waitFor();  // the series' legend, once samples came
  await page.getByTestId('chart-component-rss').getByText('driver').waitFor();
  await shot('metrics');
});

test('a signed-out browser is refused again', async () => {
  await page.context().clearCookies();
  await go('/overview');
  await page.waitForURL(/\/login(#.*)?$/);  // a redirect keeps the fragment
});

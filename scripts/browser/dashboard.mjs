// Drives the aito dashboard of a running demo company in headless Chromium, as a person would:
// sees the seven agents, opens the escalated decision from the banner, approves it with the
// token, sees its status change, watches the worker log fill live, and reads on the health page
// what became of each webhook source's last delivery, reads the task board, follows the
// conversation from the flow picture to a session's prompt and answer, and sees the spend
// chart. Writes screenshots.
//
// Started by aito-bin/tests/browser.rs, which runs the company and the dashboard and passes:
//   DASHBOARD_URL, DASHBOARD_TOKEN, DECISION_TITLE, DONE_TASK, SCREENSHOT_DIR, CHROMIUM.
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) { throw new Error(`${name} is not set`); }
  return value;
};
const url = env('DASHBOARD_URL');
const token = env('DASHBOARD_TOKEN');
const title = env('DECISION_TITLE');
const shots = env('SCREENSHOT_DIR');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

function check(condition, message) {
  if (!condition) { throw new Error(message); }
  console.log(`ok - ${message}`);
}

// Playwright starts Chromium with a fresh, empty profile of its own each time.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 30000,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') { problems.push(`console error: ${message.text()}`); }
  });

  // The agents page: seven agents, and the escalated decision at the top.
  await page.goto(url + '/');
  const rows = page.locator('#agents-table tr[data-agent]');
  await rows.first().waitFor();
  check(await rows.count() === 7, 'the agents page lists seven agents');
  const roles = await rows.evaluateAll((all) => all.map((row) => row.getAttribute('data-agent')));
  check(roles.join(',') === 'ceo,dao,cmo,cto,cfo,coo,cco', `in reporting order (${roles.join(',')})`);
  const banner = page.locator('#escalations');
  check((await banner.innerText()).includes(title), 'the escalated decision is shown at the top');
  await page.screenshot({ path: join(shots, 'dashboard-agents.png'), fullPage: true });

  // Open it from the banner.
  await banner.getByRole('link', { name: title }).click();
  await page.waitForURL(/\/decisions\/[0-9a-f-]{36}$/);
  const status = page.locator('#decision-status');
  check((await status.innerText()).trim() === 'escalated', 'the decision page shows it escalated');
  check((await page.locator('section.round').innerText()).includes('Europe needs low latency'),
    'the votes and their reasons are shown');

  // Approve it with the token.
  const answer = page.locator('section.answer');
  await answer.locator('input[data-token]').fill(token);
  await answer.locator('textarea[name="reason"]').fill('Budget confirmed with the board');
  await answer.locator('button[data-decide="approve"]').click();
  await page.waitForFunction(
    () => ['approved', 'executed'].includes(
      (document.getElementById('decision-status') || {}).getAttribute?.('data-status')),
  );
  check(true, 'the status changes once approved');
  // The page reloads with the answer recorded and the banner gone.
  await page.waitForSelector('section.answer', { state: 'detached' });
  await page.waitForFunction(() => !document.querySelector('#escalations .escalations'));
  const after = (await status.innerText()).trim();
  check(after === 'approved' || after === 'executed', `after reloading it reads ${after}`);
  check((await page.content()).includes('Budget confirmed with the board'), 'the reason is recorded');
  await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });

  // The worker log fills live.
  await page.goto(url + '/logs');
  await page.waitForFunction(() => document.getElementById('live')?.getAttribute('data-state') === 'on');
  const before = await page.locator('#log tbody tr').count();
  await page.waitForFunction((n) => document.querySelectorAll('#log tbody tr').length >= n + 2, before);
  check(true, `live worker log lines arrive (${before} on load, more since)`);
  const text = await page.locator('#log tbody').innerText();
  check(text.includes('<b>live</b> line'), 'log text is shown as text, not markup');

  // The health page: each webhook source with its last delivery and outcome.
  await page.goto(url + '/health');
  const hooks = page.locator('#webhooks');
  await hooks.waitFor();
  const github = hooks.locator('tr[data-source="github"]');
  check((await github.locator('[data-outcome]').getAttribute('data-outcome')) === 'queued',
    'the GitHub delivery shows as queued');
  check((await github.innerText()).includes('issues') && (await github.innerText()).includes('browser-1'),
    'with its event type and delivery id');
  const stripe = hooks.locator('tr[data-source="stripe"]');
  check((await stripe.locator('[data-outcome]').getAttribute('data-outcome')) === 'refused',
    'the forged Stripe delivery shows as refused');
  check((await stripe.innerText()).includes('does not match'), 'with the reason');
  const secrets = await hooks.locator('tbody tr td:nth-child(3)').allInnerTexts();
  check(secrets.length === 2 && secrets.every((text) => text.trim() === 'set'), 'both secrets show as set');
  await page.screenshot({ path: join(shots, 'dashboard-health.png'), fullPage: true });

  // The task board, with the demo's tasks in their columns.
  await page.goto(url + '/tasks');
  const open = page.locator('section.column[data-status="open"] li.task-card');
  check(await open.count() >= 1, 'the task board shows the open tasks');
  check((await page.locator('section.column[data-status="done"]').innerText()).includes(env('DONE_TASK')),
    'and the finished task under done');
  await page.screenshot({ path: join(shots, 'dashboard-tasks.png'), fullPage: true });

  // The conversation: the CEO's messages woke the CTO and the CMO, drawn and threaded.
  await page.goto(url + '/conversations');
  const edge = page.locator('#flow g.edge[data-from="ceo"][data-to="cto"]');
  check(await edge.count() === 1, 'the flow picture has an arrow from the CEO to the CTO');
  check(await page.locator('#flow g.edge[data-from="human"][data-to="ceo"]').count() === 1,
    'and one from the human who started it to the CEO');
  const turn = page.locator('li.turn[data-agent="cto"]').filter({ hasText: 'Frankfurt region' }).first();
  check((await turn.innerText()).includes('ceo'), 'the CTO\'s turn says the CEO woke it');
  await page.screenshot({ path: join(shots, 'dashboard-conversations.png'), fullPage: true });

  // Its session: prompt, raw answer, actions and their outcomes.
  await turn.getByRole('link', { name: 'session' }).click();
  await page.waitForURL(/\/sessions\/cto\//);
  check((await page.locator('#prompt').innerText()).includes('Open a Frankfurt region'),
    'the session page shows the prompt with the CEO\'s message');
  check((await page.locator('#answer').innerText()).includes('propose_decision'), 'the raw answer');
  check((await page.locator('#outcomes').innerText()).includes('spawn_worker'), 'and each action with its outcome');
  await page.screenshot({ path: join(shots, 'dashboard-session.png'), fullPage: true });

  // Spend today and over the week.
  await page.goto(url + '/spend');
  const bars = page.locator('#spend-today rect.bar');
  check(await bars.count() >= 1, 'the spend chart has bars for today');
  const series = await bars.evaluateAll((all) => [...new Set(all.map((bar) => bar.getAttribute('data-series')))]);
  check(series.includes('ceo') && series.includes('cto'), `per agent (${series.join(',')})`);
  check(await page.locator('#spend-week rect.bar').count() >= 1, 'and for the week');
  await page.screenshot({ path: join(shots, 'dashboard-spend.png'), fullPage: true });

  // On a phone.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const small = await phone.newPage();
  await small.goto(url + '/');
  await small.locator('#agents-table tr[data-agent]').first().waitFor();
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the agents page fits a phone's width (overflow ${overflow}px)`);
  await small.goto(url + '/health');
  await small.locator('#webhooks').waitFor();
  const healthOverflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(healthOverflow <= 1, `the health page fits a phone's width (overflow ${healthOverflow}px)`);
  await small.screenshot({ path: join(shots, 'dashboard-phone.png'), fullPage: true });

  check(problems.length === 0, `no page or console errors${problems.length ? ': ' + problems.join('; ') : ''}`);
} finally {
  await browser.close();
}

// Drives the aito dashboard of the shipped demo company in headless Chromium, as a person
// would: sees the seven agents and the demo's escalated decision, reads the task board with the
// demo's three tasks done and the history of the one that was blocked first, follows the
// conversation from the flow picture to the CEO's task to the CTO and that session's prompt and
// raw answer, reads each agent's spend on the chart, then opens the escalated decision from the
// banner, approves it with the token, sees its status change, watches the worker log fill live,
// reads on the health page what became of each webhook source's last delivery, and checks that
// pages fit a phone. Writes screenshots.
//
// Started by aito-bin/tests/browser.rs, which runs the company and the dashboard and passes:
//   DASHBOARD_URL, DASHBOARD_TOKEN, SCREENSHOT_DIR, CHROMIUM, and DEMO_EXPECTED: what the
//   pages must show, read from the demo scenario and the run, as JSON:
//   {tasks: [{title, assignee, creator}], blocked: {title, note},
//    turn: {from, to, title, description, proposed, sentTo, sent},
//    decision: {title, votes: [reason]}, spend: {role: usd}, total}.
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) { throw new Error(`${name} is not set`); }
  return value;
};
const url = env('DASHBOARD_URL');
const token = env('DASHBOARD_TOKEN');
const demo = JSON.parse(env('DEMO_EXPECTED'));
const title = demo.decision.title;
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

  // The agents page: seven agents, and the demo's escalated decision at the top.
  await page.goto(url + '/');
  const rows = page.locator('#agents-table tr[data-agent]');
  await rows.first().waitFor();
  check(await rows.count() === 7, 'the agents page lists seven agents');
  const roles = await rows.evaluateAll((all) => all.map((row) => row.getAttribute('data-agent')));
  check(roles.join(',') === 'ceo,dao,cmo,cto,cfo,coo,cco', `in reporting order (${roles.join(',')})`);
  const banner = page.locator('#escalations');
  check((await banner.innerText()).includes(title), `the escalated decision "${title}" is shown at the top`);
  await page.screenshot({ path: join(shots, 'dashboard-agents.png'), fullPage: true });

  // The task board: the demo's own tasks, all done, and nothing else.
  await page.goto(url + '/tasks');
  const cards = page.locator('section.column li.task-card');
  check(await cards.count() === demo.tasks.length, `the board shows the demo's ${demo.tasks.length} tasks and no other`);
  const done = page.locator('section.column[data-status="done"]');
  for (const task of demo.tasks) {
    const card = done.locator('li.task-card').filter({ has: page.getByRole('link', { name: task.title, exact: true }) });
    check(await card.count() === 1, `"${task.title}" is under done`);
    const facts = await card.locator('.muted').first().innerText();
    check(facts.includes(task.assignee.toUpperCase()) && facts.includes(`from ${task.creator.toUpperCase()}`),
      `for ${task.assignee.toUpperCase()}, from ${task.creator.toUpperCase()} (${facts.trim()})`);
  }
  await page.screenshot({ path: join(shots, 'dashboard-tasks.png'), fullPage: true });

  // The task that waited for its decision: blocked in its history, then done.
  await done.getByRole('link', { name: demo.blocked.title, exact: true }).click();
  await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/);
  check((await page.locator('h1').innerText()).includes(demo.blocked.title), 'its task page opens');
  const history = page.locator('table.task-history tbody tr');
  const changes = await history.evaluateAll((all) => all.map((row) =>
    [...row.querySelectorAll('td')].map((cell) => cell.innerText.trim())));
  const statuses = changes.map((cells) => cells[2]);
  check(statuses.join(' → ') === 'open → blocked → done', `its history reads ${statuses.join(' → ')}`);
  const blocked = changes.find((cells) => cells[2] === 'blocked');
  check(blocked[1] === 'cto' && blocked[3] === demo.blocked.note,
    `blocked by ${blocked[1]}: "${blocked[3]}"`);
  await page.screenshot({ path: join(shots, 'dashboard-task.png'), fullPage: true });

  // The conversation: the human's task woke the CEO, the CEO's task woke the CTO, the CTO's
  // message woke the next agent, drawn and threaded.
  const turn = demo.turn;
  await page.goto(url + '/conversations');
  for (const [from, to] of [['human', 'ceo'], [turn.from, turn.to], [turn.to, turn.sentTo]]) {
    check(await page.locator(`#flow g.edge[data-from="${from}"][data-to="${to}"]`).count() === 1,
      `the flow picture has an arrow from ${from} to ${to}`);
  }
  const ctoTurn = page.locator(`li.turn[data-agent="${turn.to}"]`)
    .filter({ has: page.locator('strong.sender', { hasText: new RegExp(`^${turn.from}$`) }) })
    .filter({ hasText: turn.title });
  check(await ctoTurn.count() === 1, `the ${turn.to.toUpperCase()}'s turn woken by the ${turn.from.toUpperCase()} with "${turn.title}"`);
  check((await ctoTurn.locator('ul.sent').innerText()).includes(turn.sent),
    `shows what it sent to ${turn.sentTo}: "${turn.sent}"`);
  await page.screenshot({ path: join(shots, 'dashboard-conversations.png'), fullPage: true });

  // That session: its prompt with the CEO's task, the raw answer, and each action's outcome.
  await ctoTurn.getByRole('link', { name: 'session' }).click();
  await page.waitForURL(new RegExp(`/sessions/${turn.to}/`));
  const prompt = await page.locator('#prompt').innerText();
  check(prompt.includes(turn.title) && prompt.includes(turn.description),
    'the session page shows the prompt with the CEO\'s task and its description');
  const raw = await page.locator('#answer').innerText();
  check(raw.includes(turn.proposed) && raw.includes('spawn_worker'), `the raw answer, proposing "${turn.proposed}"`);
  const outcomes = await page.locator('#outcomes').innerText();
  check(['spawn_worker', 'propose_decision', 'update_task'].every((kind) => outcomes.includes(kind)),
    'and each action with its outcome');
  check((await page.locator('#parsed').innerText()).includes(turn.sent), 'and the message it sent');
  await page.screenshot({ path: join(shots, 'dashboard-session.png'), fullPage: true });

  // Spend today and over the week: each agent's bars add up to what its sessions and workers
  // cost, and the total is the demo's.
  await page.goto(url + '/spend');
  const perSeries = async (chart) => page.locator(`#${chart} rect.bar`).evaluateAll((all) => {
    const sums = {};
    for (const bar of all) {
      const name = bar.getAttribute('data-series');
      sums[name] = (sums[name] || 0) + Number(bar.getAttribute('data-usd'));
    }
    return sums;
  });
  const near = (a, b) => Math.abs(a - b) < 0.0005;
  const money = (usd) => `$${usd.toFixed(2)}`;
  for (const chart of ['spend-today', 'spend-week']) {
    const sums = await perSeries(chart);
    for (const [role, usd] of Object.entries(demo.spend)) {
      if (usd > 0) {
        check(near(sums[role] || 0, usd), `${chart}: ${role}'s bars add up to ${money(usd)} (${money(sums[role] || 0)})`);
      } else {
        check(!(role in sums), `${chart}: ${role} has no bar`);
      }
    }
    const total = Object.values(sums).reduce((a, b) => a + b, 0);
    check(near(total, demo.total), `${chart}: the total is the demo's ${money(demo.total)} (${money(total)})`);
    const legend = await page.locator(`#${chart} ul.legend li`).allInnerTexts();
    check(Object.keys(demo.spend).every((role) => legend.some((item) => item.startsWith(role + ' '))),
      `${chart}: the legend names every agent (${legend.join(', ')})`);
    const ceo = legend.find((item) => item.startsWith('ceo '));
    check(ceo && !ceo.includes('$0.00'), `${chart}: the CEO's spend in the legend (${ceo})`);
  }
  await page.screenshot({ path: join(shots, 'dashboard-spend.png'), fullPage: true });

  // Open the escalated decision from the banner.
  await page.goto(url + '/');
  await banner.getByRole('link', { name: title }).click();
  await page.waitForURL(/\/decisions\/[0-9a-f-]{36}$/);
  const status = page.locator('#decision-status');
  check((await status.innerText()).trim() === 'escalated', 'the decision page shows it escalated');
  const round = await page.locator('section.round').innerText();
  check(demo.decision.votes.length > 0 && demo.decision.votes.every((reason) => round.includes(reason)),
    `the votes and their reasons are shown (${demo.decision.votes.join('; ')})`);

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

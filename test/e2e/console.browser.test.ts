import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { ROOT } from '../helpers/processes';

/**
 * The web console in a real browser (Debian's chromium through playwright-core), against a real
 * conductor in production mode (API keys required, Playground off, so helmet's CSP is on):
 * sign in, a run started through the API appears in the list and its steps turn green live,
 * a run is cancelled from the UI, and nothing leaves loopback (every other host name fails to
 * resolve). UPDATE_SCREENSHOTS=1 rewrites docs/img/console-*.png.
 */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = process.env['UPDATE_SCREENSHOTS'] === '1';
const GREEN = 'rgb(47, 179, 109)';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { name version } }`;
const START = `mutation($input: JSON, $tags: [String!]) { startRun(workflow: "console-demo", input: $input, tags: $tags) { id } }`;

function demo(extra: Record<string, unknown>[] = []) {
  return {
    name: 'console-demo',
    steps: [
      { key: 'greet', type: 'noop', input: { message: 'Hello, {{ input.name }}!' } },
      { key: 'each', type: 'noop', dependsOn: ['greet'], forEach: '{{ input.items }}', input: { item: '{{ item }}' } },
      { key: 'approve', type: 'signal', dependsOn: ['greet'], input: { name: 'go' } },
      { key: 'done', type: 'noop', dependsOn: ['each', 'approve'], input: { said: '{{ steps.greet.output.message }}' } },
      ...extra,
    ],
  };
}

describe('web console in chromium', () => {
  let t: TestApp;
  let key: string;
  let browser: Browser;
  let page: Page;
  const requested: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
    key = (await t.app.services.auth.createKey('console')).key;
    await t.ok(REGISTER, { input: demo() }, key);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // No outside network: every host name but 127.0.0.1 fails to resolve.
      args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('request', (r) => requested.push(r.url()));
    page.on('websocket', (ws) => requested.push(ws.url()));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Refused scripts, styles or connections show up as console errors naming the policy. (The
    // 401 of the first, keyless request is expected: it is how the page learns to ask for a key.)
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const base = () => `http://127.0.0.1:${t.app.port}/ui`;
  const runRow = (id: string) => page.locator(`tr[data-run-id="${id}"]`);
  const node = (step: string) => page.locator(`g.node[data-step="${step}"]`);

  it('signs in with an API key and shows a run started through the API, live', async () => {
    await page.goto(`${base()}/`);
    // A wrong key: the conductor's refusal, on the sign-in form.
    await page.getByLabel('API key').fill('mk_not_a_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.signin .error').waitFor();
    expect(await page.locator('.signin .error').textContent()).toMatch(/key/i);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Runs/ }).waitFor();
    await page.locator('.live.on').first().waitFor();
    expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('maestro.apiKey'))).toBe(key);

    const started = Date.now();
    const { startRun } = await t.ok(START, { input: { name: 'Ada', items: [1, 2, 3] }, tags: ['demo'] }, key);
    await runRow(startRun.id).waitFor({ timeout: 10_000 });
    console.log(`run appeared in the list ${Date.now() - started} ms after startRun (no reload)`);

    await runRow(startRun.id).getByRole('link').click();
    await expect.poll(() => node('greet').getAttribute('data-status'), { timeout: 10_000 }).toBe('SUCCEEDED');
    await expect.poll(() => node('approve').getAttribute('data-status'), { timeout: 10_000 }).toBe('RUNNING');
    await expect.poll(() => node('each').getAttribute('data-status'), { timeout: 10_000 }).toBe('SUCCEEDED');
    await page.locator('.waiting').getByText('waits for the signal “go”').waitFor();
    if (SCREENSHOTS) {
      // A fan-out item selected: its attempt on the timeline.
      await node('each').click();
      await page.locator('.panel .items button').first().click();
      await page.locator('.panel .timeline').waitFor();
      mkdirSync(join(ROOT, 'docs', 'img'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'docs', 'img', 'console-run.png'), fullPage: true });
    }

    // The signal goes through the API, not the page: only the subscription can turn the rest green.
    const signalled = Date.now();
    await t.ok(`mutation($id: ID!) { signalRun(id: $id, name: "go") { id } }`, { id: startRun.id }, key);
    await expect.poll(() => page.locator('section.run').getAttribute('data-run-status'), { timeout: 10_000 }).toBe('SUCCEEDED');
    console.log(`run page showed SUCCEEDED ${Date.now() - signalled} ms after signalRun (no reload)`);
    for (const step of ['greet', 'each', 'approve', 'done']) {
      expect(await node(step).getAttribute('data-status')).toBe('SUCCEEDED');
      expect(
        await node(step)
          .locator('rect')
          .evaluate((r) => (globalThis as any).getComputedStyle(r).stroke),
      ).toBe(GREEN);
    }
  });

  it('cancels a run from the list (bulk) and the list shows it cancelled', async () => {
    const { startRun: a } = await t.ok(START, { input: { name: 'Bo', items: [] } }, key);
    const { startRun: b } = await t.ok(START, { input: { name: 'Cy', items: [] } }, key);
    await page.getByRole('link', { name: 'Runs' }).click();
    await runRow(b.id).waitFor();
    await runRow(a.id).getByRole('checkbox').check();
    if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs', 'img', 'console-runs.png') });
    await page.getByRole('button', { name: /Cancel selected/ }).click();
    await expect.poll(() => runRow(a.id).getAttribute('data-status'), { timeout: 10_000 }).toBe('CANCELLED');
    const { run } = await t.ok(`query($id: ID!) { run(id: $id) { status } }`, { id: a.id }, key);
    expect(run.status).toBe('CANCELLED');
    // Only the selected one.
    expect((await t.ok(`query($id: ID!) { run(id: $id) { status } }`, { id: b.id }, key)).run.status).toBe('RUNNING');
  });

  it('pauses, resumes and signals a run from its page, and links a child run', async () => {
    await t.ok(
      REGISTER,
      {
        input: { name: 'console-parent', steps: [{ key: 'child', type: 'workflow', input: { workflow: 'console-demo', input: { name: 'Kid', items: [] } } }] },
      },
      key,
    );
    const { startRun } = await t.ok(`mutation { startRun(workflow: "console-parent") { id } }`, {}, key);
    const status = async (id: string) => (await t.ok(`query($id: ID!) { run(id: $id) { status children { id } } }`, { id }, key)).run;
    await page.goto(`${base()}/runs/${startRun.id}`);
    await node('child').click();
    await page
      .locator('.panel')
      .getByRole('link', { name: /console-demo/ })
      .click();
    const child = (await status(startRun.id)).children[0].id;
    await expect.poll(() => page.url()).toContain(`/ui/runs/${child}`);
    await expect.poll(() => node('approve').getAttribute('data-status'), { timeout: 10_000 }).toBe('RUNNING');

    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(async () => (await status(child)).status).toBe('PAUSED');
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(async () => (await status(child)).status).toBe('RUNNING');
    await page.getByLabel('signal name').fill('go');
    await page.getByLabel('signal payload').fill('{"approved": true}');
    await page.getByRole('button', { name: 'Send signal' }).click();
    await expect.poll(() => page.locator('section.run').getAttribute('data-run-status'), { timeout: 10_000 }).toBe('SUCCEEDED');
    // The parent finished with its child: its page links back.
    await page.getByRole('link', { name: /console-parent/ }).click();
    await expect.poll(() => page.locator('section.run').getAttribute('data-run-status'), { timeout: 10_000 }).toBe('SUCCEEDED');
  });

  it('shows workflow versions with a diff, and the queues', async () => {
    await t.ok(REGISTER, { input: demo([{ key: 'extra', type: 'noop', dependsOn: ['done'] }]) }, key);
    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByRole('link', { name: 'console-demo' }).click();
    await page.getByText('2 version(s)').waitFor();
    await expect
      .poll(() => page.locator('[data-testid="diff"] .add').allTextContents())
      .toEqual(expect.arrayContaining([expect.stringContaining('"key": "extra"')]));

    await page.getByRole('link', { name: 'Queues' }).click();
    // The run left waiting for its signal holds a RUNNING built-in task.
    await page.locator('tr[data-queue=""]').waitFor();
    expect(await page.locator('tr[data-queue=""] td').nth(2).textContent()).toBe('1');
  });

  it('asked nothing of any host but the conductor, and broke no CSP rule', () => {
    const hosts = new Set(requested.map((u) => new URL(u).host));
    expect([...hosts]).toEqual([`127.0.0.1:${t.app.port}`]);
    expect(requested.some((u) => u.startsWith('ws://'))).toBe(true);
    expect(problems).toEqual([]);
    console.log(`${requested.length} requests, all to 127.0.0.1:${t.app.port}`);
  });
});

describe('web console in development mode', () => {
  let t: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    t = await startTestApp();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'] });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('needs no key: runs of tenant "default" show at once', async () => {
    await t.ok(REGISTER, { input: demo() });
    const { startRun } = await t.ok(START, { input: { name: 'Dev', items: [] } });
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${t.app.port}/ui/runs`);
    await page.getByText('development mode (no key)').waitFor();
    await page.locator(`tr[data-run-id="${startRun.id}"]`).waitFor();
    expect(await page.getByLabel('API key').count()).toBe(0);
  });

  it('collapses a large input and copies it whole', async () => {
    const input = { name: 'Big', items: [], blob: 'x'.repeat(2000) };
    const { startRun } = await t.ok(START, { input });
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${t.app.port}` });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${t.app.port}/ui/runs/${startRun.id}`);
    const box = page.locator('.json', { hasText: 'run input' });
    await box.getByRole('button', { name: 'expand' }).waitFor();
    expect((await box.locator('pre').textContent())!.length).toBeLessThan(500);
    await box.getByRole('button', { name: 'copy' }).click();
    await box.getByRole('button', { name: 'copied' }).waitFor();
    expect(JSON.parse(await page.evaluate(() => (globalThis as any).navigator.clipboard.readText()))).toEqual(input);
    await box.getByRole('button', { name: 'expand' }).click();
    expect(await box.locator('pre').textContent()).toContain('x'.repeat(2000));
    await context.close();
  });
});

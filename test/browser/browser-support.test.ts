/**
 * The browser-test helpers (test/support/browser.ts) against pages a node:http server on
 * 127.0.0.1 serves under the dashboard's strict CSP: each check is shown passing a good page
 * and failing a bad one, so a dashboard test that uses them can fail.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BrowserSupportError, checkAccessibility, launchChromium, openPage, saveScreenshot, useChromium } from '../support/browser.js';
import { rejectionOf } from '../support/rejections.js';

const nonce = 'abc';
const dashboardCsp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
// The bare policy: nothing but scripts carrying the nonce.
const nonceOnlyCsp = `default-src 'none'; script-src 'nonce-${nonce}'`;

const page = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><link rel="stylesheet" href="/style.css"></head><body><main>${body}</main></body></html>`;

// The page is taller than the 720px viewport so a full-page screenshot shows in its height.
const stylesheet = 'body { font: 16px sans-serif; color: #111; background: #fff; } .ledger { min-height: 1500px; } button { padding: 8px 16px; }';

const pages: Record<string, { body: string; csp?: string }> = {
  '/clean': {
    body: page(
      'Ledger',
      `<h1>Ledger</h1>
      <p id="status">waiting for the script</p>
      <svg width="120" height="40" role="img" aria-labelledby="chart-title"><title id="chart-title">Deliveries per hour</title><rect x="0" y="10" width="100" height="20" fill="#1a5fb4"></rect></svg>
      <form method="post" action="/submitted"><label for="memo">Memo</label> <input id="memo" name="memo"> <button type="submit">Record</button></form>
      <div class="ledger"></div>
      <script nonce="${nonce}">document.getElementById('status').textContent = 'ready';</script>`,
    ),
  },
  '/console-error': { body: page('Console', `<h1>Console</h1><script nonce="${nonce}">console.error('ledger out of balance');</script>`) },
  '/throws': { body: page('Throws', `<h1>Throws</h1><script nonce="${nonce}">throw new RangeError('negative amount');</script>`) },
  '/missing-image': { body: page('Missing image', `<h1>Missing image</h1><img src="/nowhere.png" alt="Company logo">`) },
  '/request-fails': { body: page('Request fails', `<h1>Request fails</h1><script nonce="${nonce}">fetch('/reset').catch(() => {});</script>`) },
  '/inline-without-nonce': {
    body: page('Inline', `<h1>Inline</h1><script>document.title = 'injected';</script><script nonce="${nonce}">document.body.dataset.nonced = 'ran';</script>`),
  },
  '/inaccessible': {
    csp: nonceOnlyCsp,
    body: `<!doctype html><html lang="en" xml:lang="fr"><head><title>Inaccessible</title></head><body><main><h1>Inaccessible</h1>
      <img id="logo" src="/logo.png">
      <form><input id="amount" name="amount"></form>
      <div id="directory" role="directory"><p>Accounts</p></div>
      <script nonce="${nonce}">document.body.dataset.nonced = 'ran';</script>
      </main></body></html>`,
  },
};

type Received = { method: string; url: string; headers: IncomingHttpHeaders; body: string };
const received: Received[] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    received.push({ method: req.method ?? '', url: url.pathname, headers: req.headers, body: Buffer.concat(chunks).toString() });
    if (url.pathname === '/style.css') {
      res.writeHead(200, { 'content-type': 'text/css' }).end(stylesheet);
    } else if (url.pathname === '/reset') {
      req.socket.destroy();
    } else if (url.pathname === '/submitted' && req.method === 'POST') {
      const memo = new URLSearchParams(Buffer.concat(chunks).toString()).get('memo') ?? '';
      res.writeHead(303, { location: `/receipt?memo=${encodeURIComponent(memo)}` }).end();
    } else if (url.pathname === '/receipt') {
      const memo = (url.searchParams.get('memo') ?? '').replace(/[<>&"]/g, '');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': dashboardCsp }).end(page('Receipt', `<h1>Recorded: ${memo}</h1>`));
    } else if (pages[url.pathname]) {
      const { body, csp = dashboardCsp } = pages[url.pathname]!;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp }).end(body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
});
let origin = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const browser = useChromium();

/** The width and height a PNG's IHDR chunk declares. */
function pngSize(file: Buffer): { width: number; height: number } {
  return { width: file.readUInt32BE(16), height: file.readUInt32BE(20) };
}

describe('browser-test helpers', () => {
  it('find a clean, accessible page clean, and screenshot all of it', async () => {
    const { page, problems } = await openPage(browser(), `${origin}/clean`);
    // The nonced script ran: the CSP lets the page's own scripts through.
    expect(await page.textContent('#status')).toBe('ready');
    expect(await checkAccessibility(page)).toEqual([]);

    const path = await saveScreenshot(page, 'browser-support-clean');
    expect(path).toBe(join(import.meta.dirname, '..', '..', 'test-results', 'screenshots', 'browser-support-clean.png'));
    const png = readFileSync(path);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(pngSize(png).width).toBe(1280);
    expect(pngSize(png).height).toBeGreaterThan(1500);
    // Checking and screenshotting added no problem of their own (axe ran under the CSP).
    expect(problems()).toEqual([]);
  });

  it('report a console.error of a nonced script', async () => {
    const { problems } = await openPage(browser(), `${origin}/console-error`);
    expect(problems()).toEqual([`console.error: ledger out of balance (${origin}/console-error)`]);
  });

  it('report an uncaught exception', async () => {
    const { problems } = await openPage(browser(), `${origin}/throws`);
    expect(problems()).toEqual([`uncaught exception: RangeError: negative amount (${origin}/throws)`]);
  });

  it('report a resource that answered 404', async () => {
    const { problems } = await openPage(browser(), `${origin}/missing-image`);
    expect(problems()).toEqual([`console.error: Failed to load resource: the server responded with a status of 404 (Not Found) (${origin}/nowhere.png)`]);
  });

  it('report a request that got no answer', async () => {
    const { page, problems } = await openPage(browser(), `${origin}/request-fails`);
    await expect.poll(() => problems().some((problem) => problem.startsWith('request failed:')), { timeout: 5_000 }).toBe(true);
    expect(problems()).toContain(`request failed: GET ${origin}/reset (net::ERR_EMPTY_RESPONSE)`);
    expect(page.url()).toBe(`${origin}/request-fails`);
  });

  it('report an inline script without the nonce as a CSP violation, and the script did not run', async () => {
    const { page, problems } = await openPage(browser(), `${origin}/inline-without-nonce`);
    expect(await page.title()).toBe('Inline');
    expect(await page.getAttribute('body', 'data-nonced')).toBe('ran');
    expect(problems()).toHaveLength(1);
    expect(problems()[0]).toMatch(/^CSP violation: Executing inline script violates the following Content Security Policy directive 'script-src 'nonce-abc''/);
  });

  it('report the serious and critical accessibility violations, under a nonce-only CSP', async () => {
    const { page } = await openPage(browser(), `${origin}/inaccessible`);
    expect(await page.getAttribute('body', 'data-nonced')).toBe('ran');
    const violations = await checkAccessibility(page);
    expect(violations).toEqual(['image-alt (critical) Images must have alternative text: #logo', 'label (critical) Form elements must have labels: #amount']);
    // axe itself finds a moderate and a minor WCAG violation too, which the helper leaves out.
    const lesser = await page.evaluate(async () => {
      const { axe } = window as unknown as { axe: typeof import('axe-core') };
      const result = await axe.run(document, { runOnly: ['html-xml-lang-mismatch', 'aria-deprecated-role'] });
      return result.violations.map((violation) => `${violation.id} (${violation.impact})`).sort();
    });
    expect(lesser).toEqual(['aria-deprecated-role (minor)', 'html-xml-lang-mismatch (moderate)']);
  });

  it('leave out excluded parts and disabled rules, and refuse an unknown rule', async () => {
    const { page } = await openPage(browser(), `${origin}/inaccessible`);
    expect(await checkAccessibility(page, { exclude: ['#amount'] })).toEqual(['image-alt (critical) Images must have alternative text: #logo']);
    expect(await checkAccessibility(page, { disableRules: ['image-alt'] })).toEqual(['label (critical) Form elements must have labels: #amount']);
    const error = await rejectionOf(checkAccessibility(page, { disableRules: ['no-such-rule'] }));
    expect(error).toBeInstanceOf(BrowserSupportError);
    expect((error as BrowserSupportError).code).toBe('AXE_RULE_UNKNOWN');
  });

  it('refuse at once to check a page of a context without JavaScript, where axe would never finish', async () => {
    const { page } = await openPage(browser(), `${origin}/inaccessible`, { javaScriptEnabled: false });
    const error = await rejectionOf(checkAccessibility(page));
    expect(error).toBeInstanceOf(BrowserSupportError);
    expect((error as BrowserSupportError).code).toBe('AXE_NEEDS_JAVASCRIPT');
  });

  it('leave the CSP in force for the page after injecting axe', async () => {
    const { page, problems } = await openPage(browser(), `${origin}/clean`);
    await checkAccessibility(page);
    const ran = await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'document.body.dataset.injected = "ran";';
      document.head.append(script);
      return document.body.dataset.injected ?? null;
    });
    expect(ran).toBeNull();
    await expect.poll(() => problems(), { timeout: 5_000 }).toHaveLength(1);
    expect(problems()[0]).toMatch(/^CSP violation: Executing inline script violates the following Content Security Policy directive 'script-src 'nonce-abc''/);
  });

  it('post a form with the headers of a same-origin post and follow the redirect', async () => {
    const { page, problems } = await openPage(browser(), `${origin}/clean`);
    await page.getByLabel('Memo').fill('Invoice 42');
    await page.getByRole('button', { name: 'Record' }).click();
    await page.waitForURL(`${origin}/receipt?memo=Invoice%2042`);
    expect(await page.textContent('h1')).toBe('Recorded: Invoice 42');
    expect(problems()).toEqual([]);

    const post = received.find((request) => request.method === 'POST' && request.url === '/submitted');
    expect(post?.body).toBe('memo=Invoice+42');
    // What the dashboard's CSRF check relies on: Chromium marks a form post from the page's own origin.
    expect(post?.headers['sec-fetch-site']).toBe('same-origin');
    expect(post?.headers.origin).toBe(origin);
  });

  it('refuse page options that would bypass the CSP, and screenshot names that are not plain', async () => {
    const optionsError = await rejectionOf(openPage(browser(), `${origin}/clean`, { bypassCSP: true } as never));
    expect((optionsError as BrowserSupportError).code).toBe('PAGE_OPTIONS_INVALID');
    const { page } = await openPage(browser(), `${origin}/clean`);
    for (const name of ['../escape', 'a/b', '', '.hidden']) {
      const error = await rejectionOf(saveScreenshot(page, name));
      expect((error as BrowserSupportError).code).toBe('SCREENSHOT_NAME_INVALID');
    }
  });
});

describe('launchChromium', () => {
  it('fails when CHROMIUM_PATH names no executable, rather than skipping', async () => {
    vi.stubEnv('CHROMIUM_PATH', join(tmpdir(), 'no-such-chromium'));
    try {
      const error = await rejectionOf(launchChromium());
      expect(error).toBeInstanceOf(BrowserSupportError);
      expect((error as BrowserSupportError).code).toBe('CHROMIUM_NOT_FOUND');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('gives each browser a fresh profile in the temp directory and deletes it on close', async () => {
    const profiles: string[] = [];
    for (let launch = 0; launch < 2; launch += 1) {
      const launched = await launchChromium();
      try {
        const page = await launched.newPage();
        await page.goto('chrome://version');
        // The profile path is <user-data-dir>/Default.
        const profile = dirname((await page.textContent('#profile_path'))!.trim());
        expect(existsSync(profile)).toBe(true);
        profiles.push(profile);
      } finally {
        await launched.close();
      }
    }
    expect(new Set(profiles).size).toBe(2);
    for (const profile of profiles) {
      expect(dirname(profile)).toBe(tmpdir());
      expect(existsSync(profile)).toBe(false);
    }
  });
});

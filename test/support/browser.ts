/**
 * Browser tests in Debian's Chromium, driven by playwright-core (Playwright's own browser
 * download cannot reach its CDN from CI). One browser per test file (`useChromium`), a fresh
 * context per page (`openPage`) that records every problem the page shows, axe-core for
 * accessibility under the page's own CSP, and full-page screenshots under test-results/.
 *
 * Without a Chromium the tests fail, also locally: a browser test never skips.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, onTestFinished } from 'vitest';

/** What the helpers throw when there is no browser or they are misused; tests assert its `code`. */
export class BrowserSupportError extends Error {
  override readonly name = 'BrowserSupportError';

  constructor(
    readonly code: 'CHROMIUM_NOT_FOUND' | 'PAGE_OPTIONS_INVALID' | 'AXE_RULE_UNKNOWN' | 'AXE_NEEDS_JAVASCRIPT' | 'SCREENSHOT_NAME_INVALID',
    message: string,
  ) {
    super(message);
  }
}

// A cold start on a loaded two-core machine takes seconds; a page action that waits longer
// than these is a failure to report, not a slow machine.
const launchTimeoutMs = 30_000;
const actionTimeoutMs = 10_000;
const navigationTimeoutMs = 15_000;

// Without the background-networking flags Chromium keeps dialling Google services, and on a
// closed network those refused connections slow every launch; QUIC is off for the same reason.
const chromiumArgs = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** WCAG 2.0, 2.1 and 2.2 at levels A and AA, as axe-core tags its rules. */
const wcagTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const reportedImpacts = new Set(['serious', 'critical']);

const screenshotsDir = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `CHROMIUM_PATH`, else /usr/bin/chromium, else `chromium` on PATH. */
function chromiumExecutable(): string {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (isExecutableFile(configured)) return configured;
    throw new BrowserSupportError('CHROMIUM_NOT_FOUND', `Expected CHROMIUM_PATH to name an executable Chromium, got "${configured}"`);
  }
  const onPath = (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'chromium'));
  const found = ['/usr/bin/chromium', ...onPath].find(isExecutableFile);
  if (found) return found;
  throw new BrowserSupportError(
    'CHROMIUM_NOT_FOUND',
    'No Chromium for the browser tests (looked at CHROMIUM_PATH, /usr/bin/chromium and PATH): on Debian `apt-get install -y chromium`, or set CHROMIUM_PATH. Browser tests fail rather than skip without one.',
  );
}

/**
 * Launches headless Chromium; the caller closes it. Playwright gives every launch a fresh
 * profile (user-data-dir) in the temp directory and deletes it on `close()`. Running as root
 * needs no sandbox, which Playwright leaves off by default (`chromiumSandbox: false`).
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumExecutable(), headless: true, chromiumSandbox: false, args: chromiumArgs, timeout: launchTimeoutMs });
}

/**
 * One Chromium for the calling test file: launched in beforeAll, closed in afterAll, shared by
 * the file's tests (which vitest runs one after another). Call it once at the top of the file;
 * read the browser inside a test.
 */
export function useChromium(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (browser === undefined) throw new Error('Chromium launches in beforeAll: read it inside a test');
    return browser;
  };
}

/**
 * Contexts opened with `javaScriptEnabled: false`. axe-core cannot run in their pages: with
 * scripting off, Chromium runs none of the timers and promise callbacks its rules wait on,
 * so `axe.run` would never settle.
 */
const contextsWithoutJavaScript = new WeakSet<BrowserContext>();

/** Options for the page's browser context. A page's CSP is what a browser test checks, so it cannot be bypassed. */
export type PageOptions = Omit<BrowserContextOptions, 'bypassCSP'>;

export interface OpenedPage {
  page: Page;
  /** The page's own context: its cookies, and any popup the page opens. */
  context: BrowserContext;
  /**
   * Everything that went wrong in the context so far, one line each: `console.error: …`
   * (and `console.assert`), `CSP violation: …`, `uncaught exception: …`, `request failed: …`.
   * A page that loads cleanly answers `[]`.
   */
  problems(): string[];
}

/**
 * Opens `url` in a new context of `browser` and waits for its load event. The context closes
 * when the current test finishes, so call this inside a test.
 *
 * Chromium prints every CSP refusal to the console as an error ("… violates the following
 * Content Security Policy directive …"), also those the page's own code never sees, so the
 * console is the one source for them; they are labelled `CSP violation`.
 */
export async function openPage(browser: Browser, url: string, options: PageOptions = {}): Promise<OpenedPage> {
  if ('bypassCSP' in options) throw new BrowserSupportError('PAGE_OPTIONS_INVALID', 'Expected no `bypassCSP` in the page options: the page runs under its own CSP');
  const context = await browser.newContext(options);
  onTestFinished(() => context.close());
  if (options.javaScriptEnabled === false) contextsWithoutJavaScript.add(context);
  context.setDefaultTimeout(actionTimeoutMs);
  context.setDefaultNavigationTimeout(navigationTimeoutMs);

  const problems: string[] = [];
  context.on('console', (message) => {
    const type = message.type();
    if (type !== 'error' && type !== 'assert') return;
    const text = message.text();
    const where = message.location().url;
    // Chromium asks each origin for /favicon.ico on its own, whenever it gets to it: the answer
    // comes from whatever serves the origin's root, not from the page under test.
    if (URL.canParse(where) && new URL(where).pathname === '/favicon.ico' && text.startsWith('Failed to load resource')) return;
    const kind = /Content Security Policy/.test(text) ? 'CSP violation' : `console.${type}`;
    problems.push(`${kind}: ${text}${where ? ` (${where})` : ''}`);
  });
  context.on('weberror', (webError) => {
    const where = webError.page()?.url();
    problems.push(`uncaught exception: ${String(webError.error())}${where ? ` (${where})` : ''}`);
  });
  context.on('requestfailed', (request) => {
    const errorText = request.failure()?.errorText ?? 'unknown error';
    // A request the CSP blocked is already a `CSP violation` line. ERR_ABORTED is a request
    // cancelled by a navigation, or one whose non-2xx answer the console has reported.
    if (errorText === 'csp' || errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.method()} ${request.url()} (${errorText})`);
  });

  const page = await context.newPage();
  await page.goto(url);
  return { page, context, problems: () => [...problems] };
}

export interface AccessibilityOptions {
  /** CSS selectors of parts of the page to leave out of the check. */
  exclude?: string[];
  /** axe-core rule ids not to run, each an exception the test explains; an unknown id throws. */
  disableRules?: string[];
}

type AxeCore = typeof import('axe-core');
type Violation = { id: string; impact: string | null; help: string; targets: string[] };

let axeSource: Promise<string> | undefined;

/**
 * Runs axe-core's WCAG 2.x A and AA rules over the page as it is now and answers the
 * violations of serious or critical impact, one line each: `<rule> (<impact>) <help>: <targets>`.
 * An accessible page answers `[]`.
 *
 * axe is evaluated over the DevTools protocol, which the page's CSP does not govern: no
 * script tag, nonce or `bypassCSP`, so the page's own scripts stay under its CSP. A page of
 * a context opened with `javaScriptEnabled: false` is refused (`AXE_NEEDS_JAVASCRIPT`).
 */
export async function checkAccessibility(page: Page, options: AccessibilityOptions = {}): Promise<string[]> {
  if (contextsWithoutJavaScript.has(page.context())) {
    throw new BrowserSupportError('AXE_NEEDS_JAVASCRIPT', 'Expected a page with JavaScript on: axe-core never finishes in a context opened with `javaScriptEnabled: false`');
  }
  axeSource ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const source = await axeSource;
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(source);

  const disableRules = options.disableRules ?? [];
  const knownRules = await page.evaluate(() => (window as unknown as { axe: AxeCore }).axe.getRules().map((rule) => rule.ruleId));
  const unknown = disableRules.filter((rule) => !knownRules.includes(rule));
  if (unknown.length > 0) throw new BrowserSupportError('AXE_RULE_UNKNOWN', `Expected \`disableRules\` to name axe-core rules, got unknown ${unknown.join(', ')}`);

  const violations = await page.evaluate(
    async ({ exclude, disableRules, tags }): Promise<Violation[]> => {
      const { axe } = window as unknown as { axe: AxeCore };
      const result = await axe.run(exclude.length > 0 ? { exclude } : document, {
        runOnly: { type: 'tag', values: tags },
        rules: Object.fromEntries(disableRules.map((rule) => [rule, { enabled: false }])),
        resultTypes: ['violations'],
      });
      return result.violations.map((violation) => ({
        id: violation.id,
        impact: violation.impact ?? null,
        help: violation.help,
        targets: violation.nodes.map((node) => node.target.flat().join(' >>> ')),
      }));
    },
    { exclude: options.exclude ?? [], disableRules, tags: wcagTags },
  );
  return violations
    .filter((violation) => violation.impact !== null && reportedImpacts.has(violation.impact))
    .map((violation) => `${violation.id} (${violation.impact}) ${violation.help}: ${violation.targets.join(', ')}`);
}

/** Saves a full-page PNG as test-results/screenshots/<name>.png and answers its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new BrowserSupportError('SCREENSHOT_NAME_INVALID', `Expected the screenshot name to be letters, digits, ".", "_" and "-", got "${name}"`);
  }
  await mkdir(screenshotsDir, { recursive: true });
  const path = join(screenshotsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true, type: 'png' });
  return path;
}

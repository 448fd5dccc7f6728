/**
 * `listen` in a real pseudo-terminal (tmux), as a person sees it: colours on the TTY, the
 * generated secret shown once at start and not again when events arrive, each event's
 * line and data — and no colour codes with NO_COLOR set.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { bookkeeperEvents } from '../../src/index.js';
import { cliEntry, runCli } from './cli-process.js';

/** The tmux server of the running test, on a socket of its own: killing it touches nothing else, and the next test's server never meets it shutting down. */
let socket = '';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm-256color' } });
}

function shellWord(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The pane's text; with `escapes`, its colour codes too. */
function pane(escapes: boolean): string {
  return tmux('capture-pane', '-p', '-J', ...(escapes ? ['-e'] : []), '-t', 'listen');
}

/** Polls the pane (20 ms apart) until `pattern` shows, for at most 10 s. */
async function paneShowing(pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = pane(false);
    if (pattern.test(text) || Date.now() > deadline) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function startListenInTerminal(env: Record<string, string>): void {
  socket = `bkwh-cli-${randomBytes(4).toString('hex')}`;
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${shellWord(value)}`);
  tmux('new-session', '-d', '-s', 'listen', '-x', '160', '-y', '60', `env ${assignments.join(' ')} ${shellWord(process.execPath)} ${shellWord(cliEntry)} listen --port 0`);
}

afterEach(() => {
  try {
    tmux('kill-server');
  } catch {
    // No server left: the session had ended.
  }
});

describe('listen on a terminal', () => {
  it('shows the ready line in colour, the secret once, and each event with its verdict', async ({ expect }) => {
    const config = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-tty-'));
    startListenInTerminal({ XDG_CONFIG_HOME: config, HOME: config, TERM: 'xterm-256color' });
    const ready = await paneShowing(/Press Ctrl-C to stop\./);
    const url = /Listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(ready)?.[1];
    const secret = /Your webhook signing secret is (whsec_\S+)/.exec(ready)?.[1];
    expect(url, ready).toBeDefined();
    expect(secret, ready).toBeDefined();
    const sent = await runCli(['trigger', 'payment.succeeded', '--to', url!, '--secret', secret!, '--json']);
    expect(sent.code).toBe(0);
    const { id } = JSON.parse(sent.stdout) as { id: string };
    const after = await paneShowing(/✔ signature valid/);
    expect(after).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d {2}payment\\.succeeded {2}${id} {2}attempt 1 {2}✔ signature valid$`, 'm'));
    // The data, readably: short objects on one line.
    expect(after).toContain(`"amount": ${JSON.stringify(bookkeeperEvents.examples['payment.succeeded'].amount)}`);
    expect(after.split(secret!).length - 1).toBe(1);
    const coloured = pane(true);
    // As tmux re-encodes them: bold green "Ready!", the secret in bold, the type in bold, the verdict in green.
    expect(coloured).toContain('\u001b[1m\u001b[32mReady!');
    expect(coloured).toContain(`\u001b[1m${secret}`);
    expect(coloured).toContain('\u001b[1mpayment.succeeded');
    expect(coloured).toContain('\u001b[32m✔ signature valid');
  });

  it('prints no colour codes with NO_COLOR set', async ({ expect }) => {
    const config = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-tty-'));
    startListenInTerminal({ XDG_CONFIG_HOME: config, HOME: config, TERM: 'xterm-256color', NO_COLOR: '1' });
    const ready = await paneShowing(/Press Ctrl-C to stop\./);
    expect(ready).toMatch(/^Ready! Listening on http:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(pane(true)).not.toMatch(/\u001b\[[0-9;]*m/);
  });
});

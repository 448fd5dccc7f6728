/**
 * `listen` in a real pseudo-terminal (tmux), as a person sees it: colours on the TTY, the
 * generated secret shown once at start and not again when events arrive, each event's
 * line and data — and no colour codes with NO_COLOR set.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { bookkeeperEvents } from '../../src/index.js';
import { runCli } from './cli-process.js';
import { CliTerminal } from './terminal.js';

let terminal: CliTerminal | undefined;

function listenInTerminal(env: Record<string, string> = {}): CliTerminal {
  const config = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-tty-'));
  terminal = new CliTerminal(['listen', '--port', '0'], { XDG_CONFIG_HOME: config, HOME: config, ...env });
  return terminal;
}

afterEach(() => {
  terminal?.close();
  terminal = undefined;
});

describe('listen on a terminal', () => {
  it('shows the ready line in colour, the secret once, and each event with its verdict', async ({ expect }) => {
    const listen = listenInTerminal();
    const ready = await listen.showing(/Press Ctrl-C to stop\./);
    const url = /Listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(ready)?.[1];
    const secret = /Your webhook signing secret is (whsec_\S+)/.exec(ready)?.[1];
    expect(url, ready).toBeDefined();
    expect(secret, ready).toBeDefined();
    const sent = await runCli(['trigger', 'payment.succeeded', '--to', url!, '--secret', secret!, '--json']);
    expect(sent.code).toBe(0);
    const { id } = JSON.parse(sent.stdout) as { id: string };
    const after = await listen.showing(/✔ signature valid/);
    expect(after).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d {2}payment\\.succeeded {2}${id} {2}attempt 1 {2}✔ signature valid$`, 'm'));
    // The data, readably: short objects on one line.
    expect(after).toContain(`"amount": ${JSON.stringify(bookkeeperEvents.examples['payment.succeeded'].amount)}`);
    expect(after.split(secret!).length - 1).toBe(1);
    const coloured = listen.screen(true);
    // As tmux re-encodes them: bold green "Ready!", the secret in bold, the type in bold, the verdict in green.
    expect(coloured).toContain('\u001b[1m\u001b[32mReady!');
    expect(coloured).toContain(`\u001b[1m${secret}`);
    expect(coloured).toContain('\u001b[1mpayment.succeeded');
    expect(coloured).toContain('\u001b[32m✔ signature valid');
  });

  it('prints no colour codes with NO_COLOR set', async ({ expect }) => {
    const listen = listenInTerminal({ NO_COLOR: '1' });
    const ready = await listen.showing(/Press Ctrl-C to stop\./);
    expect(ready).toMatch(/^Ready! Listening on http:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(listen.screen(true)).not.toMatch(/\u001b\[[0-9;]*m/);
  });
});

/**
 * A command in a real pseudo-terminal: a tmux session on a server of its own (a socket
 * per session, so killing it touches nothing else and the next one never meets it shutting
 * down), its screen read with `capture-pane`, keys typed with `send-keys`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cliEntry } from './cli-process.js';

function shellWord(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A CLI command running in a terminal. */
export class CliTerminal {
  private readonly socket = `bkwh-cli-${randomBytes(4).toString('hex')}`;

  /** Starts `bookkeeper-webhooks …args` in a 160×60 terminal with exactly `env`. */
  constructor(args: readonly string[], env: Record<string, string>) {
    const assignments = Object.entries({ TERM: 'xterm-256color', ...env }).map(([name, value]) => `${name}=${shellWord(value)}`);
    const command = [process.execPath, cliEntry, ...args].map(shellWord).join(' ');
    this.tmux('new-session', '-d', '-s', 'cli', '-x', '160', '-y', '60', `env -i ${assignments.join(' ')} ${command}; sleep 30`);
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm-256color' } });
  }

  /** The screen's text; with `escapes`, its colour codes as tmux re-encodes them. */
  screen(escapes = false): string {
    return this.tmux('capture-pane', '-p', '-J', ...(escapes ? ['-e'] : []), '-t', 'cli');
  }

  /** Polls the screen (20 ms apart) until `pattern` shows, for at most 10 s; returns the screen either way. */
  async showing(pattern: RegExp): Promise<string> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = this.screen();
      if (pattern.test(text) || Date.now() > deadline) return text;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Types `text` and Enter. */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'cli', text, 'Enter');
  }

  /** Ends the session and its server. */
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // The server had already gone.
    }
  }
}

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'webhooks-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runExample(file: string, env: Record<string, string>) {
  return run(process.execPath, ['--import', 'tsx', join(root, 'examples', file)], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

describe('examples', () => {
  it('runs the README quick start: the ERP verifies and books the payment, delivered on the first attempt', async () => {
    const { stdout } = await runExample('quick-start.ts', { WEBHOOKS_DB: join(dir, 'quick-start.db') });
    expect(stdout).toContain('ERP booked payment.succeeded {"paymentId":"pay_123"');
    expect(stdout).toContain('"amount":{"amount":12300,"currency":"EUR"}');
    expect(stdout).toContain('delivery delivered after 1 attempt(s)');
  }, 60_000);

  it('runs the SQLite outbox example: the rolled-back ledger write left no event, the committed one has its delivery', async () => {
    const { stdout } = await runExample('sqlite-outbox.ts', { LEDGER_DB: join(dir, 'ledger.db') });
    expect(stdout).toContain('ledger check failed: rolling back');
    expect(stdout).toContain('ledger rows: pay_ok\n');
    expect(stdout).toContain('deliveries queued: 1 (payment.succeeded)');
  }, 60_000);

  it('runs the audit-trail example: one JSON line per attempt with ids, attempt number, outcome and timing', async () => {
    const { stdout } = await runExample('audit-trail.ts', {});
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.lifecycle, line.attempt, line.statusCode])).toEqual([
      ['delivery:failed', 1, 503],
      ['delivery:succeeded', 2, 204],
    ]);
    for (const line of lines) {
      expect(line).toMatchObject({ eventId: expect.stringMatching(/^evt_/), subscriptionId: expect.stringMatching(/^sub_/), deliveryId: expect.stringMatching(/^dlv_/) });
      expect(typeof line.durationMs).toBe('number');
    }
  }, 60_000);

  it('runs the demo to completion on SQLite: nothing lost, the tampered request refused, a summary printed', async () => {
    const { stdout } = await runExample('demo.ts', { DEMO_EVENTS: '70', DEMO_DIR: dir });
    expect(stdout).toContain(`storage: SQLite (WAL) at ${join(dir, 'webhooks.db')}`);
    expect(stdout).toMatch(/HTTP 401 — refused/);
    const deliveries = Number(/deliveries\s+(\d+)/.exec(stdout)?.[1]);
    const delivered = Number(/delivered\s+(\d+)\n/.exec(stdout)?.[1]);
    const dead = Number(/dead \(redeliverable\)\s+(\d+)/.exec(stdout)?.[1]);
    expect(deliveries).toBeGreaterThan(70);
    expect(delivered + dead).toBe(deliveries);
    expect(stdout).toMatch(/signature verification failures\s+1 \(WEBHOOK_NO_MATCHING_SIGNATURE\)/);
    expect(stdout).toMatch(/latency p50 \/ p99\s+[\d.]+ ms \/ [\d.]+ ms/);
  }, 60_000);
});

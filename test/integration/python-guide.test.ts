/**
 * The Python guide's verification code (docs/verifying-in-other-languages.md, the block after
 * the `checked by` marker) run by python3 over every vector of the shipped test-vectors.json.
 * PyPI is out of reach here and in CI, so the guide's `standardwebhooks` import is served by a
 * stand-in written with the standard library (test/fixtures/python/standardwebhooks/), which
 * follows the package's 1.1.0 checks and exceptions and lets the runner set its clock.
 *
 * Without python3 the Python part skips locally and fails in CI (the CI machines are Debian:
 * `apt-get install -y python3`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testVectorsPath, type TestVectors } from '../../scripts/test-vectors.js';

const root = join(import.meta.dirname, '..', '..');
const guidePath = join(root, 'docs', 'verifying-in-other-languages.md');
const marker = '<!-- checked by test/integration/python-guide.test.ts -->';
const fixtures = join(root, 'test', 'fixtures', 'python');

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = python.status === 0;
if (!hasPython && process.env.CI) {
  throw new Error('python3 is not installed: CI must run the Python guide check (on Debian: apt-get install -y python3)');
}

type Verdict = { name: string; id: string | null; environment: string | null } | { name: string; status: number; error: string };

/** Runs the guide's block over the vectors; one verdict per vector, in the file's order. */
function runGuide(): { valid: Verdict[]; invalid: Verdict[] } {
  const run = spawnSync('python3', [join(fixtures, 'run_guide.py'), guidePath, testVectorsPath], {
    encoding: 'utf8',
    // Only the stand-in on the path, and no __pycache__ left in the work tree.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONPATH: fixtures, PYTHONDONTWRITEBYTECODE: '1', PYTHONNOUSERSITE: '1' },
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as { valid: Verdict[]; invalid: Verdict[] };
}

/** The envelope in a vector's body, or undefined for a spec vector's body, which is no Bookkeeper event. */
function envelopeOf(body: string): { type: string; environment?: string } | undefined {
  const value = JSON.parse(body) as { type?: unknown; environment?: string };
  return typeof value.type === 'string' ? (value as { type: string; environment?: string }) : undefined;
}

describe('the Python guide', () => {
  it('has one checked Python block, the verification', () => {
    const guide = readFileSync(guidePath, 'utf8');
    expect(guide.split(marker).length - 1).toBe(1);
    expect(guide.slice(guide.indexOf(marker) + marker.length)).toMatch(/^\n```python\n[\s\S]*?def verify_bookkeeper_webhook\(/);
  });

  it.skipIf(!hasPython)('verifies every valid vector, and refuses every invalid one with 401, or 400 for the environment', () => {
    const vectors = JSON.parse(readFileSync(testVectorsPath, 'utf8')) as TestVectors;
    const verdicts = runGuide();
    expect(verdicts.valid.map((verdict) => verdict.name)).toEqual(vectors.valid.map((vector) => vector.name));
    expect(verdicts.invalid.map((verdict) => verdict.name)).toEqual(vectors.invalid.map((vector) => vector.name));

    // The guide's library verifies v1 (HMAC) only: a vector whose receiver holds only v1a
    // public keys is refused as unverified, as the guide says.
    const v1aOnly = (vector: { secrets: string[] }) => vector.secrets.every((key) => key.startsWith('whpk_'));
    vectors.valid.forEach((vector, index) => {
      const envelope = envelopeOf(vector.body);
      // A spec vector's body passes the signature and is then refused as no Bookkeeper event.
      const expected = v1aOnly(vector)
        ? { name: vector.name, status: 401, error: 'not verified' }
        : envelope === undefined
          ? { name: vector.name, status: 400, error: 'not an event' }
          : { name: vector.name, id: vector.headers['webhook-id'], environment: envelope.environment ?? null };
      expect(verdicts.valid[index]).toEqual(expected);
    });
    vectors.invalid.forEach((vector, index) => {
      const expected =
        vector.error === 'WEBHOOK_ENVIRONMENT_MISMATCH'
          ? { name: vector.name, status: 400, error: 'wrong environment' }
          : { name: vector.name, status: 401, error: 'not verified' };
      expect(verdicts.invalid[index]).toEqual(expected);
    });
  });
});

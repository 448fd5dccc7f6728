/**
 * `jsonValueProblem` with `forJsonb`: what PostgreSQL `jsonb` cannot hold — U+0000 and a lone
 * surrogate, in a string or a key — is found, with its path, so that the callers refuse it the
 * same way on every storage. Without the option, both are JSON (escaped as `\u0000`, `\ud800`).
 */
import { describe, expect, it } from 'vitest';
import { jsonValueProblem } from '../../src/json-value-problem.js';

describe('jsonValueProblem for jsonb', () => {
  it.each([
    ['a lone high surrogate in a string', { a: 'x\ud800' }, ['a'], 'a string with a lone surrogate'],
    ['a lone low surrogate in a nested string', { a: [1, { b: '\udc00x' }] }, ['a', 1, 'b'], 'a string with a lone surrogate'],
    ['a lone surrogate in a key', { ['k\udbff']: 1 }, ['k\udbff'], 'a key with a lone surrogate'],
    ['U+0000 in a string', { a: 'x\u0000' }, ['a'], 'a string with U+0000'],
    ['U+0000 in a key', { ['k\u0000']: 1 }, ['k\u0000'], 'a key with U+0000'],
  ])('finds %s', (_name, value, path, found) => {
    expect(jsonValueProblem(value, { forJsonb: true })).toEqual({ path, found });
    // The former name of the option means the same.
    expect(jsonValueProblem(value, { refuseNul: true })).toEqual({ path, found });
  });

  it('takes surrogate pairs, and lone surrogates and U+0000 without the option', () => {
    expect(jsonValueProblem({ ['\ud83d\ude00']: 'a\ud83d\ude00b' }, { forJsonb: true })).toBeNull();
    expect(jsonValueProblem({ ['k\ud800']: 'x\udc00\u0000' })).toBeNull();
  });
});

/**
 * Migration 0014: the phase of every applied step in the version table (`migrations.phase`,
 * 'expand' or 'contract'), so that code of an older release, which cannot know a newer
 * release's steps, can read whether everything newer than itself is additive and keep
 * running (see ../schema-compatibility.ts).
 *
 * The column comes with a constant default, which PostgreSQL records in the catalog without
 * rewriting the table; the rows already there get the phase their step declares (0003, which
 * dropped the idempotency constraint the publishes of older code named, is the one contract
 * step among them). The default is dropped afterwards: from here on every record names its
 * phase. An expand step itself: older code reads `version` alone and never the new column.
 *
 * Append-only, like 0001–0013: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.migrations ADD COLUMN phase text NOT NULL DEFAULT 'expand';
UPDATE {{schema}}.migrations SET phase = 'contract' WHERE version = 3;
ALTER TABLE {{schema}}.migrations ALTER COLUMN phase DROP DEFAULT;
ALTER TABLE {{schema}}.migrations ADD CONSTRAINT migrations_phase_check CHECK (phase IN ('expand', 'contract'));
`;

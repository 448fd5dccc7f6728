/**
 * The event catalog's types, for typed handlers. Types only: the catalog itself is
 * built on zod, which the receiver entry must never load at run time; an
 * `export type` is erased from the JavaScript, so nothing of `src/events/` reaches
 * the bundle (the neutral-bundle test in test/unit/verify-webhook.test.ts checks it).
 */
export type { EventCatalog, EventDataOf, EventVersionDataOf } from '../events/catalog.js';

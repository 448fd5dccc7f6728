/**
 * Migration 0005: the events published without a tenant, in id order, for the reads scoped
 * to the platform (`tenantId: null`): the event feed of a platform subscription and the event
 * list. A tenant's events have events_tenant (0003), which is partial and holds none of them;
 * without this index PostgreSQL reads such a page by a sequential scan of every tenant's
 * events (or a walk of the primary key past them), whatever the page size.
 *
 * Partial: an event of a tenant costs no entry. In an installation without tenants every
 * event has one, an insert at the right edge of the index (ids are time-sortable). Built
 * inside the migration's transaction, like the indexes of 0003: writes to the events wait
 * for the build, which reads the table once.
 *
 * Append-only, like 0001: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE INDEX events_tenantless ON {{schema}}.events (id) WHERE tenant_id IS NULL;
`;

/**
 * Migration 0009: the events published without a tenant, in id order, for the reads scoped
 * to the platform (`tenantId: null`): the event feed of a platform subscription and the event
 * list. A tenant's events have events_tenant (0007), which is partial and holds none of them;
 * without this index such a read walks every tenant's events in id order to find the
 * tenantless ones, all of them when none is left after its cursor.
 *
 * Partial: an event of a tenant costs no entry. In an installation without tenants every
 * event has one, an append at the right edge of the index (ids are time-sortable).
 *
 * Append-only, like 0001–0008: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE INDEX {{prefix}}events_tenantless ON {{prefix}}events (id) WHERE tenant_id IS NULL;
`;

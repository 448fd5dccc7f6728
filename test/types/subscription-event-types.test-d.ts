// Type tests of `eventTypes` in subscriptions.create/update: typed from the catalog
// (exact types, `prefix.*` for each prefix, `*`), so a typo fails to compile; any string
// with an untyped catalog. Run by `vitest --typecheck` and by `tsc`.
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createWebhooks,
  defineEvents,
  type BookkeeperEvents,
  type EventCatalog,
  type EventTypeFilterOf,
  type EventTypePrefixes,
  type SubscriptionRegistry,
  type Webhooks,
} from '../../src/index.js';

const catalog = defineEvents({
  'invoice.paid': z.object({ invoiceId: z.string() }),
  'invoice.card.declined': z.object({ invoiceId: z.string() }),
  'ledger.closed': z.object({ period: z.string() }),
});

describe('EventTypeFilterOf', () => {
  it('is the exact types, every prefix.* of them and *', () => {
    expectTypeOf<EventTypeFilterOf<typeof catalog>>().toEqualTypeOf<
      'invoice.paid' | 'invoice.card.declined' | 'ledger.closed' | 'invoice.*' | 'invoice.card.*' | 'ledger.*' | '*'
    >();
    expectTypeOf<EventTypePrefixes<'a.b.c'>>().toEqualTypeOf<'a.*' | 'a.b.*'>();
  });

  it('is any string for an untyped catalog', () => {
    expectTypeOf<EventTypeFilterOf<EventCatalog>>().toEqualTypeOf<string>();
    expectTypeOf<EventTypeFilterOf>().toEqualTypeOf<string>();
  });
});

describe('subscriptions.create and update', () => {
  it('accept exact types, prefixes and * of the catalog, and refuse a typo at compile time', () => {
    const webhooks = createWebhooks({ events: catalog });
    expectTypeOf(webhooks.subscriptions).toEqualTypeOf<SubscriptionRegistry<typeof catalog>>();
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['invoice.paid', 'invoice.card.*', 'ledger.*'] });
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
    // A list kept in a constant works too, `as const` or not.
    const filters = ['invoice.*', 'ledger.closed'] as const;
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: filters });
    // @ts-expect-error -- a typo of an exact type
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['invoice.payed'] });
    // @ts-expect-error -- a prefix the catalog does not have
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    // @ts-expect-error -- a malformed wildcard
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['invoice*'] });
    void webhooks.subscriptions.update('sub_1', { eventTypes: ['ledger.*'] });
    // @ts-expect-error -- update is typed the same way
    void webhooks.subscriptions.update('sub_1', { eventTypes: ['ledger.close'] });
  });

  it('are typed from the Bookkeeper catalog by default', () => {
    const webhooks: Webhooks<BookkeeperEvents> = createWebhooks();
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.succeeded', 'refund.*'] });
    // @ts-expect-error -- the typo of the issue: payment.succeded
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.succeded'] });
  });

  it('accept any string with an untyped catalog', () => {
    const untyped: EventCatalog = catalog;
    const webhooks = createWebhooks({ events: untyped });
    const fromConfig: string[] = ['anything.*'];
    void webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: fromConfig });
  });
});

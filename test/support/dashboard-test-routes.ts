/**
 * A small route table for testing the dashboard's gate apart from its pages
 * (`createDashboardWithRoutes`): a page with links, an action that reads its form and
 * audits, a page that throws what it is told to, an operator-only page, and the fed
 * verification failures.
 */
import { ConflictError, StorageError, ValidationError } from '../../src/errors.js';
import { DashboardRefusal, type DashboardContext, type Route } from '../../src/dashboard/dashboard-context.js';
import { html } from '../../src/dashboard/html.js';

/** What a route saw of its request, answered as `data`. */
function seen(context: DashboardContext) {
  return { actor: context.principal.actor, name: context.principal.name ?? null, tenantId: context.tenantId ?? null, readOnly: context.readOnly };
}

/** The messages the failing route throws with: none may reach a response for a 500. */
export const internalMessages = {
  storage: 'connection to 10.0.0.7:5432 refused (password authentication failed for user "webhooks")',
  plain: 'Cannot read properties of undefined (reading "secret") at /srv/app/internal.js:12',
};

export function gateTestRoutes(): Route[] {
  return [
    {
      method: 'GET',
      path: '/',
      handle: async (context) => ({
        kind: 'page',
        title: 'Home',
        data: seen(context),
        body: html`<h1>Home</h1><a id="item" href="${context.href('/items/42', { tab: 'attempts', empty: '', none: undefined })}">Item 42</a>
<form method="post" action="${context.href('/items/42/poke')}"><button>Poke</button></form>`,
      }),
    },
    {
      method: 'GET',
      path: '/items/:id',
      handle: async (context, params) => ({ kind: 'page', title: `Item ${params.id}`, data: { id: params.id, ...seen(context) }, body: html`<h1>Item ${params.id}</h1>` }),
    },
    {
      method: 'POST',
      path: '/items/:id/poke',
      handle: async (context, params) => {
        const fields = await context.form();
        context.audit('item.poke', { subscriptionId: params.id, note: fields.get('note'), tags: fields.getAll('tag').length, skipped: undefined });
        return { kind: 'redirect', location: context.href(`/items/${params.id}`, { done: 'updated' }), data: { poked: params.id, fields: [...fields] } };
      },
    },
    {
      method: 'POST',
      path: '/echo',
      handle: async (context) => {
        const fields = await context.form();
        const again = await context.form();
        return { kind: 'page', title: 'Echo', data: { fields: [...fields], sameObject: fields === again }, body: html`<p>${fields.size} fields</p>` };
      },
    },
    {
      method: 'GET',
      path: '/fail/:kind',
      handle: async (_context, params) => {
        switch (params.kind) {
          case 'validation':
            throw new ValidationError('INPUT_INVALID', 'Expected `status` to be one of pending, delivered, got "lost"', { field: 'status' });
          case 'not-found':
            throw new ValidationError('SUBSCRIPTION_NOT_FOUND', 'No subscription sub_x');
          case 'conflict':
            throw new ConflictError('DELIVERY_IN_FLIGHT', 'The delivery is being attempted');
          case 'storage':
            throw new StorageError('STORAGE_UNAVAILABLE', internalMessages.storage, { retryable: true });
          case 'refusal':
            throw new DashboardRefusal(404, 'NOT_FOUND', 'No such thing');
          default:
            throw new Error(internalMessages.plain);
        }
      },
    },
    {
      method: 'GET',
      path: '/lookup/:kind/:id',
      handle: async (context, params) => {
        const record = params.kind === 'subscription' ? await context.subscription(params.id!) : await context.delivery(params.id!);
        return { kind: 'page', title: 'Found', data: { id: record.id }, body: html`<p>${record.id}</p>` };
      },
    },
    {
      method: 'GET',
      path: '/failures',
      handle: async (context) => {
        const from = Number(context.url.searchParams.get('from'));
        const to = Number(context.url.searchParams.get('to'));
        return { kind: 'page', title: 'Failures', data: context.verificationFailures.countBetween(from, to), body: html`<p>failures</p>` };
      },
    },
    {
      method: 'GET',
      path: '/operations',
      operatorOnly: true,
      handle: async (context) => ({ kind: 'page', title: 'Operations', data: seen(context), body: html`<h1>Operations</h1>` }),
    },
  ];
}

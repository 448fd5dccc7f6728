// Type tests of createDashboard: it takes any createWebhooks() result, whatever its catalog,
// and its adapters fit Node's http, Express 4 and 5, Fastify and Hono as the frameworks
// type them (the adapters import none of them).
import { createServer } from 'node:http';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { createWebhooks, defineEvents } from '../../src/index.js';

const authorize = () => ({ actor: 'user:1' });

describe('createDashboard types', () => {
  it('takes an instance of the default catalog, of a catalog of the host’s own, and of an untyped one', () => {
    const catalog = defineEvents({ 'invoice.paid': z.object({ invoiceId: z.string() }) });
    expectTypeOf(createDashboard(createWebhooks(), { authorize })).toEqualTypeOf<Dashboard>();
    expectTypeOf(createDashboard(createWebhooks({ events: catalog }), { authorize })).toEqualTypeOf<Dashboard>();
    // @ts-expect-error -- not a webhooks instance
    createDashboard({ subscriptions: {} }, { authorize });
  });

  it('mounts on Node http, Express 4 and 5, Fastify and Hono', async () => {
    const dashboard = createDashboard(createWebhooks(), { authorize, basePath: '/admin/webhooks' });
    createServer(dashboard.node());
    express5().use('/admin/webhooks', dashboard.express());
    express5().use('/admin/webhooks', express5.urlencoded(), express5.json(), dashboard.express());
    express4().use('/admin/webhooks', dashboard.express());
    await Fastify().register(dashboard.fastify(), { prefix: '/admin/webhooks' });
    new Hono().all('/admin/webhooks/*', (c) => dashboard.fetch(c.req.raw));
    const hook: (code: 'WEBHOOK_NO_MATCHING_SIGNATURE', error: Error) => void = dashboard.recordVerificationFailure;
    expectTypeOf(hook).toBeFunction();
  });
});

/**
 * Every public call of a webhooks instance, fed bad input: each case names the error
 * class, `code` and `field` it must fail with, and the storage must be exactly as it
 * was before the call (subscriptions, their secrets, the delivery log and the backlog).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConflictError,
  ValidationError,
  createMemoryStorage,
  createWebhooks,
  isWebhookError,
  type BookkeeperEvents,
  type StorageAdapter,
  type Webhooks,
  type WebhooksOptions,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';

const payment = () => ({
  paymentId: 'pay_1',
  customerId: 'cus_1',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
});

const SHORT_SECRET = 'whsec_' + Buffer.alloc(16, 7).toString('base64');
const secretOf = (bytes: number) => 'whsec_' + Buffer.alloc(bytes, 7).toString('base64');
const UNKNOWN_SUBSCRIPTION = 'sub_01KBZZZZZZZZZZZZZZZZZZZZZZ';
const UNKNOWN_DELIVERY = 'dlv_01KBZZZZZZZZZZZZZZZZZZZZZZ';

type InstanceName = 'guarded' | 'open' | 'https';

const instanceOptions: Record<InstanceName, WebhooksOptions<BookkeeperEvents>> = {
  // The defaults: the SSRF guard on.
  guarded: {},
  open: { security: { allowPrivateNetworks: true } },
  https: { security: { requireHttps: true } },
};

interface Instance {
  webhooks: Webhooks;
  storage: StorageAdapter;
  subscriptionId: string;
  deliveryId: string;
  eventId: string;
  /** A genuine cursor of the subscription list, which the delivery log must refuse. */
  subscriptionCursor: string;
}

interface Case {
  name: string;
  /** Which instance the call is made on; default `guarded`. */
  on?: InstanceName;
  call: (instance: Instance) => unknown;
  errorClass: typeof ValidationError | typeof ConfigError | typeof ConflictError;
  code: string;
  field: string | undefined;
  /** `throws` for synchronous calls (publishSync, createWebhooks); default `rejects`. */
  fails?: 'throws' | 'rejects';
}

const clock = new FakeClock(Date.UTC(2026, 10, 26, 12, 0, 0));
const instances = {} as Record<InstanceName, Instance>;

beforeEach(async () => {
  for (const name of Object.keys(instanceOptions) as InstanceName[]) {
    const storage = createMemoryStorage();
    const webhooks = createWebhooks({ ...instanceOptions[name], storage, clock });
    const subscription = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    await webhooks.subscriptions.create({ url: 'https://ledger.example.com/hooks', eventTypes: ['refund.*'] });
    const event = await webhooks.publish('payment.succeeded', payment());
    const [delivery] = (await webhooks.deliveries.list()).items;
    const { nextCursor } = await webhooks.subscriptions.list({ limit: 1 });
    instances[name] = {
      webhooks,
      storage,
      subscriptionId: subscription.id,
      deliveryId: delivery!.id,
      eventId: event.id,
      subscriptionCursor: nextCursor!,
    };
  }
});

afterEach(async () => {
  for (const instance of Object.values(instances)) await instance.webhooks.close();
});

/** Everything a failed call must leave as it was. */
async function stateOf({ webhooks, subscriptionId, eventId }: Instance) {
  return {
    subscriptions: await webhooks.subscriptions.list({ includeDeleted: true }),
    secrets: await webhooks.subscriptions.getSecrets(subscriptionId),
    history: await webhooks.subscriptions.history(subscriptionId),
    deliveries: await webhooks.deliveries.list(),
    event: await webhooks.events.get(eventId),
    backlog: (await webhooks.metrics()).backlog,
  };
}

const publishCases: Case[] = [
  {
    name: 'publish with a type outside the catalog',
    call: ({ webhooks }) => webhooks.publish('inventory.adjusted' as never, {} as never),
    errorClass: ValidationError,
    code: 'EVENT_TYPE_UNKNOWN',
    field: 'type',
  },
  {
    name: 'publish with a typo in the type',
    call: ({ webhooks }) => webhooks.publish('payment.succeded' as never, payment() as never),
    errorClass: ValidationError,
    code: 'EVENT_TYPE_UNKNOWN',
    field: 'type',
  },
  {
    name: 'publish with a wildcard as the type',
    call: ({ webhooks }) => webhooks.publish('payment.*' as never, payment() as never),
    errorClass: ValidationError,
    code: 'EVENT_TYPE_UNKNOWN',
    field: 'type',
  },
  {
    name: 'publish with a non-string type',
    call: ({ webhooks }) => webhooks.publish(42 as never, payment() as never),
    errorClass: ValidationError,
    code: 'EVENT_TYPE_UNKNOWN',
    field: 'type',
  },
  {
    name: 'publish with data missing a required id',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', { ...payment(), paymentId: undefined } as never),
    errorClass: ValidationError,
    code: 'EVENT_DATA_INVALID',
    field: 'data.paymentId',
  },
  {
    name: 'publish with a float amount',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', { ...payment(), amount: { amount: 12.3, currency: 'EUR' } }),
    errorClass: ValidationError,
    code: 'EVENT_DATA_INVALID',
    field: 'data.amount.amount',
  },
  {
    name: 'publish with a lowercase currency',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', { ...payment(), amount: { amount: 1230, currency: 'eur' } }),
    errorClass: ValidationError,
    code: 'EVENT_DATA_INVALID',
    field: 'data.amount.currency',
  },
  {
    name: 'publish with an unknown key in the data',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', { ...payment(), amountEuros: 12.3 } as never),
    errorClass: ValidationError,
    code: 'EVENT_DATA_INVALID',
    field: 'data.amountEuros',
  },
  {
    name: 'publish with no data',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', undefined as never),
    errorClass: ValidationError,
    code: 'EVENT_DATA_INVALID',
    field: 'data',
  },
  {
    name: 'publish with a __proto__ key in the event metadata, which zod\'s record would drop',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', { ...payment(), metadata: JSON.parse('{"__proto__":"x","order":"o_1"}') as Record<string, string> }),
    errorClass: ValidationError,
    code: 'EVENT_DATA_INVALID',
    field: 'data.metadata.__proto__',
  },
  {
    name: 'publish with an unknown option',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', payment(), { priority: 'high' } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'options.priority',
  },
  {
    name: 'publish with an empty idempotency key',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', payment(), { idempotencyKey: '' }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'options.idempotencyKey',
  },
  {
    name: 'publish with a payload above maxPayloadBytes',
    call: ({ webhooks }) =>
      webhooks.publish('payment.succeeded', {
        ...payment(),
        // 600 × 500 characters: about 300 KB against the 256 KiB default.
        metadata: Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${i}`, 'x'.repeat(500)])),
      }),
    errorClass: ValidationError,
    code: 'PAYLOAD_TOO_LARGE',
    field: 'data',
  },
  {
    name: 'publish with a host transaction on the memory storage',
    call: ({ webhooks }) => webhooks.publish('payment.succeeded', payment(), { tx: {} }),
    errorClass: ConfigError,
    code: 'TX_UNSUPPORTED',
    field: 'tx',
  },
  {
    name: 'publish with a fourth argument (the options split over two objects)',
    call: ({ webhooks }) => (webhooks.publish as (...args: unknown[]) => unknown)('payment.succeeded', payment(), { idempotencyKey: 'k1' }, { tx: {} }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: undefined,
  },
  {
    name: 'publishSync with a fourth argument',
    call: ({ webhooks }) => (webhooks.publishSync as (...args: unknown[]) => unknown)('payment.succeeded', payment(), {}, {}),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: undefined,
    fails: 'throws',
  },
  {
    name: 'publishSync on the memory storage',
    call: ({ webhooks }) => webhooks.publishSync('payment.succeeded', payment()),
    errorClass: ConfigError,
    code: 'TX_UNSUPPORTED',
    field: undefined,
    fails: 'throws',
  },
];

const create = (input: Record<string, unknown>) => (instance: Instance) =>
  instance.webhooks.subscriptions.create({ url: 'https://crm.example.com/hooks', eventTypes: ['payment.succeeded'], ...input } as never);

const urlCases: Case[] = [
  ['not a URL', 'not a url', 'SUBSCRIPTION_URL_INVALID'],
  ['a relative URL', '/hooks', 'SUBSCRIPTION_URL_INVALID'],
  ['an ftp: URL', 'ftp://example.com/hooks', 'SUBSCRIPTION_URL_INVALID'],
  ['a javascript: URL', 'javascript:alert(1)', 'SUBSCRIPTION_URL_INVALID'],
  ['a file: URL', 'file:///etc/passwd', 'SUBSCRIPTION_URL_INVALID'],
  ['credentials in the URL', 'https://user:secret@example.com/hooks', 'SUBSCRIPTION_URL_INVALID'],
  ['a user name alone in the URL', 'https://user@example.com/hooks', 'SUBSCRIPTION_URL_INVALID'],
  ['a #fragment', 'https://example.com/hooks#section', 'SUBSCRIPTION_URL_INVALID'],
  ['the IPv4 loopback address', 'http://127.0.0.1/', 'SUBSCRIPTION_URL_FORBIDDEN'],
  ['the IPv6 loopback address', 'http://[::1]/', 'SUBSCRIPTION_URL_FORBIDDEN'],
  ['the cloud metadata address', 'http://169.254.169.254/', 'SUBSCRIPTION_URL_FORBIDDEN'],
  ['loopback as a decimal number', 'http://2130706433/', 'SUBSCRIPTION_URL_FORBIDDEN'],
  ['localhost', 'http://localhost/', 'SUBSCRIPTION_URL_FORBIDDEN'],
  ['a private address over https', 'https://10.0.0.5:8443/hooks', 'SUBSCRIPTION_URL_FORBIDDEN'],
  ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/', 'SUBSCRIPTION_URL_FORBIDDEN'],
  // The URL parser would drop these (or encode them): the endpoint would not be the one given.
  ['a newline in the path, which the parser would drop', 'https://example.com/x\nHost: evil', 'INPUT_INVALID'],
  ['a CR LF in the path', 'https://example.com/x\r\nHost: evil', 'INPUT_INVALID'],
  ['a tab in the host', 'https://exam\tple.com/hooks', 'INPUT_INVALID'],
  ['a trailing NUL', 'https://example.com/hooks\u0000', 'INPUT_INVALID'],
  ['a leading U+001F', '\u001fhttps://example.com/hooks', 'INPUT_INVALID'],
  ['a DEL in the query', 'https://example.com/hooks?a=\u007f', 'INPUT_INVALID'],
].map(([what, url, code]) => ({
  name: `subscriptions.create with ${what} (${JSON.stringify(url)})`,
  call: create({ url }),
  errorClass: ValidationError,
  code: code!,
  field: 'url',
}));

const createCases: Case[] = [
  ...urlCases,
  {
    name: 'subscriptions.create with credentials in the URL, even with private networks allowed',
    on: 'open',
    call: create({ url: 'http://user:pw@127.0.0.1/hooks' }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_URL_INVALID',
    field: 'url',
  },
  {
    name: 'subscriptions.create with an ftp: URL, even with private networks allowed',
    on: 'open',
    call: create({ url: 'ftp://127.0.0.1/' }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_URL_INVALID',
    field: 'url',
  },
  {
    name: 'subscriptions.create with an http: URL while security.requireHttps is on',
    on: 'https',
    call: create({ url: 'http://erp.example.com/hooks' }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_URL_INVALID',
    field: 'url',
  },
  {
    name: 'subscriptions.create without a url',
    call: (instance) => instance.webhooks.subscriptions.create({ eventTypes: ['payment.succeeded'] } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'url',
  },
  {
    name: 'subscriptions.create with empty eventTypes',
    call: create({ eventTypes: [] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_INVALID',
    field: 'eventTypes',
  },
  {
    name: 'subscriptions.create with a glued wildcard filter (payment*)',
    call: create({ eventTypes: ['payment*'] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_INVALID',
    field: 'eventTypes',
  },
  {
    name: 'subscriptions.create with an empty filter',
    call: create({ eventTypes: [''] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_INVALID',
    field: 'eventTypes',
  },
  {
    name: 'subscriptions.create with one malformed filter among good ones',
    call: create({ eventTypes: ['payment.succeeded', 'a..b'] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_INVALID',
    field: 'eventTypes',
  },
  {
    name: 'subscriptions.create with a typo in a filter (payment.succeded)',
    call: create({ eventTypes: ['payment.succeded'] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_UNMATCHED',
    field: 'eventTypes',
  },
  {
    name: 'subscriptions.create with a prefix no catalog type has (inventory.*)',
    call: create({ eventTypes: ['inventory.*'] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_UNMATCHED',
    field: 'eventTypes',
  },
  ...[
    ['the reserved webhook-id header', { 'webhook-id': 'msg_1' }, 'headers.webhook-id'],
    ['the reserved webhook-signature header in capitals', { 'Webhook-Signature': 'v1,x' }, 'headers.Webhook-Signature'],
    ['a Content-Type header', { 'Content-Type': 'text/plain' }, 'headers.Content-Type'],
    ['a host header', { host: 'internal.example' }, 'headers.host'],
    ['a User-Agent header, which the library sets (http.userAgent)', { 'User-Agent': 'mine/1' }, 'headers.User-Agent'],
    ['a user-agent header in lower case', { 'user-agent': 'mine/1' }, 'headers.user-agent'],
    ['a Transfer-Encoding header', { 'Transfer-Encoding': 'chunked' }, 'headers.Transfer-Encoding'],
    ['a Content-Encoding header the body does not have', { 'Content-Encoding': 'gzip' }, 'headers.Content-Encoding'],
    ['a Connection header', { Connection: 'close' }, 'headers.Connection'],
    ['a Proxy-Connection header', { 'Proxy-Connection': 'keep-alive' }, 'headers.Proxy-Connection'],
    ['a header value with a NUL', { 'x-note': 'a\u0000b' }, 'headers.x-note'],
    ['a header value with CR/LF', { 'x-note': 'a\r\nx-injected: 1' }, 'headers.x-note'],
    ['a header value with a bare LF', { 'x-note': 'a\nb' }, 'headers.x-note'],
    ['a header name with a space', { 'x note': 'a' }, 'headers.x note'],
    ['a header named twice in different cases', { Authorization: 'Bearer a', authorization: 'Bearer b' }, 'headers.authorization'],
    ['a plain header named twice in different cases', { 'X-Team': 'ops', 'x-team': 'dev' }, 'headers.x-team'],
  ].map(([what, headers, field]) => ({
    name: `subscriptions.create with ${what as string}`,
    call: create({ headers }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: field as string,
  })),
  {
    name: 'subscriptions.create with a secret that is not base64',
    call: create({ secret: 'not-a-secret!' }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.create with a secret of fewer than 24 bytes',
    call: create({ secret: SHORT_SECRET }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.create with a secret of 65 bytes, one above the spec\'s 64',
    call: create({ secret: secretOf(65) }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.create with a 10 MB secret',
    call: create({ secret: secretOf(10 * 1024 * 1024) }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.create with a secret of 66 bytes written without padding',
    call: create({ secret: secretOf(66).replace(/=+$/, '') }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.create with a non-string secret',
    call: create({ secret: 42 }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.create with an unknown key',
    call: create({ colour: 'red' }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'colour',
  },
  {
    name: 'subscriptions.create with create fields in its second argument (the options split over two objects)',
    call: ({ webhooks }) =>
      (webhooks.subscriptions.create as (...args: unknown[]) => unknown)(
        { url: 'https://crm.example.com/hooks', eventTypes: ['payment.succeeded'] },
        { headers: { authorization: 'Bearer t' } },
      ),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    // The second argument is the change's { actor, reason }: a create field there is named, not ignored.
    field: 'headers',
  },
  ...[
    ['a __proto__ key in metadata, which zod\'s record would drop', '{"__proto__":{"admin":true},"team":"ops"}', 'metadata.__proto__'],
    ['a __proto__ key deep in metadata', '{"owner":{"tags":[{"__proto__":"x"}]}}', 'metadata.owner.tags.0.__proto__'],
  ].map(([what, json, field]) => ({
    name: `subscriptions.create with ${what!}`,
    call: create({ metadata: JSON.parse(json!) as unknown }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: field!,
  })),
  {
    name: 'subscriptions.create with a __proto__ header, which zod\'s record would drop',
    call: create({ headers: JSON.parse('{"__proto__":"x","x-team":"ops"}') as unknown }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'headers.__proto__',
  },
  ...[
    ['NaN in metadata, which JSON stores as null', { rate: NaN }, 'metadata.rate'],
    ['undefined in metadata, which JSON drops', { gone: undefined }, 'metadata.gone'],
    ['a Map in metadata, which JSON stores as {}', { lookup: new Map([['a', 1]]) }, 'metadata.lookup'],
  ].map(([what, metadata, field]) => ({
    name: `subscriptions.create with ${what as string}`,
    call: create({ metadata }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: field as string,
  })),
  {
    name: 'subscriptions.create with a bad retry policy',
    call: create({ retry: { maxAttempts: 0, initialDelayMs: 100 } }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'retry.maxAttempts',
  },
];

type SubscriptionMethod = 'update' | 'delete' | 'disable' | 'enable' | 'rotateSecret' | 'getSecrets' | 'history' | 'sendTest' | 'testAttempts';
const subscriptionMethods: SubscriptionMethod[] = ['update', 'delete', 'disable', 'enable', 'rotateSecret', 'getSecrets', 'history', 'sendTest', 'testAttempts'];

function callSubscription(method: SubscriptionMethod, id: unknown) {
  return ({ webhooks }: Instance) => {
    const registry = webhooks.subscriptions as unknown as Record<SubscriptionMethod, (id: unknown, arg?: unknown) => unknown>;
    return method === 'update' ? registry.update(id, { description: 'changed' }) : registry[method](id);
  };
}

const subscriptionCases: Case[] = [
  ...subscriptionMethods.map((method) => ({
    name: `subscriptions.${method} on an unknown id`,
    call: callSubscription(method, UNKNOWN_SUBSCRIPTION),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_NOT_FOUND',
    field: 'id',
  })),
  ...subscriptionMethods.flatMap((method) =>
    [42, null, ''].map((id) => ({
      name: `subscriptions.${method} with ${JSON.stringify(id)} as the id`,
      call: callSubscription(method, id),
      errorClass: ValidationError,
      code: 'INPUT_INVALID',
      field: 'id',
    })),
  ),
  {
    name: 'subscriptions.get with a non-string id',
    call: ({ webhooks }) => webhooks.subscriptions.get(42 as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'id',
  },
  {
    name: 'subscriptions.update with a forbidden URL',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { url: 'http://127.0.0.1/' }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_URL_FORBIDDEN',
    field: 'url',
  },
  {
    name: 'subscriptions.update with a filter that matches nothing, after a valid description',
    call: ({ webhooks, subscriptionId }) =>
      // @ts-expect-error -- a filter that matches no type of the catalog does not compile either
      webhooks.subscriptions.update(subscriptionId, { description: 'changed', eventTypes: ['inventory.*'] }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_FILTER_UNMATCHED',
    field: 'eventTypes',
  },
  {
    name: 'subscriptions.update trying to set the secret',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { secret: SHORT_SECRET } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.update with a __proto__ key in metadata',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { metadata: JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown> }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'metadata.__proto__',
  },
  {
    name: 'subscriptions.update with a __proto__ header',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { headers: JSON.parse('{"__proto__":"x"}') as Record<string, string> }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'headers.__proto__',
  },
  {
    name: 'subscriptions.update with a User-Agent header',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { headers: { 'USER-AGENT': 'mine/1' } }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'headers.USER-AGENT',
  },
  {
    name: 'subscriptions.update with a header named twice in different cases',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { headers: { 'X-Api-Key': 'k1', 'x-api-key': 'k2' } }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'headers.x-api-key',
  },
  {
    name: 'subscriptions.update with a tab in the URL',
    on: 'open',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { url: 'http://127.0.0.1/ho\toks' }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'url',
  },
  {
    name: 'subscriptions.update with a reserved header',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { headers: { 'content-length': '1' } }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'headers.content-length',
  },
  {
    name: 'subscriptions.update with patch fields in its third argument (the patch split over two objects)',
    call: ({ webhooks, subscriptionId }) =>
      (webhooks.subscriptions.update as (...args: unknown[]) => unknown)(subscriptionId, { description: 'changed' }, { metadata: { a: '1' } }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'metadata',
  },
  {
    name: 'subscriptions.rotateSecret with a bad new secret',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.rotateSecret(subscriptionId, { secret: SHORT_SECRET }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.rotateSecret with a 10 MB new secret',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.rotateSecret(subscriptionId, { secret: secretOf(10 * 1024 * 1024) }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'secret',
  },
  {
    name: 'subscriptions.rotateSecret with a negative overlap',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.rotateSecret(subscriptionId, { overlapMs: -1 }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'overlapMs',
  },
  ...(
    [
      ['create', ({ webhooks }: Instance, options: unknown) => webhooks.subscriptions.create({ url: 'https://crm.example.com/hooks', eventTypes: ['payment.*'] }, options as never)],
      ['update', ({ webhooks, subscriptionId }: Instance, options: unknown) => webhooks.subscriptions.update(subscriptionId, { description: 'x' }, options as never)],
      ['delete', ({ webhooks, subscriptionId }: Instance, options: unknown) => webhooks.subscriptions.delete(subscriptionId, options as never)],
      ['disable', ({ webhooks, subscriptionId }: Instance, options: unknown) => webhooks.subscriptions.disable(subscriptionId, options as never)],
      ['enable', ({ webhooks, subscriptionId }: Instance, options: unknown) => webhooks.subscriptions.enable(subscriptionId, options as never)],
      ['rotateSecret', ({ webhooks, subscriptionId }: Instance, options: unknown) => webhooks.subscriptions.rotateSecret(subscriptionId, options as never)],
    ] as const
  ).flatMap(([method, call]) =>
    (
      [
        ['an empty actor', { actor: '' }, 'actor'],
        ['an actor of 257 characters', { actor: 'a'.repeat(257) }, 'actor'],
        ['an actor with U+0000', { actor: 'ali\u0000ce' }, 'actor'],
        ['a numeric actor', { actor: 42 }, 'actor'],
        ['a reason of 1001 characters', { reason: 'r'.repeat(1001) }, 'reason'],
        ['an unknown option', { actr: 'alice' }, 'actr'],
      ] as const
    ).map(([what, options, field]) => ({
      name: `subscriptions.${method} with ${what}`,
      call: (instance: Instance) => call(instance, options),
      errorClass: ValidationError,
      code: 'INPUT_INVALID',
      field,
    })),
  ),
  ...(
    [
      ['an empty actor', { actor: '' }, 'actor'],
      ['an actor of 257 characters', { actor: 'a'.repeat(257) }, 'actor'],
      ['an actor with U+0000', { actor: 'ali\u0000ce' }, 'actor'],
      ['a reason, which it does not take', { reason: 'checking the endpoint' }, 'reason'],
      ['options that are not an object', 'alice', undefined],
    ] as const
  ).map(([what, options, field]) => ({
    name: `subscriptions.sendTest with ${what}`,
    call: ({ webhooks, subscriptionId }: Instance) => webhooks.subscriptions.sendTest(subscriptionId, options as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field,
  })),
  {
    name: 'subscriptions.delete with hard as a string',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.delete(subscriptionId, { hard: 'yes' } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'hard',
  },
  {
    name: 'subscriptions.update with verifyUrl as a string',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { url: 'https://new.example.com/hooks' }, { verifyUrl: 'yes' } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'verifyUrl',
  },
  {
    name: 'subscriptions.update of the URL, verified, to an endpoint that cannot answer',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.update(subscriptionId, { url: 'https://erp.invalid/hooks' }, { verifyUrl: true }),
    errorClass: ConflictError,
    code: 'SUBSCRIPTION_URL_UNVERIFIED',
    field: 'url',
  },
  {
    name: 'subscriptions.history with a limit of 0',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.history(subscriptionId, { limit: 0 }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'limit',
  },
  {
    name: 'subscriptions.history with a cursor of the subscription list',
    call: ({ webhooks, subscriptionId, subscriptionCursor }) => webhooks.subscriptions.history(subscriptionId, { cursor: subscriptionCursor }),
    errorClass: ValidationError,
    code: 'CURSOR_INVALID',
    field: 'cursor',
  },
  {
    name: 'subscriptions.testAttempts with a limit of 1001',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.testAttempts(subscriptionId, { limit: 1001 }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'limit',
  },
  {
    name: 'subscriptions.testAttempts with a key it does not take',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.testAttempts(subscriptionId, { type: 'webhook.test' } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'type',
  },
  {
    name: 'subscriptions.testAttempts with a cursor of the subscription list',
    call: ({ webhooks, subscriptionId, subscriptionCursor }) => webhooks.subscriptions.testAttempts(subscriptionId, { cursor: subscriptionCursor }),
    errorClass: ValidationError,
    code: 'CURSOR_INVALID',
    field: 'cursor',
  },
  {
    name: 'subscriptions.list with includeDeleted as a string',
    call: ({ webhooks }) => webhooks.subscriptions.list({ includeDeleted: 'yes' } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'includeDeleted',
  },
  {
    name: 'subscriptions.disable with an empty reason',
    call: ({ webhooks, subscriptionId }) => webhooks.subscriptions.disable(subscriptionId, { reason: '' }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'reason',
  },
  {
    name: 'subscriptions.list with limit 0',
    call: ({ webhooks }) => webhooks.subscriptions.list({ limit: 0 }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'limit',
  },
  {
    name: 'subscriptions.list with a garbage cursor',
    call: ({ webhooks }) => webhooks.subscriptions.list({ cursor: 'garbage' }),
    errorClass: ValidationError,
    code: 'CURSOR_INVALID',
    field: 'cursor',
  },
  // Options split over two objects: the extra positional argument would be dropped without a word.
  ...(
    [
      ['create', () => [{ url: 'https://crm.example.com/hooks', eventTypes: ['payment.succeeded'] }, {}, { actor: 'alice' }]],
      ['get', (id) => [id, { includeDeleted: true }]],
      ['list', () => [{}, { includeDeleted: true }]],
      ['update', (id) => [id, { description: 'changed' }, {}, { verifyUrl: true }]],
      ['delete', (id) => [id, { actor: 'alice' }, { hard: true }]],
      ['disable', (id) => [id, {}, { reason: 'ERP maintenance' }]],
      ['enable', (id) => [id, {}, { replayMissed: true }]],
      ['previewEnable', (id) => [id, {}]],
      ['rotateSecret', (id) => [id, {}, { actor: 'alice' }]],
      ['getSecrets', (id) => [id, {}]],
      ['getHeaders', (id) => [id, {}]],
      ['history', (id) => [id, {}, { limit: 1 }]],
      ['sendTest', (id) => [id, {}, { type: 'payment.succeeded' }]],
      ['testAttempts', (id) => [id, {}, { limit: 1 }]],
      ['resealSecrets', () => [{}, { actor: 'alice' }]],
    ] as Array<[string, (id: string) => unknown[]]>
  ).map(([method, args]) => ({
    name: `subscriptions.${method} with an extra positional argument`,
    call: ({ webhooks, subscriptionId }: Instance) =>
      (webhooks.subscriptions as unknown as Record<string, (...given: unknown[]) => unknown>)[method]!(...args(subscriptionId)),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: undefined,
  })),
];

const eventCases: Case[] = [
  ...[42, null, '', 'evt\u0000'].map((id) => ({
    name: `events.get with ${JSON.stringify(id)} as the id`,
    call: ({ webhooks }: Instance) => webhooks.events.get(id as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'id',
  })),
  {
    name: 'events.expunge of an unknown id',
    call: ({ webhooks }) => webhooks.events.expunge('evt_01KBZZZZZZZZZZZZZZZZZZZZZZ'),
    errorClass: ValidationError,
    code: 'EVENT_NOT_FOUND',
    field: 'id',
  },
  ...(
    [
      ['no condition', {}, undefined],
      ['null', null, undefined],
      ['a number', 42, undefined],
      ['a filter that is not a function', { filter: 'customerId = cus_1' }, 'filter'],
      ['a negative before', { before: -1 }, 'before'],
      ['an unknown key', { tenant: 'org_1' }, 'tenant'],
      ['an empty tenantId', { tenantId: '' }, 'tenantId'],
    ] as const
  ).map(([what, selector, field]) => ({
    name: `events.expunge with ${what}`,
    call: ({ webhooks }: Instance) => webhooks.events.expunge(selector as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field,
  })),
  // A promise is truthy: were it taken as a match, every event would be erased and its deliveries cancelled.
  ...(
    [
      ['an async filter returning false', async () => false],
      ['a filter returning a string', () => 'no'],
      ['a filter returning undefined', () => undefined],
    ] as const
  ).map(([what, filter]) => ({
    name: `events.expunge with ${what}`,
    call: ({ webhooks }: Instance) => webhooks.events.expunge({ filter: filter as never }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'filter',
  })),
];

const deliveryCases: Case[] = [
  ...[
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 1001', { limit: 1001 }, 'limit'],
    ['a fractional limit', { limit: 1.5 }, 'limit'],
    ['an unknown status', { status: 'failed' }, 'status'],
    ['an unknown key', { subscription: 'sub_1' }, 'subscription'],
    ['a negative since', { since: -1 }, 'since'],
    ['an empty eventType', { eventType: '' }, 'eventType'],
    ['a wildcard eventType', { eventType: 'payment.*' }, 'eventType'],
    ['eventType *', { eventType: '*' }, 'eventType'],
    ['a numeric eventType', { eventType: 42 }, 'eventType'],
    ['an empty list of event types', { eventType: [] }, 'eventType'],
    ['101 event types', { eventType: Array.from({ length: 101 }, (_, i) => `payment.type_${i}`) }, 'eventType'],
    ['a wildcard among the event types', { eventType: ['payment.succeeded', 'refund.*'] }, 'eventType.1'],
    ['eventTypes, the storage name, for eventType', { eventTypes: ['payment.succeeded'] }, 'eventTypes'],
  ].map(([what, query, field]) => ({
    name: `deliveries.list with ${what as string}`,
    call: ({ webhooks }: Instance) => webhooks.deliveries.list(query as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: field as string,
  })),
  {
    name: 'deliveries.undelivered with a wildcard eventType',
    call: ({ webhooks }) => webhooks.deliveries.undelivered({ eventType: 'payment.*' }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'eventType',
  },
  ...['garbage', 'zz-top_', 'Zm9v', 'not a cursor!'].map((cursor) => ({
    name: `deliveries.list with the garbage cursor ${JSON.stringify(cursor)}`,
    call: ({ webhooks }: Instance) => webhooks.deliveries.list({ cursor }),
    errorClass: ValidationError,
    code: 'CURSOR_INVALID',
    field: 'cursor',
  })),
  {
    name: 'deliveries.list with a cursor of the subscription list',
    call: ({ webhooks, subscriptionCursor }) => webhooks.deliveries.list({ cursor: subscriptionCursor }),
    errorClass: ValidationError,
    code: 'CURSOR_INVALID',
    field: 'cursor',
  },
  {
    name: 'deliveries.get with a non-string id',
    call: ({ webhooks }) => webhooks.deliveries.get(42 as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'id',
  },
  {
    name: 'deliveries.attempts on an unknown id',
    call: ({ webhooks }) => webhooks.deliveries.attempts(UNKNOWN_DELIVERY),
    errorClass: ValidationError,
    code: 'DELIVERY_NOT_FOUND',
    field: 'deliveryId',
  },
  {
    name: 'deliveries.attempts with a non-string id',
    call: ({ webhooks }) => webhooks.deliveries.attempts(42 as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'deliveryId',
  },
  {
    name: 'deliveries.sentBody on an unknown id',
    call: ({ webhooks }) => webhooks.deliveries.sentBody(UNKNOWN_DELIVERY),
    errorClass: ValidationError,
    code: 'DELIVERY_NOT_FOUND',
    field: 'id',
  },
  {
    name: 'deliveries.redeliver on an unknown id',
    call: ({ webhooks }) => webhooks.deliveries.redeliver(UNKNOWN_DELIVERY),
    errorClass: ValidationError,
    code: 'DELIVERY_NOT_FOUND',
    field: 'id',
  },
  {
    name: 'deliveries.redeliver with a non-string id',
    call: ({ webhooks }) => webhooks.deliveries.redeliver(null as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'id',
  },
  {
    name: 'deliveries.replay for an unknown subscription',
    call: ({ webhooks }) => webhooks.deliveries.replay({ subscriptionId: UNKNOWN_SUBSCRIPTION, since: 0 }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_NOT_FOUND',
    field: 'subscriptionId',
  },
  ...[
    ['a word as since', 'yesterday'],
    ['a negative since', -1],
    ['an invalid Date as since', new Date('not a date')],
    ['an ISO string as since', '2026-11-26T00:00:00Z'],
    ['a missing since', undefined],
  ].map(([what, since]) => ({
    name: `deliveries.replay with ${what as string}`,
    call: ({ webhooks, subscriptionId }: Instance) => webhooks.deliveries.replay({ subscriptionId, since } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'since',
  })),
  {
    name: 'deliveries.replay with an unknown key',
    call: ({ webhooks, subscriptionId }) => webhooks.deliveries.replay({ subscriptionId, since: 0, force: true } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'force',
  },
];

const lifecycleCases: Case[] = [
  {
    name: 'metrics for an unknown subscription',
    call: ({ webhooks }) => webhooks.metrics({ subscriptionId: UNKNOWN_SUBSCRIPTION }),
    errorClass: ValidationError,
    code: 'SUBSCRIPTION_NOT_FOUND',
    field: 'subscriptionId',
  },
  {
    name: 'drain with a negative timeout',
    call: ({ webhooks }) => webhooks.drain({ timeoutMs: -1 }),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'timeoutMs',
  },
  {
    name: 'drain with an unknown option',
    call: ({ webhooks }) => webhooks.drain({ timeout: 10 } as never),
    errorClass: ValidationError,
    code: 'INPUT_INVALID',
    field: 'timeout',
  },
  {
    name: 'createWebhooks over the same storage with an unknown key',
    call: ({ storage }) => createWebhooks({ storage, concurency: 10 } as never),
    errorClass: ConfigError,
    code: 'CONFIG_INVALID',
    field: 'concurency',
    fails: 'throws',
  },
  {
    name: 'createWebhooks over the same storage with leaseMs not above http.timeoutMs',
    call: ({ storage }) => createWebhooks({ storage, leaseMs: 20_000, http: { timeoutMs: 20_000 } }),
    errorClass: ConfigError,
    code: 'CONFIG_LEASE_TOO_SHORT',
    field: 'leaseMs',
    fails: 'throws',
  },
  {
    name: 'createWebhooks over the same storage with a second options argument',
    call: ({ storage }) => (createWebhooks as (...args: unknown[]) => unknown)({ storage }, { concurrency: 5 }),
    errorClass: ConfigError,
    code: 'CONFIG_INVALID',
    field: undefined,
    fails: 'throws',
  },
  {
    name: 'createWebhooks over the same storage with concurrency 0',
    call: ({ storage }) => createWebhooks({ storage, concurrency: 0 }),
    errorClass: ConfigError,
    code: 'CONFIG_INVALID',
    field: 'concurrency',
    fails: 'throws',
  },
];

/** Calls `method` with the positional arguments given, past what its type allows. */
const withArguments = (method: (...args: never[]) => unknown, ...args: unknown[]) => (method as (...args: unknown[]) => unknown)(...args);

// One positional argument too many — options split over two objects, as another library spells
// them — is refused (README "Error codes": INPUT_INVALID), never silently dropped.
const extraArgumentCases: Case[] = (
  [
    ['start', ({ webhooks }) => withArguments(webhooks.start, { migrate: false })],
    ['drain', ({ webhooks }) => withArguments(webhooks.drain, { timeoutMs: 10 }, { timeoutMs: 20 })],
    ['metrics', ({ webhooks, subscriptionId }) => withArguments(webhooks.metrics, {}, { subscriptionId })],
    ['events.get', ({ webhooks, eventId }) => withArguments(webhooks.events.get, eventId, {})],
    ['events.list', ({ webhooks }) => withArguments(webhooks.events.list, {}, { limit: 1 })],
    ['events.iterate', ({ webhooks }) => withArguments(webhooks.events.iterate, {}, { limit: 1 }), 'throws'],
    ['events.expunge', ({ webhooks, eventId }) => withArguments(webhooks.events.expunge, eventId, { reason: 'GDPR' })],
    ['deliveries.list', ({ webhooks }) => withArguments(webhooks.deliveries.list, {}, { limit: 1 })],
    ['deliveries.undelivered', ({ webhooks }) => withArguments(webhooks.deliveries.undelivered, {}, { limit: 1 })],
    ['deliveries.get', ({ webhooks, deliveryId }) => withArguments(webhooks.deliveries.get, deliveryId, {})],
    ['deliveries.attempts', ({ webhooks, deliveryId }) => withArguments(webhooks.deliveries.attempts, deliveryId, { limit: 1 })],
    ['deliveries.sentBody', ({ webhooks, deliveryId }) => withArguments(webhooks.deliveries.sentBody, deliveryId, {})],
    ['deliveries.redeliver', ({ webhooks, deliveryId }) => withArguments(webhooks.deliveries.redeliver, deliveryId, { actor: 'alice' })],
    ['deliveries.replay', ({ webhooks, subscriptionId }) => withArguments(webhooks.deliveries.replay, { subscriptionId, since: 0 }, { dryRun: true })],
    ['deliveries.blockedKeys', ({ webhooks, subscriptionId }) => withArguments(webhooks.deliveries.blockedKeys, { subscriptionId }, { limit: 1 })],
    ['deliveries.skip', ({ webhooks, deliveryId }) => withArguments(webhooks.deliveries.skip, deliveryId, { actor: 'alice' })],
  ] as Array<[string, (instance: Instance) => unknown, ('throws' | 'rejects')?]>
).map(([name, call, fails]) => ({
  name: `${name} with one positional argument too many`,
  call,
  errorClass: ValidationError,
  code: 'INPUT_INVALID',
  field: undefined,
  ...(fails === undefined ? {} : { fails }),
}));

/** Runs the call, telling a synchronous throw from a rejection. */
async function failureOf(run: () => unknown): Promise<{ how: 'throws' | 'rejects'; error: unknown }> {
  let result: unknown;
  try {
    result = run();
  } catch (error) {
    return { how: 'throws', error };
  }
  expect(result, 'the call should fail, but returned a non-promise').toBeInstanceOf(Promise);
  try {
    await result;
  } catch (error) {
    return { how: 'rejects', error };
  }
  return expect.fail('expected the call to fail, it succeeded');
}

describe.each([
  ['publish', publishCases],
  ['subscriptions.create', createCases],
  ['subscriptions', subscriptionCases],
  ['deliveries', deliveryCases],
  ['events', eventCases],
  ['lifecycle and factory', lifecycleCases],
  ['extra positional arguments', extraArgumentCases],
] as const)('bad input to %s', (_group, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s fails with its code and leaves storage unchanged', async (_name, c) => {
    const instance = instances[c.on ?? 'guarded'];
    const before = await stateOf(instance);

    const { how, error } = await failureOf(() => c.call(instance));

    expect(how).toBe(c.fails ?? 'rejects');
    expect(error).toBeInstanceOf(c.errorClass);
    expect(isWebhookError(error)).toBe(true);
    expect({ code: (error as ConfigError).code, field: (error as ConfigError).field }).toEqual({ code: c.code, field: c.field });
    expect(await stateOf(instance)).toEqual(before);
  });
});

describe('the private-network guard in bad-input terms', () => {
  it.each(['http://127.0.0.1/', 'http://[::1]/', 'http://169.254.169.254/', 'http://2130706433/', 'http://localhost/'])(
    'lets %s through once allowPrivateNetworks is on',
    async (url) => {
      const subscription = await instances.open.webhooks.subscriptions.create({ url, eventTypes: ['payment.succeeded'] });
      expect(subscription.url).toBe(new URL(url).href);
    },
  );
});

describe('the secret length bounds in bad-input terms', () => {
  it.each([24, 64])('accepts a secret of %i bytes, a bound of the spec\'s range', async (bytes) => {
    const { webhooks } = instances.guarded;
    const subscription = await webhooks.subscriptions.create({ url: 'https://crm.example.com/hooks', eventTypes: ['payment.succeeded'], secret: secretOf(bytes) });
    expect((await webhooks.subscriptions.getSecrets(subscription.id)).secret).toBe(secretOf(bytes));
    const rotated = await webhooks.subscriptions.rotateSecret(subscription.id, { secret: secretOf(bytes) });
    expect(rotated.secret).toBe(secretOf(bytes));
  });
});

describe('the seeded state the table compares against', () => {
  it('has subscriptions, a pending delivery and a non-empty backlog, so an unwanted write would show', async () => {
    const state = await stateOf(instances.guarded);
    expect(state.subscriptions.items).toHaveLength(2);
    expect(state.deliveries.items).toHaveLength(1);
    expect(state.backlog.pending).toBe(1);
  });
});

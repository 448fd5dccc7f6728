// Type tests that keep each hand-written options interface (the one with the TSDoc users
// read) and the zod schema that parses it in step: a field added to, removed from or
// retyped in one and not the other fails to compile. Run by `vitest --typecheck` and by `tsc`.
import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type {
  CircuitBreakerOptions,
  FlowControlOptions,
  circuitBreakerOptionsSchema,
  flowControlOptionsSchema,
  storedFlowControlSchema,
} from '../../src/delivery/flow-control-options.js';
import type { HttpOptions, httpOptionsSchema } from '../../src/delivery/http-options.js';
import type { RetryOptions, retryOptionsSchema, storedRetryPolicySchema } from '../../src/delivery/retry-options.js';
import type { EventFeedOptions, eventFeedOptionsSchema } from '../../src/feed/create-event-feed-handler.js';
import type { RetentionOptions, retentionOptionsSchema } from '../../src/retention/retention-options.js';
import type { StoredFlowControl, StoredRetryPolicy } from '../../src/storage/storage-adapter.js';
import type { ListEventsQuery, listEventsQuerySchema } from '../../src/stored-events.js';
import type { SecurityOptions, TenantLimitsOptions, WebhooksOptions, webhooksOptionsSchema } from '../../src/webhooks-options.js';

describe('createWebhooks options', () => {
  it('WebhooksOptions is exactly what its schema accepts', () => {
    expectTypeOf<z.input<typeof webhooksOptionsSchema>>().toEqualTypeOf<WebhooksOptions>();
  });

  it('each part is exactly what its schema accepts', () => {
    expectTypeOf<z.input<typeof httpOptionsSchema>>().toEqualTypeOf<HttpOptions | undefined>();
    expectTypeOf<z.input<typeof webhooksOptionsSchema>['security']>().toEqualTypeOf<SecurityOptions | undefined>();
    expectTypeOf<z.input<typeof retryOptionsSchema>>().toEqualTypeOf<RetryOptions | undefined>();
    expectTypeOf<z.input<typeof flowControlOptionsSchema>>().toEqualTypeOf<FlowControlOptions | undefined>();
    expectTypeOf<z.input<typeof circuitBreakerOptionsSchema>>().toEqualTypeOf<CircuitBreakerOptions | false | undefined>();
    expectTypeOf<z.input<typeof webhooksOptionsSchema>['tenantLimits']>().toEqualTypeOf<TenantLimitsOptions | undefined>();
    expectTypeOf<z.input<typeof retentionOptionsSchema>>().toEqualTypeOf<RetentionOptions | false | undefined>();
  });
});

describe('what a subscription stores', () => {
  it('StoredRetryPolicy and StoredFlowControl are exactly what their schemas accept and give back', () => {
    expectTypeOf<z.input<typeof storedRetryPolicySchema>>().toEqualTypeOf<StoredRetryPolicy>();
    expectTypeOf<z.output<typeof storedRetryPolicySchema>>().toEqualTypeOf<StoredRetryPolicy>();
    expectTypeOf<z.input<typeof storedFlowControlSchema>>().toEqualTypeOf<StoredFlowControl>();
    expectTypeOf<z.output<typeof storedFlowControlSchema>>().toEqualTypeOf<StoredFlowControl>();
  });
});

describe('the event feed and the event list', () => {
  it('EventFeedOptions and ListEventsQuery are exactly what their schemas accept', () => {
    expectTypeOf<z.input<typeof eventFeedOptionsSchema>>().toEqualTypeOf<EventFeedOptions>();
    expectTypeOf<z.input<typeof listEventsQuerySchema>>().toEqualTypeOf<ListEventsQuery>();
  });
});

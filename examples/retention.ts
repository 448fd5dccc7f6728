// Retention: what is past it goes in the background. `npx tsx examples/retention.ts`.
import { createWebhooks } from '../src/index.js';
import { createSqliteStorage } from '../src/storage/sqlite/index.js';

const storage = createSqliteStorage({ filename: process.env.WEBHOOKS_DB ?? ':memory:' });
// #region retention
const webhooks = createWebhooks({
  storage,
  retention: {
    deliveredMs: 30 * 86_400_000, // delivered deliveries and their attempts, after they were delivered
    deadMs: 90 * 86_400_000, // dead and cancelled ones, after they became so (null: keep them for redelivery)
    eventsMs: 90 * 86_400_000, // events, once none of their deliveries is left
    intervalMs: 60_000, // between two runs
    batchSize: 500, // rows per batch at most, each one short transaction (fewer if it would hold your event loop > ~5 ms)
  },
});
await webhooks.start(); // the first run starts at once
// #endregion retention
await new Promise((resolve) => setTimeout(resolve, 200)); // the first run: nothing past retention in a new database
await webhooks.stop(); // waits for a batch in progress
const { retention } = await webhooks.metrics();
console.log(`retention ran: ${retention.lastRunAt !== null}, removed ${retention.deliveriesPurged} deliveries, ${retention.eventsPurged} events, last error ${retention.lastError}`);
await webhooks.close();

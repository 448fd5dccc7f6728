// Counting signature verification failures with OpenTelemetry:
// `npx tsx examples/verification-failures.ts`. An ERP endpoint gets a genuine request, a
// forged one and a stale one; the two refusals (401) are counted by code. In your app, the
// SDK's exporter (OTLP, Prometheus) takes the place of the in-memory reader below.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
// #region meter
import { metrics } from '@opentelemetry/api'; // optional: the receiver never imports it itself
import { createNodeHandler } from '../src/receiver/index.js';
// #endregion meter
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { generateSecret, signWebhook } from '../src/index.js';

/** Collects when asked: no export interval, no timers. */
class InMemoryReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new InMemoryReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] })); // your app's OpenTelemetry SDK set-up

const secrets = generateSecret(); // the subscription's secret, from Bookkeeper

// #region meter
const handler = createNodeHandler({
  secrets,
  onEvent: (event) => console.log(`booked ${event.id}`),
  onVerificationFailure: (code) => console.log(`refused: ${code}`),
  meter: metrics.getMeter('erp'),
});
// #endregion meter

const server = createServer(handler).listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;

async function post(id: string, secret: string, timestampSeconds: number): Promise<number> {
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: {} });
  const signature = signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signature },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

const now = Math.floor(Date.now() / 1000);
console.log(`genuine: HTTP ${await post('evt_genuine', secrets, now)}`);
console.log(`forged: HTTP ${await post('evt_forged', generateSecret(), now)}`);
console.log(`stale: HTTP ${await post('evt_stale', secrets, now - 3_600)}`);

const { resourceMetrics } = await reader.collect();
for (const metric of resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)) {
  for (const point of metric.dataPoints as DataPoint<number>[]) {
    console.log(`${metric.descriptor.name}{code="${String(point.attributes.code)}"} ${point.value}`);
  }
}
server.close();

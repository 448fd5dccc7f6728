/**
 * An OpenTelemetry SDK meter provider whose metrics a test collects by hand, and readers of
 * what it recorded: the real SDK, so that attributes and aggregation are the ones a host sees.
 */
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics';

/** A meter provider whose reader the test collects by hand (its export timer never fires); shut it down after the test. */
export function meterProvider(): { reader: PeriodicExportingMetricReader; provider: MeterProvider } {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  return { reader, provider: new MeterProvider({ readers: [reader] }) };
}

/** Every metric recorded so far, by instrument name. */
export async function collect(reader: PeriodicExportingMetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const byName = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  return byName;
}

/** A metric's data points as attributes and value. */
export function points(metric: MetricData | undefined): Array<{ attributes: Record<string, unknown>; value: unknown }> {
  return (metric?.dataPoints ?? []).map((point) => ({ attributes: point.attributes, value: point.value }));
}

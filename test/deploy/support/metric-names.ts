import { Registry } from 'prom-client';
import { createAdminApiMetrics } from '../../../services/admin-api/metrics';
import { registerConsumerLagMetric } from '../../../services/common/consumer-lag';
import { createLogger } from '../../../services/common/logger';
import { createMetricsRegistry } from '../../../services/common/metrics';
import { createDifferMetrics } from '../../../services/differ/metrics';
import { createDispatcherMetrics } from '../../../services/dispatcher/metrics';
import { createSimulatorMetrics } from '../../../services/oem-simulator/metrics';
import { createPollerMetrics } from '../../../services/poller/metrics';
import { startReceiver } from '../../../services/webhook-receiver/receiver';

/** Each service's registry as its main.ts builds it, without Kafka: the definitions only. */
export async function createServiceRegistries(): Promise<Record<string, Registry>> {
  const poller = createMetricsRegistry('poller');
  createPollerMetrics(poller);

  const differ = createMetricsRegistry('differ');
  createDifferMetrics(differ);

  const dispatcher = createMetricsRegistry('dispatcher');
  createDispatcherMetrics(dispatcher, { destinationLabelLimit: 10 });

  const adminApi = createMetricsRegistry('admin-api');
  createAdminApiMetrics(adminApi);

  const simulator = createMetricsRegistry('oem-simulator');
  createSimulatorMetrics(simulator);

  const receiverRegistry = new Registry();
  const receiver = await startReceiver({
    secrets: [],
    logger: createLogger({ service: 'deploy-test', level: 'silent' }),
    port: 0,
    registry: receiverRegistry,
  });
  await receiver.stop();

  return {
    poller,
    differ,
    dispatcher,
    'admin-api': adminApi,
    'oem-simulator': simulator,
    'webhook-receiver': receiverRegistry,
  };
}

/** Metric families defined anywhere in gridpulse, with the series names they expose. */
export async function knownSeriesNames(): Promise<Set<string>> {
  const registries = await createServiceRegistries();
  const names = new Set<string>();
  for (const registry of Object.values(registries)) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === 'histogram') {
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
      }
    }
  }
  // The shared consumer-lag module's series. Its admin is never called: nothing is scraped here.
  const lag = new Registry();
  registerConsumerLagMetric({ registry: lag, admin: {} as never, groups: [] });
  for (const metric of lag.getMetricsAsArray()) {
    names.add((metric as unknown as { name: string }).name);
  }
  return names;
}

/** Every `gridpulse_…` series name a PromQL expression refers to (recording rules excluded). */
export function referencedSeries(expr: string): string[] {
  return [...expr.matchAll(/(?<![:\w])(gridpulse_[a-z0-9_]+)/g)].map((match) => match[1]!);
}

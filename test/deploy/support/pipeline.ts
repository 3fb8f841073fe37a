import { createLogger } from '../../../services/common/logger';
import { registerConsumerLagMetric } from '../../../services/common/consumer-lag';
import { createMetricsRegistry } from '../../../services/common/metrics';
import { startServiceHttp, type ServiceHttp } from '../../../services/common/service-http';
import { consumerGroupId } from '../../../services/common/topics';
import { startAdminApi, type AdminApiHandle } from '../../../services/admin-api/admin-api';
import { adminApiEnvSchema, toAdminApiConfig } from '../../../services/admin-api/config';
import { parseEnv } from '../../../services/common/config';
import { startDiffer, type DifferHandle } from '../../../services/differ/differ';
import { createDifferMetrics, type DifferMetrics } from '../../../services/differ/metrics';
import {
  startDispatcher,
  type DispatcherHandle,
} from '../../../services/dispatcher/start-dispatcher';
import { startSimulator } from '../../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../../services/oem-simulator/types';
import { startPoller, type PollerHandle } from '../../../services/poller/poller';
import { startReceiver, type ReceiverHandle } from '../../../services/webhook-receiver/receiver';
import { makeDifferConfig } from '../../differ/harness';
import { createDispatcherTestConfig } from '../../dispatcher/harness';
import { pollerConfig, registerAccounts } from '../../poller/support';
import type { TestKafka } from '../../support/kafka';
import { findFreePort, type PrometheusTarget } from './prometheus';

/** Every gridpulse service in this process, each with its /metrics on 127.0.0.1:0. */
export interface Pipeline {
  sim: SimulatorHandle;
  poller: PollerHandle;
  differ: DifferHandle;
  differMetrics: DifferMetrics;
  dispatcher: DispatcherHandle;
  adminApi: AdminApiHandle;
  receiver: ReceiverHandle;
  targets: PrometheusTarget[];
  stop(): Promise<void>;
}

/**
 * Starts simulator → poller → differ → dispatcher → example receiver (one destination taking
 * every event), plus the admin API, on the test's topics. The differ's registry also carries
 * the consumer-lag gauge for its group on device-state.v1.
 */
export async function startPipeline(testKafka: TestKafka): Promise<Pipeline> {
  const logger = createLogger({ service: 'deploy-test', level: 'silent' });
  const prefix = testKafka.config.topicPrefix;
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
  };

  try {
    const sim = await startSimulator({ port: 0, seed: 21, fleet: { tesla: 2, enphase: 1 } });
    stops.push(() => sim.stop());

    const dispatcherRegistry = createMetricsRegistry('dispatcher');
    const dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(testKafka),
      logger,
      registry: dispatcherRegistry,
    });
    stops.push(() => dispatcher.stop());
    const dispatcherHttp = await serve(dispatcherRegistry, stops);

    // The destination needs the receiver's URL and the receiver needs the destination's secret.
    const receiverPort = await findFreePort();
    const destination = await dispatcher.manager.create({
      url: `http://127.0.0.1:${receiverPort}/webhooks`,
    });
    const receiver = await startReceiver({
      secrets: destination.secrets.map((entry) => entry.secret),
      logger,
      port: receiverPort,
    });
    stops.push(() => receiver.stop());

    const differRegistry = createMetricsRegistry('differ');
    const differMetrics = createDifferMetrics(differRegistry);
    registerConsumerLagMetric({
      registry: differRegistry,
      admin: testKafka.admin,
      groups: [
        {
          groupId: consumerGroupId('differ', prefix),
          topics: [testKafka.topics['device-state.v1']],
        },
      ],
    });
    const differ = await startDiffer({
      config: makeDifferConfig(testKafka),
      logger,
      metrics: differMetrics,
    });
    stops.push(() => differ.stop());
    const differHttp = await serve(differRegistry, stops);

    const adminApi = await startAdminApi({
      config: adminApiConfig(testKafka),
      logger,
      registry: createMetricsRegistry('admin-api'),
    });
    stops.push(() => adminApi.stop());
    const adminHttp = await serve(adminApi.registry, stops);

    await registerAccounts(testKafka, sim.accounts());
    const pollerRegistry = createMetricsRegistry('poller');
    const poller = await startPoller({
      config: pollerConfig(testKafka, sim.url),
      logger,
      registry: pollerRegistry,
    });
    stops.push(() => poller.stop());
    const pollerHttp = await serve(pollerRegistry, stops);

    const targets = [
      { name: 'oem-simulator', address: `127.0.0.1:${sim.port}` },
      { name: 'poller', address: `127.0.0.1:${pollerHttp.port}` },
      { name: 'differ', address: `127.0.0.1:${differHttp.port}` },
      { name: 'dispatcher', address: `127.0.0.1:${dispatcherHttp.port}` },
      { name: 'admin-api', address: `127.0.0.1:${adminHttp.port}` },
      { name: 'webhook-receiver', address: `127.0.0.1:${receiverPort}` },
    ];
    return { sim, poller, differ, differMetrics, dispatcher, adminApi, receiver, targets, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function serve(
  registry: Parameters<typeof startServiceHttp>[0]['registry'],
  stops: Array<() => Promise<unknown>>,
): Promise<ServiceHttp> {
  const http = await startServiceHttp({ port: 0, host: '127.0.0.1', registry });
  stops.push(() => http.close());
  return http;
}

function adminApiConfig(testKafka: TestKafka) {
  const env = parseEnv(adminApiEnvSchema, {
    ADMIN_API_PORT: '0',
    ADMIN_API_HOST: '127.0.0.1',
    // sha256 of an API key nobody holds: the test only makes unauthenticated requests.
    ADMIN_API_KEYS: `ws_deploy:${'ab'.repeat(32)}`,
    CREDENTIALS_ENCRYPTION_KEY: '11'.repeat(32),
    LOG_LEVEL: 'silent',
  });
  return { ...toAdminApiConfig(env), connectivity: testKafka.config };
}

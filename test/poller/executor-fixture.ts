import { Registry } from 'prom-client';
import {
  startCommandExecutor,
  type CommandExecutorHandle,
} from '../../services/admin-api/command-executor';
import { createAvroSerde } from '../../services/common/avro';
import type { Logger } from '../../services/common/logger';
import { consumerGroupId } from '../../services/common/topics';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import { OEMS, type Oem } from '../../services/poller/config';
import type { Connection } from '../../services/poller/connection';
import { connectionFromSimAccount } from '../../services/poller/connection-registration';
import { buildDeviceState, DEVICE_STATE_SCHEMA } from '../../services/poller/device-state';
import { createPollerMetrics } from '../../services/poller/metrics';
import { createOemHttpClient, type OemHttpClient } from '../../services/poller/oem-http';
import { createTokenManager } from '../../services/poller/token-manager';
import { pollerConfig } from '../poller/support';
import type { TestKafka } from '../support/kafka';

export interface ExecutorFixture {
  sim: SimulatorHandle;
  clients: Record<Oem, OemHttpClient>;
  /** The connections "this poller" owns; tests may remove one. */
  connections: Map<string, Connection>;
  devices: Record<Oem, string>;
  workspaceId: string;
  stop(): Promise<void>;
}

/**
 * A simulator with one Tesla site and one Enphase system, the device-state records a poller
 * would have written for them, and the command executor running with the poller's own OEM
 * clients and token manager (as the poller process will pass them in).
 */
export async function startExecutorFixture(
  testKafka: TestKafka,
  logger: Logger,
): Promise<ExecutorFixture> {
  const sim = await startSimulator({ port: 0, seed: 11, fleet: { tesla: 1, enphase: 1 } });
  const config = pollerConfig(testKafka, sim.url);
  const connections = new Map<string, Connection>();
  const devices: Record<Oem, string> = { tesla: '', enphase: '' };
  let workspaceId = '';

  const serde = createAvroSerde(testKafka.config);
  const producer = testKafka.kafka.producer();
  await producer.connect();
  for (const account of sim.accounts()) {
    const connection = connectionFromSimAccount(account);
    connections.set(connection.connectionId, connection);
    const oem = account.oem as Oem;
    devices[oem] = `${oem}:${account.siteIds[0]}`;
    workspaceId = account.workspaceId;
    const identity = {
      deviceId: devices[oem],
      manufacturer: { slug: oem, displayName: oem },
      deviceModel: { slug: `${oem}:battery`, displayName: 'Battery' },
      deviceType: 'battery',
      tags: ['battery'],
      createdAt: null,
    };
    const record = buildDeviceState(connection, identity, 'OFFLINE', Date.now(), null);
    const value = await serde.encode(
      testKafka.topics['device-state.v1'],
      DEVICE_STATE_SCHEMA,
      record,
    );
    await producer.send({
      topic: testKafka.topics['device-state.v1'],
      messages: [{ key: record.deviceId, value }],
    });
  }
  await producer.disconnect();
  if (new Set(sim.accounts().map((a) => a.workspaceId)).size !== 1) {
    throw new Error('fixture expects one workspace across the simulated accounts');
  }

  const metrics = createPollerMetrics(new Registry());
  const clients = Object.fromEntries(
    OEMS.map((oem) => [
      oem,
      createOemHttpClient({ oem, config: config.http, circuit: config.circuit, metrics, logger }),
    ]),
  ) as Record<Oem, OemHttpClient>;
  const tokens = createTokenManager({
    config,
    clients,
    metrics,
    logger,
    connections: {
      get: (id) => connections.get(id),
      // The poller writes rotated tokens to connections.v1; here the map is the store.
      persist: async (connection) => void connections.set(connection.connectionId, connection),
    },
  });
  const executor: CommandExecutorHandle = await startCommandExecutor({
    kafka: testKafka.kafka,
    serde,
    topics: testKafka.topics,
    groupId: consumerGroupId('poller.commands', testKafka.config.topicPrefix),
    logger,
    ownershipWaitMs: 1000,
    access: {
      connection: (id) => connections.get(id),
      clients,
      tokens,
      apiUrls: { tesla: config.oems.tesla.apiUrl, enphase: config.oems.enphase.apiUrl },
    },
  });

  return {
    sim,
    clients,
    connections,
    devices,
    workspaceId,
    async stop() {
      await executor.stop();
      await Promise.all(Object.values(clients).map((client) => client.close()));
      await sim.stop();
    },
  };
}

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { createAvroSerde } from '../../services/common/avro';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../../services/common/config';
import type { EventRecord } from '../../services/common/events';
import { createKafka } from '../../services/common/kafka';
import { createLogger } from '../../services/common/logger';
import { resolveTopics } from '../../services/common/topics';
import {
  fetchReceiverSummary,
  startLocalPipeline,
  type LocalPipeline,
  type PipelineService,
} from '../../services/cli/local-pipeline';
import { ensureTopics } from '../../services/cli/topics';
import type { SimTruth } from '../../services/oem-simulator/types';
import { waitFor } from '../support/kafka';

/**
 * The whole pipeline, each service its own process as in production, against the simulator
 * with faults on: what reaches the receiver is checked against the simulator's own record
 * (GET /_sim/truth) and against events.v1 itself. Then each service is SIGKILLed mid-run and
 * restarted, and the same checks hold.
 */
const POLL_INTERVAL_SECONDS = 2;
const OFFLINE_POLLS = 2;
const LIFECYCLE_TICK_MS = 6_000;

describe('the pipeline end to end', () => {
  const prefix = `e2e${randomBytes(3).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GRIDPULSE_TOPIC_PREFIX: prefix,
    LOG_LEVEL: 'info',
  };
  const config = toConnectivityConfig(parseEnv(baseEnvSchema, env), 'e2e');
  const topics = resolveTopics(prefix);
  let pipeline: LocalPipeline;
  let simulatorUrl: string;
  let startedAt: number;

  beforeAll(async () => {
    expect(await ensureTopics(env, () => undefined)).toBe(true);
    const ports = {
      'oem-simulator': await freePort(),
      'webhook-receiver': await freePort(),
      poller: await freePort(),
      differ: await freePort(),
      dispatcher: await freePort(),
    } satisfies Partial<Record<PipelineService, number>>;
    simulatorUrl = `http://127.0.0.1:${ports['oem-simulator']}`;
    pipeline = await startLocalPipeline({
      services: ['oem-simulator', 'webhook-receiver', 'differ', 'dispatcher', 'poller'],
      fleet: { tesla: 6, enphase: 6 },
      pollIntervalSeconds: POLL_INTERVAL_SECONDS,
      faultRate: 0.05,
      offlineRate: 0.2,
      seed: 7,
      env,
      logDir: path.join(os.tmpdir(), `gridpulse-${prefix}`),
      ports,
      serviceEnv: {
        'oem-simulator': {
          SIM_LIFECYCLE_TICK_MS: String(LIFECYCLE_TICK_MS),
          SIM_CHURN_RATE: '0.02',
          SIM_RETRY_AFTER_SECONDS: '1',
        },
        differ: { DIFF_OFFLINE_POLLS: String(OFFLINE_POLLS) },
        poller: { OEM_TIMEOUT_MS: '3000' },
      },
    });
    startedAt = Date.now(); // the poller is ready: polling starts now
  }, 180_000);

  afterAll(async () => {
    await pipeline?.stop();
  }, 60_000);

  it('delivers every event, signed, for every device the simulator has, through faults', async () => {
    await sleep(40_000);
    await pipeline.processes.get('poller')!.stop();
    const check = await settleAndCheck();

    expect(check.missingAtReceiver).toEqual([]);
    expect(check.unexpectedAtReceiver).toEqual([]);
    expect(check.rejected).toBe(0);
    expect(check.devicesWithoutDiscovery).toEqual([]);
    expect(check.missedDisconnections).toEqual([]);
    expect(check.counts['device.updated'] ?? 0).toBeGreaterThan(0);
  }, 180_000);

  it('loses nothing when each service is killed with SIGKILL mid-run and restarted', async () => {
    await pipeline.processes.get('poller')!.start();
    for (const name of ['differ', 'dispatcher', 'poller'] as const) {
      await sleep(8_000);
      await pipeline.processes.get(name)!.kill();
      await sleep(2_000);
      await pipeline.processes.get(name)!.start();
    }
    await sleep(10_000);
    await pipeline.processes.get('poller')!.stop();
    const check = await settleAndCheck();

    expect(check.missingAtReceiver).toEqual([]);
    expect(check.unexpectedAtReceiver).toEqual([]);
    expect(check.rejected).toBe(0);
    expect(check.devicesWithoutDiscovery).toEqual([]);
    // A restart must not make a known device look new: one discovery per device, unless it
    // really came back after a disconnection.
    expect(check.spuriousRediscoveries).toEqual([]);
  }, 240_000);

  /** Waits until the receiver holds every event on events.v1, then compares the two. */
  async function settleAndCheck() {
    let events: EventRecord[] = [];
    let received = new Set<string>();
    await waitFor(
      async () => {
        events = await readAllEvents();
        received = new Set(await fetchReceived());
        return events.length > 0 && events.every((event) => received.has(event.key));
      },
      {
        timeoutMs: 90_000,
        intervalMs: 2_000,
        what: 'the receiver to hold every event on events.v1',
      },
    );

    const onTopic = new Set(events.map((event) => event.key));
    const truth = await fetchTruth();
    const discovered = new Set(
      events.filter((e) => e.type === 'device.discovered').map((e) => e.deviceId),
    );
    const disconnected = events.filter((e) => e.type === 'device.disconnected');
    const polledUntil = Date.now() - 5_000;

    // A device online for at least three poll intervals of the run was polled while online.
    const longLived = truth.devices.filter(
      (d) => onlineMs(d, startedAt, polledUntil) > 3 * POLL_INTERVAL_SECONDS * 1000,
    );
    // Seen online (so discovered), then offline or removed long enough that OFFLINE_POLLS
    // consecutive polls saw it, with slack for the polls that faults spoil.
    const interval = POLL_INTERVAL_SECONDS * 1000;
    const threshold = (OFFLINE_POLLS + 4) * interval;
    const mustDisconnect = truth.devices.filter((d) => {
      const wasOnlineBefore = (at: number) => onlineMs(d, startedAt, at) > 3 * interval;
      const longOffline = d.offline.some(
        (span) =>
          wasOnlineBefore(span.from) &&
          (span.to ?? polledUntil) - Math.max(span.from, startedAt) > threshold,
      );
      const removedEarly =
        d.removedAt !== null &&
        d.removedAt < polledUntil - threshold &&
        wasOnlineBefore(d.removedAt);
      return longOffline || removedEarly;
    });

    const discoveriesByDevice = new Map<string, number>();
    for (const event of events.filter((e) => e.type === 'device.discovered')) {
      discoveriesByDevice.set(event.deviceId!, (discoveriesByDevice.get(event.deviceId!) ?? 0) + 1);
    }
    const disconnectionsByDevice = new Map<string, number>();
    for (const event of disconnected) {
      disconnectionsByDevice.set(
        event.deviceId!,
        (disconnectionsByDevice.get(event.deviceId!) ?? 0) + 1,
      );
    }

    const summary = await fetchReceiverSummary(pipeline.receiverUrl);
    const counts: Record<string, number> = {};
    for (const event of events) counts[event.type] = (counts[event.type] ?? 0) + 1;

    return {
      counts,
      rejected: summary.rejected,
      missingAtReceiver: [...onTopic].filter((key) => !received.has(key)),
      unexpectedAtReceiver: [...received].filter((key) => !onTopic.has(key)),
      devicesWithoutDiscovery: longLived.map((d) => d.deviceId).filter((id) => !discovered.has(id)),
      missedDisconnections: mustDisconnect
        .map((d) => d.deviceId)
        .filter((id) => !disconnected.some((event) => event.deviceId === id)),
      spuriousRediscoveries: [...discoveriesByDevice]
        .filter(([id, count]) => count > 1 + (disconnectionsByDevice.get(id) ?? 0))
        .map(([id]) => id),
    };
  }

  /**
   * Everything committed on events.v1, read until the topic has been quiet for a while
   * (transaction markers take offsets too, so the high watermark is no end marker).
   */
  async function readAllEvents(): Promise<EventRecord[]> {
    const kafka = createKafka(config, createLogger({ service: 'e2e', level: 'silent' }));
    const serde = createAvroSerde(config);
    const events: EventRecord[] = [];
    let lastMessageAt = Date.now();
    const consumer = kafka.consumer({
      groupId: `${prefix}.reader.${randomBytes(3).toString('hex')}`,
      readUncommitted: false,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: topics['events.v1'], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        lastMessageAt = Date.now();
        if (message.value) events.push(await serde.decode<EventRecord>(message.value));
      },
    });
    await waitFor(() => events.length > 0 && Date.now() - lastMessageAt > 3_000, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'events.v1 to be read to a quiet end',
    });
    await consumer.disconnect();
    return events;
  }

  async function fetchReceived(): Promise<string[]> {
    const response = await request(pipeline.receiverUrl.replace(/\/webhooks$/, '/received'));
    return (await response.body.json()) as string[];
  }

  async function fetchTruth(): Promise<SimTruth> {
    const response = await request(`${simulatorUrl}/_sim/truth`);
    return (await response.body.json()) as SimTruth;
  }
});

/** How long the device was present and online between `from` and `to`. */
function onlineMs(device: SimTruth['devices'][number], from: number, to: number): number {
  const start = Math.max(device.addedAt, from);
  const end = Math.min(device.removedAt ?? to, to);
  const offline = device.offline.reduce((total, span) => {
    const overlap = Math.min(span.to ?? end, end) - Math.max(span.from, start);
    return total + Math.max(0, overlap);
  }, 0);
  return Math.max(0, end - start - offline);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { createAvroSerde } from '../../services/common/avro';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../../services/common/config';
import type { DeviceState } from '../../services/common/device-state';
import type { EventRecord } from '../../services/common/events';
import { createKafka } from '../../services/common/kafka';
import { createLogger } from '../../services/common/logger';
import { resolveTopics } from '../../services/common/topics';
import { loadDifferConfig } from '../../services/differ/config';
import { toDeviceSample } from '../../services/differ/device-state';
import {
  fetchReceiverSummary,
  startLocalPipeline,
  type LocalPipeline,
  type PipelineService,
} from '../../services/cli/local-pipeline';
import { ensureTopics } from '../../services/cli/topics';
import type { SimTruth, SimTruthDevice } from '../../services/oem-simulator/types';
import { waitFor } from '../support/kafka';
import { createSimulatorReplica, listMeaningfulChanges, type ReportedState } from './state-truth';

/**
 * The whole pipeline, each service its own process as in production, against the simulator
 * with faults on: what reaches the receiver is checked against the simulator's own record
 * (GET /_sim/truth) and against events.v1 itself. Then each service is SIGKILLed mid-run and
 * restarted, and the same checks hold.
 */
const POLL_INTERVAL_SECONDS = 2;
const OFFLINE_POLLS = 2;
const LIFECYCLE_TICK_MS = 6_000;
const SIMULATOR = { seed: 7, fleet: { tesla: 6, enphase: 6 }, offlineRate: 0.2, churnRate: 0.02 };

describe('the pipeline end to end', () => {
  const prefix = `e2e${randomBytes(3).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GRIDPULSE_TOPIC_PREFIX: prefix,
    LOG_LEVEL: 'info',
  };
  const config = toConnectivityConfig(parseEnv(baseEnvSchema, env), 'e2e');
  const topics = resolveTopics(prefix);
  const differEnv = { DIFF_OFFLINE_POLLS: String(OFFLINE_POLLS) };
  // The deadbands the differ runs with: its defaults, read the way the differ reads them.
  const { deadbands } = loadDifferConfig({ ...env, ...differEnv }).rules;
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
      fleet: SIMULATOR.fleet,
      pollIntervalSeconds: POLL_INTERVAL_SECONDS,
      faultRate: 0.05,
      offlineRate: SIMULATOR.offlineRate,
      seed: SIMULATOR.seed,
      env,
      logDir: path.join(os.tmpdir(), `gridpulse-${prefix}`),
      ports,
      serviceEnv: {
        'oem-simulator': {
          SIM_LIFECYCLE_TICK_MS: String(LIFECYCLE_TICK_MS),
          SIM_CHURN_RATE: String(SIMULATOR.churnRate),
          SIM_RETRY_AFTER_SECONDS: '1',
        },
        differ: differEnv,
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
    expectStatesConverged(check);
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
    expect(check.missedDisconnections).toEqual([]);
    expectStatesConverged(check);
  }, 240_000);

  function expectStatesConverged(check: Awaited<ReturnType<typeof settleAndCheck>>) {
    console.log(
      JSON.stringify({ counts: check.counts, compared: check.devicesCompared, gaps: check.gaps }),
    );
    // The replica must be the simulator's fleet, or its readings would prove nothing.
    expect(check.replicaTruth).toEqual(check.truthDevices);
    expect(check.devicesCompared.tesla).toBeGreaterThan(0);
    expect(check.devicesCompared.enphase).toBeGreaterThan(0);
    expect(check.readingMismatches).toEqual([]);
    expect(check.stateMismatches).toEqual([]);
  }

  /** Waits until the receiver holds every event on events.v1, then compares the two. */
  async function settleAndCheck() {
    let events: EventRecord[] = [];
    let received = new Set<string>();
    await waitFor(
      async () => {
        events = await readAll(topics['events.v1'], (raw) => raw as EventRecord);
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
    // The poller is stopped, so device-state.v1 is complete: it says when each device was
    // polled and what the poller read.
    const [samples, truth] = await Promise.all([
      readAll(topics['device-state.v1'], toDeviceSample),
      fetchTruth(),
    ]);
    const discovered = new Set(
      events.filter((e) => e.type === 'device.discovered').map((e) => e.deviceId),
    );
    const disconnected = events.filter((e) => e.type === 'device.disconnected');
    // The truth is read after settling, when the simulator has moved on: only time in which
    // the poller was polling counts (isPolledAt ends at the last poll).
    const polledUntil = Date.now();
    const interval = POLL_INTERVAL_SECONDS * 1000;
    const isPolledAt = createPollCoverage(samples, startedAt, 3 * interval);

    // A device online for at least three poll intervals while the poller was polling was
    // polled while online.
    const polledOnlineMs = (d: SimTruthDevice, to: number) =>
      onlineSpans(d, to).reduce((total, [a, b]) => total + isPolledAt.durationMs(a, b), 0);
    const longLived = truth.devices.filter((d) => polledOnlineMs(d, polledUntil) > 3 * interval);
    // Seen online (so discovered), then offline or removed long enough that OFFLINE_POLLS
    // consecutive polls saw it, with slack for the polls that faults spoil. Only time in which
    // the poller was polling counts: a SIGKILLed poller's connections wait for the group to
    // move them, and an offline spell no poll saw cannot be reported.
    const threshold = (OFFLINE_POLLS + 4) * interval;
    const mustDisconnect = truth.devices.filter((d) => {
      const wasOnlineBefore = (at: number) => polledOnlineMs(d, at) > 3 * interval;
      const longOffline = d.offline.some(
        (span) =>
          wasOnlineBefore(span.from) &&
          isPolledAt.durationMs(span.from, span.to ?? polledUntil) > threshold,
      );
      const removedEarly =
        d.removedAt !== null &&
        isPolledAt.durationMs(d.removedAt, polledUntil) > threshold &&
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
      gaps: isPolledAt.gaps.map(([a, b]) =>
        [a, b].map((t) => (Number.isFinite(t) ? t - startedAt : t)),
      ),
      ...checkStates(events, received, samples, truth),
    };
  }

  /**
   * Does the receiver's view of each device converge on the simulator's? Two links, each
   * checked strictly:
   *
   * 1. Simulator to poller: the last reading the differ accepted for each device equals what
   *    the simulator's physics gives at the instant the reading names: live_status' second for
   *    Tesla, the gateway's last 5-minute report for Enphase (see listReadingDifferences). Not
   *    "the simulator's state now": its clock is the wall clock, so a battery keeps charging
   *    or discharging after the poller stops, and its powers change every 60 s step. Enphase
   *    telemetry holds still between reports, so the polls after the first of a 5-minute
   *    window carry the same state time and the differ rightly drops them as not newer.
   * 2. Poller to receiver: for every device the poller ever saw online, the latest
   *    device.updated the receiver holds (by timestamp, then state time) carries a state within
   *    the differ's deadbands of that last accepted reading. Anything beyond a deadband would
   *    have been an update, so this is the tolerance, and no other; it holds after a
   *    disconnection too (the differ keeps the reported state, and a return reports afresh).
   *
   * "Last accepted" is the differ's rule: the newest state time (state.createdAt, else
   * polledAt), the earliest poll of it when several polls carry the same one; later polls
   * with the same state time are stale and change nothing. Failed polls write nothing to
   * device-state.v1 and so do not count, and devices offline or removed at the end are
   * covered by the disconnection check, while their last online reading still holds here.
   */
  function checkStates(
    events: EventRecord[],
    received: Set<string>,
    samples: DeviceState[],
    truth: SimTruth,
  ) {
    const lastAccepted = new Map<string, DeviceState>();
    for (const sample of samples) {
      if (sample.connectivity !== 'ONLINE' || sample.state === null) continue;
      const previous = lastAccepted.get(sample.deviceId);
      if (!previous || stateTimeOf(sample) > stateTimeOf(previous)) {
        lastAccepted.set(sample.deviceId, sample);
      }
    }

    const latestUpdate = new Map<string, { event: EventRecord; state: ReportedState }>();
    for (const event of events) {
      if (event.type !== 'device.updated' || event.deviceId === null) continue;
      const state = (JSON.parse(event.data) as { state: ReportedState }).state;
      const previous = latestUpdate.get(event.deviceId);
      const isLater =
        !previous ||
        event.timestamp > previous.event.timestamp ||
        (event.timestamp === previous.event.timestamp &&
          Date.parse(state.createdAt) > Date.parse(previous.state.createdAt));
      if (isLater) latestUpdate.set(event.deviceId, { event, state });
    }

    const replica = createSimulatorReplica(SIMULATOR, truth);
    const stateMismatches: Array<{ deviceId: string; problem: string }> = [];
    for (const [deviceId, sample] of lastAccepted) {
      const latest = latestUpdate.get(deviceId);
      if (!latest) {
        stateMismatches.push({ deviceId, problem: 'no device.updated on events.v1' });
        continue;
      }
      if (!received.has(latest.event.key)) {
        stateMismatches.push({
          deviceId,
          problem: `latest update ${latest.event.key} not received`,
        });
      }
      for (const change of listMeaningfulChanges(latest.state, sample.state!, deadbands)) {
        stateMismatches.push({ deviceId, problem: change });
      }
    }

    const readingMismatches = [...lastAccepted.values()].flatMap((sample) =>
      replica
        .listReadingDifferences(sample)
        .map((problem) => ({ deviceId: sample.deviceId, problem })),
    );

    return {
      devicesCompared: {
        tesla: 0,
        enphase: 0,
        ...countBy([...lastAccepted.values()], (s) => s.oem),
      },
      stateMismatches,
      readingMismatches,
      replicaTruth: replica.truth(truth.now),
      truthDevices: truth.devices,
    };
  }

  /**
   * Everything committed on a topic, read until it has been quiet for a while (transaction
   * markers take offsets too, so the high watermark is no end marker).
   */
  async function readAll<T>(topic: string, parse: (raw: unknown) => T): Promise<T[]> {
    const kafka = createKafka(config, createLogger({ service: 'e2e', level: 'silent' }));
    const serde = createAvroSerde(config);
    const values: T[] = [];
    let lastMessageAt = Date.now();
    const consumer = kafka.consumer({
      groupId: `${prefix}.reader.${randomBytes(3).toString('hex')}`,
      readUncommitted: false,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        lastMessageAt = Date.now();
        if (message.value) values.push(parse(await serde.decode<unknown>(message.value)));
      },
    });
    await waitFor(() => values.length > 0 && Date.now() - lastMessageAt > 3_000, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `${topic} to be read to a quiet end`,
    });
    await consumer.disconnect();
    return values;
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

/** When the device was present and online, up to `to`. */
function onlineSpans(device: SimTruthDevice, to: number): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let from = device.addedAt;
  const end = Math.min(device.removedAt ?? to, to);
  for (const span of device.offline) {
    if (span.from > from) spans.push([from, Math.min(span.from, end)]);
    from = Math.max(from, span.to ?? Infinity);
  }
  if (from < end) spans.push([from, end]);
  return spans.filter(([a, b]) => b > a);
}

/**
 * When the poller was polling: between the start and the last poll, minus every stretch of
 * more than `gapMs` in which no device of the fleet was polled at all (a killed poller, or the
 * pause between the two tests).
 */
function createPollCoverage(samples: DeviceState[], startedAt: number, gapMs: number) {
  const polls = samples.map((s) => s.polledAt).sort((a, b) => a - b);
  const gaps: Array<[number, number]> = [[-Infinity, Math.max(startedAt, polls[0] ?? startedAt)]];
  for (let i = 1; i < polls.length; i += 1) {
    if (polls[i]! - polls[i - 1]! > gapMs) gaps.push([polls[i - 1]!, polls[i]!]);
  }
  gaps.push([polls.at(-1) ?? startedAt, Infinity]);
  return {
    gaps,
    /** How much of [from, to] the poller spent polling. */
    durationMs(from: number, to: number): number {
      const overlap = gaps.reduce(
        (total, [a, b]) => total + Math.max(0, Math.min(b, to) - Math.max(a, from)),
        0,
      );
      return Math.max(0, to - from - overlap);
    },
  };
}

function stateTimeOf(sample: DeviceState): number {
  return sample.state?.createdAt ?? sample.polledAt;
}

function countBy<T>(items: T[], keyOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[keyOf(item)] = (counts[keyOf(item)] ?? 0) + 1;
  return counts;
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

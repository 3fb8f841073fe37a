/**
 * Dispatcher throughput and latency against local receivers, beside the ceiling of plain
 * signed undici POSTs to the same receivers. Needs the local stack (Kafka + registry).
 *
 *   npx tsx bench/dispatcher.ts [events=4000] [--receivers 1,10] [--rate <events/s>] [--no-ceiling]
 *
 * Without --rate the events are produced in one burst (throughput; latency then includes the
 * backlog). With --rate they are produced at that pace (latency at a steady load).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { Agent } from 'undici';
import { createAvroSerde } from '../services/common/avro';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../services/common/config';
import { createEventRecord, toWebhookBody } from '../services/common/events';
import { createKafka } from '../services/common/kafka';
import { createLogger } from '../services/common/logger';
import { provisionTopics } from '../services/common/provision';
import { TOPIC_SPECS, resolveTopics } from '../services/common/topics';
import { loadDispatcherConfig } from '../services/dispatcher/config';
import { startDispatcher } from '../services/dispatcher/start-dispatcher';
import {
  decodeSigningSecret,
  generateSigningSecret,
  signWebhook,
} from '../services/dispatcher/webhook-signer';

const EVENTS = /^\d+$/.test(process.argv[2] ?? '') ? Number(process.argv[2]) : 4000;
const RECEIVER_COUNTS = (argValue('--receivers') ?? '1,10').split(',').map(Number);
const RATE = argValue('--rate') === undefined ? undefined : Number(argValue('--rate'));
const WITH_CEILING = !process.argv.includes('--no-ceiling');
const CONCURRENCY_PER_RECEIVER = 32;

interface Receiver {
  url: string;
  arrivals: Map<string, number>;
  count: () => number;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const receiverCount of RECEIVER_COUNTS) {
    const receivers = await Promise.all(
      Array.from({ length: receiverCount }, () => startReceiver()),
    );
    const totalDeliveries = receiverCount === 1 ? EVENTS : Math.round(EVENTS / 2) * receiverCount;
    if (WITH_CEILING) {
      const ceiling = await measureCeiling(receivers, totalDeliveries);
      rows.push(row(`undici ceiling, ${receiverCount} receiver(s)`, ceiling));
    }
    const dispatched = await measureDispatcher(receivers, totalDeliveries / receiverCount);
    const pace = RATE === undefined ? 'burst' : `${RATE}/s`;
    rows.push(row(`dispatcher, ${receiverCount} receiver(s), ${pace}`, dispatched));
    await Promise.all(receivers.map((receiver) => receiver.close()));
  }
  process.stdout.write(
    `\n${'case'.padEnd(36)} ${'deliveries'.padStart(10)} ${'per s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}\n${rows.join('\n')}\n`,
  );
  process.exit(0);
}

interface Result {
  deliveries: number;
  seconds: number;
  latenciesMs: number[];
}

/** Plain signed POSTs over one pooled undici Agent, 32 concurrent per receiver. */
async function measureCeiling(receivers: Receiver[], total: number): Promise<Result> {
  const agent = new Agent({ connections: CONCURRENCY_PER_RECEIVER, keepAliveTimeout: 30_000 });
  const key = decodeSigningSecret(generateSigningSecret());
  const body = toWebhookBody(makeEvent());
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (receiver: Receiver) => {
    const url = new URL(receiver.url);
    while (next < total) {
      next += 1;
      const id = `msg_${next}`;
      const at = performance.now();
      const timestamp = Math.floor(Date.now() / 1000);
      const response = await agent.request({
        origin: url.origin,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook([key], id, timestamp, body),
        },
        body,
      });
      await response.body.dump();
      latenciesMs.push(performance.now() - at);
    }
  };
  await Promise.all(
    receivers.flatMap((receiver) =>
      Array.from({ length: CONCURRENCY_PER_RECEIVER }, () => worker(receiver)),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return { deliveries: latenciesMs.length, seconds, latenciesMs };
}

/** Events produced to events.v1 as fast as possible; latency = 2xx arrival - event timestamp. */
async function measureDispatcher(receivers: Receiver[], events: number): Promise<Result> {
  const env = parseEnv(baseEnvSchema, {
    ...process.env,
    GRIDPULSE_TOPIC_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
  });
  const connectivity = toConnectivityConfig(env, 'bench');
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const kafka = createKafka(connectivity, logger);
  const admin = kafka.admin();
  await admin.connect();
  const topics = resolveTopics(connectivity.topicPrefix);
  await provisionTopics(admin, topics, { replicationFactor: 1, specs: TOPIC_SPECS });

  const config = {
    ...loadDispatcherConfig({ ...process.env, DISPATCHER_ALLOW_PRIVATE_URLS: 'true' }),
    connectivity,
    metricsPort: 0,
  };
  const dispatcher = await startDispatcher({ config, logger, registry: new Registry() });
  for (const receiver of receivers) {
    const destination = await dispatcher.manager.create({ url: receiver.url });
    while (!dispatcher.destinations.get(destination.id)) await sleep(20);
  }
  await sleep(3_000); // let the consumer groups settle before the clock starts

  const serde = createAvroSerde(connectivity);
  const producer = kafka.producer();
  await producer.connect();
  const records = Array.from({ length: events }, () => makeEvent());
  const values = await Promise.all(
    records.map((event) => serde.encode(topics['events.v1'], 'event', event)),
  );
  const baseline = receivers.map((receiver) => receiver.count());
  const started = performance.now();
  const producedAt = new Map<string, number>();
  // A burst in 500-record requests, or RATE events a second in 50 ms slices.
  const chunk = RATE === undefined ? 500 : Math.max(1, Math.round(RATE / 20));
  for (let i = 0; i < records.length; i += chunk) {
    const slice = records.slice(i, i + chunk);
    const now = Date.now();
    for (const event of slice) producedAt.set(event.key, now);
    await producer.send({
      topic: topics['events.v1'],
      acks: -1,
      messages: slice.map((event, j) => ({ key: event.deviceId, value: values[i + j]! })),
    });
    if (RATE !== undefined) {
      const dueMs = ((i + chunk) / RATE) * 1000;
      await sleep(Math.max(0, dueMs - (performance.now() - started)));
    }
  }
  const expected = events * receivers.length;
  const delivered = () =>
    receivers.reduce((sum, receiver, i) => sum + receiver.count() - baseline[i]!, 0);
  while (delivered() < expected) await sleep(20);
  const seconds = (performance.now() - started) / 1000;

  const latenciesMs = receivers.flatMap((receiver) =>
    [...receiver.arrivals]
      .filter(([key]) => producedAt.has(key))
      .map(([key, at]) => at - producedAt.get(key)!),
  );
  if (process.argv.includes('--metrics')) {
    const bySecond = new Map<number, number[]>();
    for (const receiver of receivers)
      for (const [key, at] of receiver.arrivals) {
        const sent = producedAt.get(key);
        if (sent === undefined) continue;
        const second = Math.floor((sent - started - performance.timeOrigin) / 1000);
        bySecond.set(second, [...(bySecond.get(second) ?? []), at - sent]);
      }
    for (const [second, values] of [...bySecond].sort((a, b) => a[0] - b[0]))
      process.stdout.write(`second ${second}: n=${values.length} max=${Math.max(...values)}\n`);
    const text = await dispatcher.registry.metrics();
    const wanted =
      /^gridpulse_dispatcher_(deliveries_total|attempts_total|attempt_duration_seconds_(sum|count|bucket)|events_total)/;
    process.stdout.write(
      `${text
        .split('\n')
        .filter((line) => wanted.test(line))
        .join('\n')}\n`,
    );
  }
  await producer.disconnect();
  await dispatcher.stop();
  for (const topic of Object.values(topics))
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return { deliveries: expected, seconds, latenciesMs };
}

function makeEvent() {
  const deviceId = `tesla:${randomBytes(6).toString('hex')}`;
  return createEventRecord(
    'device.updated',
    { deviceId, deviceType: 'battery', chargePercentage: Math.random() * 100 },
    { timestamp: Date.now(), deviceId, deviceType: 'battery', workspaceId: 'ws_bench' },
  );
}

async function startReceiver(): Promise<Receiver> {
  const arrivals = new Map<string, number>();
  let count = 0;
  let connections = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count += 1;
      arrivals.set(String(req.headers['webhook-id']), Date.now());
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    arrivals,
    count: () => count,
    close: () =>
      new Promise((resolve) => {
        if (process.argv.includes('--metrics'))
          process.stdout.write(`receiver connections: ${connections}\n`);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function row(name: string, result: Result): string {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  const pct = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  return (
    `${name.padEnd(36)} ${String(result.deliveries).padStart(10)} ` +
    `${Math.round(result.deliveries / result.seconds)
      .toString()
      .padStart(8)} ` +
    `${pct(0.5).toFixed(1).padStart(8)} ${pct(0.99).toFixed(1).padStart(8)}`
  );
}

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

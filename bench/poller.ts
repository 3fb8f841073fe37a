/**
 * Poller throughput against the OEM simulator, beside the ceiling of plain undici GETs against
 * the same simulator. Needs the local stack (Kafka + registry) running.
 *
 *   npx tsx bench/poller.ts [sites=300] [seconds=15]
 *
 * Prints polls/s (connection cycles), OEM requests/s and records/s produced to device-state.v1,
 * then the GET/s of a bare undici Pool hitting live_status with the same concurrency.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { Registry } from 'prom-client';
import { parseEnv } from '../services/common/config';
import { createKafka } from '../services/common/kafka';
import { createLogger } from '../services/common/logger';
import { provisionTopics } from '../services/common/provision';
import { resolveTopics } from '../services/common/topics';
import { startSimulator } from '../services/oem-simulator/simulator';
import { pollerEnvSchema, toPollerConfig } from '../services/poller/config';
import { connectionFromSimAccount } from '../services/poller/connection-registration';
import { createConnectionWriter } from '../services/poller/connection-store';
import { createAvroSerde } from '../services/common/avro';
import { startPoller } from '../services/poller/poller';

const SITES = Number(process.argv[2] ?? 300);
const SECONDS = Number(process.argv[3] ?? 15);
const CONCURRENCY = 64;

async function main(): Promise<void> {
  const sim = await startSimulator({ port: 0, seed: 1, fleet: { tesla: SITES, enphase: 0 } });
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const config = toPollerConfig(
    parseEnv(pollerEnvSchema, {
      ...process.env,
      GRIDPULSE_TOPIC_PREFIX: prefix,
      LOG_LEVEL: 'error',
      TESLA_API_URL: `${sim.url}/tesla`,
      TESLA_AUTH_URL: `${sim.url}/tesla`,
      POLL_INTERVAL_TESLA_SECONDS: '1',
      OEM_RATE_LIMIT_PER_SECOND: '1000000',
      OEM_CONCURRENCY: String(CONCURRENCY),
    }),
  );
  const logger = createLogger({ service: 'bench', level: 'error' });
  const kafka = createKafka(config.connectivity, logger);
  const admin = kafka.admin();
  await admin.connect();
  const topics = resolveTopics(prefix);
  await provisionTopics(admin, topics, { replicationFactor: 1 });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const writer = createConnectionWriter({
    producer,
    serde: createAvroSerde(config.connectivity),
    topic: topics['connections.v1'],
  });
  for (const account of sim.accounts()) await writer.put(connectionFromSimAccount(account));
  await producer.disconnect();

  const registry = new Registry();
  const poller = await startPoller({ config, logger, registry });
  // Warm-up: the first cycle of each connection also refreshes its token.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  const before = await totals(poller.metrics);
  const startedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const after = await totals(poller.metrics);
  const elapsed = (performance.now() - startedAt) / 1000;
  const outcomes = (await poller.metrics.requests.get()).values.map(
    (v) => `${v.labels.outcome}=${v.value}`,
  );
  await poller.stop();
  process.stdout.write(`  request outcomes: ${outcomes.join(' ')}\n`);

  const ceiling = await plainGetCeiling(sim.url, sim.accounts()[0]!.siteIds[0]!, 5);
  const rate = (key: keyof typeof after) => ((after[key] - before[key]) / elapsed).toFixed(1);
  process.stdout.write(
    `poller  sites=${SITES} interval=1s concurrency=${CONCURRENCY} over ${elapsed.toFixed(1)} s\n` +
      `  polls/s        ${rate('polls')}  (target ${SITES}/s; missed cycles ${after.missed - before.missed})\n` +
      `  OEM requests/s ${rate('requests')}\n` +
      `  records/s      ${rate('records')}\n` +
      `ceiling: plain undici GET live_status, ${CONCURRENCY} in flight\n` +
      `  GETs/s         ${ceiling.toFixed(1)}\n`,
  );

  await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
  await admin.disconnect();
  await sim.stop();
}

async function totals(metrics: Awaited<ReturnType<typeof startPoller>>['metrics']) {
  const sum = async (metric: { get(): Promise<{ values: Array<{ value: number }> }> }) =>
    (await metric.get()).values.reduce((total, value) => total + value.value, 0);
  return {
    polls: await sum(metrics.polls),
    requests: await sum(metrics.requests),
    records: await sum(metrics.recordsProduced),
    missed: await sum(metrics.missedCycles),
  };
}

/** GETs per second a bare pool sustains against the simulator (with a valid token). */
async function plainGetCeiling(simUrl: string, siteId: string, seconds: number): Promise<number> {
  const pool = new Pool(simUrl, { connections: CONCURRENCY });
  const token = await simToken(simUrl);
  const path = `/tesla/api/1/energy_sites/${siteId}/live_status`;
  let count = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const res = await pool.request({
        method: 'GET',
        path,
        headers: { authorization: `Bearer ${token}` },
      });
      await res.body.text();
      count += 1;
    }
  };
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - startedAt) / 1000;
  await pool.close();
  return count / elapsed;
}

async function simToken(simUrl: string): Promise<string> {
  const accounts = (await (
    await fetch(`${simUrl}/_sim/accounts?oem=tesla&limit=1`)
  ).json()) as Array<{
    clientId: string;
    refreshToken: string;
  }>;
  const account = accounts[0]!;
  const res = await fetch(`${simUrl}/tesla/oauth2/v3/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: account.clientId,
      refresh_token: account.refreshToken,
    }).toString(),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/poller: ${String(err)}\n`);
  process.exit(1);
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { startSimulator } from '../services/oem-simulator/simulator';
import type { SimAccount } from '../services/oem-simulator/types';

/**
 * OEM simulator figures: start time and memory of a large fleet, listing latency, and the
 * request rate one process sustains. Run: npx tsx bench/simulator.ts [sites] [touched]
 */
async function main(): Promise<void> {
  const sites = Number(process.argv[2] ?? 100_000);
  const touched = Number(process.argv[3] ?? 10_000);
  const half = Math.floor(sites / 2);

  const before = memory();
  const startedAt = performance.now();
  const sim = await startSimulator({ seed: 1, fleet: { tesla: sites - half, enphase: half } });
  const startMs = performance.now() - startedAt;
  const afterStart = memory();
  report('start', {
    sites,
    startMs: round(startMs),
    ...afterStart,
    heapDeltaMiB: round(afterStart.heapMiB - before.heapMiB),
  });

  const pool = new Pool(sim.url, { connections: 32, pipelining: 1 });
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const answer = await pool.request({ method: 'GET', path, headers });
    const text = await answer.body.text();
    return { status: answer.statusCode, text };
  };

  let t = performance.now();
  const last = await get(`/_sim/accounts?offset=${sites - 1}&limit=1`);
  report('last account via /_sim/accounts', {
    ms: round(performance.now() - t),
    status: last.status,
  });

  t = performance.now();
  let all: SimAccount[] | null = sim.accounts();
  report('accounts() in-process', { accounts: all.length, ms: round(performance.now() - t) });
  const stride = Math.max(1, Math.floor(all.length / touched));
  const chosen = all.filter((_, i) => i % stride === 0).slice(0, touched);
  all = null; // the bench's own copy of 100k accounts would dominate the heap figures

  t = performance.now();
  const tokens = await mapConcurrent(chosen, 64, (account) => refresh(pool, account));
  const loginMs = performance.now() - t;
  report('token refreshes', {
    count: chosen.length,
    perSecond: round((chosen.length / loginMs) * 1000),
  });

  t = performance.now();
  let errors = 0;
  await mapConcurrent(chosen, 64, async (account, i) => {
    const answer = await get(dataPath(account), authHeaders(account, tokens[i]!));
    if (answer.status !== 200) errors += 1;
  });
  const firstMs = performance.now() - t;
  report('first read of each device (materializes its state)', {
    count: chosen.length,
    perSecond: round((chosen.length / firstMs) * 1000),
    errors,
    ...memory(),
  });

  const rounds = 3;
  t = performance.now();
  for (let r = 0; r < rounds; r += 1) {
    await mapConcurrent(chosen, 64, (account, i) =>
      get(dataPath(account), authHeaders(account, tokens[i]!)),
    );
  }
  const steadyMs = performance.now() - t;
  report('steady reads', {
    requests: chosen.length * rounds,
    perSecond: round(((chosen.length * rounds) / steadyMs) * 1000),
  });

  t = performance.now();
  await mapConcurrent(Array.from({ length: 5000 }), 64, () => get('/healthz'));
  report('simulator /healthz', {
    requests: 5000,
    perSecond: round((5000 / (performance.now() - t)) * 1000),
  });
  await pool.close();
  await sim.stop();

  report('ceiling: plain node:http, same client', {
    perSecond: round(await plainHttpCeiling(5000)),
  });
}

/** Requests per second of a bare node:http server answering "ok", for scale. */
async function plainHttpCeiling(requests: number): Promise<number> {
  const server = createServer((_req, res) => res.writeHead(200).end('ok\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32 });
  const started = performance.now();
  await mapConcurrent(Array.from({ length: requests }), 64, async () => {
    const answer = await pool.request({ method: 'GET', path: '/' });
    await answer.body.text();
  });
  const perSecond = (requests / (performance.now() - started)) * 1000;
  await pool.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return perSecond;
}

function dataPath(account: SimAccount): string {
  const id = account.siteIds[0];
  return account.oem === 'tesla'
    ? `/tesla/api/1/energy_sites/${id}/live_status`
    : `/enphase/api/v4/systems/${id}/latest_telemetry?key=${account.apiKey}`;
}

function authHeaders(_account: SimAccount, token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function refresh(pool: Pool, account: SimAccount): Promise<string> {
  const answer =
    account.oem === 'tesla'
      ? await pool.request({
          method: 'POST',
          path: '/tesla/oauth2/v3/token',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            grant_type: 'refresh_token',
            client_id: account.clientId,
            refresh_token: account.refreshToken,
          }),
        })
      : await pool.request({
          method: 'POST',
          path: `/enphase/oauth/token?grant_type=refresh_token&refresh_token=${account.refreshToken}`,
          headers: {
            authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString('base64')}`,
          },
        });
  const body = (await answer.body.json()) as { access_token: string };
  return body.access_token;
}

async function mapConcurrent<T, R>(
  items: T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}

function memory() {
  global.gc?.();
  const usage = process.memoryUsage();
  return { rssMiB: round(usage.rss / 2 ** 20), heapMiB: round(usage.heapUsed / 2 ** 20) };
}

function report(step: string, figures: Record<string, number | string>): void {
  process.stdout.write(`${step.padEnd(52)} ${JSON.stringify(figures)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${String(err)}\n`);
  process.exit(1);
});

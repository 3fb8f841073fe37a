import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetricsRegistry } from '../common/metrics';
import { listAccounts } from './accounts';
import type { ApiContext, OemApp, Reply, SimRequest } from './api-context';
import { createBatteryModel } from './battery-model';
import { createControlApi } from './control-api';
import { createEnphaseApi } from './enphase-api';
import { createSimulatorError, SimulatorErrorCode } from './errors';
import { createFaultInjector } from './faults';
import { createFleet, MAX_ACCOUNTS_PER_OEM, parseAccountId } from './fleet';
import { createSimulatorMetrics } from './metrics';
import { fakeHex } from './random';
import { createStatsRecorder } from './stats';
import { createTeslaApi } from './tesla-api';
import { createTokenAuthority } from './tokens';
import type { SimulatorHandle, SimulatorOptions } from './types';

export type * from './types';
export { FAULT_KINDS } from './types';

export const SIMULATOR_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  seed: 1,
  tesla: 5,
  enphase: 5,
  tokenTtlSeconds: 3600,
  offlineRate: 0,
  churnRate: 0,
  lifecycleTickMs: 60_000,
});

/**
 * Starts the simulated OEM clouds on one HTTP port: /tesla, /enphase, /_sim, /metrics, /healthz.
 * Nothing is precomputed per site, so start-up time and memory do not grow with the fleet.
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const settings = validateOptions(options);
  const clock = options.clock ?? Date.now;
  let advancedMs = 0;
  const now = () => clock() + advancedMs;

  const registry = createMetricsRegistry('oem-simulator');
  const stats = createStatsRecorder(createSimulatorMetrics(registry));
  const context: ApiContext = {
    seed: settings.seed,
    fleet: createFleet({
      seed: settings.seed,
      counts: { tesla: settings.tesla, enphase: settings.enphase },
      startedAt: now(),
      lifecycleTickMs: settings.lifecycleTickMs,
      offlineRate: settings.offlineRate,
      churnRate: settings.churnRate,
    }),
    model: createBatteryModel(settings.seed),
    tokens: createTokenAuthority({
      seed: settings.seed,
      tokenTtlSeconds: settings.tokenTtlSeconds,
    }),
    faults: createFaultInjector(settings.seed, options.faults ?? {}),
    apps: createApps(settings.seed),
    now,
    recordFault: (oem, kind) => stats.recordFault(oem, kind),
  };

  const advance = (ms: number) => {
    advancedMs += ms;
  };
  const truth = (filter: { oem?: 'tesla' | 'enphase'; accountId?: string } = {}) => {
    const account = filter.accountId ? parseAccountId(filter.accountId) : null;
    const oem = account?.oem ?? filter.oem;
    const devices = context.fleet.truth(now(), { oem, accountIndex: account?.accountIndex });
    return {
      now: now(),
      startedAt: context.fleet.startedAt,
      lifecycleTickMs: context.fleet.lifecycleTickMs,
      devices,
    };
  };

  const tesla = createTeslaApi(context);
  const enphase = createEnphaseApi(context);
  const control = createControlApi(context, { stats, advance, truth });
  const pendingTimers = new Set<NodeJS.Timeout>();

  const route = async (request: SimRequest): Promise<Reply> => {
    const { path } = request;
    if (path === '/tesla' || path.startsWith('/tesla/')) return tesla(request);
    if (path === '/enphase' || path.startsWith('/enphase/')) return enphase(request);
    if (path.startsWith('/_sim/')) return control(request);
    if (path === '/metrics') {
      return {
        oem: 'sim',
        endpoint: 'metrics',
        status: 200,
        body: null,
        text: await registry.metrics(),
        headers: { 'content-type': registry.contentType },
      };
    }
    if (path === '/healthz') {
      return { oem: 'sim', endpoint: 'healthz', status: 200, body: null, text: 'ok\n' };
    }
    return { oem: 'sim', endpoint: 'unknown', status: 404, body: { message: 'not found' } };
  };

  const server = createServer((req, res) => {
    handleRequest(req, res, route).then(
      (reply) => {
        stats.recordRequest(reply.oem, reply.endpoint, reply.status);
        send(res, reply, pendingTimers);
      },
      (err: unknown) => {
        stats.recordRequest('sim', 'internal', 500);
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'simulator error', details: String(err) }));
      },
    );
  });
  // Benchmarks hold many keep-alive connections; do not let Node's defaults cut them short.
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl =
    settings.host === '0.0.0.0' || settings.host === '::' ? '127.0.0.1' : settings.host;

  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    accounts: () => listAccounts(context, now()),
    stats: () => stats.snapshot(),
    setFaults: (faults) => context.faults.configure(faults),
    truth,
    advance,
    now,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const timer of pendingTimers) clearTimeout(timer);
        pendingTimers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  route: (request: SimRequest) => Promise<Reply>,
): Promise<Reply> {
  const url = new URL(req.url ?? '/', 'http://simulator');
  const raw = await readBody(req);
  res.on('error', () => {
    // The client went away (e.g. it timed out on a slow answer); nothing left to do.
  });
  return route({
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    body: parseBody(raw, req.headers['content-type']),
  });
}

function send(res: ServerResponse, reply: Reply, pendingTimers: Set<NodeJS.Timeout>): void {
  const write = () => {
    if (res.destroyed) return;
    let payload = reply.text ?? JSON.stringify(reply.body);
    if (reply.truncate) payload = payload.slice(0, Math.floor(payload.length / 2));
    const headers: Record<string, string | number> = {
      'content-type': reply.text === undefined ? 'application/json; charset=utf-8' : 'text/plain',
      ...reply.headers,
      'content-length': Buffer.byteLength(payload),
    };
    res.writeHead(reply.status, headers);
    res.end(payload);
  };
  if (!reply.delayMs) {
    write();
    return;
  }
  const timer = setTimeout(() => {
    pendingTimers.delete(timer);
    write();
  }, reply.delayMs);
  pendingTimers.add(timer);
  res.on('close', () => {
    clearTimeout(timer);
    pendingTimers.delete(timer);
  });
}

const MAX_BODY_BYTES = 1_000_000;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw));
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    // A body that is not JSON is treated as absent; the route answers 400 for what it misses.
    return undefined;
  }
}

function createApps(seed: number): Record<'tesla' | 'enphase', OemApp> {
  const uuid = (hex: string) =>
    `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  return {
    tesla: {
      clientId: uuid(fakeHex(32, seed, 0xa1)),
      clientSecret: `ta-secret.${fakeHex(32, seed, 0xa2)}`,
      apiKey: '',
    },
    enphase: {
      clientId: fakeHex(32, seed, 0xb1),
      clientSecret: fakeHex(32, seed, 0xb2),
      apiKey: fakeHex(32, seed, 0xb3),
    },
  };
}

function validateOptions(options: SimulatorOptions) {
  const settings = {
    port: options.port ?? 0,
    host: options.host ?? SIMULATOR_DEFAULTS.host,
    seed: options.seed ?? SIMULATOR_DEFAULTS.seed,
    tesla: options.fleet?.tesla ?? SIMULATOR_DEFAULTS.tesla,
    enphase: options.fleet?.enphase ?? SIMULATOR_DEFAULTS.enphase,
    tokenTtlSeconds: options.tokenTtlSeconds ?? SIMULATOR_DEFAULTS.tokenTtlSeconds,
    offlineRate: options.offlineRate ?? SIMULATOR_DEFAULTS.offlineRate,
    churnRate: options.churnRate ?? SIMULATOR_DEFAULTS.churnRate,
    lifecycleTickMs: options.lifecycleTickMs ?? SIMULATOR_DEFAULTS.lifecycleTickMs,
  };
  const problems: string[] = [];
  const isCount = (n: number) => Number.isInteger(n) && n >= 0 && n <= MAX_ACCOUNTS_PER_OEM;
  const isRate = (n: number) => Number.isFinite(n) && n >= 0 && n <= 1;
  if (!Number.isInteger(settings.port) || settings.port < 0 || settings.port > 65535)
    problems.push('port');
  if (!Number.isSafeInteger(settings.seed)) problems.push('seed');
  if (!isCount(settings.tesla)) problems.push('fleet.tesla');
  if (!isCount(settings.enphase)) problems.push('fleet.enphase');
  if (!(settings.tokenTtlSeconds > 0)) problems.push('tokenTtlSeconds');
  if (!isRate(settings.offlineRate)) problems.push('offlineRate');
  if (!isRate(settings.churnRate)) problems.push('churnRate');
  if (!(settings.lifecycleTickMs >= 1000)) problems.push('lifecycleTickMs');
  if (problems.length > 0) {
    throw createSimulatorError(
      SimulatorErrorCode.optionsInvalid,
      `invalid simulator options: ${problems.join(', ')} (counts 0..${MAX_ACCOUNTS_PER_OEM}, rates 0..1, lifecycleTickMs >= 1000)`,
      { keys: problems },
    );
  }
  return settings;
}

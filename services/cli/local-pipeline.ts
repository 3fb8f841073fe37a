import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { createAvroSerde, type AvroSerde } from '../common/avro';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../common/config';
import { createKafka } from '../common/kafka';
import {
  ENCRYPTED_FORMAT_PREFIX,
  parseCredentialsKey,
  type CredentialsKey,
} from '../common/credentials-crypto';
import { createLogger } from '../common/logger';
import { resolveTopics } from '../common/topics';
import { createDestinationManager } from '../dispatcher/destinations';
import { FAULT_KINDS } from '../oem-simulator/types';
import { POLLER_DEFAULTS } from '../poller/config';
import type { ConnectionRecord } from '../poller/connection';
import { createConnectionWriter, readAllConnections } from '../poller/connection-store';
import { fetchSimulatorConnections } from '../poller/connection-registration';
import { createServiceProcess, stopLeftoverService, type ServiceProcess } from './service-process';
import { gridpulseHome } from '../common/gridpulse-home';

/** The services `gridpulse start` can run, in start order (consumers before producers). */
export const PIPELINE_SERVICES = [
  'oem-simulator',
  'webhook-receiver',
  'differ',
  'dispatcher',
  'admin-api',
  'poller',
] as const;
export type PipelineService = (typeof PIPELINE_SERVICES)[number];

export const PIPELINE_PORTS = Object.freeze({
  'oem-simulator': 8090,
  'webhook-receiver': 8099,
  poller: 9401,
  differ: 9402,
  dispatcher: 9403,
  'admin-api': 9404,
} satisfies Record<PipelineService, number>);

/** The admin API's own port; PIPELINE_PORTS holds its metrics port. */
export const ADMIN_API_PORT = 8088;

/** The highest `--port-base`: every port must stay at most 65535. */
export const MAX_PORT_SHIFT = 65_535 - Math.max(ADMIN_API_PORT, ...Object.values(PIPELINE_PORTS));

/** Every default port moved up by `shift` (`gridpulse start --port-base`). */
export function shiftPorts(shift: number): {
  ports: Record<PipelineService, number>;
  adminApiPort: number;
} {
  const entries = Object.entries(PIPELINE_PORTS).map(([name, port]) => [name, port + shift]);
  return {
    ports: Object.fromEntries(entries) as Record<PipelineService, number>,
    adminApiPort: ADMIN_API_PORT + shift,
  };
}

export interface PipelineOptions {
  services: readonly PipelineService[];
  fleet: { tesla: number; enphase: number };
  pollIntervalSeconds: number;
  /** Fraction of OEM requests the simulator fails on purpose (429, 5xx, timeouts, …). */
  faultRate: number;
  /** Fraction of devices the simulator takes offline (per lifecycle tick). */
  offlineRate: number;
  seed: number;
  /** Environment for every service: Kafka, registry, topic prefix, log level. */
  env: NodeJS.ProcessEnv;
  logDir: string;
  ports?: Partial<Record<PipelineService, number>>;
  adminApiPort?: number;
  /** Extra environment per service, over `env` (tests tighten timings with it). */
  serviceEnv?: Partial<Record<PipelineService, NodeJS.ProcessEnv>>;
  /**
   * Hears every exit of a service from the moment it was first ready, while the others are
   * still starting too, unless the pipeline's stop() asked for it. A service that exits before
   * it was first ready fails the start instead.
   */
  onServiceExit?: (exit: ServiceExit) => void;
  /**
   * Aborting it ends the launch once the step under way is done: what started stops (as in
   * stop()) and the start rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

export interface ServiceExit {
  name: PipelineService;
  service: ServiceProcess;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Starts it again; resolves false without starting it once the pipeline is stopping. */
  restart(): Promise<boolean>;
}

export interface LocalPipeline {
  readonly processes: ReadonlyMap<PipelineService, ServiceProcess>;
  readonly receiverUrl: string;
  /** The admin API's URL and one API key per workspace of the simulated fleet. */
  readonly adminApi: { url: string; keys: Array<{ workspaceId: string; key: string }> } | null;
  metricsUrl(service: PipelineService): string;
  stop(): Promise<void>;
}

/**
 * Each stage stops before the one it feeds (poller and admin API, then differ, then
 * dispatcher), so every stage finishes what it is handling and hands it on first.
 */
const STOP_ORDER: readonly PipelineService[] = [
  'poller',
  'admin-api',
  'differ',
  'dispatcher',
  'webhook-receiver',
  'oem-simulator',
];

/** Every fault but `slow`, whose long stalls would make the demo look stuck. */
const DEMO_FAULT_KINDS = FAULT_KINDS.filter((kind) => kind !== 'slow');

const DEMO_DESTINATION_DESCRIPTION = 'gridpulse start: the example receiver';

/**
 * Runs the pipeline on one machine, each service as its own process (as in production):
 * simulator, connections registered from it, the example receiver registered as a destination,
 * then differ, dispatcher and poller. `onStep` hears one line per step.
 */
export async function startLocalPipeline(
  options: PipelineOptions,
  onStep: (line: string) => void = () => undefined,
): Promise<LocalPipeline> {
  const ports = { ...PIPELINE_PORTS, ...options.ports };
  const adminApiPort = options.adminApiPort ?? ADMIN_API_PORT;
  const enabled = new Set(options.services);

  // Before anything starts: a port another process holds would answer our readiness checks
  // with its own replies while the service meant for it dies of EADDRINUSE.
  for (const name of options.services) {
    await stopLeftoverService(options.logDir, name, entryOf(name));
  }
  await requireFreePorts(options.services, ports, adminApiPort);
  options.signal?.throwIfAborted();

  const processes = new Map<PipelineService, ServiceProcess>();
  const simulatorUrl = `http://127.0.0.1:${ports['oem-simulator']}`;
  const receiverUrl = `http://127.0.0.1:${ports['webhook-receiver']}/webhooks`;
  const spawnService = (name: PipelineService, env: NodeJS.ProcessEnv, readyPath: string) =>
    createServiceProcess({
      name,
      entry: entryOf(name),
      env: { ...options.env, ...env, ...options.serviceEnv?.[name] },
      readyUrl: `http://127.0.0.1:${ports[name]}${readyPath}`,
      logDir: options.logDir,
    });

  let adminApi: LocalPipeline['adminApi'] = null;
  // workspace → organization of the simulated accounts, for the admin API's records.
  const organizations = new Map<string, string>();
  const credentialsKey = loadOrCreateCredentialsKey(path.dirname(options.logDir));

  let isStopping = false;
  const stopAll = async () => {
    isStopping = true;
    for (const name of STOP_ORDER) await processes.get(name)?.stop();
  };
  // Attached as soon as the service is ready, not once all are: one may crash meanwhile.
  const superviseReady = (name: PipelineService, service: ServiceProcess) => {
    const restart = async () => {
      if (isStopping) return false;
      // As at the launch: another process on its port would pass for the restarted service.
      await requireFreePorts([name], ports, adminApiPort);
      await service.start();
      return true;
    };
    service.onExit((code, signal) => {
      if (!isStopping) options.onServiceExit?.({ name, service, code, signal, restart });
    });
  };

  try {
    if (enabled.has('oem-simulator')) {
      const simulator = spawnService(
        'oem-simulator',
        {
          SIM_PORT: String(ports['oem-simulator']),
          SIM_HOST: '127.0.0.1',
          SIM_SEED: String(options.seed),
          SIM_TESLA_SITES: String(options.fleet.tesla),
          SIM_ENPHASE_SYSTEMS: String(options.fleet.enphase),
          // The simulator's rate is per fault kind; the option is the share of all requests.
          SIM_FAULT_KINDS: DEMO_FAULT_KINDS.join(','),
          SIM_FAULT_RATE: String(options.faultRate / DEMO_FAULT_KINDS.length),
          SIM_OFFLINE_RATE: String(options.offlineRate),
        },
        '/healthz',
      );
      processes.set('oem-simulator', simulator);
      await simulator.start();
      superviseReady('oem-simulator', simulator);
      onStep(
        `oem-simulator: ${options.fleet.tesla} Tesla sites, ${options.fleet.enphase} Enphase systems on ${simulatorUrl}`,
      );
      options.signal?.throwIfAborted();

      const { connections, removed } = await registerSimulatorConnections(
        options.env,
        simulatorUrl,
        credentialsKey,
      );
      for (const { workspaceId, organizationId } of connections)
        organizations.set(workspaceId, organizationId);
      const removedNote = removed > 0 ? `; ${removed} of an earlier demo fleet removed` : '';
      onStep(`connections: ${connections.length} registered on connections.v1${removedNote}`);
      options.signal?.throwIfAborted();
    }

    if (enabled.has('webhook-receiver')) {
      const secrets = await ensureDemoDestination(options.env, receiverUrl);
      const receiver = spawnService(
        'webhook-receiver',
        { RECEIVER_PORT: String(ports['webhook-receiver']), RECEIVER_SECRETS: secrets.join(',') },
        '/summary',
      );
      processes.set('webhook-receiver', receiver);
      await receiver.start();
      superviseReady('webhook-receiver', receiver);
      onStep(`webhook-receiver: ${receiverUrl}, registered as a destination`);
      options.signal?.throwIfAborted();
    }

    const interval = String(options.pollIntervalSeconds);
    const workspaces = organizations.size > 0 ? [...organizations.keys()] : ['demo'];
    const adminKeys = workspaces.map((workspaceId) => ({
      workspaceId,
      key: `gpk_${randomBytes(18).toString('base64url')}`,
    }));
    const serviceEnv: Record<'differ' | 'dispatcher' | 'admin-api' | 'poller', NodeJS.ProcessEnv> =
      {
        differ: { METRICS_PORT: String(ports.differ) },
        dispatcher: {
          METRICS_PORT: String(ports.dispatcher),
          DISPATCHER_ALLOW_PRIVATE_URLS: 'true',
        },
        'admin-api': {
          METRICS_PORT: String(ports['admin-api']),
          ADMIN_API_PORT: String(adminApiPort),
          ADMIN_API_HOST: '127.0.0.1',
          ADMIN_API_KEYS: adminKeys
            .map(({ workspaceId, key }) => `${workspaceId}:${sha256Hex(key)}`)
            .join(','),
          ADMIN_API_ORGANIZATIONS: [...organizations].map((pair) => pair.join(':')).join(','),
          ADMIN_API_ALLOW_PRIVATE_URLS: 'true',
          CREDENTIALS_ENCRYPTION_KEY: credentialsKey,
        },
        poller: {
          METRICS_PORT: String(ports.poller),
          CREDENTIALS_ENCRYPTION_KEY: credentialsKey,
          POLL_INTERVAL_TESLA_SECONDS: interval,
          POLL_INTERVAL_ENPHASE_SECONDS: interval,
          OEM_RATE_LIMIT_PER_SECOND: String(demoRateLimit(options)),
          TESLA_API_URL: `${simulatorUrl}/tesla`,
          TESLA_AUTH_URL: `${simulatorUrl}/tesla`,
          ENPHASE_API_URL: `${simulatorUrl}/enphase`,
          ENPHASE_AUTH_URL: `${simulatorUrl}/enphase`,
        },
      };
    for (const name of ['differ', 'dispatcher', 'admin-api', 'poller'] as const) {
      if (!enabled.has(name)) continue;
      const service = spawnService(name, serviceEnv[name], '/readyz');
      processes.set(name, service);
      await service.start();
      superviseReady(name, service);
      onStep(`${name}: ready, metrics on http://127.0.0.1:${ports[name]}/metrics`);
      options.signal?.throwIfAborted();
    }
    if (enabled.has('admin-api')) {
      adminApi = {
        url: `http://127.0.0.1:${adminApiPort}`,
        keys: adminKeys,
      };
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  return {
    processes,
    receiverUrl,
    adminApi,
    metricsUrl: (service) => `http://127.0.0.1:${ports[service]}/metrics`,
    stop: stopAll,
  };
}

function entryOf(name: PipelineService): string {
  return `services/${name}/main.ts`;
}

/** Fails naming the first port of `services` that another process holds. */
async function requireFreePorts(
  services: readonly PipelineService[],
  ports: Record<PipelineService, number>,
  adminApiPort: number,
): Promise<void> {
  for (const { port, host, what } of listeningPorts(services, ports, adminApiPort)) {
    if (port !== 0 && !(await isPortFree(port, host))) {
      throw new Error(
        `port ${port} (${what}) is in use by another process; stop it, ` +
          "or move the pipeline's ports with --port-base",
      );
    }
  }
}

/** The ports each service listens on, on the host it binds (metrics: every interface). */
function listeningPorts(
  services: readonly PipelineService[],
  ports: Record<PipelineService, number>,
  adminApiPort: number,
): Array<{ port: number; host: string; what: string }> {
  return services.flatMap((name) => {
    if (name === 'oem-simulator' || name === 'webhook-receiver')
      return [{ port: ports[name], host: '127.0.0.1', what: name }];
    const metrics = { port: ports[name], host: '0.0.0.0', what: `${name} metrics` };
    if (name !== 'admin-api') return [metrics];
    return [{ port: adminApiPort, host: '127.0.0.1', what: 'admin API' }, metrics];
  });
}

/** Whether this process could listen on `port` (then lets it go again at once). */
function isPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Where `gridpulse start` writes each service's log, beside the stack's own logs. */
export function defaultLogDir(): string {
  return path.join(gridpulseHome(), 'run/pipeline/logs');
}

/**
 * Written encrypted under the pipeline's key, as the admin API writes them. The demo's own
 * connections of an earlier, larger fleet are deleted (tombstones, as `remove` writes): the
 * simulator no longer has those accounts, so every poll of them would fail.
 */
async function registerSimulatorConnections(
  env: NodeJS.ProcessEnv,
  simulatorUrl: string,
  credentialsKey: string,
) {
  const config = toConnectivityConfig(parseEnv(baseEnvSchema, env), 'cli');
  const kafka = createKafka(config, createLogger({ service: 'cli', level: 'error' }));
  const serde = createAvroSerde(config);
  const topic = resolveTopics(config.topicPrefix)['connections.v1'];
  const key = {
    id: POLLER_DEFAULTS.CREDENTIALS_ENCRYPTION_KEY_ID,
    key: parseCredentialsKey(credentialsKey)!,
  };
  const connections = await fetchSimulatorConnections(simulatorUrl);
  const current = new Set(connections.map((connection) => connection.connectionId));
  const stale = [...(await findDemoConnectionIds(kafka, serde, topic, key))].filter(
    (connectionId) => !current.has(connectionId),
  );

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const writer = createConnectionWriter({ producer, serde, topic, credentialsKey: key });
    for (const connection of connections) await writer.put(connection);
    for (const connectionId of stale) await writer.remove(connectionId);
    return { connections, removed: stale.length };
  } finally {
    await producer.disconnect();
  }
}

/**
 * Connections carry no OEM URL (each poller has its own), so "the demo's own" is what only
 * `gridpulse start` writes: a simulator account's id (`sim-tesla-acct-000001`) with credentials
 * encrypted under the pipeline's key. Anything else, such as an account a user registered
 * against a real OEM or `connections add --from-simulator` without that key, is left alone.
 */
async function findDemoConnectionIds(
  kafka: ReturnType<typeof createKafka>,
  serde: AvroSerde,
  topic: string,
  credentialsKey: CredentialsKey,
): Promise<Set<string>> {
  const formats = new Map<string, string>();
  const recordingSerde: AvroSerde = {
    ...serde,
    async decode<T>(buffer: Buffer): Promise<T> {
      const record = await serde.decode<ConnectionRecord>(buffer);
      formats.set(record.connectionId, record.credentialsFormat);
      return record as T;
    },
  };
  const existing = await readAllConnections({
    kafka,
    serde: recordingSerde,
    topic,
    credentialsKey,
    // Another key's records, or unreadable ones: not the demo's, so not ours to delete.
    onInvalid: () => undefined,
  });
  const ownFormat = `${ENCRYPTED_FORMAT_PREFIX}${credentialsKey.id}`;
  return new Set(
    [...existing.keys()].filter(
      (connectionId) =>
        SIMULATOR_CONNECTION_ID.test(connectionId) && formats.get(connectionId) === ownFormat,
    ),
  );
}

/** What connectionFromSimAccount makes of the simulator's account ids. */
const SIMULATOR_CONNECTION_ID = /^sim-(tesla|enphase)-acct-\d{6}$/;

/**
 * The receiver's destination, created on the first run and reused afterwards (its secrets
 * live on destinations.v1), so restarting the demo does not pile up destinations.
 */
async function ensureDemoDestination(env: NodeJS.ProcessEnv, url: string): Promise<string[]> {
  const config = toConnectivityConfig(parseEnv(baseEnvSchema, env), 'cli');
  const kafka = createKafka(config, createLogger({ service: 'cli', level: 'error' }));
  const destinations = createDestinationManager({
    kafka,
    serde: createAvroSerde(config),
    topics: resolveTopics(config.topicPrefix),
    groupPrefix: config.topicPrefix,
    allowPrivateUrls: true,
    secretOverlapMs: 24 * 60 * 60 * 1000,
  });
  try {
    const existing = (await destinations.list()).find((d) => d.url === url && d.enabled);
    const destination =
      existing ?? (await destinations.create({ url, description: DEMO_DESTINATION_DESCRIPTION }));
    return destination.secrets.map((secret) => secret.secret);
  } finally {
    await destinations.close();
  }
}

/**
 * The key that encrypts connection credentials at rest, made once and kept beside the logs
 * (mode 0600): restarting the demo must still decrypt what earlier runs stored.
 */
function loadOrCreateCredentialsKey(dir: string): string {
  const file = path.join(dir, 'credentials.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * The vendors' limits are what the default guards; the simulator has none, and the demo polls
 * every few seconds: a cycle takes about 3 requests per Tesla site and 5 per Enphase system,
 * so with the default 20/s a few hundred accounts could not finish a cycle per interval.
 */
function demoRateLimit(options: PipelineOptions): number {
  const perInterval = Math.max(options.fleet.tesla * 3, options.fleet.enphase * 5);
  const needed = Math.ceil((2 * perInterval) / options.pollIntervalSeconds);
  return Math.max(20, needed); // never below the poller's own default, 20/s
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The receiver's own count of what it verified and accepted. */
export async function fetchReceiverSummary(receiverUrl: string): Promise<{
  received: number;
  duplicates: number;
  rejected: number;
  byType: Record<string, number>;
}> {
  const response = await request(receiverUrl.replace(/\/webhooks$/, '/summary'));
  return (await response.body.json()) as Awaited<ReturnType<typeof fetchReceiverSummary>>;
}

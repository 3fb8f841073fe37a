/**
 * Public types of the OEM simulator. The poller and its tests import these; keep them stable
 * (README.md documents the same contract).
 */

export type SimOem = 'tesla' | 'enphase';

export const FAULT_KINDS = [
  'expiredToken',
  'rateLimit',
  'serverError',
  'offline',
  'slow',
  'malformedJson',
  'missingFields',
  'otherUnits',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probability 0..1 per request for each kind; at most one fault is injected per request. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface FaultConfig {
  tesla?: FaultRates;
  enphase?: FaultRates;
  /** Keyed by gridpulse device id (`tesla:<energy_site_id>`, `enphase:<system_id>`). */
  devices?: Record<string, FaultRates>;
  /** Delay of a `slow` response. Default 15 000 ms. */
  slowDelayMs?: number;
  /** `Retry-After` of a `rateLimit` response, seconds. Default 1. */
  retryAfterSeconds?: number;
}

export interface SimAddress {
  streetAddress1: string;
  city: string;
  state: string;
  postalCode: string;
  country: string;
}

export interface SimAccount {
  oem: SimOem;
  accountId: string;
  clientId: string;
  clientSecret: string;
  /** Enphase only: the application's API key, sent as `?key=`. */
  apiKey?: string;
  /** The currently valid refresh token (single-use: each refresh rotates it). */
  refreshToken: string;
  /** OEM site ids currently listed (Tesla energy_site_id, Enphase system_id), as strings. */
  siteIds: string[];
  customer: { id: string; email: string; firstName: string; lastName: string; phone: string };
  site: { id: string; name: string; address: SimAddress; latitude: number; longitude: number };
  workspaceId: string;
  organizationId: string;
}

export interface SimRequestCount {
  oem: SimOem | 'sim';
  endpoint: string;
  status: number;
  count: number;
}

export interface SimStats {
  requests: SimRequestCount[];
  /** Injected faults by kind, both OEMs together. */
  faults: Record<FaultKind, number>;
  faultsByOem: Record<SimOem, Record<FaultKind, number>>;
}

export interface SimTruthDevice {
  oem: SimOem;
  accountId: string;
  /** `tesla:<energy_site_id>` / `enphase:<system_id>`. */
  deviceId: string;
  /** The OEM's site id (energy_site_id / system_id) as a string. */
  oemDeviceId: string;
  /** The battery's serial (Tesla `components.batteries[0].serial_number`, Enphase encharge). */
  batterySerial: string;
  /** Epoch ms (simulated clock). */
  addedAt: number;
  removedAt: number | null;
  offline: Array<{ from: number; to: number | null }>;
}

export interface SimTruth {
  now: number;
  startedAt: number;
  lifecycleTickMs: number;
  devices: SimTruthDevice[];
}

export interface SimulatorOptions {
  /** 0 picks a free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  seed?: number;
  fleet?: { tesla?: number; enphase?: number };
  tokenTtlSeconds?: number;
  faults?: FaultConfig;
  /** Probability per lifecycle tick that a device is offline during that tick. Default 0. */
  offlineRate?: number;
  /** Probability per lifecycle tick that a device is replaced by a new one. Default 0. */
  churnRate?: number;
  /** Length of a lifecycle tick. Default 60 000 ms. */
  lifecycleTickMs?: number;
  /** The simulated clock's source; `/_sim/advance` adds to it. Default Date.now. */
  clock?: () => number;
}

export interface SimulatorHandle {
  url: string;
  port: number;
  accounts(): SimAccount[];
  stats(): SimStats;
  setFaults(faults: FaultConfig): void;
  truth(filter?: { oem?: SimOem; accountId?: string }): SimTruth;
  /** Moves the simulated clock forward. */
  advance(ms: number): void;
  /** The simulated clock, epoch ms. */
  now(): number;
  stop(): Promise<void>;
}

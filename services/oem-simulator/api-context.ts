import type { BatteryModel } from './battery-model';
import type { FaultInjector } from './faults';
import type { Fleet } from './fleet';
import type { StatsRecorder } from './stats';
import type { TokenAuthority } from './tokens';
import { FAULT_KINDS, type FaultKind, type SimOem } from './types';

/** What the simulator's HTTP layer hands to a route: a parsed request. */
export interface SimRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** JSON or form body, parsed; undefined when empty or unparseable. */
  body: unknown;
}

/** What a route answers; the HTTP layer serializes it and applies delay and truncation. */
export interface Reply {
  oem: SimOem | 'sim';
  /** Bounded endpoint name for stats and metrics (never an id). */
  endpoint: string;
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Raw text body (e.g. Prometheus), sent as is instead of JSON. */
  text?: string;
  /** `slow` fault: answer after this delay. */
  delayMs?: number;
  /** `malformedJson` fault: cut the serialized body in half. */
  truncate?: boolean;
}

/** The app-level OAuth client every account of an OEM shares, as with a real integration. */
export interface OemApp {
  clientId: string;
  clientSecret: string;
  apiKey: string;
}

export interface ApiContext {
  seed: number;
  fleet: Fleet;
  model: BatteryModel;
  tokens: TokenAuthority;
  faults: FaultInjector;
  apps: Record<SimOem, OemApp>;
  now(): number;
  recordFault(oem: SimOem, kind: FaultKind): void;
}

/** Fault kinds by the kind of endpoint they make sense for: a read can get every kind. */
export const READ_FAULTS: readonly FaultKind[] = FAULT_KINDS;
export const LISTING_FAULTS = READ_FAULTS.filter((kind) => kind !== 'offline');
// A write's answer carries no readings to leave out or to give in other units.
export const WRITE_FAULTS = READ_FAULTS.filter(
  (kind) => kind !== 'missingFields' && kind !== 'otherUnits',
);

export function bearerToken(request: SimRequest): string | null {
  const header = request.headers.authorization;
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer\s+(\S+)$/i.exec(value ?? '');
  return match?.[1] ?? null;
}

/** Local ISO time with the site's offset, like Tesla's `2024-05-12T00:18:19-07:00`. */
export function toLocalIso(epochMs: number, utcOffsetMinutes: number): string {
  const local = new Date(Math.floor(epochMs / 1000) * 1000 + utcOffsetMinutes * 60_000);
  const sign = utcOffsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(utcOffsetMinutes);
  const offset = `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
  return `${local.toISOString().slice(0, 19)}${offset}`;
}

export function roundTo(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

import type { DeviceState } from '../../common/device-state';
import { buildDeviceState, identityOf, type DeviceIdentity } from '../device-state';
import { isAbandoned } from '../errors';
import {
  enphaseIdentity,
  isEnphaseSystemOffline,
  normalizeEnphaseBattery,
  parseEnphaseSystems,
  type EnphaseSystem,
} from '../normalize-enphase';
import type { JsonObject } from '../oem-json';
import type { OemHttpClient, OemResponse } from '../oem-http';
import type { TokenManager } from '../token-manager';
import { authorizedGet } from './authorized-get';
import { recordDeviceFailure } from './device-failure';
import { expectOk } from './tesla';
import type { AdapterContext, AdapterCycle, OemAdapter } from './types';

const PAGE_SIZE = 100;
/** Guards against a listing whose `total` never matches what the pages return. */
const MAX_PAGES = 1_000;

/**
 * Enphase Monitoring API v4: the systems listing (paged), then per system latest_telemetry and
 * battery telemetry (the readings) plus battery_settings and storm_guard (settings; the last
 * good copy stands in when they fail). Every call carries `?key=<api key>` and the bearer.
 * A system with status "comm" is not reporting: Enphase still answers 200 with stale data.
 */
export function createEnphaseAdapter(options: {
  apiUrl: string;
  client: OemHttpClient;
  tokens: TokenManager;
  idleThresholdW: number;
}): OemAdapter {
  const base = `${options.apiUrl.replace(/\/$/, '')}/api/v4`;
  const lastSettings = new Map<string, JsonObject>();

  const get = (context: AdapterContext, path: string, query: Record<string, string> = {}) => {
    const apiKey = context.connection.credentials.apiKey ?? '';
    const params = new URLSearchParams({ ...query, key: apiKey });
    return authorizedGet({
      client: options.client,
      tokens: options.tokens,
      connectionId: context.connection.connectionId,
      url: `${base}${path}?${params.toString()}`,
      signal: context.signal,
    });
  };

  async function listSystems(context: AdapterContext): Promise<EnphaseSystem[]> {
    const systems: EnphaseSystem[] = [];
    for (let page = 1; page <= MAX_PAGES; page += 1) {
      const query = { page: String(page), size: String(PAGE_SIZE) };
      const body = expectOk(await get(context, '/systems', query), 'systems');
      const parsed = parseEnphaseSystems(body);
      systems.push(...parsed.systems);
      const isLastPage = parsed.systems.length < PAGE_SIZE;
      if (isLastPage || (parsed.total !== null && systems.length >= parsed.total)) break;
    }
    return systems;
  }

  async function pollSystem(context: AdapterContext, system: EnphaseSystem): Promise<DeviceState> {
    const identity = enphaseIdentity(system);
    if (isEnphaseSystemOffline(system, null)) {
      return buildDeviceState(context.connection, identity, 'OFFLINE', context.polledAt(), null);
    }

    const id = encodeURIComponent(system.systemId);
    const [latest, battery, settings, storm] = await Promise.allSettled([
      get(context, `/systems/${id}/latest_telemetry`),
      get(context, `/systems/${id}/telemetry/battery`),
      get(context, `/systems/config/${id}/battery_settings`),
      get(context, `/systems/config/${id}/storm_guard`),
    ]);
    const key = `${context.connection.connectionId}\u0000${system.systemId}`;
    const batterySettings = readSetting(context, `${key}\u0000settings`, settings);
    const stormGuard = readSetting(context, `${key}\u0000storm`, storm);

    const latestTelemetry = expectOk(settled(latest), 'latest_telemetry');
    const polledAt = context.polledAt();
    if (isEnphaseSystemOffline(system, latestTelemetry)) {
      return buildDeviceState(context.connection, identity, 'OFFLINE', polledAt, null);
    }
    return normalizeEnphaseBattery({
      connection: context.connection,
      system,
      latestTelemetry,
      batteryTelemetry: expectOk(settled(battery), 'telemetry/battery'),
      batterySettings,
      stormGuard,
      polledAt,
      idleThresholdW: options.idleThresholdW,
    });
  }

  function readSetting(
    context: AdapterContext,
    cacheKey: string,
    result: PromiseSettledResult<OemResponse>,
  ): JsonObject | null {
    try {
      const body = expectOk(settled(result), 'settings');
      lastSettings.set(cacheKey, body);
      return body;
    } catch (err) {
      if (isAbandoned(err)) throw err;
      context.logger.debug({ err }, 'settings unavailable, using last good copy');
      return lastSettings.get(cacheKey) ?? null;
    }
  }

  return {
    async poll(context) {
      const systems = await listSystems(context);
      const listed = new Map<string, DeviceIdentity>();
      const records: DeviceState[] = [];
      let failedDevices = 0;

      for (const system of systems) {
        const identity = enphaseIdentity(system);
        listed.set(identity.deviceId, identity);
        try {
          const record = await pollSystem(context, system);
          listed.set(identity.deviceId, identityOf(record));
          records.push(record);
        } catch (err) {
          if (isAbandoned(err)) throw err;
          failedDevices += 1;
          recordDeviceFailure(context, identity.deviceId, err);
        }
      }
      return { listed, records, failedDevices };
    },
  };
}

function settled(result: PromiseSettledResult<OemResponse>): OemResponse {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

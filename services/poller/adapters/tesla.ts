import type { DeviceState } from '../../common/device-state';
import { buildDeviceState, identityOf, type DeviceIdentity } from '../device-state';
import { GridpulseError } from '../../common/errors';
import { PollerErrorCode, isAbandoned } from '../errors';
import { parseJsonObject, unwrapTesla, type JsonObject } from '../oem-json';
import type { OemHttpClient, OemResponse } from '../oem-http';
import {
  normalizeTeslaLiveStatus,
  parseTeslaProducts,
  teslaIdentity,
  type TeslaSite,
} from '../normalize-tesla';
import type { TokenManager } from '../token-manager';
import { authorizedGet } from './authorized-get';
import { recordDeviceFailure } from './device-failure';
import type { AdapterContext, AdapterCycle, OemAdapter } from './types';

/**
 * Tesla Fleet API energy sites: the products listing, then per battery site live_status and
 * site_info. A 408 is Tesla's "device offline". site_info changes rarely (backup reserve,
 * storm mode setting), so when it fails the last good copy stands in for it.
 */
export function createTeslaAdapter(options: {
  apiUrl: string;
  client: OemHttpClient;
  tokens: TokenManager;
  idleThresholdW: number;
}): OemAdapter {
  const base = `${options.apiUrl.replace(/\/$/, '')}/api/1`;
  const lastSiteInfo = new Map<string, JsonObject>();

  const get = (context: AdapterContext, path: string) =>
    authorizedGet({
      client: options.client,
      tokens: options.tokens,
      connectionId: context.connection.connectionId,
      url: `${base}${path}`,
      signal: context.signal,
    });

  async function pollSite(context: AdapterContext, site: TeslaSite): Promise<DeviceState> {
    const sitePath = `/energy_sites/${encodeURIComponent(site.energySiteId)}`;
    const [live, info] = await Promise.allSettled([
      get(context, `${sitePath}/live_status`),
      get(context, `${sitePath}/site_info`),
    ]);

    const siteInfo = readSiteInfo(context, site, info);
    if (live.status === 'rejected') throw live.reason;
    const polledAt = context.polledAt();
    if (live.value.status === 408) {
      return buildDeviceState(
        context.connection,
        teslaIdentity(site.energySiteId, siteInfo),
        'OFFLINE',
        polledAt,
        null,
      );
    }
    const liveStatus = unwrapTesla(expectOk(live.value, 'live_status'), 'live_status');
    return normalizeTeslaLiveStatus({
      connection: context.connection,
      site,
      liveStatus,
      siteInfo,
      polledAt,
      idleThresholdW: options.idleThresholdW,
    });
  }

  function readSiteInfo(
    context: AdapterContext,
    site: TeslaSite,
    result: PromiseSettledResult<OemResponse>,
  ): JsonObject | null {
    const cacheKey = `${context.connection.connectionId}\u0000${site.energySiteId}`;
    try {
      if (result.status === 'rejected') throw result.reason;
      if (result.value.status === 408) return lastSiteInfo.get(cacheKey) ?? null;
      const info = unwrapTesla(expectOk(result.value, 'site_info'), 'site_info');
      lastSiteInfo.set(cacheKey, info);
      return info;
    } catch (err) {
      if (isAbandoned(err)) throw err;
      context.logger.debug({ err }, 'site_info unavailable, using last good copy');
      return lastSiteInfo.get(cacheKey) ?? null;
    }
  }

  return {
    async poll(context) {
      const listing = expectOk(await get(context, '/products'), 'products');
      const sites = parseTeslaProducts(listing);
      const listed = new Map<string, DeviceIdentity>();
      const records: DeviceState[] = [];
      let failedDevices = 0;

      for (const site of sites) {
        const deviceId = `tesla:${site.energySiteId}`;
        listed.set(deviceId, teslaIdentity(site.energySiteId, null));
        try {
          const record = await pollSite(context, site);
          listed.set(deviceId, identityOf(record));
          records.push(record);
        } catch (err) {
          if (isAbandoned(err)) throw err;
          failedDevices += 1;
          recordDeviceFailure(context, deviceId, err);
        }
      }
      return { listed, records, failedDevices };
    },
  };
}

/** A 2xx body as a JSON object; any other status is an error the caller counts. */
export function expectOk(response: OemResponse, what: string): JsonObject {
  if (response.status < 200 || response.status >= 300) {
    throw new GridpulseError(PollerErrorCode.oemHttpError, 'unexpected OEM status', {
      retriable: response.status >= 500,
      context: { what, status: response.status },
    });
  }
  return parseJsonObject(response.body, what);
}

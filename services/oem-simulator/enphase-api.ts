import {
  bearerToken,
  LISTING_FAULTS,
  READ_FAULTS,
  WRITE_FAULTS,
  type ApiContext,
  type Reply,
  type SimRequest,
} from './api-context';
import type { BatteryReading, OperationMode } from './battery-model';
import type { DeviceProfile, Home } from './fleet';
import { fakeHex } from './random';
import type { FaultKind } from './types';

/**
 * Enphase Monitoring API v4 subset under /enphase. Bodies follow the doc examples in
 * test/fixtures/oem/enphase (epoch seconds, W and Wh, `"97%"` strings, display-form modes).
 * A system that is not reporting still answers 200, with stale data: that is how Enphase shows it.
 */
export function createEnphaseApi(context: ApiContext): (request: SimRequest) => Reply {
  const { fleet, model, tokens, apps } = context;
  let serverErrors = 0;

  return (request) => {
    const path = request.path.slice('/enphase'.length);
    if (path === '/oauth/token') {
      return request.method === 'POST' ? handleToken(request) : methodNotAllowed('token');
    }
    if (path === '/api/v4/systems') {
      return request.method === 'GET' ? handleSystems(request) : methodNotAllowed('systems');
    }
    const route = matchSystemRoute(path);
    if (!route)
      return enphaseError('unknown', 404, 'Not Found', `No route matches ${request.method}`);
    const allowed = route.writable ? ['GET', 'PUT'] : ['GET'];
    if (!allowed.includes(request.method)) return methodNotAllowed(route.endpoint);
    return handleSystem(request, route.systemId, route.endpoint);
  };

  function handleToken(request: SimRequest): Reply {
    const endpoint = 'token';
    if (request.query.get('grant_type') !== 'refresh_token') {
      return { oem: 'enphase', endpoint, status: 400, body: { error: 'unsupported_grant_type' } };
    }
    const client = basicCredentials(request);
    if (client?.id !== apps.enphase.clientId || client.secret !== apps.enphase.clientSecret) {
      return { oem: 'enphase', endpoint, status: 401, body: { error: 'invalid_client' } };
    }
    const presented = request.query.get('refresh_token') ?? '';
    const outcome = tokens.refresh('enphase', presented, context.now());
    if (!outcome.ok) {
      const description =
        outcome.reason === 'reused'
          ? 'Invalid refresh token (already used)'
          : `Invalid refresh token`;
      return {
        oem: 'enphase',
        endpoint,
        status: 401,
        body: { error: 'invalid_grant', error_description: description },
      };
    }
    return {
      oem: 'enphase',
      endpoint,
      status: 200,
      body: {
        access_token: outcome.tokens.accessToken,
        token_type: 'bearer',
        refresh_token: outcome.tokens.refreshToken,
        expires_in: outcome.tokens.expiresInSeconds,
        scope: 'read write',
        enl_uid: String(200_000 + outcome.accountIndex),
        enl_cid: '5',
        enl_password_last_changed: '1638870641',
        is_internal_app: false,
        app_type: 'system',
        jti: fakeHex(32, context.seed, outcome.accountIndex, context.now()),
      },
    };
  }

  function handleSystems(request: SimRequest): Reply {
    const endpoint = 'systems';
    const auth = authenticate(request, endpoint);
    if ('status' in auth) return auth;
    const now = context.now();

    const applicable = LISTING_FAULTS.filter((kind) => kind !== 'otherUnits');
    const fault = drawFault(`enphase:acct:${auth.accountIndex}`, applicable);
    const faultReply = fault && errorFault(fault, endpoint);
    if (faultReply) return faultReply;

    const size = clampInt(request.query.get('size'), 10, 1, 100);
    const page = clampInt(request.query.get('page'), 1, 1, 1_000_000);
    const device = fleet.currentDevice('enphase', auth.accountIndex, now);
    const all = [systemEntry(device, fleet.home('enphase', auth.accountIndex), now)];
    const systems = all.slice((page - 1) * size, page * size);
    if (fault === 'missingFields') {
      for (const system of systems) dropKeys(system, ['status', 'last_report_at']);
    }
    const body = {
      total: all.length,
      current_page: page,
      size,
      count: systems.length,
      items: 'systems',
      systems,
    };
    return ok(endpoint, body, fault);
  }

  function handleSystem(request: SimRequest, systemId: number, endpoint: string): Reply {
    const auth = authenticate(request, endpoint);
    if ('status' in auth) return auth;
    const now = context.now();
    const device = fleet.resolveSite('enphase', systemId, now);
    if (device === null || device.accountIndex !== auth.accountIndex) {
      return enphaseError(endpoint, 404, 'Not Found', `System not found for {:id=>"${systemId}"}`);
    }
    const home = fleet.home('enphase', device.accountIndex);
    const isWrite = request.method === 'PUT';

    const fault = drawFault(device.deviceId, applicableFaults(endpoint, isWrite));
    const faultReply = fault && errorFault(fault, endpoint);
    if (faultReply) return faultReply;

    // An injected `offline` looks like a gateway that stopped reporting an hour ago.
    const offlineSince = fault === 'offline' ? now - 3_600_000 : fleet.offlineSince(device, now);
    const reading = model.read(device, home, now);
    // Telemetry is what the gateway measured at its last report, not the battery now: a real
    // gateway's numbers hold still between reports, and so the stamp tells what is new.
    const reported = model.read(device, home, now, reportSeconds(now) * 1000);

    let body: Record<string, unknown>;
    if (isWrite) {
      const result = applySettings(request, device, home, endpoint, now);
      if ('status' in result) return result;
      body = result.body;
    } else if (endpoint === 'devices') {
      body = devicesBody(device, now, offlineSince);
    } else if (endpoint === 'telemetry_battery') {
      body = batteryTelemetry(device, reported, now, offlineSince);
    } else if (endpoint === 'latest_telemetry') {
      body = latestTelemetry(device, reported, now, offlineSince);
    } else if (endpoint === 'battery_settings') {
      body = batterySettings(
        device,
        reading.controls.reservePct,
        displayMode(reading.controls.mode),
      );
    } else {
      body = {
        system_id: device.siteId,
        storm_guard_status: reading.controls.stormEnabled ? 'enabled' : 'disabled',
        storm_alert: String(reading.stormActive),
      };
    }

    if (fault === 'missingFields') dropRequired(endpoint, body);
    if (fault === 'otherUnits') convertUnits(endpoint, body);
    return ok(endpoint, body, fault);
  }

  function applySettings(
    request: SimRequest,
    device: DeviceProfile,
    home: Home,
    endpoint: string,
    now: number,
  ): { body: Record<string, unknown> } | Reply {
    const input = asRecord(request.body);
    if (endpoint === 'battery_settings') {
      const mode = input.battery_mode === undefined ? undefined : parseMode(input.battery_mode);
      const reserve = input.reserve_soc;
      const reserveValid =
        reserve === undefined || (typeof reserve === 'number' && reserve >= 0 && reserve <= 100);
      if (mode === null || !reserveValid) {
        return enphaseError(endpoint, 422, 'Unprocessable Entity', 'Invalid battery settings');
      }
      model.command(device, home, now, {
        mode,
        reservePct: typeof reserve === 'number' ? Math.round(reserve) : undefined,
      });
      const { controls } = model.read(device, home, now);
      return { body: batterySettings(device, controls.reservePct, requestMode(controls.mode)) };
    }

    const status = input.storm_guard_status;
    if (status !== 'enabled' && status !== 'disabled') {
      return enphaseError(endpoint, 422, 'Unprocessable Entity', 'Invalid storm_guard_status');
    }
    model.command(device, home, now, { stormEnabled: status === 'enabled' });
    const reading = model.read(device, home, now);
    const shown = !reading.controls.stormEnabled
      ? 'Disabled'
      : reading.stormActive
        ? 'Enabled (Active)'
        : 'Enabled (Inactive)';
    return {
      body: {
        system_id: device.siteId,
        storm_guard_status: shown,
        storm_alert: String(reading.stormActive),
      },
    };
  }

  function authenticate(request: SimRequest, endpoint: string): { accountIndex: number } | Reply {
    const token = bearerToken(request);
    const keyValid = request.query.get('key') === apps.enphase.apiKey;
    const check = token === null ? null : tokens.checkAccess('enphase', token, context.now());
    if (keyValid && check?.ok) return { accountIndex: check.accountIndex };
    return notAuthorized(endpoint);
  }

  function drawFault(scopeKey: string, applicable: readonly FaultKind[]): FaultKind | null {
    const fault = context.faults.draw('enphase', scopeKey, applicable);
    if (fault) context.recordFault('enphase', fault);
    return fault;
  }

  function errorFault(fault: FaultKind, endpoint: string): Reply | null {
    switch (fault) {
      case 'expiredToken':
        return notAuthorized(endpoint);
      case 'rateLimit': {
        const retryAfter = context.faults.config().retryAfterSeconds;
        const nowSec = Math.floor(context.now() / 1000);
        const periodStart = nowSec - (nowSec % 60);
        return {
          oem: 'enphase',
          endpoint,
          status: 429,
          headers: { 'retry-after': String(retryAfter) },
          body: {
            message: 'Too Many Requests',
            details: 'Usage limit exceeded for plan Kilowatt',
            code: 429,
            period: 'minute',
            period_start: periodStart,
            period_end: periodStart + 60,
            limit: 10,
          },
        };
      }
      case 'serverError':
        serverErrors += 1;
        return serverErrors % 3 === 0
          ? enphaseError(
              endpoint,
              503,
              'Service Unavailable',
              'Service unreachable, please try again',
            )
          : enphaseError(endpoint, 500, 'Internal Server Error', 'Something went wrong');
      default:
        return null;
    }
  }

  function ok(endpoint: string, body: unknown, fault: FaultKind | null): Reply {
    return {
      oem: 'enphase',
      endpoint,
      status: 200,
      body,
      delayMs: fault === 'slow' ? context.faults.config().slowDelayMs : undefined,
      truncate: fault === 'malformedJson',
    };
  }

  function systemEntry(device: DeviceProfile, home: Home, now: number): Record<string, unknown> {
    const offlineSince = fleet.offlineSince(device, now);
    const reportAt = reportSeconds(offlineSince ?? now);
    return {
      system_id: device.siteId,
      name: home.site.name,
      public_name: 'Residential System',
      timezone: home.timeZone,
      address: {
        city: home.site.address.city,
        state: home.site.address.state,
        country: home.site.address.country,
        postal_code: home.site.address.postalCode,
      },
      connection_type: device.siteId % 2 === 0 ? 'ethernet' : 'cellular',
      status: offlineSince === null ? 'normal' : 'comm',
      last_report_at: reportAt,
      last_energy_at: reportAt - (reportAt % 900),
      operational_at: Math.floor(device.installedAt / 1000),
      attachment_type: 'rack_mount',
      interconnect_date: Math.floor(device.installedAt / 1000),
      energy_lifetime: -1,
      energy_today: -1,
      system_size: -1,
      other_references: [home.customer.lastName],
    };
  }

  function devicesBody(
    device: DeviceProfile,
    now: number,
    offlineSince: number | null,
  ): Record<string, unknown> {
    const reportAt = reportSeconds(offlineSince ?? now);
    const status = offlineSince === null ? 'normal' : 'comm';
    const gatewaySerial = `1221${String(device.siteId % 100_000_000).padStart(8, '0')}`;
    const common = { last_report_at: reportAt, status, active: true };
    return {
      system_id: device.siteId,
      total_devices: 6,
      items: 'devices',
      devices: {
        micros: [1, 2].map((n) => ({
          id: device.batteryId + n,
          ...common,
          name: `Microinverter 9021${String(device.siteId % 1e8).padStart(8, '0')}${n}`,
          serial_number: `9021${String(device.siteId % 1e8).padStart(8, '0')}${n}`,
          part_number: '800-01333-r01',
          sku: 'IQ8A-72-2-US',
          model: 'IQ8A',
          product_name: 'IQ8A',
        })),
        meters: ['production', 'consumption'].map((name, n) => ({
          id: device.batteryId + 10 + n,
          ...common,
          name,
          serial_number: `${gatewaySerial}EIM${n + 1}`,
          part_number: '800-00655-r09',
          sku: null,
          model: 'IQ Envoy',
          state: 'enabled',
          config_type: n === 0 ? 'Production' : 'Net',
          product_name: 'IQ Gateway',
        })),
        gateways: [
          {
            id: device.batteryId + 20,
            ...common,
            name: `Gateway ${gatewaySerial}`,
            serial_number: gatewaySerial,
            part_number: '800-00655-r09',
            emu_sw_version: 'D8.2.4264 (4f2662)',
            sku: 'X-IQ-AM1-240-3-ES',
            model: 'IQ Envoy',
            cellular_modem: {
              imei: '000000000000000',
              part_num: '860-00157-r01',
              sku: 'CELLMODEM-M1',
              plan_start_date: Math.floor(device.installedAt / 1000),
              plan_end_date: Math.floor(device.installedAt / 1000) + 5 * 365 * 86_400,
            },
            product_name: 'IQ Gateway',
          },
        ],
        encharges: [
          {
            id: device.batteryId,
            ...common,
            name: `IQ Battery ${device.batterySerial}`,
            serial_number: device.batterySerial,
            part_number: '800-00562-r01',
            sku: 'B05-T02-US00-1-3',
            model: '',
            product_name: 'IQ Battery 5P',
          },
        ],
      },
    };
  }

  function batteryTelemetry(
    device: DeviceProfile,
    reading: BatteryReading,
    now: number,
    offlineSince: number | null,
  ): Record<string, unknown> {
    const startedAt = Math.max(fleet.startedAt, now - 2 * 3_600_000);
    const visible = reading.intervals.filter(
      (interval) =>
        interval.endAt > startedAt && (offlineSince === null || interval.endAt <= offlineSince),
    );
    const lastSoc = offlineSince === null ? Math.round(reading.socPct) : visible.at(-1)?.socPct;
    return {
      system_id: device.siteId,
      granularity: 'day',
      total_devices: 1,
      start_at: Math.floor(startedAt / 1000),
      end_at: Math.floor(now / 1000),
      items: 'intervals',
      intervals: visible.map((interval) => ({
        end_at: Math.floor(interval.endAt / 1000),
        charge: { enwh: interval.chargeWh, devices_reporting: 1 },
        discharge: { enwh: interval.dischargeWh, devices_reporting: 1 },
        soc: { percent: interval.socPct, devices_reporting: 1 },
      })),
      last_reported_aggregate_soc: lastSoc === undefined ? null : `${lastSoc}%`,
    };
  }

  function latestTelemetry(
    device: DeviceProfile,
    reading: BatteryReading,
    now: number,
    offlineSince: number | null,
  ): Record<string, unknown> {
    const reporting = offlineSince === null;
    const reportAt = reportSeconds(offlineSince ?? now);
    const meterId = device.batteryId + 10;
    const power = (watts: number) => (reporting ? watts : null);
    return {
      system_id: device.siteId,
      items: 'devices',
      devices: {
        meters: [
          {
            id: meterId,
            name: 'production',
            channel: 1,
            last_report_at: reportAt,
            power: power(reading.solarW),
          },
          {
            id: meterId + 1,
            name: 'consumption',
            channel: 1,
            last_report_at: reportAt,
            power: power(reading.loadW),
          },
        ],
        encharges: [
          {
            id: device.batteryId,
            name: `Encharge ${device.batterySerial}`,
            channel: 1,
            last_report_at: reportAt,
            power: power(reading.batteryW),
            operational_mode: operationalMode(reading.batteryW),
          },
        ],
      },
    };
  }
}

/** Display form GET returns, request form PUT takes and echoes. */
const MODE_FORMS: ReadonlyArray<{ mode: OperationMode; display: string; request: string }> = [
  { mode: 'self_consumption', display: 'Self - Consumption', request: 'self-consumption' },
  { mode: 'autonomous', display: 'Savings Mode', request: 'savings-mode' },
  { mode: 'backup', display: 'Full Backup', request: 'full-backup' },
];

function displayMode(mode: OperationMode): string {
  return MODE_FORMS.find((form) => form.mode === mode)?.display ?? mode;
}

function requestMode(mode: OperationMode): string {
  return MODE_FORMS.find((form) => form.mode === mode)?.request ?? mode;
}

function parseMode(value: unknown): OperationMode | null {
  const form = MODE_FORMS.find((f) => f.request === value || f.display === value);
  return form?.mode ?? null;
}

function batterySettings(device: DeviceProfile, reservePct: number, mode: string) {
  return {
    system_id: device.siteId,
    battery_mode: mode,
    reserve_soc: reservePct,
    energy_independence: 'enabled',
    charge_from_grid: 'disabled',
    battery_shutdown_level: 10,
  };
}

function applicableFaults(endpoint: string, isWrite: boolean): readonly FaultKind[] {
  if (isWrite) return WRITE_FAULTS.filter((kind) => kind !== 'offline');
  const stale = endpoint === 'devices' || endpoint.includes('telemetry');
  const hasUnits = endpoint !== 'devices' && endpoint !== 'storm_guard';
  return READ_FAULTS.filter(
    (kind) => (kind !== 'offline' || stale) && (kind !== 'otherUnits' || hasUnits),
  );
}

function dropRequired(endpoint: string, body: Record<string, unknown>): void {
  if (endpoint === 'telemetry_battery') {
    delete body.last_reported_aggregate_soc;
    for (const interval of body.intervals as Array<Record<string, unknown>>) delete interval.soc;
  } else if (endpoint === 'latest_telemetry') {
    for (const encharge of encharges(body)) delete encharge.power;
  } else if (endpoint === 'devices') {
    for (const encharge of encharges(body)) delete encharge.serial_number;
  } else if (endpoint === 'battery_settings') {
    delete body.reserve_soc;
  } else if (endpoint === 'storm_guard') {
    delete body.storm_guard_status;
  }
}

// otherUnits: W → kW, Wh → kWh, percent → 0..1 fraction.
function convertUnits(endpoint: string, body: Record<string, unknown>): void {
  if (endpoint === 'telemetry_battery') {
    for (const interval of body.intervals as Array<Record<string, Record<string, number>>>) {
      if (interval.charge) interval.charge.enwh = (interval.charge.enwh ?? 0) / 1000;
      if (interval.discharge) interval.discharge.enwh = (interval.discharge.enwh ?? 0) / 1000;
      if (interval.soc) interval.soc.percent = (interval.soc.percent ?? 0) / 100;
    }
    const soc = body.last_reported_aggregate_soc;
    if (typeof soc === 'string') body.last_reported_aggregate_soc = String(parseInt(soc, 10) / 100);
  } else if (endpoint === 'latest_telemetry') {
    const devices = body.devices as Record<string, Array<Record<string, unknown>>>;
    for (const entry of [...(devices.meters ?? []), ...(devices.encharges ?? [])]) {
      if (typeof entry.power === 'number') entry.power = entry.power / 1000;
    }
  } else if (endpoint === 'battery_settings' && typeof body.reserve_soc === 'number') {
    body.reserve_soc = body.reserve_soc / 100;
  }
}

function encharges(body: Record<string, unknown>): Array<Record<string, unknown>> {
  const devices = body.devices as Record<string, Array<Record<string, unknown>>> | undefined;
  return devices?.encharges ?? [];
}

function matchSystemRoute(
  path: string,
): { systemId: number; endpoint: string; writable: boolean } | null {
  const data = /^\/api\/v4\/systems\/(\d+)\/(devices|telemetry\/battery|latest_telemetry)$/.exec(
    path,
  );
  if (data) {
    return { systemId: Number(data[1]), endpoint: data[2]!.replace('/', '_'), writable: false };
  }
  const config = /^\/api\/v4\/systems\/config\/(\d+)\/(battery_settings|storm_guard)$/.exec(path);
  if (config) return { systemId: Number(config[1]), endpoint: config[2]!, writable: true };
  return null;
}

function operationalMode(batteryW: number): string {
  if (batteryW > 10) return 'Discharging';
  if (batteryW < -10) return 'Charging';
  return 'Idle';
}

/** Gateways report every 5 minutes: last_report_at is the last 5-minute mark, epoch seconds. */
function reportSeconds(epochMs: number): number {
  const seconds = Math.floor(epochMs / 1000);
  return seconds - (seconds % 300);
}

function notAuthorized(endpoint: string): Reply {
  return enphaseError(endpoint, 401, 'Not Authorized', 'User is not authorized');
}

function methodNotAllowed(endpoint: string): Reply {
  return {
    oem: 'enphase',
    endpoint,
    status: 405,
    body: { reason: '405', message: ['Method not allowed'] },
  };
}

function enphaseError(endpoint: string, status: number, message: string, details: string): Reply {
  return { oem: 'enphase', endpoint, status, body: { message, details, code: status } };
}

function basicCredentials(request: SimRequest): { id: string; secret: string } | null {
  const header = request.headers.authorization;
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Basic\s+(\S+)$/i.exec(value ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  const value = raw === null ? fallback : Number.parseInt(raw, 10);
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function dropKeys(target: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of keys) delete target[key];
}

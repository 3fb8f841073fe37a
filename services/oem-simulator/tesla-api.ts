import {
  bearerToken,
  LISTING_FAULTS,
  READ_FAULTS,
  roundTo,
  toLocalIso,
  WRITE_FAULTS,
  type ApiContext,
  type Reply,
  type SimRequest,
} from './api-context';
import type { OperationMode } from './battery-model';
import type { DeviceProfile, Home } from './fleet';
import { fakeHex } from './random';
import type { FaultKind } from './types';

/**
 * Tesla Fleet API, energy-site subset, under /tesla. Bodies follow the fixtures in
 * test/fixtures/oem/tesla (the `{"response": ...}` envelope, W and Wh, percent 0-100, battery
 * power > 0 while discharging).
 */
export function createTeslaApi(context: ApiContext): (request: SimRequest) => Reply {
  const { fleet, model, tokens, apps } = context;
  let serverErrors = 0;

  return (request) => {
    const path = request.path.slice('/tesla'.length);
    if (path === '/oauth2/v3/token') {
      return request.method === 'POST' ? handleToken(request) : methodNotAllowed('token');
    }
    if (path === '/api/1/products') {
      return request.method === 'GET' ? handleProducts(request) : methodNotAllowed('products');
    }
    const match = /^\/api\/1\/energy_sites\/(\d+)\/([a-z_]+)$/.exec(path);
    const action = match?.[2] ?? '';
    if (!match || !SITE_ENDPOINTS.has(action)) return teslaError('unknown', 404, 'not_found');
    const isWrite = COMMANDS.has(action);
    if (request.method !== (isWrite ? 'POST' : 'GET')) return methodNotAllowed(action);
    return handleSite(request, Number(match[1]), action);
  };

  function handleToken(request: SimRequest): Reply {
    const body = asRecord(request.body);
    const endpoint = 'token';
    if (body.grant_type !== 'refresh_token') {
      return { oem: 'tesla', endpoint, status: 400, body: { error: 'unsupported_grant_type' } };
    }
    if (body.client_id !== apps.tesla.clientId) {
      return { oem: 'tesla', endpoint, status: 401, body: { error: 'invalid_client' } };
    }
    const outcome = tokens.refresh('tesla', String(body.refresh_token ?? ''), context.now());
    if (!outcome.ok) {
      const description =
        outcome.reason === 'reused'
          ? 'The refresh_token has already been used'
          : 'The refresh_token is invalid';
      return {
        oem: 'tesla',
        endpoint,
        status: 401,
        body: { error: 'invalid_grant', error_description: description },
      };
    }
    return {
      oem: 'tesla',
      endpoint,
      status: 200,
      body: {
        access_token: outcome.tokens.accessToken,
        refresh_token: outcome.tokens.refreshToken,
        id_token: `id.${fakeHex(32, context.seed, outcome.accountIndex)}`,
        expires_in: outcome.tokens.expiresInSeconds,
        state: typeof body.state === 'string' ? body.state : undefined,
        token_type: 'Bearer',
      },
    };
  }

  function handleProducts(request: SimRequest): Reply {
    const endpoint = 'products';
    const auth = authenticate(request, endpoint);
    if ('status' in auth) return auth;
    const now = context.now();
    const home = fleet.home('tesla', auth.accountIndex);
    const device = fleet.currentDevice('tesla', auth.accountIndex, now);

    const fault = drawFault(`tesla:acct:${auth.accountIndex}`, LISTING_FAULTS);
    const faultReply = fault && errorFault(fault, endpoint);
    if (faultReply) return faultReply;

    const site = productEntry(device, home, now);
    if (fault === 'missingFields')
      dropKeys(site, ['energy_left', 'percentage_charged', 'battery_power']);
    if (fault === 'otherUnits') scaleKeys(site, UNIT_SCALES);
    const products = home.hasVehicle ? [vehicleEntry(home), site] : [site];
    return ok(endpoint, { response: products, count: products.length }, fault);
  }

  function handleSite(request: SimRequest, siteId: number, action: string): Reply {
    const auth = authenticate(request, action);
    if ('status' in auth) return auth;
    const now = context.now();
    const device = fleet.resolveSite('tesla', siteId, now);
    if (device === null || device.accountIndex !== auth.accountIndex) {
      return teslaError(action, 404, 'not_found', 'energy site not found');
    }
    const home = fleet.home('tesla', device.accountIndex);

    const fault = drawFault(device.deviceId, COMMANDS.has(action) ? WRITE_FAULTS : READ_FAULTS);
    const faultReply = fault && errorFault(fault, action);
    if (faultReply) return faultReply;
    if (fleet.offlineSince(device, now) !== null) return offlineReply(action);

    if (COMMANDS.has(action)) return handleCommand(request, device, home, action, fault);

    const body =
      action === 'live_status' ? liveStatus(device, home, now) : siteInfo(device, home, now);
    if (fault === 'missingFields') {
      dropKeys(body, action === 'live_status' ? LIVE_STATUS_REQUIRED : SITE_INFO_REQUIRED);
    }
    if (fault === 'otherUnits') scaleKeys(body, UNIT_SCALES);
    return ok(action, { response: body }, fault);
  }

  function handleCommand(
    request: SimRequest,
    device: DeviceProfile,
    home: Home,
    action: string,
    fault: FaultKind | null,
  ): Reply {
    const body = asRecord(request.body);
    const now = context.now();
    if (action === 'backup') {
      const percent = body.backup_reserve_percent;
      if (
        typeof percent !== 'number' ||
        !Number.isFinite(percent) ||
        percent < 0 ||
        percent > 100
      ) {
        return teslaError(action, 400, 'invalid_field', 'backup_reserve_percent must be 0-100');
      }
      model.command(device, home, now, { reservePct: Math.round(percent) });
    } else if (action === 'operation') {
      const mode = body.default_real_mode;
      if (typeof mode !== 'string' || !MODES.has(mode)) {
        return teslaError(action, 400, 'invalid_field', 'default_real_mode is not a known mode');
      }
      model.command(device, home, now, { mode: mode as OperationMode });
    } else {
      if (typeof body.enabled !== 'boolean') {
        return teslaError(action, 400, 'invalid_field', 'enabled must be a boolean');
      }
      model.command(device, home, now, { stormEnabled: body.enabled });
    }
    return ok(action, { response: { code: 201, message: 'Updated' } }, fault);
  }

  function authenticate(request: SimRequest, endpoint: string): { accountIndex: number } | Reply {
    const token = bearerToken(request);
    const check = token === null ? null : tokens.checkAccess('tesla', token, context.now());
    if (check?.ok) return { accountIndex: check.accountIndex };
    return check?.reason === 'expired'
      ? teslaError(endpoint, 401, 'token expired (401)')
      : teslaError(endpoint, 401, 'invalid bearer token');
  }

  function drawFault(scopeKey: string, applicable: readonly FaultKind[]): FaultKind | null {
    const fault = context.faults.draw('tesla', scopeKey, applicable);
    if (fault) context.recordFault('tesla', fault);
    return fault;
  }

  function errorFault(fault: FaultKind, endpoint: string): Reply | null {
    switch (fault) {
      case 'expiredToken':
        return teslaError(endpoint, 401, 'token expired (401)');
      case 'rateLimit': {
        const retryAfter = context.faults.config().retryAfterSeconds;
        const reply = teslaError(endpoint, 429, 'Too Many Requests', 'rate limit exceeded');
        return { ...reply, headers: { 'retry-after': String(retryAfter) } };
      }
      case 'serverError':
        serverErrors += 1;
        // Mostly Tesla's own upstream error; every third one a bare 503 from the edge.
        return serverErrors % 3 === 0
          ? teslaError(endpoint, 503, 'Service Unavailable')
          : teslaError(endpoint, 500, 'upstream internal error');
      case 'offline':
        return offlineReply(endpoint);
      default:
        return null;
    }
  }

  function ok(endpoint: string, body: unknown, fault: FaultKind | null): Reply {
    return {
      oem: 'tesla',
      endpoint,
      status: 200,
      body,
      delayMs: fault === 'slow' ? context.faults.config().slowDelayMs : undefined,
      truncate: fault === 'malformedJson',
    };
  }

  function liveStatus(device: DeviceProfile, home: Home, now: number): Record<string, unknown> {
    const reading = model.read(device, home, now);
    return {
      solar_power: reading.solarW,
      energy_left: roundTo(reading.socWh, 2),
      total_pack_energy: device.capacityWh,
      percentage_charged: reading.socPct,
      backup_capable: true,
      battery_power: reading.batteryW,
      load_power: reading.loadW,
      grid_status: 'Active',
      grid_services_active: false,
      grid_power: reading.gridW,
      grid_services_power: 0,
      generator_power: 0,
      island_status: 'on_grid',
      storm_mode_active: reading.stormActive,
      timestamp: toLocalIso(now, home.utcOffsetMinutes),
      wall_connectors: [],
    };
  }

  function siteInfo(device: DeviceProfile, home: Home, now: number): Record<string, unknown> {
    const { controls } = model.read(device, home, now);
    const serial = device.batterySerial;
    return {
      id: siteUuid(device),
      site_name: home.site.name,
      backup_reserve_percent: controls.reservePct,
      default_real_mode: controls.mode,
      installation_date: toLocalIso(device.installedAt, home.utcOffsetMinutes),
      user_settings: {
        go_off_grid_test_banner_enabled: false,
        storm_mode_enabled: controls.stormEnabled,
        powerwall_onboarding_settings_set: true,
        powerwall_tesla_electric_interested_in: false,
        vpp_tour_enabled: true,
        sync_grid_alert_enabled: true,
        breaker_alert_enabled: false,
      },
      components: {
        solar: true,
        solar_type: 'pv_panel',
        battery: true,
        grid: true,
        backup: true,
        gateway: 'teg',
        load_meter: true,
        tou_capable: true,
        storm_mode_capable: true,
        flex_energy_request_capable: false,
        car_charging_data_supported: false,
        off_grid_vehicle_charging_reserve_supported: true,
        vehicle_charging_performance_view_enabled: false,
        vehicle_charging_solar_offset_view_enabled: false,
        battery_solar_offset_view_enabled: true,
        solar_value_enabled: true,
        energy_value_header: 'Energy Value',
        energy_value_subheader: 'Estimated Value',
        energy_service_self_scheduling_enabled: true,
        show_grid_import_battery_source_cards: true,
        set_islanding_mode_enabled: true,
        wifi_commissioning_enabled: true,
        backup_time_remaining_enabled: true,
        battery_type: 'ac_powerwall',
        configurable: true,
        grid_services_enabled: false,
        gateways: [
          {
            device_id: fakeUuid(context.seed, device.siteId, 2),
            din: `1152100-14-J--${serial}`,
            serial_number: serial,
            part_number: '1152100-14-J',
            part_type: 10,
            part_name: 'Tesla Backup Gateway 2',
            is_active: true,
            site_id: siteUuid(device),
            firmware_version: '24.4.0 0fe780c9',
            updated_datetime: new Date(device.installedAt).toISOString(),
          },
        ],
        batteries: [
          {
            device_id: fakeUuid(context.seed, device.siteId, 3),
            din: `3012170-10-B--${serial}`,
            serial_number: serial,
            part_number: '3012170-10-B',
            part_type: 2,
            part_name: 'Powerwall 2',
            nameplate_max_charge_power: device.maxPowerW,
            nameplate_max_discharge_power: device.maxPowerW,
            nameplate_energy: device.capacityWh,
          },
        ],
        wall_connectors: [],
        disallow_charge_from_grid_with_solar_installed: true,
        customer_preferred_export_rule: 'pv_only',
        net_meter_mode: 'battery_ok',
        system_alerts_enabled: true,
      },
      version: '24.4.0 0fe780c9',
      battery_count: 1,
      tou_settings: { optimization_strategy: 'economics', schedule: [] },
      nameplate_power: device.maxPowerW,
      nameplate_energy: device.capacityWh,
      installation_time_zone: home.timeZone,
      max_site_meter_power_ac: 1_000_000_000,
      min_site_meter_power_ac: -1_000_000_000,
      vpp_backup_reserve_percent: 0,
      address: {
        address_line1: home.site.address.streetAddress1,
        city: home.site.address.city,
        state: home.site.address.state,
        zip: home.site.address.postalCode,
        country: home.site.address.country,
      },
      geolocation: { latitude: home.site.latitude, longitude: home.site.longitude },
    };
  }

  function productEntry(device: DeviceProfile, home: Home, now: number): Record<string, unknown> {
    const offline = fleet.offlineSince(device, now) !== null;
    const reading = offline ? null : model.read(device, home, now);
    const controls = reading?.controls;
    const entry: Record<string, unknown> = {
      energy_site_id: device.siteId,
      resource_type: 'battery',
      site_name: home.site.name,
      id: siteUuid(device),
      gateway_id: `1152100-14-J--${device.batterySerial}`,
      asset_site_id: fakeUuid(context.seed, device.siteId, 4),
      warp_site_number: `STE${new Date(device.installedAt).toISOString().slice(0, 10).replace(/-/g, '')}-${String(device.siteId % 100_000).padStart(5, '0')}`,
      energy_left: reading ? roundTo(reading.socWh, 2) : undefined,
      total_pack_energy: device.capacityWh,
      percentage_charged: reading?.socPct,
      battery_type: 'ac_powerwall',
      backup_capable: true,
      battery_power: reading?.batteryW,
      go_off_grid_test_banner_enabled: null,
      storm_mode_enabled: controls?.stormEnabled ?? device.initialStormEnabled,
      powerwall_onboarding_settings_set: true,
      powerwall_tesla_electric_interested_in: null,
      vpp_tour_enabled: null,
      sync_grid_alert_enabled: true,
      breaker_alert_enabled: true,
      components: {
        battery: true,
        battery_type: 'ac_powerwall',
        solar: true,
        solar_type: 'pv_panel',
        grid: true,
        load_meter: true,
        market_type: 'residential',
        wall_connectors: [],
      },
      features: { rate_plan_manager_no_pricing_constraint: true },
    };
    return entry;
  }

  function vehicleEntry(home: Home): Record<string, unknown> {
    const id = 100_000 + home.accountIndex;
    return {
      id,
      user_id: id,
      vehicle_id: id,
      vin: `5YJ3SIM${String(home.accountIndex).padStart(10, '0')}`,
      color: null,
      access_type: 'OWNER',
      display_name: `${home.customer.firstName}'s car`,
      option_codes: null,
      cached_data: null,
      granular_access: { hide_private: false },
      tokens: [fakeHex(16, context.seed, id, 1)],
      state: 'asleep',
      in_service: false,
      id_s: String(id),
      calendar_enabled: true,
      api_version: 71,
      backseat_token: null,
      backseat_token_updated_at: null,
      command_signing: 'allowed',
    };
  }

  function siteUuid(device: DeviceProfile): string {
    return fakeUuid(context.seed, device.siteId, 1);
  }
}

const COMMANDS = new Set(['backup', 'operation', 'storm_mode']);
const SITE_ENDPOINTS = new Set(['live_status', 'site_info', ...COMMANDS]);
const MODES = new Set(['self_consumption', 'autonomous', 'backup']);
const LIVE_STATUS_REQUIRED = ['percentage_charged', 'battery_power', 'energy_left'];
const SITE_INFO_REQUIRED = ['backup_reserve_percent', 'default_real_mode'];

// otherUnits: W → kW, Wh → kWh, percent → 0..1 fraction.
const UNIT_SCALES: Record<string, number> = {
  solar_power: 1000,
  battery_power: 1000,
  load_power: 1000,
  grid_power: 1000,
  energy_left: 1000,
  total_pack_energy: 1000,
  nameplate_power: 1000,
  nameplate_energy: 1000,
  percentage_charged: 100,
  backup_reserve_percent: 100,
};

function offlineReply(endpoint: string): Reply {
  return teslaError(endpoint, 408, 'device offline: {:error=>"device offline:"}');
}

function methodNotAllowed(endpoint: string): Reply {
  return teslaError(endpoint, 405, 'invalid_method');
}

function teslaError(endpoint: string, status: number, error: string, description = ''): Reply {
  return {
    oem: 'tesla',
    endpoint,
    status,
    body: { response: null, error, error_description: description },
  };
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function dropKeys(target: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of keys) delete target[key];
}

function scaleKeys(target: Record<string, unknown>, scales: Record<string, number>): void {
  for (const [key, divisor] of Object.entries(scales)) {
    const value = target[key];
    if (typeof value === 'number') target[key] = value / divisor;
  }
}

function fakeUuid(...parts: number[]): string {
  const hex = fakeHex(32, ...parts);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NormalizationError } from '../../services/poller/errors';
import type { Connection } from '../../services/poller/connection';
import {
  normalizeTeslaLiveStatus,
  parseTeslaProducts,
  type TeslaSite,
} from '../../services/poller/normalize-tesla';
import {
  isEnphaseSystemOffline,
  normalizeEnphaseBattery,
  parseEnphaseSystems,
} from '../../services/poller/normalize-enphase';
import { parseJsonObject, unwrapTesla, type JsonObject } from '../../services/poller/oem-json';

const FIXTURES = path.join(__dirname, '../fixtures/oem');
const POLLED_AT = Date.UTC(2024, 0, 1, 0, 5);

function fixture(name: string): JsonObject {
  return parseJsonObject(readFileSync(path.join(FIXTURES, name), 'utf8'), name);
}

function connection(oem: string): Connection {
  return {
    connectionId: `conn-${oem}`,
    oem,
    enabled: true,
    credentials: { refreshToken: 'secret-refresh' },
    workspaceId: 'ws-1',
    organizationId: 'org-1',
    customer: {
      id: 'cust-1',
      referenceId: null,
      email: 'a@b.c',
      firstName: 'A',
      lastName: 'B',
      phone: null,
    },
    site: { id: 'site-1', name: 'Home', address: null, longitude: -73.98, latitude: 40.75 },
    createdAt: 1,
    updatedAt: 1,
  };
}

function expectReason(fn: () => unknown, reason: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NormalizationError);
    expect((err as NormalizationError).reason).toBe(reason);
    expect((err as NormalizationError).code).toBe('GP_POLLER_NORMALIZATION_FAILED');
    return;
  }
  throw new Error(`expected a ${reason} normalization failure`);
}

describe('normalizeTeslaLiveStatus', () => {
  const products = fixture('tesla/ha-teslemetry-products.json');
  const live = unwrapTesla(fixture('tesla/ha-teslemetry-live_status.json'), 'live_status');
  const siteInfo = unwrapTesla(fixture('tesla/ha-tesla_fleet-site_info.json'), 'site_info');

  it('keeps only battery sites from a products listing with a vehicle and an empty site', () => {
    const sites = parseTeslaProducts(products);

    expect(sites).toEqual([
      {
        energySiteId: '123456',
        siteName: 'Energy Site',
        totalPackEnergyWh: 40804,
        stormModeEnabled: true,
      },
    ]);
    const mixed = parseTeslaProducts({
      response: JSON.parse(
        readFileSync(
          path.join(FIXTURES, 'tesla/teslajsonpy-mock-products-energy-sites.json'),
          'utf8',
        ),
      ),
    });
    expect(mixed.map((site) => site.energySiteId)).toEqual(['67890']);
  });

  it('derives charge from percentage_charged × total_pack_energy and keeps Tesla signs', () => {
    const [site] = parseTeslaProducts(products) as [TeslaSite];
    const record = normalizeTeslaLiveStatus({
      connection: connection('tesla'),
      site,
      liveStatus: live,
      siteInfo,
      polledAt: POLLED_AT,
      idleThresholdW: 50,
    });

    const expectedCharge = (95.50537403739663 * 40804) / 100;
    expect(record.deviceId).toBe('tesla:123456');
    expect(record.connectivity).toBe('ONLINE');
    expect(record.createdAt).toBe(Date.UTC(2022, 0, 1));
    expect(record.workspaceId).toBe('ws-1');
    expect(record.site.latitude).toBe(40.75);
    expect(record.state).toEqual({
      charge: expectedCharge,
      chargePercentage: 95.50537403739663,
      chargingState: 'discharging', // battery_power 5060 W > 0
      whConsumed: null,
      chargeRate: 5060,
      backupReserve: 0, // sent as 0: a real zero, not a missing value
      gridStatus: 'idle', // grid_power 0 on an Active grid
      gridPower: 0,
      gridEnergy: null,
      isStormModeEnabled: true,
      isStormModeActive: false,
      createdAt: Date.UTC(2024, 0, 1),
    });
  });

  it('reads null for what neither live_status nor the listing sent', () => {
    const [site] = parseTeslaProducts(fixture('tesla/pypowerwall-products.json')) as [TeslaSite];
    const pyLive = unwrapTesla(fixture('tesla/pypowerwall-live_status.json'), 'live_status');

    const record = normalizeTeslaLiveStatus({
      connection: connection('tesla'),
      site,
      liveStatus: pyLive,
      siteInfo: null,
      polledAt: POLLED_AT,
      idleThresholdW: 50,
    });

    expect(record.state?.charge).toBeCloseTo((46.6731017783813 * 39362) / 100, 6);
    expect(record.state?.backupReserve).toBeNull();
    expect(record.state?.isStormModeEnabled).toBeNull();
    // "2024-05-12T00:18:19-07:00" is 07:18:19 UTC
    expect(record.state?.createdAt).toBe(Date.UTC(2024, 4, 12, 7, 18, 19));
    expect(record.createdAt).toBeNull();
  });

  it('marks charging below minus the idle threshold and idle within it', () => {
    const [site] = parseTeslaProducts(products) as [TeslaSite];
    const base = {
      connection: connection('tesla'),
      site,
      siteInfo,
      polledAt: POLLED_AT,
      idleThresholdW: 50,
    };

    const charging = normalizeTeslaLiveStatus({
      ...base,
      liveStatus: { ...live, battery_power: -2290 },
    });
    const idle = normalizeTeslaLiveStatus({ ...base, liveStatus: { ...live, battery_power: -30 } });
    const islanded = normalizeTeslaLiveStatus({
      ...base,
      liveStatus: { ...live, grid_status: 'Inactive', island_status: 'off_grid' },
    });

    expect(charging.state).toMatchObject({ chargingState: 'charging', chargeRate: -2290 });
    expect(idle.state?.chargingState).toBe('idle');
    expect(islanded.state?.gridStatus).toBe('offline');
  });

  it('refuses a live_status without percentage_charged as a missing field', () => {
    const [site] = parseTeslaProducts(products) as [TeslaSite];
    const { percentage_charged: _dropped, ...rest } = live;
    expectReason(
      () =>
        normalizeTeslaLiveStatus({
          connection: connection('tesla'),
          site,
          liveStatus: rest,
          siteInfo,
          polledAt: POLLED_AT,
          idleThresholdW: 50,
        }),
      'missing_field',
    );
  });

  it('refuses kWh and 0..1 fractions as implausible values', () => {
    const [site] = parseTeslaProducts(products) as [TeslaSite];
    const kiloUnits = {
      ...live,
      percentage_charged: 0.955,
      energy_left: 12.89,
      total_pack_energy: 13.5,
      battery_power: 5.06,
    };
    expectReason(
      () =>
        normalizeTeslaLiveStatus({
          connection: connection('tesla'),
          site,
          liveStatus: kiloUnits,
          siteInfo,
          polledAt: POLLED_AT,
          idleThresholdW: 50,
        }),
      'implausible_value',
    );
  });

  it('refuses a site_info whose reserve is a 0..1 fraction, though it lies within 0..100', () => {
    const [site] = parseTeslaProducts(products) as [TeslaSite];
    const normalizeWith = (info: JsonObject) => () =>
      normalizeTeslaLiveStatus({
        connection: connection('tesla'),
        site,
        liveStatus: live,
        siteInfo: info,
        polledAt: POLLED_AT,
        idleThresholdW: 50,
      });

    // As the simulator's otherUnits fault sends it: percent → fraction, Wh → kWh.
    expectReason(
      normalizeWith({ ...siteInfo, backup_reserve_percent: 0.2, nameplate_energy: 40.5 }),
      'implausible_value',
    );
    // The reserve alone, with the nameplate left out.
    const { nameplate_energy: _nameplate, ...withoutNameplate } = siteInfo;
    expectReason(
      normalizeWith({ ...withoutNameplate, backup_reserve_percent: 0.2 }),
      'implausible_value',
    );
    // A whole percent with the nameplate in Wh is read as it is.
    expect(normalizeWith({ ...siteInfo, backup_reserve_percent: 20 })().state?.backupReserve).toBe(
      20,
    );
  });

  it('refuses a body cut in half as malformed JSON', () => {
    const body = readFileSync(path.join(FIXTURES, 'tesla/ha-teslemetry-live_status.json'), 'utf8');
    expectReason(
      () => parseJsonObject(body.slice(0, body.length / 2), 'live_status'),
      'malformed_json',
    );
  });
});

describe('normalizeEnphaseBattery', () => {
  const [system] = parseEnphaseSystems(fixture('enphase/doc-examples/systems-list.json')).systems;
  const latest = fixture('enphase/doc-examples/latest-telemetry.json');
  const battery = fixture('enphase/doc-examples/telemetry-battery.json');
  const settings = fixture('enphase/doc-examples/battery-settings.json');
  const storm = fixture('enphase/doc-examples/storm-guard.json');
  const input = {
    connection: connection('enphase'),
    system: system!,
    latestTelemetry: latest,
    batteryTelemetry: battery,
    batterySettings: settings,
    stormGuard: storm,
    polledAt: POLLED_AT,
    idleThresholdW: 10,
  };

  it('reads the aggregate SoC string, encharge power, reserve and storm guard', () => {
    const record = normalizeEnphaseBattery(input);

    expect(record.deviceId).toBe('enphase:698910067');
    expect(record.createdAt).toBe(1497445200 * 1000); // operational_at, epoch s
    expect(record.state).toEqual({
      charge: null, // the Monitoring API sends no capacity
      chargePercentage: 97, // "97%"
      chargingState: 'charging', // power -15 W beyond the 10 W threshold
      whConsumed: null,
      chargeRate: -15,
      backupReserve: 95,
      gridStatus: 'exporting',
      // load 12 W (consumption meter) - solar 755 W (production) - battery -15 W = -728 W
      gridPower: -728,
      gridEnergy: null,
      isStormModeEnabled: true, // "enabled"
      isStormModeActive: false, // storm_alert "false"
      createdAt: 1701087429 * 1000,
    });
  });

  it('falls back to the last interval SoC when the aggregate is absent', () => {
    const { last_reported_aggregate_soc: _dropped, ...intervalsOnly } = battery;
    expect(
      normalizeEnphaseBattery({ ...input, batteryTelemetry: intervalsOnly }).state
        ?.chargePercentage,
    ).toBe(25);
  });

  it('treats status "comm" and a null encharge power as offline', () => {
    const devices = latest.devices as JsonObject;
    const stale = {
      ...latest,
      devices: { ...devices, encharges: [{ id: 1, power: null, last_report_at: 1 }] },
    };

    expect(isEnphaseSystemOffline({ ...system!, status: 'comm' }, null)).toBe(true);
    expect(isEnphaseSystemOffline(system!, stale)).toBe(true);
    expect(isEnphaseSystemOffline(system!, latest)).toBe(false);
  });

  it('refuses fractions where Enphase sends whole percentages and watts', () => {
    expectReason(
      () =>
        normalizeEnphaseBattery({
          ...input,
          batteryTelemetry: { ...battery, last_reported_aggregate_soc: '0.97' },
        }),
      'implausible_value',
    );
    expectReason(
      () =>
        normalizeEnphaseBattery({ ...input, batterySettings: { ...settings, reserve_soc: 0.95 } }),
      'implausible_value',
    );
    const devices = latest.devices as JsonObject;
    const kw = {
      ...latest,
      devices: { ...devices, encharges: [{ id: 1, power: -0.015, last_report_at: 1 }] },
    };
    expectReason(
      () => normalizeEnphaseBattery({ ...input, latestTelemetry: kw }),
      'implausible_value',
    );
  });

  it('refuses an encharge without power as a missing field', () => {
    const devices = latest.devices as JsonObject;
    const noPower = {
      ...latest,
      devices: { ...devices, encharges: [{ id: 1, last_report_at: 1 }] },
    };
    expectReason(
      () => normalizeEnphaseBattery({ ...input, latestTelemetry: noPower }),
      'missing_field',
    );
  });
});

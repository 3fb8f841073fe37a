import { fakeCuid, fakeHex, pick, uniform, uniformInt } from './random';
import type { SimAddress, SimOem, SimTruthDevice } from './types';

/**
 * Who and what the simulated fleet is: accounts (one home each), the battery site installed at
 * each home (replaced by a new one with a new id when the device churns), and when each site is
 * offline. Everything is derived from the seed on demand; only a small per-account cursor is
 * cached so that lifecycle lookups stay O(new ticks).
 */
export interface Fleet {
  readonly seed: number;
  readonly startedAt: number;
  readonly lifecycleTickMs: number;
  accountCount(oem: SimOem): number;
  home(oem: SimOem, accountIndex: number): Home;
  /** The device generation installed in the account at `now`. */
  currentDevice(oem: SimOem, accountIndex: number, now: number): DeviceProfile;
  /** When the device's current offline episode began, or null while it reports. */
  offlineSince(device: DeviceProfile, now: number): number | null;
  /** The device an OEM site id names, if it is installed at `now` (null: unknown or removed). */
  resolveSite(oem: SimOem, siteId: number, now: number): DeviceProfile | null;
  /** The lifecycle record of every device that existed up to `now`. */
  truth(now: number, filter?: { oem?: SimOem; accountIndex?: number }): SimTruthDevice[];
}

export interface Home {
  oem: SimOem;
  accountIndex: number;
  accountId: string;
  customer: { id: string; email: string; firstName: string; lastName: string; phone: string };
  site: { id: string; name: string; address: SimAddress; latitude: number; longitude: number };
  workspaceId: string;
  organizationId: string;
  timeZone: string;
  /** Fixed offset from UTC (no daylight saving). */
  utcOffsetMinutes: number;
  /** Tesla quirk: the account also owns a car, listed in /products next to the site. */
  hasVehicle: boolean;
}

export interface DeviceProfile {
  oem: SimOem;
  accountIndex: number;
  generation: number;
  /** Tesla energy_site_id / Enphase system_id. */
  siteId: number;
  /** `tesla:<siteId>` / `enphase:<siteId>`. */
  deviceId: string;
  batterySerial: string;
  /** Enphase encharge device id; for Tesla a numeric id derived the same way. */
  batteryId: number;
  capacityWh: number;
  maxPowerW: number;
  solarPeakW: number;
  baseLoadW: number;
  initialSocPct: number;
  initialReservePct: number;
  initialStormEnabled: boolean;
  /** When this generation appeared (the simulator's start for generation 0). */
  addedAt: number;
  installedAt: number;
  /** The lifecycle tick in which this generation appeared. */
  addedTick: number;
}

export const MAX_ACCOUNTS_PER_OEM = 100_000;

export function createFleet(options: {
  seed: number;
  counts: Record<SimOem, number>;
  startedAt: number;
  lifecycleTickMs: number;
  offlineRate: number;
  churnRate: number;
}): Fleet {
  const { seed, counts, startedAt, lifecycleTickMs, offlineRate, churnRate } = options;
  const cursors = new Map<string, GenerationCursor>();

  const tickAt = (now: number) => Math.max(0, Math.floor((now - startedAt) / lifecycleTickMs));
  const tickStart = (tick: number) => startedAt + tick * lifecycleTickMs;

  const isChurnTick = (oem: SimOem, accountIndex: number, tick: number) =>
    tick >= 1 && uniform(seed, OEM_CODE[oem], accountIndex, tick, DRAW.churn) < churnRate;

  const isOfflineTick = (device: DeviceProfile, tick: number) =>
    tick > device.addedTick &&
    uniform(
      seed,
      OEM_CODE[device.oem],
      device.accountIndex,
      device.generation,
      tick,
      DRAW.offline,
    ) < offlineRate;

  const device = (oem: SimOem, accountIndex: number, generation: number, addedTick = -1) =>
    createDeviceProfile(seed, oem, accountIndex, generation, addedTick, tickStart);

  function currentDevice(oem: SimOem, accountIndex: number, now: number): DeviceProfile {
    const cursor = cursorAt(oem, accountIndex, tickAt(now));
    return device(oem, accountIndex, cursor.generation, cursor.sinceTick);
  }

  function cursorAt(oem: SimOem, accountIndex: number, tick: number): GenerationCursor {
    const key = `${oem}:${accountIndex}`;
    let cursor = cursors.get(key);
    if (cursor === undefined || cursor.tick > tick) {
      cursor = { tick: 0, generation: 0, sinceTick: 0 };
    }
    let { generation, sinceTick } = cursor;
    for (let t = cursor.tick + 1; t <= tick; t += 1) {
      if (isChurnTick(oem, accountIndex, t)) {
        generation += 1;
        sinceTick = t;
      }
    }
    cursor = { tick, generation, sinceTick };
    // Only accounts with churn need a cursor; the others are at generation 0 forever.
    if (churnRate > 0) cursors.set(key, cursor);
    return cursor;
  }

  return {
    seed,
    startedAt,
    lifecycleTickMs,
    accountCount: (oem) => counts[oem],
    home: (oem, accountIndex) => createHome(seed, oem, accountIndex),
    currentDevice,
    offlineSince(profile, now) {
      const tick = tickAt(now);
      if (!isOfflineTick(profile, tick)) return null;
      let first = tick;
      while (first - 1 > profile.addedTick && isOfflineTick(profile, first - 1)) first -= 1;
      return tickStart(first);
    },
    resolveSite(oem, siteId, now) {
      const relative = siteId - SITE_ID_BASE[oem];
      if (!Number.isSafeInteger(relative) || relative < 0) return null;
      const accountIndex = relative % GENERATION_STRIDE;
      if (accountIndex >= counts[oem]) return null;
      const current = currentDevice(oem, accountIndex, now);
      return current.siteId === siteId ? current : null;
    },
    truth(now, filter = {}) {
      const lastTick = tickAt(now);
      const oems = filter.oem ? [filter.oem] : (['tesla', 'enphase'] as const);
      const records: SimTruthDevice[] = [];
      for (const oem of oems) {
        const from = filter.accountIndex ?? 0;
        const to = filter.accountIndex !== undefined ? filter.accountIndex + 1 : counts[oem];
        for (let accountIndex = from; accountIndex < Math.min(to, counts[oem]); accountIndex += 1) {
          records.push(...accountTruth(oem, accountIndex, lastTick));
        }
      }
      return records;
    },
  };

  function accountTruth(oem: SimOem, accountIndex: number, lastTick: number): SimTruthDevice[] {
    const records: SimTruthDevice[] = [];
    let current = device(oem, accountIndex, 0, 0);
    let record = openRecord(current);
    let episode: { from: number; to: number | null } | null = null;

    for (let tick = 1; tick <= lastTick; tick += 1) {
      if (isChurnTick(oem, accountIndex, tick)) {
        if (episode) episode.to = tickStart(tick);
        episode = null;
        record.removedAt = tickStart(tick);
        records.push(record);
        current = device(oem, accountIndex, current.generation + 1, tick);
        record = openRecord(current);
        continue;
      }
      const offline = isOfflineTick(current, tick);
      if (offline && !episode) {
        episode = { from: tickStart(tick), to: null };
        record.offline.push(episode);
      } else if (!offline && episode) {
        episode.to = tickStart(tick);
        episode = null;
      }
    }
    records.push(record);
    return records;
  }

  function openRecord(profile: DeviceProfile): SimTruthDevice {
    return {
      oem: profile.oem,
      accountId: accountIdOf(profile.oem, profile.accountIndex),
      deviceId: profile.deviceId,
      oemDeviceId: String(profile.siteId),
      batterySerial: profile.batterySerial,
      addedAt: profile.addedAt,
      removedAt: null,
      offline: [],
    };
  }
}

export function accountIdOf(oem: SimOem, accountIndex: number): string {
  return `${oem}-acct-${String(accountIndex).padStart(6, '0')}`;
}

export function parseAccountId(accountId: string): { oem: SimOem; accountIndex: number } | null {
  const match = /^(tesla|enphase)-acct-(\d{6})$/.exec(accountId);
  if (!match) return null;
  return { oem: match[1] as SimOem, accountIndex: Number(match[2]) };
}

export const OEM_CODE: Record<SimOem, number> = { tesla: 1, enphase: 2 };

interface GenerationCursor {
  tick: number;
  generation: number;
  sinceTick: number;
}

// Site ids encode account and generation so any id can be resolved without a lookup table.
const GENERATION_STRIDE = 1_000_000;
const SITE_ID_BASE: Record<SimOem, number> = { tesla: 2_250_000_000_000, enphase: 400_000_000 };

const DRAW = {
  churn: 11,
  offline: 12,
  home: 21,
  device: 22,
} as const;

interface City {
  city: string;
  state: string;
  postalCode: string;
  latitude: number;
  longitude: number;
  timeZone: string;
  utcOffsetMinutes: number;
}

const CITIES: readonly City[] = [
  {
    city: 'Austin',
    state: 'TX',
    postalCode: '78701',
    latitude: 30.267,
    longitude: -97.743,
    timeZone: 'America/Chicago',
    utcOffsetMinutes: -360,
  },
  {
    city: 'Los Angeles',
    state: 'CA',
    postalCode: '90012',
    latitude: 34.052,
    longitude: -118.244,
    timeZone: 'America/Los_Angeles',
    utcOffsetMinutes: -480,
  },
  {
    city: 'San Diego',
    state: 'CA',
    postalCode: '92101',
    latitude: 32.716,
    longitude: -117.161,
    timeZone: 'America/Los_Angeles',
    utcOffsetMinutes: -480,
  },
  {
    city: 'Sacramento',
    state: 'CA',
    postalCode: '95814',
    latitude: 38.582,
    longitude: -121.494,
    timeZone: 'America/Los_Angeles',
    utcOffsetMinutes: -480,
  },
  {
    city: 'Phoenix',
    state: 'AZ',
    postalCode: '85004',
    latitude: 33.448,
    longitude: -112.074,
    timeZone: 'America/Phoenix',
    utcOffsetMinutes: -420,
  },
  {
    city: 'Denver',
    state: 'CO',
    postalCode: '80202',
    latitude: 39.739,
    longitude: -104.99,
    timeZone: 'America/Denver',
    utcOffsetMinutes: -420,
  },
  {
    city: 'Las Vegas',
    state: 'NV',
    postalCode: '89101',
    latitude: 36.169,
    longitude: -115.139,
    timeZone: 'America/Los_Angeles',
    utcOffsetMinutes: -480,
  },
  {
    city: 'Miami',
    state: 'FL',
    postalCode: '33130',
    latitude: 25.761,
    longitude: -80.191,
    timeZone: 'America/New_York',
    utcOffsetMinutes: -300,
  },
  {
    city: 'Boston',
    state: 'MA',
    postalCode: '02108',
    latitude: 42.36,
    longitude: -71.058,
    timeZone: 'America/New_York',
    utcOffsetMinutes: -300,
  },
  {
    city: 'Seattle',
    state: 'WA',
    postalCode: '98101',
    latitude: 47.606,
    longitude: -122.332,
    timeZone: 'America/Los_Angeles',
    utcOffsetMinutes: -480,
  },
  {
    city: 'Honolulu',
    state: 'HI',
    postalCode: '96813',
    latitude: 21.309,
    longitude: -157.858,
    timeZone: 'Pacific/Honolulu',
    utcOffsetMinutes: -600,
  },
  {
    city: 'Raleigh',
    state: 'NC',
    postalCode: '27601',
    latitude: 35.78,
    longitude: -78.639,
    timeZone: 'America/New_York',
    utcOffsetMinutes: -300,
  },
];

const FIRST_NAMES = [
  'Ava',
  'Ben',
  'Chloe',
  'Diego',
  'Emma',
  'Farid',
  'Grace',
  'Hiro',
  'Isla',
  'Jonas',
  'Kai',
  'Lena',
  'Maya',
  'Noah',
  'Olga',
  'Priya',
] as const;
const LAST_NAMES = [
  'Anders',
  'Baker',
  'Chen',
  'Diaz',
  'Evans',
  'Fischer',
  'Garcia',
  'Hughes',
  'Ito',
  'Jones',
  'Khan',
  'Lopez',
  'Moreau',
  'Nakamura',
  'Okafor',
  'Patel',
] as const;
const STREETS = [
  'Main St',
  'Oak Ave',
  'Sunset Blvd',
  'Elm St',
  'Solar Way',
  'Cedar Ln',
  'Maple Dr',
  'Park Rd',
] as const;
const TESLA_RESERVES = [10, 20, 20, 30, 50] as const;
const ENPHASE_RESERVES = [10, 20, 30] as const;
const INSTALL_EPOCH_MS = Date.UTC(2020, 0, 1);
const DAY_MS = 86_400_000;

function createHome(seed: number, oem: SimOem, accountIndex: number): Home {
  const code = OEM_CODE[oem];
  const draw = (field: number) => [seed, code, accountIndex, DRAW.home, field];
  const firstName = pick(FIRST_NAMES, ...draw(1));
  const lastName = pick(LAST_NAMES, ...draw(2));
  const city = pick(CITIES, ...draw(3));
  const organizationIndex = accountIndex % 2;

  return {
    oem,
    accountIndex,
    accountId: accountIdOf(oem, accountIndex),
    customer: {
      id: fakeCuid(seed, code, accountIndex, DRAW.home, 10),
      email: `${firstName}.${lastName}.${oem}${accountIndex}@example.com`.toLowerCase(),
      firstName,
      lastName,
      // 555-01xx numbers are reserved for fiction.
      phone: `+1555010${String(uniformInt(0, 9, ...draw(4)))}${String(accountIndex % 1000).padStart(3, '0')}`,
    },
    site: {
      id: fakeCuid(seed, code, accountIndex, DRAW.home, 11),
      name: `${lastName} Home`,
      address: {
        streetAddress1: `${uniformInt(1, 9999, ...draw(5))} ${pick(STREETS, ...draw(6))}`,
        city: city.city,
        state: city.state,
        postalCode: city.postalCode,
        country: 'US',
      },
      latitude: round(city.latitude + (uniform(...draw(7)) - 0.5) * 0.1, 6),
      longitude: round(city.longitude + (uniform(...draw(8)) - 0.5) * 0.1, 6),
    },
    workspaceId: fakeCuid(seed, 0, 0, DRAW.home, 100 + (accountIndex % 4)),
    organizationId: fakeCuid(seed, 0, 0, DRAW.home, 200 + organizationIndex),
    timeZone: city.timeZone,
    utcOffsetMinutes: city.utcOffsetMinutes,
    hasVehicle: oem === 'tesla' && uniform(...draw(9)) < 0.2,
  };
}

function createDeviceProfile(
  seed: number,
  oem: SimOem,
  accountIndex: number,
  generation: number,
  addedTick: number,
  tickStart: (tick: number) => number,
): DeviceProfile {
  const code = OEM_CODE[oem];
  const draw = (field: number) => [seed, code, accountIndex, generation, DRAW.device, field];
  const siteId = SITE_ID_BASE[oem] + generation * GENERATION_STRIDE + accountIndex;
  const tick = Math.max(0, addedTick);
  const addedAt = tickStart(tick);
  const isTesla = oem === 'tesla';
  const serialDigits = String(uniformInt(0, 99_999_999, ...draw(1))).padStart(8, '0');

  return {
    oem,
    accountIndex,
    generation,
    siteId,
    deviceId: `${oem}:${siteId}`,
    batterySerial: isTesla
      ? `TG12${serialDigits}${fakeHex(2, ...draw(2)).toUpperCase()}`
      : `4922${serialDigits}`,
    batteryId: 1_100_000_000 + uniformInt(0, 999_999_999, ...draw(3)),
    capacityWh: isTesla ? 13_500 : 5_000,
    maxPowerW: isTesla ? 5_000 : 3_840,
    solarPeakW: uniformInt(30, 90, ...draw(4)) * 100,
    baseLoadW: uniformInt(30, 90, ...draw(5)) * 10,
    initialSocPct: uniformInt(20, 95, ...draw(6)),
    initialReservePct: isTesla
      ? pick(TESLA_RESERVES, ...draw(7))
      : pick(ENPHASE_RESERVES, ...draw(7)),
    initialStormEnabled: uniform(...draw(8)) < 0.5,
    addedAt,
    installedAt:
      generation === 0 ? INSTALL_EPOCH_MS + uniformInt(0, 1500, ...draw(9)) * DAY_MS : addedAt,
    addedTick: tick,
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

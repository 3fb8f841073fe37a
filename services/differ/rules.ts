import { createHash } from 'node:crypto';
import type { BatteryState } from '../common/device-state';
import type { EventRecord } from '../common/events';
import { buildDeviceEvent } from './device-events';
import type { DeviceSample, DeviceSnapshot } from './device-state';

/**
 * The diff rules, free of Kafka: given the last snapshot of a device and a new sample, what the
 * receivers must be told and what the new snapshot is. Deterministic: the same inputs always
 * give the same events (same keys) and the same snapshot, which exactly-once reprocessing and
 * the replica hand-over rely on.
 */
export interface RuleConfig {
  /** 'deadband': device.updated only for a meaningful change; 'every-sample': for every fresh one. */
  updateMode: 'deadband' | 'every-sample';
  /** Follow device.discovered with a device.updated carrying the first state. */
  updatedOnDiscovery: boolean;
  /** Consecutive OFFLINE polls before device.disconnected. */
  offlinePolls: number;
  /** A numeric field moving less than its deadband (from the last reported value) is noise. */
  deadbands: {
    chargePercentage: number;
    chargeWh: number;
    /** chargeRate and gridPower. */
    powerW: number;
    /** whConsumed and gridEnergy. */
    energyWh: number;
    backupReserve: number;
  };
}

/**
 * discovered/updated/disconnected: events were emitted. deadband/unchanged: a fresh sample with
 * nothing meaningful to report. stale: not newer than what the differ already has. offline: an
 * OFFLINE poll counted towards disconnection. ignored: nothing to do (a device already
 * disconnected, or never seen online, reported offline or removed).
 */
export type SampleOutcome =
  | 'discovered'
  | 'updated'
  | 'disconnected'
  | 'deadband'
  | 'unchanged'
  | 'stale'
  | 'offline'
  | 'ignored';

export interface SampleVerdict {
  outcome: SampleOutcome;
  events: EventRecord[];
  /** The device's new snapshot; null when it does not change (nothing to write). */
  next: DeviceSnapshot | null;
}

export function applySample(
  previous: DeviceSnapshot | undefined,
  sample: DeviceSample,
  rules: RuleConfig,
): SampleVerdict {
  if (sample.connectivity === 'ONLINE') return applyOnline(previous, sample, rules);
  return applyNotReporting(previous, sample, rules);
}

/**
 * Stable hash of everything about a device except its state and the poll time. The members are
 * listed in a fixed order and serialised with JSON.stringify: canonicalJson (sorting keys at
 * every depth) cost 50 µs a sample here, a third of the differ's CPU per record.
 */
export function computeDescriptorHash(sample: DeviceSample): string {
  const { manufacturer, deviceModel, customer, site } = sample;
  const address = site.address;
  const descriptor = [
    sample.workspaceId,
    sample.organizationId,
    manufacturer.slug,
    manufacturer.displayName,
    deviceModel.slug,
    deviceModel.displayName,
    sample.deviceType,
    sample.tags,
    sample.createdAt,
    [
      customer.id,
      customer.referenceId,
      customer.email,
      customer.firstName,
      customer.lastName,
      customer.phone,
    ],
    [site.id, site.name, site.longitude, site.latitude],
    address
      ? [
          address.streetAddress1,
          address.streetAddress2,
          address.city,
          address.state,
          address.postalCode,
          address.country,
        ]
      : null,
  ];
  return createHash('sha1').update(JSON.stringify(descriptor)).digest('base64');
}

/** How a state differs from the last one reported, field by field against the deadbands. */
export function compareStates(
  baseline: BatteryState | null,
  state: BatteryState | null,
  deadbands: RuleConfig['deadbands'],
): 'changed' | 'deadband' | 'unchanged' {
  if (baseline === null || state === null) return baseline === state ? 'unchanged' : 'changed';

  const numeric: Array<[number | null, number | null, number]> = [
    [baseline.chargePercentage, state.chargePercentage, deadbands.chargePercentage],
    [baseline.charge, state.charge, deadbands.chargeWh],
    [baseline.chargeRate, state.chargeRate, deadbands.powerW],
    [baseline.gridPower, state.gridPower, deadbands.powerW],
    [baseline.whConsumed, state.whConsumed, deadbands.energyWh],
    [baseline.gridEnergy, state.gridEnergy, deadbands.energyWh],
    [baseline.backupReserve, state.backupReserve, deadbands.backupReserve],
  ];
  const categorical: Array<[unknown, unknown]> = [
    [baseline.chargingState, state.chargingState],
    [baseline.gridStatus, state.gridStatus],
    [baseline.isStormModeEnabled, state.isStormModeEnabled],
    [baseline.isStormModeActive, state.isStormModeActive],
  ];

  if (categorical.some(([before, after]) => before !== after)) return 'changed';

  let moved = false;
  for (const [before, after, deadband] of numeric) {
    if (before === after) continue;
    if (before === null || after === null) return 'changed';
    const delta = Math.abs(after - before);
    if (delta >= deadband && delta > 0) return 'changed';
    moved = true;
  }
  return moved ? 'deadband' : 'unchanged';
}

function applyOnline(
  previous: DeviceSnapshot | undefined,
  sample: DeviceSample,
  rules: RuleConfig,
): SampleVerdict {
  const stateAt = sample.state?.createdAt ?? sample.polledAt;
  if (previous && stateAt <= previous.lastStateAt) {
    return { outcome: 'stale', events: [], next: null };
  }

  const descriptorHash = computeDescriptorHash(sample);
  const firstSeenAt = previous?.firstSeenAt ?? sample.polledAt;
  const base = {
    deviceId: sample.deviceId,
    status: 'ONLINE' as const,
    offlinePolls: 0,
    firstSeenAt,
    lastPolledAt: Math.max(previous?.lastPolledAt ?? 0, sample.polledAt),
    lastStateAt: stateAt,
    descriptorHash,
  };

  // First sight, or back after device.disconnected.
  if (!previous || previous.status === 'DISCONNECTED') {
    const events = [buildDeviceEvent('device.discovered', sample, firstSeenAt)];
    if (rules.updatedOnDiscovery && sample.state) {
      events.push(buildDeviceEvent('device.updated', sample, firstSeenAt));
    }
    return { outcome: 'discovered', events, next: { ...base, reported: copyState(sample.state) } };
  }

  const stateChange = compareStates(previous.reported, sample.state, rules.deadbands);
  const isMeaningful =
    rules.updateMode === 'every-sample' ||
    stateChange === 'changed' ||
    descriptorHash !== previous.descriptorHash;
  if (isMeaningful) {
    return {
      outcome: 'updated',
      events: [buildDeviceEvent('device.updated', sample, firstSeenAt)],
      next: { ...base, reported: copyState(sample.state) },
    };
  }

  // Noise: remember the sample's time (so older ones stay stale) but keep the baseline, so a
  // slow drift still reports once it adds up to more than a deadband.
  const outcome = stateChange === 'deadband' ? 'deadband' : 'unchanged';
  return { outcome, events: [], next: { ...base, reported: previous.reported } };
}

function applyNotReporting(
  previous: DeviceSnapshot | undefined,
  sample: DeviceSample,
  rules: RuleConfig,
): SampleVerdict {
  if (!previous || previous.status === 'DISCONNECTED') {
    return { outcome: 'ignored', events: [], next: null };
  }
  if (sample.polledAt <= previous.lastPolledAt) {
    return { outcome: 'stale', events: [], next: null };
  }

  const offlinePolls = sample.connectivity === 'OFFLINE' ? previous.offlinePolls + 1 : 0;
  const next = { ...previous, lastPolledAt: sample.polledAt, offlinePolls };
  if (sample.connectivity === 'OFFLINE' && offlinePolls < rules.offlinePolls) {
    return { outcome: 'offline', events: [], next };
  }

  const event = buildDeviceEvent('device.disconnected', sample, previous.firstSeenAt);
  return {
    outcome: 'disconnected',
    events: [event],
    next: { ...next, status: 'DISCONNECTED', offlinePolls: 0 },
  };
}

function copyState(state: BatteryState | null): BatteryState | null {
  return state ? { ...state } : null;
}

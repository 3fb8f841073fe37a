import { defaultRuleConfig } from '../../services/differ/config';
import type { DeviceSample, DeviceSnapshot } from '../../services/differ/device-state';
import { applySample, type RuleConfig, type SampleOutcome } from '../../services/differ/rules';
import { MINUTE, T0, makeOffline, makeSample, makeState } from './samples';

type Step = { sample: DeviceSample; outcome: SampleOutcome; events: string[] };

/** Runs samples through the rules in order, as the differ does for one device. */
function run(steps: Step[], rules: RuleConfig = defaultRuleConfig()) {
  let snapshot: DeviceSnapshot | undefined;
  const seen: Array<{ outcome: SampleOutcome; events: string[] }> = [];
  for (const step of steps) {
    const verdict = applySample(snapshot, step.sample, rules);
    seen.push({ outcome: verdict.outcome, events: verdict.events.map((event) => event.type) });
    snapshot = verdict.next ?? snapshot;
  }
  return { seen, expected: steps.map(({ outcome, events }) => ({ outcome, events })), snapshot };
}

const online = (minute: number, state: Parameters<typeof makeState>[1] = {}) =>
  makeSample(T0 + minute * MINUTE, { state: makeState(T0 + minute * MINUTE - 1000, state) });
const first: Step = {
  sample: online(0),
  outcome: 'discovered',
  events: ['device.discovered', 'device.updated'],
};

describe('rules', () => {
  const cases: Array<[string, Step[]]> = [
    ['first sight emits discovered, then updated with the first state', [first]],
    [
      'an unchanged sample emits nothing',
      [first, { sample: online(5), outcome: 'unchanged', events: [] }],
    ],
    [
      'a change inside the deadband emits nothing',
      [
        first,
        {
          sample: online(5, { chargePercentage: 59.8, chargeRate: -2250 }),
          outcome: 'deadband',
          events: [],
        },
      ],
    ],
    [
      'a change outside the deadband emits updated',
      [
        first,
        {
          sample: online(5, { chargePercentage: 60.4 }),
          outcome: 'updated',
          events: ['device.updated'],
        },
      ],
    ],
    [
      'a slow drift reports once it adds up past the deadband',
      [
        first,
        { sample: online(5, { chargePercentage: 59.9 }), outcome: 'deadband', events: [] },
        {
          sample: online(10, { chargePercentage: 60.5 }),
          outcome: 'updated',
          events: ['device.updated'],
        },
      ],
    ],
    [
      'a categorical change emits updated',
      [
        first,
        {
          sample: online(5, { chargingState: 'idle' }),
          outcome: 'updated',
          events: ['device.updated'],
        },
      ],
    ],
    [
      'a value the OEM stops sending emits updated',
      [
        first,
        { sample: online(5, { gridPower: null }), outcome: 'updated', events: ['device.updated'] },
      ],
    ],
    [
      'a change of owner data emits updated',
      [
        first,
        {
          sample: makeSample(T0 + 5 * MINUTE, { tags: ['battery'] }),
          outcome: 'updated',
          events: ['device.updated'],
        },
      ],
    ],
    [
      'a new site address emits updated',
      [
        first,
        {
          sample: makeSample(T0 + 5 * MINUTE, {
            site: {
              ...makeSample(T0).site,
              address: { ...makeSample(T0).site.address!, city: 'Boston' },
            },
          }),
          outcome: 'updated',
          events: ['device.updated'],
        },
      ],
    ],
    [
      'a duplicate sample changes nothing',
      [first, { sample: online(0), outcome: 'stale', events: [] }],
    ],
    [
      'a sample whose state is not newer (OEM cache) changes nothing',
      [
        first,
        {
          sample: makeSample(T0 + 5 * MINUTE, {
            state: makeState(T0 - 1000, { chargePercentage: 10 }),
          }),
          outcome: 'stale',
          events: [],
        },
      ],
    ],
    [
      'an out-of-order sample changes nothing',
      [
        first,
        {
          sample: online(10, { chargePercentage: 70 }),
          outcome: 'updated',
          events: ['device.updated'],
        },
        { sample: online(5, { chargePercentage: 20 }), outcome: 'stale', events: [] },
      ],
    ],
    [
      'fewer offline polls than the threshold emit nothing',
      [
        first,
        { sample: makeOffline(T0 + 5 * MINUTE), outcome: 'offline', events: [] },
        { sample: makeOffline(T0 + 10 * MINUTE), outcome: 'offline', events: [] },
        { sample: online(15), outcome: 'unchanged', events: [] },
        { sample: makeOffline(T0 + 20 * MINUTE), outcome: 'offline', events: [] },
      ],
    ],
    [
      'enough consecutive offline polls emit disconnected once',
      [
        first,
        { sample: makeOffline(T0 + 5 * MINUTE), outcome: 'offline', events: [] },
        { sample: makeOffline(T0 + 10 * MINUTE), outcome: 'offline', events: [] },
        {
          sample: makeOffline(T0 + 15 * MINUTE),
          outcome: 'disconnected',
          events: ['device.disconnected'],
        },
        { sample: makeOffline(T0 + 20 * MINUTE), outcome: 'ignored', events: [] },
        { sample: makeOffline(T0 + 25 * MINUTE, 'REMOVED'), outcome: 'ignored', events: [] },
      ],
    ],
    [
      'removal emits disconnected at once',
      [
        first,
        {
          sample: makeOffline(T0 + 5 * MINUTE, 'REMOVED'),
          outcome: 'disconnected',
          events: ['device.disconnected'],
        },
      ],
    ],
    [
      'return after disconnection emits discovered again',
      [
        first,
        {
          sample: makeOffline(T0 + 5 * MINUTE, 'REMOVED'),
          outcome: 'disconnected',
          events: ['device.disconnected'],
        },
        {
          sample: online(10),
          outcome: 'discovered',
          events: ['device.discovered', 'device.updated'],
        },
        { sample: online(15), outcome: 'unchanged', events: [] },
      ],
    ],
    [
      'a stale offline poll does not count',
      [
        first,
        { sample: online(10), outcome: 'unchanged', events: [] },
        { sample: makeOffline(T0 + 5 * MINUTE), outcome: 'stale', events: [] },
      ],
    ],
    [
      'a device never seen online is ignored while offline or removed',
      [
        { sample: makeOffline(T0), outcome: 'ignored', events: [] },
        { sample: makeOffline(T0 + MINUTE, 'REMOVED'), outcome: 'ignored', events: [] },
        {
          sample: online(2),
          outcome: 'discovered',
          events: ['device.discovered', 'device.updated'],
        },
      ],
    ],
  ];

  test.each(cases)('%s', (_name, steps) => {
    const { seen, expected } = run(steps);
    expect(seen).toEqual(expected);
  });

  test('every-sample mode emits updated for every fresh sample, but not for stale ones', () => {
    const rules: RuleConfig = { ...defaultRuleConfig(), updateMode: 'every-sample' };
    const { seen, expected } = run(
      [
        first,
        { sample: online(5), outcome: 'updated', events: ['device.updated'] },
        { sample: online(5), outcome: 'stale', events: [] },
      ],
      rules,
    );
    expect(seen).toEqual(expected);
  });

  test('the offline threshold and deadbands come from the configuration', () => {
    const rules: RuleConfig = {
      ...defaultRuleConfig(),
      offlinePolls: 1,
      deadbands: { ...defaultRuleConfig().deadbands, chargePercentage: 20 },
    };
    const { seen, expected } = run(
      [
        { ...first, events: ['device.discovered'] },
        { sample: online(5, { chargePercentage: 75 }), outcome: 'deadband', events: [] },
        {
          sample: makeOffline(T0 + 10 * MINUTE),
          outcome: 'disconnected',
          events: ['device.disconnected'],
        },
      ],
      { ...rules, updatedOnDiscovery: false },
    );
    expect(seen).toEqual(expected);
  });

  test('data.createdAt stays the first sighting when the OEM gives none, across a return', () => {
    const { snapshot } = run([
      first,
      {
        sample: makeOffline(T0 + 5 * MINUTE, 'REMOVED'),
        outcome: 'disconnected',
        events: ['device.disconnected'],
      },
    ]);
    const verdict = applySample(snapshot, online(60), defaultRuleConfig());
    const discovered = JSON.parse(verdict.events[0]!.data) as {
      createdAt: string;
      updatedAt: string;
    };
    expect(discovered.createdAt).toBe('2024-08-22T15:54:52.013Z');
    expect(discovered.updatedAt).toBe(new Date(T0 + 60 * MINUTE).toISOString());
  });

  test('the same sample and snapshot always give the same event keys', () => {
    const once = applySample(undefined, online(0), defaultRuleConfig());
    const again = applySample(undefined, online(0), defaultRuleConfig());
    expect(again.events.map((event) => event.key)).toEqual(once.events.map((event) => event.key));
    expect(again.events).toEqual(once.events);
  });
});

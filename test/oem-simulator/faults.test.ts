import { startSimulator } from '../../services/oem-simulator/simulator';
import {
  FAULT_KINDS,
  type FaultKind,
  type SimulatorHandle,
} from '../../services/oem-simulator/types';
import { call, login, type HttpAnswer, type OemClient } from './oem-client';

const SLOW_MS = 800;

describe('oem-simulator faults', () => {
  let sim: SimulatorHandle;
  let tesla: OemClient[];

  beforeAll(async () => {
    sim = await startSimulator({
      seed: 21,
      fleet: { tesla: 5, enphase: 2 },
      tokenTtlSeconds: 86_400,
    });
    tesla = await Promise.all(
      sim
        .accounts()
        .filter((a) => a.oem === 'tesla')
        .map((a) => login(sim.url, a)),
    );
  });

  afterAll(() => sim.stop());

  it('injects each Tesla fault kind at roughly its rate and counts every one', async () => {
    const rate = 0.1;
    const rates = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, rate]));
    sim.setFaults({ tesla: rates, slowDelayMs: SLOW_MS, retryAfterSeconds: 2 });
    const before = sim.stats().faultsByOem.tesla;

    const perClient = 80;
    const observed = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<
      FaultKind,
      number
    >;
    await Promise.all(
      tesla.map(async (client) => {
        for (let i = 0; i < perClient; i += 1) {
          const answer = await client.get(
            `/api/1/energy_sites/${client.account.siteIds[0]}/live_status`,
          );
          const kind = classifyTesla(answer);
          if (kind) observed[kind] += 1;
        }
      }),
    );
    sim.setFaults({});

    const total = tesla.length * perClient;
    const after = sim.stats().faultsByOem.tesla;
    for (const kind of FAULT_KINDS) {
      const counted = after[kind] - before[kind];
      expect({ kind, counted }).toEqual({ kind, counted: observed[kind] });
      expect(counted / total).toBeGreaterThan(rate * 0.4);
      expect(counted / total).toBeLessThan(rate * 1.8);
    }
  });

  it('draws the same faults in the same order for the same seed', async () => {
    const statuses = async () => {
      const other = await startSimulator({ seed: 77, fleet: { tesla: 1, enphase: 0 } });
      other.setFaults({ tesla: { serverError: 0.3, rateLimit: 0.3 } });
      const client = await login(other.url, other.accounts()[0]!);
      const seen: number[] = [];
      for (let i = 0; i < 30; i += 1) {
        seen.push(
          (await client.get(`/api/1/energy_sites/${client.account.siteIds[0]}/live_status`)).status,
        );
      }
      await other.stop();
      return seen;
    };

    const first = await statuses();
    expect(await statuses()).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 429, 500, 503]));
  });

  it('sends Retry-After with 429 and the upstream internal error body with 500', async () => {
    const client = tesla[0]!;
    const path = `/api/1/energy_sites/${client.account.siteIds[0]}/live_status`;
    sim.setFaults({ tesla: { rateLimit: 1 }, retryAfterSeconds: 7 });
    const limited = await client.get(path);
    sim.setFaults({ tesla: { serverError: 1 } });
    const failed = await client.get(path);
    sim.setFaults({});

    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({
      response: null,
      error: 'upstream internal error',
      error_description: '',
    });
  });

  it('applies per-device rates to that device only', async () => {
    const [target, bystander] = tesla;
    const path = (c: OemClient) => `/api/1/energy_sites/${c.account.siteIds[0]}/live_status`;
    sim.setFaults({ devices: { [`tesla:${target!.account.siteIds[0]}`]: { offline: 1 } } });

    const targeted = await Promise.all([1, 2, 3].map(() => target!.get(path(target!))));
    const spared = await Promise.all([1, 2, 3].map(() => bystander!.get(path(bystander!))));
    sim.setFaults({});

    expect(targeted.map((a) => a.status)).toEqual([408, 408, 408]);
    expect(spared.map((a) => a.status)).toEqual([200, 200, 200]);
  });

  it('answers slower than a client timeout and still counts the fault', async () => {
    const client = tesla[1]!;
    sim.setFaults({ tesla: { slow: 1 }, slowDelayMs: 2_000 });
    const before = sim.stats().faults.slow;

    const outcome = await fetch(
      `${sim.url}/tesla/api/1/energy_sites/${client.account.siteIds[0]}/live_status`,
      {
        headers: { authorization: `Bearer ${client.accessToken}` },
        signal: AbortSignal.timeout(200),
      },
    ).then(
      () => 'answered',
      (err: Error) => err.name,
    );
    sim.setFaults({});

    expect(outcome).toBe('TimeoutError');
    expect(sim.stats().faults.slow).toBe(before + 1);
  });

  it('shows Enphase data faults in the body: stale, missing, other units, truncated', async () => {
    const enphase = await login(
      sim.url,
      sim.accounts().find((a) => a.oem === 'enphase')!,
    );
    const path = `/api/v4/systems/${enphase.account.siteIds[0]}/latest_telemetry`;
    const once = async (kind: FaultKind) => {
      sim.setFaults({ enphase: { [kind]: 1 } });
      const answer = await enphase.get(path);
      sim.setFaults({});
      return answer;
    };

    const normal = await enphase.get(path);
    const offline = await once('offline');
    const missing = await once('missingFields');
    const units = await once('otherUnits');
    const malformed = await once('malformedJson');
    const power = (a: HttpAnswer) => a.json.devices.encharges[0].power;

    expect(offline.status).toBe(200);
    expect(power(offline)).toBeNull();
    expect(missing.json.devices.encharges[0]).not.toHaveProperty('power');
    expect(Math.abs(power(units))).toBeLessThan(10);
    expect(malformed.status).toBe(200);
    expect(malformed.json).toBeUndefined();
    expect(normal.json.devices.meters[0].power).toBeGreaterThanOrEqual(0);
  });

  it('counts injected faults in /metrics and rejects an invalid configuration', async () => {
    const metrics = await call(`${sim.url}/metrics`);
    const rejected = await call(`${sim.url}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tesla: { rateLimit: 2 } }),
    });
    const accepted = await call(`${sim.url}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enphase: { serverError: 0.5 } }),
    });
    sim.setFaults({});

    expect(metrics.text).toMatch(
      /gridpulse_oem_sim_faults_injected_total\{oem="tesla",kind="rateLimit",service="oem-simulator"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /gridpulse_oem_sim_requests_total\{oem="tesla",endpoint="live_status",status="200",service="oem-simulator"\}/,
    );
    expect(rejected.status).toBe(400);
    expect(rejected.json.code).toBe('GP_SIM_FAULT_CONFIG_INVALID');
    expect(accepted.status).toBe(200);
    expect(accepted.json.enphase).toEqual({ serverError: 0.5 });
  });
});

/** Which fault a Tesla live_status answer shows, from the outside. */
function classifyTesla(answer: HttpAnswer): FaultKind | null {
  if (answer.status === 401) return 'expiredToken';
  if (answer.status === 429) return 'rateLimit';
  if (answer.status >= 500) return 'serverError';
  if (answer.status === 408) return 'offline';
  if (answer.durationMs >= SLOW_MS - 50) return 'slow';
  if (answer.json === undefined) return 'malformedJson';
  const body = answer.json.response;
  if (!('percentage_charged' in body)) return 'missingFields';
  if (body.total_pack_energy === 13.5) return 'otherUnits';
  return null;
}

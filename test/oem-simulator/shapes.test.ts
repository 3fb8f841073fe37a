import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimAccount, SimulatorHandle } from '../../services/oem-simulator/types';
import { call, enphaseRefresh, login, shapeDifferences, type OemClient } from './oem-client';

const FIXTURES = join(__dirname, '..', 'fixtures', 'oem');
const fixture = (path: string): any => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));

describe('oem-simulator response shapes', () => {
  let sim: SimulatorHandle;
  let tesla: OemClient;
  let enphase: OemClient;
  let enphaseAccount: SimAccount;

  beforeAll(async () => {
    sim = await startSimulator({ seed: 11, fleet: { tesla: 2, enphase: 2 } });
    const accounts = sim.accounts();
    tesla = await login(
      sim.url,
      accounts.find((a) => a.oem === 'tesla')!,
    );
    enphaseAccount = accounts.find((a) => a.oem === 'enphase')!;
    enphase = await login(sim.url, enphaseAccount);
  });

  afterAll(() => sim.stop());

  describe('tesla', () => {
    it('lists battery sites like the products fixture', async () => {
      const answer = await tesla.get('/api/1/products');
      const expected = fixture('tesla/ha-teslemetry-products.json');
      const site = answer.json.response.find((p: any) => p.resource_type === 'battery');

      expect(answer.status).toBe(200);
      expect(answer.json.count).toBe(answer.json.response.length);
      expect(shapeDifferences(expected.response[1], site)).toEqual([]);
      expect(String(site.energy_site_id)).toBe(tesla.account.siteIds[0]);
    });

    it('serves live_status like the fixture, in the response envelope', async () => {
      const siteId = tesla.account.siteIds[0];
      const answer = await tesla.get(`/api/1/energy_sites/${siteId}/live_status`);

      expect(answer.status).toBe(200);
      expect(
        shapeDifferences(fixture('tesla/ha-teslemetry-live_status.json'), answer.json),
      ).toEqual([]);
      expect(answer.json.response.timestamp).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
      );
    });

    it('serves site_info like the Fleet fixture, batteries and gateways included', async () => {
      const siteId = tesla.account.siteIds[0];
      const answer = await tesla.get(`/api/1/energy_sites/${siteId}/site_info`);

      expect(answer.status).toBe(200);
      expect(shapeDifferences(fixture('tesla/ha-tesla_fleet-site_info.json'), answer.json)).toEqual(
        [],
      );
      expect(answer.json.response.battery_count).toBe(1);
    });

    it('answers commands with the captured command body', async () => {
      const siteId = tesla.account.siteIds[0];
      const answer = await tesla.send('POST', `/api/1/energy_sites/${siteId}/operation`, {
        default_real_mode: 'autonomous',
      });

      expect(answer.status).toBe(200);
      expect(answer.json).toEqual(
        fixture('tesla/issue-alandtse-tesla-250-operation-command-response.json'),
      );
    });

    it('answers an offline site with the 408 error shape', async () => {
      const siteId = tesla.account.siteIds[0];
      sim.setFaults({ devices: { [`tesla:${siteId}`]: { offline: 1 } } });
      const answer = await tesla.get(`/api/1/energy_sites/${siteId}/live_status`);
      sim.setFaults({});

      expect(answer.status).toBe(408);
      expect(Object.keys(answer.json).sort()).toEqual(
        Object.keys(fixture('tesla/teslajsonpy-mock-error-408-unavailable.json')).sort(),
      );
      expect(answer.json.response).toBeNull();
    });
  });

  describe('enphase', () => {
    it('issues tokens shaped like the captured token response', async () => {
      const account = sim.accounts().find((a) => a.accountId === enphaseAccount.accountId)!;
      const answer = await enphaseRefresh(sim.url, account);

      expect(answer.status).toBe(200);
      expect(Object.keys(answer.json).sort()).toEqual(
        Object.keys(fixture('enphase/solarnetwork-oauth-token-response.json')).sort(),
      );
    });

    it('lists systems with the paging fields of the fixtures', async () => {
      const answer = await enphase.get('/api/v4/systems');

      expect(answer.status).toBe(200);
      expect(
        shapeDifferences(fixture('enphase/solarnetwork-systems-list.json'), answer.json),
      ).toEqual([]);
      expect(Object.keys(answer.json).sort()).toEqual(
        Object.keys(fixture('enphase/doc-examples/systems-list.json')).sort(),
      );
    });

    it('lists devices with the battery under encharges', async () => {
      const id = enphase.account.siteIds[0];
      const answer = await enphase.get(`/api/v4/systems/${id}/devices`);
      const expected = fixture('enphase/solarnetwork-system-devices.json');

      expect(answer.status).toBe(200);
      for (const kind of ['micros', 'meters', 'gateways', 'encharges']) {
        const problems = shapeDifferences(expected.devices[kind][0], answer.json.devices[kind][0]);
        expect({ kind, problems }).toEqual({ kind, problems: [] });
      }
    });

    it('serves battery telemetry and latest telemetry like the doc examples', async () => {
      const id = enphase.account.siteIds[0];
      sim.advance(20 * 60_000); // let at least one 15-minute interval complete
      const battery = await enphase.get(`/api/v4/systems/${id}/telemetry/battery`);
      const latest = await enphase.get(`/api/v4/systems/${id}/latest_telemetry`);
      const latestFixture = fixture('enphase/doc-examples/latest-telemetry.json');

      expect(battery.json.intervals.length).toBeGreaterThan(0);
      expect(
        shapeDifferences(fixture('enphase/doc-examples/telemetry-battery.json'), battery.json),
      ).toEqual([]);
      expect(battery.json.last_reported_aggregate_soc).toMatch(/^\d+%$/);
      expect(
        shapeDifferences(latestFixture.devices.meters[0], latest.json.devices.meters[0]),
      ).toEqual([]);
      expect(
        shapeDifferences(latestFixture.devices.encharges[0], latest.json.devices.encharges[0]),
      ).toEqual([]);
    });

    it('serves battery settings and storm guard with the documented keys', async () => {
      const id = enphase.account.siteIds[0];
      const keys = (value: object) => Object.keys(value).sort();
      const settings = await enphase.get(`/api/v4/systems/config/${id}/battery_settings`);
      const putSettings = await enphase.send(
        'PUT',
        `/api/v4/systems/config/${id}/battery_settings`,
        {
          battery_mode: 'self-consumption',
          reserve_soc: 30,
        },
      );
      const storm = await enphase.get(`/api/v4/systems/config/${id}/storm_guard`);
      const putStorm = await enphase.send('PUT', `/api/v4/systems/config/${id}/storm_guard`, {
        storm_guard_status: 'enabled',
      });

      expect(keys(settings.json)).toEqual(
        keys(fixture('enphase/doc-examples/battery-settings.json')),
      );
      expect(keys(putSettings.json)).toEqual(
        keys(fixture('enphase/doc-examples/battery-settings-put-response.json')),
      );
      expect(keys(storm.json)).toEqual(keys(fixture('enphase/doc-examples/storm-guard.json')));
      expect(keys(putStorm.json)).toEqual(
        keys(fixture('enphase/doc-examples/storm-guard-put-response.json')),
      );
      expect(putStorm.json.storm_guard_status).toMatch(/^Enabled \((In)?[Aa]ctive\)$/);
    });

    it('answers errors with the doc-example error bodies', async () => {
      const id = enphase.account.siteIds[0];
      const noKey = await call(`${sim.url}/enphase/api/v4/systems`, {
        headers: { authorization: `Bearer ${enphase.accessToken}` },
      });
      const unknown = await enphase.get('/api/v4/systems/1/devices');
      sim.setFaults({ enphase: { rateLimit: 1 }, retryAfterSeconds: 3 });
      const limited = await enphase.get(`/api/v4/systems/${id}/telemetry/battery`);
      sim.setFaults({});

      expect(noKey.status).toBe(401);
      expect(noKey.json).toEqual(fixture('enphase/doc-examples/error-401.json'));
      expect(unknown.status).toBe(404);
      expect(Object.keys(unknown.json).sort()).toEqual(
        Object.keys(fixture('enphase/doc-examples/error-404.json')).sort(),
      );
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('3');
      expect(Object.keys(limited.json).sort()).toEqual(
        Object.keys(fixture('enphase/doc-examples/error-429.json')).sort(),
      );
    });
  });
});

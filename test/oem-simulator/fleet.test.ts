import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle, SimulatorOptions } from '../../services/oem-simulator/types';
import { login, type OemClient } from './oem-client';

// A step-aligned noon UTC, so readings fall on the 60 s integration grid.
const T0 = Date.UTC(2025, 5, 1, 18, 0, 0);

describe('oem-simulator fleet', () => {
  const started: SimulatorHandle[] = [];
  const start = async (options: SimulatorOptions) => {
    const sim = await startSimulator(options);
    started.push(sim);
    return sim;
  };

  afterAll(async () => {
    await Promise.all(started.map((sim) => sim.stop()));
  });

  async function liveStatuses(sim: SimulatorHandle) {
    const bodies: unknown[] = [];
    for (const account of sim.accounts().filter((a) => a.oem === 'tesla')) {
      const client = await login(sim.url, account);
      bodies.push((await client.get(`/api/1/energy_sites/${account.siteIds[0]}/live_status`)).json);
    }
    return bodies;
  }

  it('gives the same fleet and readings for the same seed, other ones for another seed', async () => {
    const options = { fleet: { tesla: 3, enphase: 1 }, clock: () => T0 };
    const a = await start({ ...options, seed: 5 });
    const b = await start({ ...options, seed: 5 });
    const c = await start({ ...options, seed: 6 });

    expect(b.accounts()).toEqual(a.accounts());
    expect(await liveStatuses(b)).toEqual(await liveStatuses(a));
    expect(c.accounts().map((x) => x.customer)).not.toEqual(a.accounts().map((x) => x.customer));
    expect(await liveStatuses(c)).not.toEqual(await liveStatuses(a));
  });

  describe('physics', () => {
    let sim: SimulatorHandle;
    let tesla: OemClient;
    let siteId: string;
    const read = async () =>
      (await tesla.get(`/api/1/energy_sites/${siteId}/live_status`)).json.response;

    beforeAll(async () => {
      sim = await start({
        seed: 9,
        fleet: { tesla: 1, enphase: 0 },
        clock: () => T0,
        tokenTtlSeconds: 365 * 86_400,
      });
      tesla = await login(sim.url, sim.accounts()[0]!);
      siteId = tesla.account.siteIds[0]!;
    });

    it('balances the grid against load, solar and battery', async () => {
      for (let i = 0; i < 24; i += 1) {
        const r = await read();
        expect(r.grid_power).toBeCloseTo(r.load_power - r.solar_power - r.battery_power, 6);
        sim.advance(3_600_000);
      }
    });

    it('produces no solar at local night and some around local noon', async () => {
      const home = sim.accounts()[0]!;
      const samples: Array<{ hour: number; solar: number }> = [];
      for (let i = 0; i < 24; i += 1) {
        const r = await read();
        samples.push({ hour: Number(r.timestamp.slice(11, 13)), solar: r.solar_power });
        sim.advance(3_600_000);
      }

      expect(home.site.address.country).toBe('US');
      expect(samples.filter((s) => s.hour < 5 || s.hour > 19).every((s) => s.solar === 0)).toBe(
        true,
      );
      expect(samples.filter((s) => s.hour >= 10 && s.hour <= 14).some((s) => s.solar > 0)).toBe(
        true,
      );
    });

    it('integrates state of charge from battery power', async () => {
      sim.advance(60_000 - (sim.now() % 60_000)); // to a grid point
      const before = await read();
      sim.advance(30_000);
      const after = await read();

      const expectedWh = before.energy_left - (before.battery_power * 30) / 3600;
      expect(after.energy_left).toBeCloseTo(expectedWh, 1);
      expect(after.percentage_charged).toBeCloseTo((after.energy_left / 13_500) * 100, 1);
    });

    it('never discharges below the backup reserve', async () => {
      await tesla.send('POST', `/api/1/energy_sites/${siteId}/backup`, {
        backup_reserve_percent: 100,
      });
      await tesla.send('POST', `/api/1/energy_sites/${siteId}/operation`, {
        default_real_mode: 'self_consumption',
      });
      const readings = [];
      for (let i = 0; i < 24; i += 1) {
        sim.advance(60 * 60_000);
        readings.push(await read());
      }

      expect(readings.every((r) => r.battery_power <= 0)).toBe(true);
      expect(readings.at(-1).percentage_charged).toBeGreaterThan(99);
    });
  });

  describe('enphase reports', () => {
    it('holds telemetry still between 5-minute reports, at the values of the report instant', async () => {
      const sim = await start({
        seed: 9,
        fleet: { tesla: 0, enphase: 1 },
        clock: () => T0,
        tokenTtlSeconds: 365 * 86_400,
      });
      const enphase = await login(sim.url, sim.accounts()[0]!);
      const system = `/api/v4/systems/${enphase.account.siteIds[0]}`;
      const read = async () => {
        const latest = (await enphase.get(`${system}/latest_telemetry`)).json.devices;
        const battery = (await enphase.get(`${system}/telemetry/battery`)).json;
        return {
          reportAt: latest.encharges[0].last_report_at,
          powers: [...latest.meters, ...latest.encharges].map((d: any) => d.power),
          soc: battery.last_reported_aggregate_soc,
        };
      };

      // Minute by minute through two report windows: readings change only at the 5-minute
      // marks, and a window's readings are those of its mark, whatever was read before.
      sim.advance(60_000);
      const byMinute = [];
      for (let minute = 1; minute <= 11; minute += 1) {
        byMinute.push(await read());
        sim.advance(60_000);
      }
      const windowOf = (minute: number) => Math.floor(minute / 5);
      for (let minute = 2; minute <= 11; minute += 1) {
        const [before, now] = [byMinute[minute - 2]!, byMinute[minute - 1]!];
        expect(now.reportAt).toBe(Math.floor(T0 / 1000) + windowOf(minute) * 300);
        if (windowOf(minute) === windowOf(minute - 1)) expect(now).toEqual(before);
      }
      // Noon in the simulated summer: the readings do move from one report to the next.
      expect(new Set(byMinute.map((r) => JSON.stringify(r.powers))).size).toBe(3);

      // A second simulator read only at minute 10 serves minute 10's report as the first did.
      let now = T0;
      const other = await start({
        seed: 9,
        fleet: { tesla: 0, enphase: 1 },
        clock: () => now,
        tokenTtlSeconds: 365 * 86_400,
      });
      const otherClient = await login(other.url, other.accounts()[0]!);
      now = T0 + 12 * 60_000;
      const latest = (await otherClient.get(`${system}/latest_telemetry`)).json.devices;
      expect([...latest.meters, ...latest.encharges].map((d: any) => d.power)).toEqual(
        byMinute[9]!.powers,
      );
    });
  });

  describe('commands', () => {
    it('changes Tesla reserve, mode and storm mode, visible in site_info', async () => {
      const sim = await start({ seed: 2, fleet: { tesla: 1, enphase: 0 } });
      const tesla = await login(sim.url, sim.accounts()[0]!);
      const site = `/api/1/energy_sites/${tesla.account.siteIds[0]}`;

      const answers = [
        await tesla.send('POST', `${site}/backup`, { backup_reserve_percent: 42 }),
        await tesla.send('POST', `${site}/operation`, { default_real_mode: 'backup' }),
        await tesla.send('POST', `${site}/storm_mode`, { enabled: false }),
        await tesla.send('POST', `${site}/backup`, { backup_reserve_percent: 140 }),
      ];
      const info = (await tesla.get(`${site}/site_info`)).json.response;

      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 400]);
      expect(info.backup_reserve_percent).toBe(42);
      expect(info.default_real_mode).toBe('backup');
      expect(info.user_settings.storm_mode_enabled).toBe(false);
    });

    it('changes Enphase battery settings and storm guard, visible in later reads', async () => {
      const sim = await start({ seed: 2, fleet: { tesla: 0, enphase: 1 } });
      const enphase = await login(sim.url, sim.accounts()[0]!);
      const config = `/api/v4/systems/config/${enphase.account.siteIds[0]}`;

      await enphase.send('PUT', `${config}/battery_settings`, {
        battery_mode: 'savings-mode',
        reserve_soc: 55,
      });
      await enphase.send('PUT', `${config}/storm_guard`, { storm_guard_status: 'disabled' });
      const rejected = await enphase.send('PUT', `${config}/battery_settings`, {
        battery_mode: 'x',
      });
      const settings = (await enphase.get(`${config}/battery_settings`)).json;
      const storm = (await enphase.get(`${config}/storm_guard`)).json;

      expect(rejected.status).toBe(422);
      expect(settings.battery_mode).toBe('Savings Mode');
      expect(settings.reserve_soc).toBe(55);
      expect(storm.storm_guard_status).toBe('disabled');
    });
  });

  describe('lifecycle', () => {
    it('takes devices offline and back, and replaces some, as /_sim/truth records', async () => {
      let now = T0;
      const sim = await start({
        seed: 4,
        fleet: { tesla: 4, enphase: 4 },
        offlineRate: 0.3,
        churnRate: 0.1,
        lifecycleTickMs: 1000,
        tokenTtlSeconds: 100_000,
        clock: () => now,
      });
      const clients = await Promise.all(sim.accounts().map((a) => login(sim.url, a)));
      let offlineSeen = 0;
      let onlineSeen = 0;

      for (let tick = 0; tick < 20; tick += 1) {
        now += 1000;
        const truth = (await (await fetch(`${sim.url}/_sim/truth`)).json()) as any;
        for (const client of clients) {
          const device = truth.devices.find(
            (d: any) => d.accountId === client.account.accountId && d.removedAt === null,
          );
          const isOffline = device.offline.some((o: any) => o.to === null);
          isOffline ? (offlineSeen += 1) : (onlineSeen += 1);
          await expectDeviceState(client, device.oemDeviceId, isOffline);
        }
      }

      const truth = sim.truth();
      expect(offlineSeen).toBeGreaterThan(0);
      expect(onlineSeen).toBeGreaterThan(0);
      expect(truth.devices.some((d) => d.removedAt !== null)).toBe(true);
      expect(truth.devices.some((d) => d.offline.some((o) => o.to !== null))).toBe(true);
    });

    async function expectDeviceState(client: OemClient, siteId: string, isOffline: boolean) {
      if (client.account.oem === 'tesla') {
        const listing = (await client.get('/api/1/products')).json.response;
        const live = await client.get(`/api/1/energy_sites/${siteId}/live_status`);
        const listed = listing.filter((p: any) => p.energy_site_id !== undefined);
        expect(listed.map((p: any) => String(p.energy_site_id))).toEqual([siteId]);
        expect(live.status).toBe(isOffline ? 408 : 200);
        return;
      }
      const systems = (await client.get('/api/v4/systems')).json.systems;
      const latest = (await client.get(`/api/v4/systems/${siteId}/latest_telemetry`)).json;
      expect(systems.map((s: any) => String(s.system_id))).toEqual([siteId]);
      expect(systems[0].status).toBe(isOffline ? 'comm' : 'normal');
      expect(latest.devices.encharges[0].power === null).toBe(isOffline);
    }

    it('answers 404 for a site that was replaced', async () => {
      let now = T0;
      const sim = await start({
        seed: 8,
        fleet: { tesla: 1, enphase: 0 },
        churnRate: 1,
        lifecycleTickMs: 1000,
        clock: () => now,
      });
      const client = await login(sim.url, sim.accounts()[0]!);
      const oldId = client.account.siteIds[0];
      now += 1500;

      const gone = await client.get(`/api/1/energy_sites/${oldId}/live_status`);
      const listing = (await client.get('/api/1/products')).json.response;
      const newId = listing.find((p: any) => p.energy_site_id)?.energy_site_id;

      expect(gone.status).toBe(404);
      expect(String(newId)).not.toBe(oldId);
      expect(sim.truth().devices.map((d) => d.oemDeviceId)).toEqual([oldId, String(newId)]);
    });
  });
});

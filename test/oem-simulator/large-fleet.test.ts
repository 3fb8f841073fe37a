import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimAccount, SimulatorHandle } from '../../services/oem-simulator/types';
import { call, login } from './oem-client';

// Start time and memory figures come from bench/simulator.ts; this only checks that it works.
describe('oem-simulator with 100k sites', () => {
  let sim: SimulatorHandle;

  beforeAll(async () => {
    sim = await startSimulator({ seed: 1, fleet: { tesla: 50_000, enphase: 50_000 } });
  });

  afterAll(() => sim.stop());

  it('pages through the accounts and serves the last site of each OEM', async () => {
    const page = await call(`${sim.url}/_sim/accounts?offset=49999&limit=2`);
    const [lastTesla, firstEnphase] = page.json as SimAccount[];
    const lastEnphase = (await call(`${sim.url}/_sim/accounts?oem=enphase&offset=49999&limit=5`))
      .json as SimAccount[];

    const tesla = await login(sim.url, lastTesla!);
    const enphase = await login(sim.url, lastEnphase[0]!);
    const products = await tesla.get('/api/1/products');
    const systems = await enphase.get('/api/v4/systems');

    expect(lastTesla!.accountId).toBe('tesla-acct-049999');
    expect(firstEnphase!.accountId).toBe('enphase-acct-000000');
    expect(lastEnphase).toHaveLength(1);
    expect(products.status).toBe(200);
    expect(
      products.json.response.some((p: any) => String(p.energy_site_id) === lastTesla!.siteIds[0]),
    ).toBe(true);
    expect(systems.json.systems[0].system_id).toBe(Number(lastEnphase[0]!.siteIds[0]));
  });
});

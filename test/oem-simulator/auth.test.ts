import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import { clientFor, enphaseRefresh, teslaRefresh } from './oem-client';

describe('oem-simulator auth', () => {
  let sim: SimulatorHandle;
  let now = Date.UTC(2025, 5, 1, 12, 0, 0);

  beforeAll(async () => {
    sim = await startSimulator({
      seed: 3,
      fleet: { tesla: 2, enphase: 2 },
      tokenTtlSeconds: 60,
      clock: () => now,
    });
  });

  afterAll(() => sim.stop());

  const accountOf = (oem: 'tesla' | 'enphase') => sim.accounts().find((a) => a.oem === oem)!;

  it.each(['tesla', 'enphase'] as const)(
    'rotates %s refresh tokens and rejects a reused one',
    async (oem) => {
      const refresh = oem === 'tesla' ? teslaRefresh : enphaseRefresh;
      const account = accountOf(oem);

      const first = await refresh(sim.url, account);
      const reused = await refresh(sim.url, account, account.refreshToken);
      const second = await refresh(sim.url, account, first.json.refresh_token);

      expect(first.status).toBe(200);
      expect(first.json.refresh_token).not.toBe(account.refreshToken);
      expect(reused.status).toBe(401);
      expect(reused.json.error).toBe('invalid_grant');
      expect(second.status).toBe(200);
      expect(accountOf(oem).refreshToken).toBe(second.json.refresh_token);
    },
  );

  it('rejects a Tesla refresh with the wrong client id', async () => {
    const account = accountOf('tesla');
    const answer = await teslaRefresh(sim.url, { ...account, clientId: 'someone-else' });

    expect(answer.status).toBe(401);
    expect(answer.json.error).toBe('invalid_client');
    expect(accountOf('tesla').refreshToken).toBe(account.refreshToken);
  });

  it('accepts a JSON token request body at Tesla', async () => {
    const account = accountOf('tesla');
    const answer = await fetch(`${sim.url}/tesla/oauth2/v3/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'refresh_token',
        client_id: account.clientId,
        refresh_token: account.refreshToken,
      }),
    });

    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { token_type: string }).token_type).toBe('Bearer');
  });

  it('answers 401 token expired once the Tesla access token outlives its TTL', async () => {
    const account = accountOf('tesla');
    const token = (await teslaRefresh(sim.url, account)).json;
    const client = clientFor(sim.url, account, token.access_token);

    const fresh = await client.get('/api/1/products');
    now += 61_000;
    const expired = await client.get('/api/1/products');

    expect(token.expires_in).toBe(60);
    expect(fresh.status).toBe(200);
    expect(expired.status).toBe(401);
    expect(expired.json).toEqual({
      response: null,
      error: 'token expired (401)',
      error_description: '',
    });
  });

  it('answers 401 when the Enphase access token expired or the key is wrong', async () => {
    const account = accountOf('enphase');
    const token = (await enphaseRefresh(sim.url, account)).json;
    const client = clientFor(sim.url, account, token.access_token);
    const wrongKey = clientFor(sim.url, { ...account, apiKey: 'nope' }, token.access_token);

    const fresh = await client.get('/api/v4/systems');
    const badKey = await wrongKey.get('/api/v4/systems');
    sim.advance(61_000);
    const expired = await client.get('/api/v4/systems');

    expect(fresh.status).toBe(200);
    expect(badKey.status).toBe(401);
    expect(expired.status).toBe(401);
    expect(expired.json.message).toBe('Not Authorized');
  });

  it('rejects unknown and forged bearer tokens', async () => {
    const account = accountOf('tesla');
    const token = (await teslaRefresh(sim.url, account)).json.access_token as string;
    const forged = token.replace(/\.\d+\./, '.99999999999999.');

    const unknown = await clientFor(sim.url, account, 'not-a-token').get('/api/1/products');
    const tampered = await clientFor(sim.url, account, forged).get('/api/1/products');

    expect(unknown.status).toBe(401);
    expect(unknown.json.error).toBe('invalid bearer token');
    expect(tampered.status).toBe(401);
  });

  it('refuses another account’s site', async () => {
    const [mine, other] = sim.accounts().filter((a) => a.oem === 'tesla');
    const token = (await teslaRefresh(sim.url, mine!)).json.access_token as string;
    const answer = await clientFor(sim.url, mine!, token).get(
      `/api/1/energy_sites/${other!.siteIds[0]}/live_status`,
    );

    expect(answer.status).toBe(404);
  });
});

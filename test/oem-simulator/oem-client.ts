import type { SimAccount } from '../../services/oem-simulator/types';

/** One HTTP answer, with the body parsed when it is JSON (`json` undefined otherwise). */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  durationMs: number;
}

/** A logged-in client for one simulated account, speaking the OEM's own auth scheme. */
export interface OemClient {
  account: SimAccount;
  accessToken: string;
  get(path: string): Promise<HttpAnswer>;
  send(method: 'POST' | 'PUT', path: string, body: unknown): Promise<HttpAnswer>;
}

export async function call(url: string, init: RequestInit = {}): Promise<HttpAnswer> {
  const started = performance.now();
  const response = await fetch(url, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (a truncated body, or Prometheus text): the test looks at `text`.
    json = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    text,
    json,
    durationMs: performance.now() - started,
  };
}

export function teslaRefresh(
  baseUrl: string,
  account: SimAccount,
  refreshToken = account.refreshToken,
) {
  return call(`${baseUrl}/tesla/oauth2/v3/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: account.clientId,
      refresh_token: refreshToken,
    }),
  });
}

export function enphaseRefresh(
  baseUrl: string,
  account: SimAccount,
  refreshToken = account.refreshToken,
) {
  const basic = Buffer.from(`${account.clientId}:${account.clientSecret}`).toString('base64');
  const query = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  return call(`${baseUrl}/enphase/oauth/token?${query}`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}` },
  });
}

/** Refreshes the account's token and returns a client for its OEM's API. */
export async function login(baseUrl: string, account: SimAccount): Promise<OemClient> {
  const answer =
    account.oem === 'tesla'
      ? await teslaRefresh(baseUrl, account)
      : await enphaseRefresh(baseUrl, account);
  if (answer.status !== 200) throw new Error(`login failed with ${answer.status}: ${answer.text}`);
  const accessToken = answer.json.access_token as string;
  return clientFor(baseUrl, account, accessToken);
}

export function clientFor(baseUrl: string, account: SimAccount, accessToken: string): OemClient {
  const prefix = account.oem === 'tesla' ? `${baseUrl}/tesla` : `${baseUrl}/enphase`;
  const withKey = (path: string) => {
    if (account.oem !== 'enphase') return `${prefix}${path}`;
    const separator = path.includes('?') ? '&' : '?';
    return `${prefix}${path}${separator}key=${account.apiKey}`;
  };
  const headers = { authorization: `Bearer ${accessToken}` };
  return {
    account,
    accessToken,
    get: (path) => call(withKey(path), { headers }),
    send: (method, path, body) =>
      call(withKey(path), {
        method,
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
  };
}

/** Every key path of a JSON value with the JSON type at that path (arrays: first element). */
export function shapeOf(value: unknown, path = '$', shape = new Map<string, string>()) {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  shape.set(path, type);
  if (Array.isArray(value) && value.length > 0) shapeOf(value[0], `${path}[]`, shape);
  if (type === 'object') {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      shapeOf(child, `${path}.${key}`, shape);
    }
  }
  return shape;
}

/**
 * Key paths of the fixture that the answer lacks or types differently. A null in the fixture
 * says nothing about the type, and an empty array in the answer nothing about its elements.
 */
export function shapeDifferences(fixture: unknown, answer: unknown): string[] {
  const expected = shapeOf(fixture);
  const actual = shapeOf(answer);
  const problems: string[] = [];
  for (const [path, type] of expected) {
    if (isUnderEmptyArray(path, actual)) continue;
    const actualType = actual.get(path);
    if (actualType === undefined) problems.push(`missing ${path}`);
    else if (type !== 'null' && actualType !== 'null' && actualType !== type) {
      problems.push(`${path}: ${actualType} instead of ${type}`);
    }
  }
  return problems;
}

function isUnderEmptyArray(path: string, actual: Map<string, string>): boolean {
  for (let at = path.indexOf('[]'); at >= 0; at = path.indexOf('[]', at + 2)) {
    const arrayPath = path.slice(0, at);
    if (actual.get(arrayPath) === 'array' && !actual.has(`${arrayPath}[]`)) return true;
  }
  return false;
}

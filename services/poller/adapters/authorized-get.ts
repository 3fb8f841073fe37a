import type { OemHttpClient, OemResponse } from '../oem-http';
import type { TokenManager } from '../token-manager';

/**
 * GET with the connection's bearer token. A 401 means the token expired early or was revoked
 * at the OEM: refresh once (serialized per account) and retry once.
 */
export async function authorizedGet(options: {
  client: OemHttpClient;
  tokens: TokenManager;
  connectionId: string;
  url: string;
  signal: AbortSignal;
}): Promise<OemResponse> {
  const { client, tokens, connectionId, url, signal } = options;
  const token = await tokens.accessToken(connectionId, signal);
  const first = await client.send({ method: 'GET', url, headers: bearer(token) }, signal);
  if (first.status !== 401) return first;

  const renewed = await tokens.refreshAfterRejection(connectionId, token, signal);
  return client.send({ method: 'GET', url, headers: bearer(renewed) }, signal);
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, accept: 'application/json' };
}

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
}): Promise<OemResponse> {
  const { client, tokens, connectionId, url } = options;
  const token = await tokens.accessToken(connectionId);
  const first = await client.send({ method: 'GET', url, headers: bearer(token) });
  if (first.status !== 401) return first;

  const renewed = await tokens.refreshAfterRejection(connectionId, token);
  return client.send({ method: 'GET', url, headers: bearer(renewed) });
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, accept: 'application/json' };
}

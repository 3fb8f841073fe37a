import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyEntry } from './config';

/**
 * The workspace an `Authorization: Bearer <key>` header grants, or null. The presented key is
 * hashed and compared with every configured hash in constant time, and the loop never stops
 * early, so neither the position of a match nor a near miss shows in the response time.
 */
export function authenticate(
  header: string | undefined,
  keys: readonly ApiKeyEntry[],
): string | null {
  const presented = parseBearer(header);
  if (presented === null) return null;

  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let workspaceId: string | null = null;
  for (const entry of keys) {
    const expected = Buffer.from(entry.sha256, 'hex');
    // Every configured hash is 32 bytes (config validates 64 hex characters).
    if (timingSafeEqual(digest, expected) && workspaceId === null) workspaceId = entry.workspaceId;
  }
  return workspaceId;
}

/** Hex SHA-256 of a key, the form ADMIN_API_KEYS takes. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

function parseBearer(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer ([\x21-\x7e]{16,512})$/.exec(header);
  return match ? match[1]! : null;
}

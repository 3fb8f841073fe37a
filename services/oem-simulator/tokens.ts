import { createHmac, timingSafeEqual } from 'node:crypto';
import { OEM_CODE } from './fleet';
import { fakeHex } from './random';
import type { SimOem } from './types';

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresInSeconds: number;
}

export type RefreshOutcome =
  | { ok: true; accountIndex: number; tokens: IssuedTokens }
  | { ok: false; reason: 'reused' | 'unknown' };

export type AccessCheck =
  { ok: true; accountIndex: number } | { ok: false; reason: 'expired' | 'unknown' };

export interface TokenAuthority {
  /** The refresh token that is valid right now for the account. */
  currentRefreshToken(oem: SimOem, accountIndex: number): string;
  /** Single use: the token presented dies, a new one is returned. */
  refresh(oem: SimOem, refreshToken: string, now: number): RefreshOutcome;
  checkAccess(oem: SimOem, accessToken: string, now: number): AccessCheck;
}

/**
 * Stateless tokens signed with a key derived from the seed, so 100k accounts need no table:
 * a refresh token names its account and rotation number, an access token its account and
 * expiry. Only the rotation number of accounts that ever refreshed is stored.
 */
export function createTokenAuthority(options: {
  seed: number;
  tokenTtlSeconds: number;
}): TokenAuthority {
  const { seed, tokenTtlSeconds } = options;
  const signingKey = fakeHex(64, seed, 0x70c);
  const rotations = new Map<string, number>();
  let issued = 0;

  const sign = (payload: string) =>
    createHmac('sha256', signingKey).update(payload).digest('base64url').slice(0, 22);
  const rotationOf = (oem: SimOem, accountIndex: number) =>
    rotations.get(`${oem}:${accountIndex}`) ?? 0;
  const refreshTokenFor = (oem: SimOem, accountIndex: number, rotation: number) => {
    const payload = `rt.${OEM_CODE[oem]}.${accountIndex}.${rotation}`;
    return `${payload}.${sign(payload)}`;
  };

  return {
    currentRefreshToken: (oem, accountIndex) =>
      refreshTokenFor(oem, accountIndex, rotationOf(oem, accountIndex)),

    refresh(oem, refreshToken, now) {
      const parts = verify(refreshToken, 'rt', oem, sign);
      if (parts === null) return { ok: false, reason: 'unknown' };
      const [accountIndex, rotation] = parts as [number, number];
      const current = rotationOf(oem, accountIndex);
      if (rotation < current) return { ok: false, reason: 'reused' };
      if (rotation > current) return { ok: false, reason: 'unknown' };

      rotations.set(`${oem}:${accountIndex}`, current + 1);
      issued += 1;
      const expiresAt = now + tokenTtlSeconds * 1000;
      const accessPayload = `at.${OEM_CODE[oem]}.${accountIndex}.${expiresAt}.${issued}`;
      return {
        ok: true,
        accountIndex,
        tokens: {
          accessToken: `${accessPayload}.${sign(accessPayload)}`,
          refreshToken: refreshTokenFor(oem, accountIndex, current + 1),
          expiresInSeconds: tokenTtlSeconds,
        },
      };
    },

    checkAccess(oem, accessToken, now) {
      const parts = verify(accessToken, 'at', oem, sign);
      if (parts === null) return { ok: false, reason: 'unknown' };
      const [accountIndex, expiresAt] = parts as [number, number];
      if (now >= expiresAt) return { ok: false, reason: 'expired' };
      return { ok: true, accountIndex };
    },
  };
}

/** Returns the numeric fields after the OEM code, or null if the token is not ours. */
function verify(
  token: string,
  kind: 'rt' | 'at',
  oem: SimOem,
  sign: (payload: string) => string,
): number[] | null {
  const lastDot = token.lastIndexOf('.');
  if (lastDot < 0) return null;
  const payload = token.slice(0, lastDot);
  const signature = Buffer.from(token.slice(lastDot + 1));
  const expected = Buffer.from(sign(payload));
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return null;

  const [prefix, code, ...numbers] = payload.split('.');
  if (prefix !== kind || Number(code) !== OEM_CODE[oem]) return null;
  const values = numbers.map(Number);
  return values.every(Number.isSafeInteger) ? values : null;
}

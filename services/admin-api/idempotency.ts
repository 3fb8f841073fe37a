import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/events';
import { AdminErrorCode, adminError } from './errors';
import { idempotencyKeyOf } from './http-schemas';
import type { PlatformView, ResourceKind } from './platform-view';

export interface IdempotentResult<T> {
  value: T;
  /** True when an earlier request with the same key produced `value`. */
  replayed: boolean;
}

/** An `Idempotency-Key` and the fingerprint of the request it came with. */
export interface IdempotentRequest {
  key: string;
  /** SHA-256 (hex) of the canonical path parameters and body. */
  requestHash: string;
}

/** What a created record stores about its request (both null without a key). */
export interface IdempotencyStamp {
  idempotencyKey: string | null;
  idempotencyRequestHash: string | null;
}

/**
 * The request's key and fingerprint, or undefined without an `Idempotency-Key` header. The
 * fingerprint covers the path parameters (a command's device) and the body after validation,
 * with object members sorted: the same JSON in another order or spacing is the same request.
 */
export function idempotentRequestOf(request: {
  headers: Record<string, unknown>;
  params: unknown;
  body: unknown;
}): IdempotentRequest | undefined {
  const key = idempotencyKeyOf(request.headers);
  if (key === undefined) return undefined;
  const canonical = canonicalJson({ params: request.params ?? {}, body: request.body ?? null });
  return { key, requestHash: createHash('sha256').update(canonical, 'utf8').digest('hex') };
}

/**
 * `Idempotency-Key` handling. A key is scoped to the workspace and the kind of resource. A
 * retry with the same key and the same request gets the first result; with another request
 * it gets a 422 (GP_ADMIN_IDEMPOTENCY_KEY_REUSED), as in the IETF httpapi draft.
 *
 * For customers, sites, enrollments and commands the key and the request's fingerprint are
 * stored in the created record itself, so a retry after a restart finds the first result in
 * the view rebuilt from the topics. Concurrent requests with one key share one creation.
 *
 * Limitation: connections and destinations are written by the poller's and the dispatcher's
 * modules, whose records have no such field; their keys are remembered in this process only,
 * so a retry that reaches another replica, or comes after a restart, creates a second one.
 */
export function createIdempotency(view: Pick<PlatformView, 'findByIdempotencyKey'>) {
  const inFlight = new Map<string, { requestHash: string; result: Promise<unknown> }>();
  const remembered = new Map<string, { requestHash: string; value: unknown }>();

  async function once<T>(
    scope: string,
    requestHash: string,
    run: () => Promise<IdempotentResult<T>>,
  ): Promise<IdempotentResult<T>> {
    const pending = inFlight.get(scope);
    if (pending) {
      requireSameRequest(pending.requestHash, requestHash);
      return { ...(await (pending.result as Promise<IdempotentResult<T>>)), replayed: true };
    }
    const started = run().finally(() => inFlight.delete(scope));
    inFlight.set(scope, { requestHash, result: started });
    return started;
  }

  return {
    /** For kinds whose records carry the key; `render` turns the stored id into the result. */
    async persisted<T>(
      workspaceId: string,
      kind: ResourceKind,
      request: IdempotentRequest | undefined,
      render: (id: string) => T | undefined,
      create: (stamp: IdempotencyStamp) => Promise<T>,
    ): Promise<IdempotentResult<T>> {
      if (request === undefined) return { value: await create(NO_STAMP), replayed: false };
      const { key, requestHash } = request;
      return once(
        scopeOf(workspaceId, kind, key),
        requestHash,
        async (): Promise<IdempotentResult<T>> => {
          const earlier = view.findByIdempotencyKey(workspaceId, kind, key);
          const value = earlier === undefined ? undefined : render(earlier.id);
          if (earlier !== undefined && value !== undefined) {
            requireSameRequest(earlier.requestHash, requestHash);
            return { value, replayed: true };
          }
          const stamp = { idempotencyKey: key, idempotencyRequestHash: requestHash };
          return { value: await create(stamp), replayed: false };
        },
      );
    },

    /** For kinds written by other modules: the first result is kept in memory. */
    async inMemory<T>(
      workspaceId: string,
      kind: string,
      request: IdempotentRequest | undefined,
      create: () => Promise<T>,
    ): Promise<IdempotentResult<T>> {
      if (request === undefined) return { value: await create(), replayed: false };
      const { key, requestHash } = request;
      const scope = scopeOf(workspaceId, kind, key);
      return once(scope, requestHash, async (): Promise<IdempotentResult<T>> => {
        const earlier = remembered.get(scope);
        if (earlier !== undefined) {
          requireSameRequest(earlier.requestHash, requestHash);
          return { value: earlier.value as T, replayed: true };
        }
        const value = await create();
        remembered.set(scope, { requestHash, value });
        // Bounded: the oldest keys go first (a Map iterates in insertion order).
        if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
        return { value, replayed: false };
      });
    },
  };
}

const MAX_REMEMBERED = 10_000;

export type Idempotency = ReturnType<typeof createIdempotency>;

/** Serializes work per key inside this process (e.g. approving one enrollment). */
export function createKeyedLock() {
  const tails = new Map<string, Promise<unknown>>();
  return async function withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

const NO_STAMP: IdempotencyStamp = Object.freeze({
  idempotencyKey: null,
  idempotencyRequestHash: null,
});

/** A stored hash of null is a record written before hashes were kept: it matches anything. */
function requireSameRequest(storedHash: string | null, requestHash: string): void {
  if (storedHash === null || storedHash === requestHash) return;
  throw adminError(
    AdminErrorCode.idempotencyKeyReused,
    'this Idempotency-Key was already used with a different request',
    { context: { field: 'headers.idempotency-key' } },
  );
}

function scopeOf(workspaceId: string, kind: string, key: string): string {
  return `${workspaceId}\u0000${kind}\u0000${key}`;
}

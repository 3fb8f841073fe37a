import type { PlatformView, ResourceKind } from './platform-view';

export interface IdempotentResult<T> {
  value: T;
  /** True when an earlier request with the same key produced `value`. */
  replayed: boolean;
}

/**
 * `Idempotency-Key` handling. A key is scoped to the workspace and the kind of resource.
 *
 * For customers, sites, enrollments and commands the key is stored in the created record
 * itself (the `idempotencyKey` field), so a retry after a restart finds the first result in
 * the view rebuilt from the topics. Concurrent requests with one key share one creation.
 *
 * Limitation: connections and destinations are written by the poller's and the dispatcher's
 * modules, whose records have no such field; their keys are remembered in this process only,
 * so a retry that reaches another replica, or comes after a restart, creates a second one.
 */
export function createIdempotency(view: Pick<PlatformView, 'findByIdempotencyKey'>) {
  const inFlight = new Map<string, Promise<unknown>>();
  const remembered = new Map<string, unknown>();

  async function once<T>(scope: string, run: () => Promise<IdempotentResult<T>>) {
    const pending = inFlight.get(scope) as Promise<IdempotentResult<T>> | undefined;
    if (pending) return { ...(await pending), replayed: true };
    const started = run().finally(() => inFlight.delete(scope));
    inFlight.set(scope, started);
    return started;
  }

  return {
    /** For kinds whose records carry the key; `render` turns the stored id into the result. */
    async persisted<T>(
      workspaceId: string,
      kind: ResourceKind,
      key: string | undefined,
      render: (id: string) => T | undefined,
      create: (key: string | null) => Promise<T>,
    ): Promise<IdempotentResult<T>> {
      if (key === undefined) return { value: await create(null), replayed: false };
      return once(scopeOf(workspaceId, kind, key), async (): Promise<IdempotentResult<T>> => {
        const id = view.findByIdempotencyKey(workspaceId, kind, key);
        const earlier = id === undefined ? undefined : render(id);
        if (earlier !== undefined) return { value: earlier, replayed: true };
        return { value: await create(key), replayed: false };
      });
    },

    /** For kinds written by other modules: the first result is kept in memory. */
    async inMemory<T>(
      workspaceId: string,
      kind: string,
      key: string | undefined,
      create: () => Promise<T>,
    ): Promise<IdempotentResult<T>> {
      if (key === undefined) return { value: await create(), replayed: false };
      const scope = scopeOf(workspaceId, kind, key);
      return once(scope, async (): Promise<IdempotentResult<T>> => {
        if (remembered.has(scope)) return { value: remembered.get(scope) as T, replayed: true };
        const value = await create();
        remembered.set(scope, value);
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

function scopeOf(workspaceId: string, kind: string, key: string): string {
  return `${workspaceId}\u0000${kind}\u0000${key}`;
}

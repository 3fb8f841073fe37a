import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * `npm run bench [-- name …]`: runs the named benchmarks (all of them by default), one process
 * each, with the local stack the tests use (KAFKA_BROKERS / SCHEMA_REGISTRY_URL, or the
 * defaults). Each prints its figures beside the ceiling it is compared with.
 */
const BENCHMARKS = ['simulator', 'poller', 'differ', 'dispatcher'] as const;

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}\n`);
  process.exit(2);
}

let failed = 0;
for (const name of requested.length > 0 ? requested : BENCHMARKS) {
  process.stdout.write(`\n== bench/${name}.ts\n`);
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', path.join(__dirname, `${name}.ts`)],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);

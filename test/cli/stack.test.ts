import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gridpulse } from '../support/cli';

describe('gridpulse stack reset', () => {
  it('is listed by stack --help and says what it deletes', async () => {
    const help = await gridpulse(['stack', 'reset', '--help'], {});

    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/delete/);
    expect(help.stdout).toMatch(/topics/);
    expect(help.stdout).toMatch(/schemas/);
    expect((await gridpulse(['stack', '--help'], {})).stdout).toMatch(/\breset\b/);
  });

  it("deletes the single stack's Kafka and registry data and keeps jars and logs", async () => {
    // A home of its own, with nothing running: the shared stack is never touched.
    const home = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-reset-'));
    const single = path.join(home, 'run/single');
    const kept = [path.join(home, 'kafka-4.4.0/.complete'), path.join(single, 'logs/kafka-1.log')];
    const deleted = [
      path.join(single, 'kafka-1/data/meta.properties'),
      path.join(single, 'registry/data/registry.mv.db'),
      path.join(single, 'cluster-id'),
    ];
    for (const file of [...kept, ...deleted]) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, 'x');
    }

    const result = await gridpulse(['stack', 'reset'], { GRIDPULSE_HOME: home });

    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/data deleted/);
    for (const file of deleted) expect(existsSync(file)).toBe(false);
    for (const file of kept) expect(existsSync(file)).toBe(true);
  });

  it('refuses --cluster (the cluster keeps no data between starts)', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-reset-'));
    const result = await gridpulse(['stack', 'reset', '--cluster'], { GRIDPULSE_HOME: home });

    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown option '--cluster'/);
  });
});

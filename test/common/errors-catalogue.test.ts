import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

describe('the error catalogue (docs/errors.md)', () => {
  it('lists every GP_ error code the services define', () => {
    const catalogue = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
    const codes = new Set<string>();
    for (const file of sourceFiles(path.join(root, 'services'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/['"`](GP_[A-Z0-9_]+)['"`]/g)) {
        codes.add(match[1]!);
      }
    }

    expect(codes.size).toBeGreaterThan(0);
    const missing = [...codes].filter((code) => !catalogue.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});

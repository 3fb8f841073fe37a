import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = path.join(__dirname, '../../bin/gridpulse.js');

describe('gridpulse simulator', () => {
  it.each(['99999', '-1', 'abc'])('refuses --port %s, naming the flag', async (port) => {
    const failed = run(process.execPath, [BIN, 'simulator', '--port', port], {
      timeout: 60_000,
    });

    await expect(failed).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--port.*expected a port, 0\.\.65535/),
    });
  });
});

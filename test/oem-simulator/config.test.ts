import { simulatorCommand } from '../../services/oem-simulator/cli';
import { parseSimulatorEnv, toSimulatorOptions } from '../../services/oem-simulator/config';
import { startSimulator } from '../../services/oem-simulator/simulator';

describe('oem-simulator config', () => {
  it('applies SIM_FAULT_RATE to each listed kind for both OEMs', () => {
    const env = parseSimulatorEnv({ SIM_FAULT_RATE: '0.05', SIM_FAULT_KINDS: 'rateLimit,offline' });
    const options = toSimulatorOptions(env);

    expect(options.port).toBe(8090);
    expect(options.faults?.tesla).toEqual({ rateLimit: 0.05, offline: 0.05 });
    expect(options.faults?.enphase).toEqual({ rateLimit: 0.05, offline: 0.05 });
  });

  it('takes a whole fault configuration from SIM_FAULTS_JSON', () => {
    const env = parseSimulatorEnv({ SIM_FAULTS_JSON: '{"devices":{"tesla:1":{"slow":1}}}' });

    expect(toSimulatorOptions(env).faults?.devices).toEqual({ 'tesla:1': { slow: 1 } });
  });

  it('names every bad key', () => {
    expect(() => parseSimulatorEnv({ SIM_TESLA_SITES: '200000', SIM_FAULT_KINDS: 'boom' })).toThrow(
      expect.objectContaining({
        code: 'GP_CONFIG_INVALID',
        context: {
          keys: expect.arrayContaining([
            'SIM_TESLA_SITES',
            expect.stringMatching(/^SIM_FAULT_KINDS/),
          ]),
        },
      }),
    );
  });

  it('rejects out-of-range start options with GP_SIM_OPTIONS_INVALID', async () => {
    await expect(startSimulator({ fleet: { tesla: -1 }, churnRate: 2 })).rejects.toMatchObject({
      code: 'GP_SIM_OPTIONS_INVALID',
      context: { keys: ['fleet.tesla', 'churnRate'] },
    });
  });

  it('documents its flags in --help', () => {
    const help = simulatorCommand().helpInformation();

    expect(help).toContain('--fault-rate');
    expect(help).toContain('SIM_TESLA_SITES');
  });
});

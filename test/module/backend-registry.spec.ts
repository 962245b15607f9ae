import { execFileSync } from 'node:child_process';
import { BACKEND_SCHEMES, BackendDriverMissingError, BackendUrlError, backendScheme, loadBackend, missingPackage } from '../../lib/backends/backend.registry.js';

describe('backend registry', () => {
  it('knows the built-in schemes and loads each backend only when its URL is used', async () => {
    expect(BACKEND_SCHEMES).toEqual(['memory', 'file', 'sqlite', 'postgres', 'postgresql', 'redis', 'rediss', 'nats', 'tls']);
    const backend = await loadBackend('taskQueue', 'memory://');
    const engine = await backend.open('memory://', { projectName: 'p', baseDir: '.', storageOptions: {} });
    expect(engine.tasks.colocated.results).toBe(engine.results);
    await engine.close();
  });

  it('names the option and the URL of a malformed or unknown backend', () => {
    expect(() => backendScheme('resultStore', 'localhost:5432')).toThrow(BackendUrlError);
    expect(() => backendScheme('resultStore', 'localhost:5432')).toThrow('resultStore: "localhost:5432" is not a valid backend URL');
    expect(() => backendScheme('eventStore', 'mongo://x')).toThrow('eventStore: unknown backend "mongo" in "mongo://x"; known backends: memory, file, sqlite, postgres, postgresql, redis, rediss, nats, tls');
  });

  it('turns a driver package that is not installed into an error naming the package to install', async () => {
    // Node's own ESM loader (jest resolves imports its own way): what a backend's driver import throws.
    const script = "import('omniq-driver-that-is-not-installed').catch((e) => process.stdout.write(JSON.stringify({ code: e.code, message: e.message })))";
    const { code, message } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { code: string; message: string };
    const name = missingPackage(Object.assign(new Error(message), { code }));
    expect(name).toBe('omniq-driver-that-is-not-installed');
    expect(new BackendDriverMissingError('postgres', name!).message).toBe(
      'The postgres backend needs the package "omniq-driver-that-is-not-installed", which is not installed: run npm install omniq-driver-that-is-not-installed',
    );
    expect(missingPackage(new Error('other'))).toBeUndefined();
  });
});

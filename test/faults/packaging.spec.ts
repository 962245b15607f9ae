import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const TSC = repo('node_modules/typescript/bin/tsc');

/**
 * A CommonJS consumer of the package as npm would install it: the repository's package.json and a
 * build of lib/ in <tmp>/node_modules/@omniq/nestjs, its dependencies reached through a
 * node_modules link to the repository's.
 */
describe('the package as a CommonJS consumer sees it', () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-packaging-'));
    const pkg = join(dir, 'node_modules', '@omniq', 'nestjs');
    mkdirSync(pkg, { recursive: true });
    copyFileSync(repo('package.json'), join(pkg, 'package.json'));
    symlinkSync(repo('node_modules'), join(pkg, 'node_modules'), 'dir');
    // Type errors are the typecheck's to report: this builds what the exports map points at.
    await run(process.execPath, [TSC, '-p', repo('tsconfig.build.json'), '--noCheck', '--outDir', join(pkg, 'dist')]);
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('require() loads the package and its testing entry (no ERR_PACKAGE_PATH_NOT_EXPORTED)', async () => {
    writeFileSync(
      join(dir, 'probe.cjs'),
      [
        "const { OmniQModule, OmniQService } = require('@omniq/nestjs');",
        "const testing = require('@omniq/nestjs/testing');",
        'console.log(typeof OmniQModule, OmniQModule.name, typeof OmniQService, typeof testing.describeEngineConformance);',
      ].join('\n'),
    );
    const { stdout } = await run(process.execPath, [join(dir, 'probe.cjs')], { cwd: dir });
    expect(stdout.trim()).toBe('function OmniQModule function function');
  }, 60_000);

  it('TypeScript resolves the types of both entries from a CommonJS file', async () => {
    writeFileSync(
      join(dir, 'consumer.cts'),
      [
        "import { OmniQModule, type OmniQModuleOptions } from '@omniq/nestjs';",
        "import { describeEngineConformance } from '@omniq/nestjs/testing';",
        "const options: OmniQModuleOptions = { backend: 'memory://' };",
        'export const used = [OmniQModule.forRoot(options), describeEngineConformance];',
      ].join('\n'),
    );
    const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.cts'] }));
    await expect(run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { cwd: dir })).resolves.toMatchObject({ stdout: '' });
  }, 120_000);
});

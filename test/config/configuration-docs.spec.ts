import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../lib/config/config.schema.js';

/** The rows of the settings table in the README, as cells. */
function settingsTable(): string[][] {
  const text = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const start = text.indexOf('| YAML key / `forRoot` option |');
  const lines = text.slice(start).split('\n');
  const rows = lines.slice(2, lines.findIndex((line) => !line.startsWith('|')));
  return rows.map((row) => row.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/ \|$/, '')));
}

describe('README settings table', () => {
  const rows = settingsTable();

  it('has one row per setting, in the order of the schema', () => {
    expect(rows).toHaveLength(SETTINGS.length);
    expect(rows.map(([key]) => key)).toEqual(SETTINGS.map((s) => (s.key ? `\`${s.key}\`` : '—')));
  });

  it.each(SETTINGS.map((s) => [s.key ?? s.env!, s] as const))('documents the environment variables and default of %s', (_name, setting) => {
    const [, env, , defaultCell] = rows[SETTINGS.indexOf(setting)]!;
    for (const name of [setting.env, setting.typeEnv]) if (name) expect(env).toContain(`\`${name}\``);
    if (!setting.env) expect(env).toBe('—');
    if (setting.default !== undefined) {
      const text = typeof setting.default === 'object' ? JSON.stringify(setting.default) : String(setting.default);
      expect(defaultCell).toContain(`\`${text}\``);
    }
  });
});

import { join } from 'node:path';
import { describeEngineConformance } from '../../lib/testing/index.js';
import { folderTarget, loadSqlite } from './targets.js';

describeEngineConformance(folderTarget('sqlite', loadSqlite, (dir) => `sqlite://${join(dir, 'omniq.db')}`));

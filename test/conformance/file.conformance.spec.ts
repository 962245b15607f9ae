import { describeEngineConformance } from '../../lib/testing/index.js';
import { folderTarget, loadFile } from './targets.js';

describeEngineConformance(folderTarget('file', loadFile, (dir) => `file://${dir}`));

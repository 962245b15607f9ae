import { tmpdir } from 'node:os';
import { describeEngineConformance } from '../../lib/testing/index.js';
import { context, loadMemory, type PeerableEngine } from './targets.js';

describeEngineConformance({
  name: 'memory',
  open: async () => (await loadMemory()).open('memory://', context(tmpdir())),
  openPeer: async (engine) => (engine as PeerableEngine).peer(),
});

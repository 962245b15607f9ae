import { Logger } from '@nestjs/common';
import type { KV } from '@nats-io/kv';
import { DELETE, type RecordCodec } from '../../lib/backends/kv/kv-records.js';
import { recordKey } from '../../lib/backends/kv/kv-task-codec.js';
import { openNatsLink, type NatsLink } from '../../lib/backends/nats/nats-connection.js';
import { NatsKvRecords } from '../../lib/backends/nats/nats-kv-records.js';
import { natsSettings } from '../../lib/backends/nats/nats-settings.js';
import { NatsTaskRecords } from '../../lib/backends/nats/nats-task-records.js';
import { ValueParts } from '../../lib/backends/nats/nats-value-parts.js';
import { newTask } from '../../lib/testing/index.js';
import type { TaskRecord } from '../../lib/models/task.model.js';
import { describeOnNats, freshNatsPrefix, natsUrl, withNats } from '../support/nats.js';

const PROJECT = 'records';
const logger = new Logger('nats-records.spec');

interface Counter {
  n: number;
  text?: string;
}

const COUNTER: RecordCodec<Counter> = {
  format: 'test.counter/1',
  revive: (body) => {
    if (typeof body.n !== 'number') throw new Error('n is not a number');
    return body as unknown as Counter;
  },
};

/** A task record as enqueue stores it (what the engine writes), from a new task. */
function storedTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  const task = newTask();
  return { ...task, status: 'pending', attempts: 0, lapses: 0, updatedAt: task.createdAt, ...overrides } as TaskRecord;
}

/** The records and task records of the key-value engine on NATS, two connections racing on one storage. */
describeOnNats('NATS records with compare-and-swap', () => {
  const links: NatsLink[] = [];
  const closers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const link of links.splice(0)) await link.close();
  });

  async function connect(prefix: string): Promise<{ link: NatsLink; records: KV }> {
    const link = await openNatsLink(natsSettings(natsUrl(prefix), {}), PROJECT, logger);
    links.push(link);
    return { link, records: await link.bucket('records') };
  }

  function counters(link: NatsLink, kv: KV): NatsKvRecords<Counter> {
    const bucket = link.names.store('records');
    return new NatsKvRecords(link, kv, bucket, 'counters.', COUNTER, 'purge', new ValueParts(link, kv, bucket));
  }

  it('lands every one of many concurrent changes from two connections exactly once (onBusy wait)', async () => {
    const prefix = freshNatsPrefix();
    const [a, b] = await Promise.all([connect(prefix), connect(prefix)]);
    const [left, right] = [counters(a.link, a.records), counters(b.link, b.records)];
    expect(await left.create('hits', { n: 0 })).toMatchObject({ body: { n: 0 } });
    const increments = 40;
    const runs = (records: NatsKvRecords<Counter>) =>
      Promise.all(Array.from({ length: increments }, () => records.mutate('hits', (counter) => ({ n: counter.n + 1 }), { onBusy: 'wait' })));
    const outcomes = [...(await runs(left)), ...(await Promise.all([runs(left), runs(right)])).flat()];
    expect(outcomes.every((outcome) => outcome.kind === 'written')).toBe(true);
    expect((await right.read('hits'))?.body.n).toBe(3 * increments);
    // Each landed write saw the version before it: the generations of what they wrote are all different.
    const gens = outcomes.map((outcome) => (outcome.kind === 'written' ? outcome.after.gen : 0));
    expect(new Set(gens).size).toBe(gens.length);
  });

  it('lets exactly one of two connections win a version (onBusy skip), a create, and a delete', async () => {
    const prefix = freshNatsPrefix();
    const [a, b] = await Promise.all([connect(prefix), connect(prefix)]);
    const [left, right] = [counters(a.link, a.records), counters(b.link, b.records)];
    const created = await Promise.all([left.create('one', { n: 1 }), right.create('one', { n: 2 })]);
    expect(created.filter((version) => version !== undefined)).toHaveLength(1);
    const known = (await left.read('one'))!;
    const raced = await Promise.all([
      left.mutate('one', (counter) => ({ n: counter.n * 10 }), { onBusy: 'skip', known }),
      right.mutate('one', (counter) => ({ n: counter.n * 100 }), { onBusy: 'skip', known }),
    ]);
    expect(raced.map((outcome) => outcome.kind).sort()).toEqual(['busy', 'written']);
    const stale = await left.mutate('one', () => DELETE, { onBusy: 'skip', known });
    expect(stale.kind).toBe('busy');
    const deletes = await Promise.all([left.mutate('one', () => DELETE, { onBusy: 'wait' }), right.mutate('one', () => DELETE, { onBusy: 'wait' })]);
    expect(deletes.map((outcome) => outcome.kind).sort()).toEqual(['deleted', 'missing']);
    expect(await right.read('one')).toBeUndefined();
    // A purge leaves no tombstone: the key can be created again, and lists show only live records.
    expect(await right.create('one', { n: 3 })).toBeDefined();
    await left.create('two', { n: 4 });
    expect((await left.list(() => undefined)).map((version) => version.body.n).sort()).toEqual([3, 4]);
  });

  it('keeps a value too big for one message in parts, reads it from another connection, and removes the parts it replaced', async () => {
    const prefix = freshNatsPrefix();
    const [a, b] = await Promise.all([connect(prefix), connect(prefix)]);
    const [left, right] = [counters(a.link, a.records), counters(b.link, b.records)];
    const big = 'x'.repeat(3 * 1024 * 1024);
    await left.create('big', { n: 1, text: big });
    expect((await right.read('big'))?.body.text).toBe(big);
    await right.mutate('big', (counter) => ({ n: counter.n + 1, text: `${big}!` }), { onBusy: 'wait' });
    expect((await left.read('big'))?.body).toEqual({ n: 2, text: `${big}!` });
    await left.mutate('big', () => ({ n: 3 }), { onBusy: 'wait' });
    await withNats(async (_nc, jsm) => {
      const { state } = await jsm.streams.info(`KV_${prefix}_${PROJECT}_records`, { subjects_filter: '>' });
      expect(Object.keys(state.subjects ?? {})).toEqual([`$KV.${prefix}_${PROJECT}_records.counters.big`]);
    });
  });

  it("catches a task index up with another connection's writes, deletes included, and sets aside a value that is no record", async () => {
    const prefix = freshNatsPrefix();
    const [a, b] = await Promise.all([connect(prefix), connect(prefix)]);
    const open = async ({ link, records }: { link: NatsLink; records: KV }): Promise<NatsTaskRecords> => {
      const tasks = new NatsTaskRecords(link, await link.bucket('tasks'), records, logger);
      await tasks.index.start();
      closers.push(() => tasks.index.close());
      return tasks;
    };
    const [writer, reader] = [await open(a), await open(b)];
    const tasks = Array.from({ length: 50 }, () => storedTask());
    await Promise.all(tasks.map((task, seq) => writer.create(task, seq)));
    await reader.index.refreshLive();
    expect(reader.index.versions().map((version) => version.body.task.id).sort()).toEqual(tasks.map((task) => task.id).sort());
    await writer.mutate(tasks[0]!.id, (body) => ({ ...body, task: { ...body.task, status: 'success', completedAt: new Date() } }), { onBusy: 'wait' });
    await writer.mutate(tasks[1]!.id, () => DELETE, { onBusy: 'wait' });
    await reader.index.refreshAll();
    expect(reader.index.isLive(tasks[0]!.id)).toBe(false);
    expect(reader.index.finalStatus(tasks[0]!.id)).toBe('success');
    expect(reader.index.summaries().map((summary) => summary.id)).not.toContain(tasks[1]!.id);
    expect(reader.index.versions()).toHaveLength(48);

    const bucket = `${prefix}_${PROJECT}_tasks`;
    await withNats(async (nc) => {
      const { Kvm } = await import('@nats-io/kv');
      await (await new Kvm(nc).open(bucket)).put(recordKey(tasks[2]!.id), '{not json');
    });
    expect(await reader.read(tasks[2]!.id)).toBeUndefined();
    expect(await writer.exists(tasks[2]!.id)).toBe(false);
    await withNats(async (nc) => {
      const { Kvm } = await import('@nats-io/kv');
      const records = await new Kvm(nc).open(`${prefix}_${PROJECT}_records`);
      const kept = [];
      for await (const key of await records.keys('damaged.>')) kept.push(key);
      expect(kept).toHaveLength(1);
      expect((await records.get(kept[0]!))?.string()).toBe('{not json');
    });
  });
});

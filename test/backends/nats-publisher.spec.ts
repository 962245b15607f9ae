import { Logger } from '@nestjs/common';
import { openNatsLink, type NatsLink } from '../../lib/backends/nats/nats-connection.js';
import { natsSettings } from '../../lib/backends/nats/nats-settings.js';
import { isWrongRevision, NatsStorageError } from '../../lib/backends/nats/nats-storage.error.js';
import { describeOnNats, freshNatsPrefix, natsUrl } from '../support/nats.js';

const PROJECT = 'publisher';
const logger = new Logger('nats-publisher.spec');

/** NatsLink.publish: the acknowledged JetStream publish every record, result and event write goes through. */
describeOnNats('NATS acknowledged publishes', () => {
  const links: NatsLink[] = [];

  afterEach(async () => {
    for (const link of links.splice(0)) await link.close();
  });

  async function connect(requestTimeoutMs?: number): Promise<{ link: NatsLink; subject: (key: string) => string }> {
    const link = await openNatsLink(natsSettings(natsUrl(freshNatsPrefix()), requestTimeoutMs ? { requestTimeoutMs } : {}), PROJECT, logger);
    links.push(link);
    await link.bucket('records');
    const bucket = link.names.store('records');
    return { link, subject: (key) => `$KV.${bucket}.${key}` };
  }

  it('answers each of many publishes made at once with its own stream sequence', async () => {
    const { link, subject } = await connect();
    const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => link.call('publish', () => link.publish(subject(`k${i}`), String(i)))));
    const seqs = acks.map(({ seq }) => seq);
    expect(new Set(seqs).size).toBe(500);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('lands a write expecting the key at its revision and refuses one expecting an older revision', async () => {
    const { link, subject } = await connect();
    const first = await link.publish(subject('cas'), 'one', { expectLastSubjectSeq: 0 });
    const second = await link.publish(subject('cas'), 'two', { expectLastSubjectSeq: first.seq });
    expect(second.seq).toBeGreaterThan(first.seq);
    const stale = await link.publish(subject('cas'), 'three', { expectLastSubjectSeq: first.seq }).catch((error: unknown) => error);
    expect(isWrongRevision(stale)).toBe(true);
    const created = await link.publish(subject('cas'), 'four', { expectLastSubjectSeq: 0 }).catch((error: unknown) => error);
    expect(isWrongRevision(created)).toBe(true);
  });

  it('tells a message id stored before as a duplicate', async () => {
    const { link, subject } = await connect();
    const first = await link.publish(subject('dedup'), 'x', { msgId: 'same-id' });
    const again = await link.publish(subject('dedup'), 'x', { msgId: 'same-id' });
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ seq: first.seq, duplicate: true });
  });

  it('fails a publish no stream takes saying that no JetStream answered, naming the call', async () => {
    const { link } = await connect();
    const error = await link.call('publish to nowhere', () => link.publish(`${link.names.store('nowhere')}.none`, 'x')).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(NatsStorageError);
    expect((error as Error).message).toMatch(/publish to nowhere failed .*no JetStream answered/);
  });

  it('rejects what waits for a reply when the link closes', async () => {
    const { link, subject } = await connect();
    const pending = link.publish(subject('closing'), 'x').then(
      () => 'acknowledged',
      (error: Error) => error.name,
    );
    // The publish leaves in the next turn: the close, in this one, rejects it at once (no wait for the timeout).
    await link.close();
    expect(await pending).toBe('NatsNotConnectedError');
  });
});

import { Injectable } from '@nestjs/common';
import { MemoryEventStore, Task, type TaskEvent } from '../../lib/index.js';
import { nextEvents } from '../support/events.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

@Injectable()
class EchoTasks {
  @Task('echo')
  echo(n: number): number {
    return n;
  }
}

/** A real memory event store whose next `failures` appends fail, as a database that is briefly down. */
class FlakyEventStore extends MemoryEventStore {
  appends = 0;

  constructor(public failures: number) {
    super();
  }

  override async append(events: readonly TaskEvent[]): Promise<void> {
    this.appends++;
    if (this.failures-- > 0) throw new Error('event store unavailable');
    return super.append(events);
  }
}

describe('EventRecorder', () => {
  let t: TestApp;
  afterEach(() => t?.close());

  it('keeps events through an event store outage and writes them, in order, once it answers again', async () => {
    const eventStore = new FlakyEventStore(2);
    t = await createTestApp({ taskQueue: 'memory://', resultStore: 'memory://', eventStore }, [EchoTasks]);
    const written = nextEvents(t.omniq, 3, (e) => e.taskName === 'echo');
    const id = await t.omniq.enqueue('echo', 5);
    expect((await t.omniq.waitForResult(id)).value).toBe(5);
    expect((await written).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
    expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
    // Two failed tries, then one write of everything held: events that arrived meanwhile waited instead of hammering the store.
    expect(eventStore.appends).toBe(3);
  });

  it('keeps retrying while the app runs, also after the worker alone was closed', async () => {
    const eventStore = new FlakyEventStore(0);
    t = await createTestApp({ taskQueue: 'memory://', resultStore: 'memory://', eventStore }, [EchoTasks]);
    await t.worker.close();
    eventStore.failures = 1;
    const written = nextEvents(t.omniq, 1, (e) => e.type === 'enqueued');
    const id = await t.omniq.enqueue('echo', 1);
    expect((await written)[0]?.taskId).toBe(id);
  });

  it('gives held events one last try at shutdown and leaves no retry pending', async () => {
    const eventStore = new FlakyEventStore(1);
    t = await createTestApp({ taskQueue: 'memory://', resultStore: 'memory://', eventStore, worker: { enabled: false } }, [EchoTasks]);
    const id = await t.omniq.enqueue('echo', 1);
    expect(eventStore.appends).toBe(1);
    await t.close();
    expect(eventStore.appends).toBe(2);
    expect((await eventStore.query({ taskId: id })).map((e) => e.type)).toEqual(['enqueued']);
  });
});

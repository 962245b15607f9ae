import { MemoryEventStore, MemoryResultStore, MemoryTaskQueueStore } from '../../lib/backends/memory/index.js';
import { describeEventStoreConformance } from '../conformance/event-store.conformance.js';
import { describeResultStoreConformance } from '../conformance/result-store.conformance.js';
import { describeTaskQueueConformance } from '../conformance/task-queue.conformance.js';
import { describeScheduleStoreConformance } from '../conformance/schedule-store.conformance.js';

describeTaskQueueConformance('memory', async () => new MemoryTaskQueueStore());
describeResultStoreConformance('memory', async () => new MemoryResultStore());
describeEventStoreConformance('memory', async () => new MemoryEventStore());
describeScheduleStoreConformance('memory', async () => new MemoryTaskQueueStore());

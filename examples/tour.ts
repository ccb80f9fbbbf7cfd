// `deno task demo`: the tour of every pattern, one example after another.
import * as sequential from "./sequential_vs_concurrent.ts";
import * as gatherExample from "./gather.ts";
import * as taskGroup from "./task_group.ts";
import * as timeoutExample from "./timeout.ts";
import * as cancel from "./cancel.ts";
import * as queue from "./queue.ts";
import * as semaphore from "./semaphore.ts";
import * as retryExample from "./retry.ts";
import * as fakeClock from "./fake_clock.ts";
import * as workers from "./workers.ts";
import * as files from "./files.ts";
import * as http from "./http.ts";
import * as postgres from "./postgres.ts";
import * as postgresPool from "./postgres_pool.ts";
import * as debugExample from "./debug.ts";

const examples = [
  sequential,
  gatherExample,
  taskGroup,
  timeoutExample,
  cancel,
  queue,
  semaphore,
  retryExample,
  fakeClock,
  workers,
  files,
  http,
  postgres,
  postgresPool,
  debugExample,
];

const start = performance.now();
for (const example of examples) await example.main();
console.log(`\nTour done in ${(performance.now() - start).toFixed(0)} ms.`);

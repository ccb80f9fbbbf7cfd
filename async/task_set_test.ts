import assert from "node:assert/strict";
import { CancelledError, CancelScope, checkpoint } from "./cancel_scope.ts";
import { sleep } from "./sleep.ts";
import {
  type ExceptionContext,
  setExceptionHandler,
  type Task,
} from "./task.ts";
import { TaskSet } from "./task_set.ts";
import { timeout, TimeoutError } from "./timeout.ts";

Deno.test("TaskSet disposed by await using cancels its running tasks and waits for their finally blocks", async () => {
  const log: string[] = [];
  const started = Promise.withResolvers<void>();
  let sleepError: unknown;
  let task!: Task<void>;
  {
    await using tasks = new TaskSet();
    task = tasks.createTask(async () => {
      try {
        started.resolve();
        await sleep(60_000);
      } catch (error) {
        sleepError = error;
        throw error;
      } finally {
        // Cleanup that takes a few turns of the event loop.
        await new CancelScope({ shield: true }).run(async () => {
          for (let i = 0; i < 3; i++) await checkpoint();
        });
        log.push("finally ran");
      }
    });
    await started.promise;
  }
  log.push("block exited");
  assert.deepEqual(log, ["finally ran", "block exited"]);
  assert.ok(sleepError instanceof CancelledError);
  assert.equal(task.cancelled(), true);
});

Deno.test("TaskSet disposal cancels tasks that have not started yet", async () => {
  let ran = false;
  let task!: Task<void>;
  {
    await using tasks = new TaskSet();
    task = tasks.createTask(() => {
      ran = true;
    });
  }
  assert.equal(ran, false);
  assert.equal(task.done(), true);
  assert.equal(task.cancelled(), true);
});

Deno.test("TaskSet disposal leaves finished tasks' results alone", async () => {
  let task!: Task<string>;
  {
    await using tasks = new TaskSet();
    task = tasks.createTask(() => "done");
    await tasks.join();
  }
  assert.equal(task.cancelled(), false);
  assert.equal(task.result(), "done");
});

Deno.test("TaskSet passes a failing task's error to onError with the task", async () => {
  const seen: [unknown, Task<unknown>][] = [];
  const reported = Promise.withResolvers<void>();
  const tasks = new TaskSet({
    onError: (error, task) => {
      seen.push([error, task]);
      reported.resolve();
    },
  });
  const boom = new Error("boom");
  const task = tasks.createTask((): never => {
    throw boom;
  });
  await reported.promise;
  assert.equal(seen.length, 1);
  assert.equal(seen[0][0], boom);
  assert.equal(seen[0][1], task);
  await tasks[Symbol.asyncDispose]();
});

Deno.test("TaskSet does not pass cancellations or successes to onError", async () => {
  const seen: unknown[] = [];
  const tasks = new TaskSet({ onError: (error) => seen.push(error) });
  tasks.createTask(() => "fine");
  const sleeper = tasks.createTask(() => sleep(60_000));
  sleeper.cancel();
  await tasks.join();
  assert.equal(sleeper.cancelled(), true);
  assert.deepEqual(seen, []);
});

Deno.test("TaskSet without onError reports a failing task's error to the exception handler", async () => {
  const reports: ExceptionContext[] = [];
  const reported = Promise.withResolvers<void>();
  const previous = setExceptionHandler((context) => {
    reports.push(context);
    reported.resolve();
  });
  try {
    const tasks = new TaskSet();
    const boom = new Error("boom");
    tasks.createTask((): never => {
      throw boom;
    }, { name: "failing" });
    await reported.promise;
    await tasks.join();
    assert.equal(reports.length, 1);
    assert.equal(reports[0].error, boom);
    assert.equal(reports[0].taskName, "failing");
  } finally {
    setExceptionHandler(previous);
  }
});

Deno.test("TaskSet.join() of an empty set resolves at once", async () => {
  const tasks = new TaskSet();
  await tasks.join();
  assert.equal(tasks.size, 0);
});

Deno.test("TaskSet.join() resolves when the last task ends", async () => {
  const tasks = new TaskSet();
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  for (const gate of gates) tasks.createTask(() => gate.promise);
  let joined = false;
  const joining = tasks.join().then(() => {
    joined = true;
  });
  gates[0].resolve();
  await checkpoint();
  assert.equal(joined, false);
  assert.equal(tasks.size, 1);
  gates[1].resolve();
  await joining;
  assert.equal(joined, true);
  assert.equal(tasks.size, 0);
});

Deno.test("TaskSet.size counts the tasks still running", async () => {
  const tasks = new TaskSet();
  assert.equal(tasks.size, 0);
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const made = gates.map((gate) => tasks.createTask(() => gate.promise));
  assert.equal(tasks.size, 2);
  assert.deepEqual(new Set(tasks), new Set(made));
  gates[0].resolve();
  await made[0];
  assert.equal(tasks.size, 1);
  assert.deepEqual([...tasks], [made[1]]);
  gates[1].resolve();
  await made[1];
  assert.equal(tasks.size, 0);
});

Deno.test("TaskSet.createTask() after disposal throws", async () => {
  const tasks = new TaskSet();
  await tasks[Symbol.asyncDispose]();
  assert.throws(() => tasks.createTask(() => {}), /disposed/);
  assert.equal(tasks.size, 0);
});

Deno.test("TaskSet.cancelAll() cancels every running task", async () => {
  const tasks = new TaskSet();
  const made = [
    tasks.createTask(() => sleep(60_000)),
    tasks.createTask(() => sleep(60_000)),
  ];
  await checkpoint();
  tasks.cancelAll();
  await tasks.join();
  for (const task of made) assert.equal(task.cancelled(), true);
});

Deno.test("TaskSet rejects a non-function onError with TypeError", () => {
  assert.throws(() => new TaskSet({ onError: 42 as never }), TypeError);
});

Deno.test("TaskSet runs its tasks in its own scope: a task started inside a timeout outlives the timeout", async () => {
  await using tasks = new TaskSet();
  const release = Promise.withResolvers<void>();
  let task!: Task<string>;
  await assert.rejects(
    timeout(20, async () => {
      task = tasks.createTask(async () => {
        await release.promise;
        await sleep(1); // cancelled here if the timeout reached the task
        return "survived";
      });
      await sleep(60_000);
    }),
    TimeoutError,
  );
  release.resolve();
  assert.equal(await task, "survived");
});

Deno.test("TaskSet made inside a scope: cancelling that scope cancels its tasks", async () => {
  const scope = new CancelScope();
  let tasks!: TaskSet;
  const done = scope.run(async () => {
    tasks = new TaskSet();
    await sleep(60_000);
  });
  await checkpoint();
  const task = tasks.createTask(() => sleep(60_000)); // started from outside
  await checkpoint();
  scope.cancel();
  await done;
  await assert.rejects(task, CancelledError);
  await tasks[Symbol.asyncDispose]();
});

Deno.test("TaskSet disposed from inside one of its own tasks waits for the others, without deadlock", async () => {
  const tasks = new TaskSet();
  const log: string[] = [];
  tasks.createTask(async () => {
    try {
      await sleep(60_000);
    } finally {
      log.push("other ended");
    }
  });
  const disposer = tasks.createTask(async () => {
    await checkpoint();
    await tasks[Symbol.asyncDispose]();
    log.push("disposed");
  });
  await disposer;
  assert.deepEqual(log, ["other ended", "disposed"]);
  assert.equal(tasks.size, 0);
  assert.throws(() => tasks.createTask(() => {}), Error);
});

Deno.test("TaskSet.join() from inside one of its own tasks waits for the others only", async () => {
  await using tasks = new TaskSet();
  const log: string[] = [];
  tasks.createTask(async () => {
    await sleep(5);
    log.push("other");
  });
  const joiner = tasks.createTask(async () => {
    await tasks.join();
    log.push("joined");
  });
  await joiner;
  assert.deepEqual(log, ["other", "joined"]);
});

Deno.test("TaskSet({ parent: null }): cancelling the scope it was made in does not reach its tasks", async () => {
  const scope = new CancelScope();
  let tasks!: TaskSet;
  const done = scope.run(async () => {
    tasks = new TaskSet({ parent: null });
    await sleep(60_000);
  });
  await checkpoint();
  const release = Promise.withResolvers<void>();
  const task = tasks.createTask(async () => {
    await release.promise;
    await checkpoint();
    return "kept";
  });
  await checkpoint();
  scope.cancel();
  await done;
  release.resolve();
  assert.equal(await task, "kept");
  await tasks[Symbol.asyncDispose]();
  assert.throws(() => new TaskSet({ parent: 5 as never }), TypeError);
});

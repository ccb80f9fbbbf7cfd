import assert from "node:assert/strict";
import {
  CancelledError,
  checkpoint,
  createTask,
  ExceptionGroup,
  shield,
  sleep,
  TaskGroup,
} from "./mod.ts";

/** What ended a {@linkcode sleeper}'s sleep. */
interface Seen {
  error?: unknown;
}

/** A task that sleeps a minute and records the error that ends the sleep. */
function sleeper(seen: Seen, onStart?: () => void): () => Promise<void> {
  return async () => {
    try {
      onStart?.();
      await sleep(60_000);
    } catch (e) {
      seen.error = e;
      throw e;
    }
  };
}

class Boom extends Error {
  constructor(message = "boom") {
    super(message);
    this.name = "Boom";
  }
}

Deno.test("TaskGroup.run returns the body's result once every task is done", async () => {
  const finished: string[] = [];
  const fastDone = Promise.withResolvers<void>();
  const result = await TaskGroup.run((tg) => {
    tg.createTask(async () => {
      await fastDone.promise;
      await sleep(2);
      finished.push("slow");
    });
    tg.createTask(async () => {
      await checkpoint();
      finished.push("fast");
      fastDone.resolve();
    });
    return "body";
  });
  assert.equal(result, "body");
  assert.deepEqual(finished, ["fast", "slow"]);
});

Deno.test("TaskGroup: a failing child cancels its siblings and the body, then throws an ExceptionGroup", async () => {
  const events: string[] = [];
  const error = await TaskGroup.run(async (tg) => {
    tg.createTask(async () => {
      try {
        await sleep(60_000);
      } catch (e) {
        events.push(`sibling: ${(e as Error).name}`);
        throw e;
      }
    });
    tg.createTask(async () => {
      await checkpoint();
      throw new Boom();
    });
    try {
      await sleep(60_000);
    } catch (e) {
      events.push(`body: ${(e as Error).name}`);
      throw e;
    }
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.equal(error.errors.length, 1);
  assert.ok(error.errors[0] instanceof Boom);
  assert.deepEqual(events.sort(), [
    "body: CancelledError",
    "sibling: CancelledError",
  ]);
});

Deno.test("TaskGroup collects every error that is not a cancellation, also those raised while cancelled", async () => {
  const error = await TaskGroup.run((tg) => {
    for (const name of ["a", "b"]) {
      tg.createTask(async () => {
        try {
          await sleep(60_000);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new Boom(name);
        }
      });
    }
    tg.createTask(async () => {
      await checkpoint();
      throw new Boom("trigger");
    });
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.deepEqual(
    error.errors.map((e) => (e as Error).message).sort(),
    ["a", "b", "trigger"],
  );
  assert.match(error.message, /3 unhandled errors/);
});

Deno.test("TaskGroup: the body's own error cancels the children and joins the group", async () => {
  const child: Seen = {};
  const error = await TaskGroup.run(async (tg) => {
    tg.createTask(sleeper(child));
    await checkpoint();
    throw new Boom("body");
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.equal(error.errors.length, 1);
  assert.equal((error.errors[0] as Error).message, "body");
  assert.ok(child.error instanceof CancelledError);
});

Deno.test("TaskGroup: nested groups nest their ExceptionGroups and cancel outward", async () => {
  const sibling: Seen = {};
  const error = await TaskGroup.run((outer) => {
    outer.createTask(sleeper(sibling));
    outer.createTask(() =>
      TaskGroup.run((inner) => {
        inner.createTask(() => {
          throw new Boom("deep");
        });
      })
    );
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.equal(error.errors.length, 1);
  const inner = error.errors[0];
  assert.ok(inner instanceof ExceptionGroup);
  assert.equal((inner.errors[0] as Error).message, "deep");
  assert.ok(sibling.error instanceof CancelledError);
  const [deep] = error.split(Boom);
  assert.ok(deep instanceof ExceptionGroup);
});

Deno.test("TaskGroup cancelled from outside cancels its children and rethrows the cancellation", async () => {
  const child: Seen = {};
  let started!: () => void;
  const ready = new Promise<void>((resolve) => started = resolve);
  const task = createTask(() =>
    TaskGroup.run(async (tg) => {
      tg.createTask(sleeper(child, started));
      await sleep(60_000);
    })
  );
  await ready;
  task.cancel();
  const error = await task.then(() => undefined, (e) => e);
  assert.ok(error instanceof CancelledError, `got ${error}`);
  assert.ok(!(error instanceof ExceptionGroup));
  assert.ok(child.error instanceof CancelledError);
  assert.ok(task.cancelled());
});

Deno.test("TaskGroup cancelled from outside while a child fails throws the ExceptionGroup", async () => {
  let started!: () => void;
  const ready = new Promise<void>((resolve) => started = resolve);
  const task = createTask(() =>
    TaskGroup.run(async (tg) => {
      tg.createTask(async () => {
        try {
          started();
          await sleep(60_000);
        } catch {
          throw new Boom("while cancelled");
        }
      });
      await sleep(60_000);
    })
  );
  await ready;
  task.cancel();
  const error = await task.then(() => undefined, (e) => e);
  assert.ok(error instanceof ExceptionGroup, `got ${error}`);
  assert.equal((error.errors[0] as Error).message, "while cancelled");
});

Deno.test("TaskGroup waits for every child before throwing, even one that ignores cancellation (no orphans)", async () => {
  let childDone = false;
  await assert.rejects(
    TaskGroup.run((tg) => {
      tg.createTask(async () => {
        try {
          await sleep(60_000);
        } catch {
          // Ignores the cancellation and carries on, shielded.
        }
        await shield(() => sleep(5));
        childDone = true;
      });
      tg.createTask(() => {
        throw new Boom();
      });
    }),
    ExceptionGroup,
  );
  assert.ok(childDone);
});

Deno.test("tg.cancel() ends the group early without an error", async () => {
  const child: Seen = {};
  const result = await TaskGroup.run(async (tg) => {
    tg.createTask(sleeper(child));
    await checkpoint();
    tg.cancel();
    await sleep(60_000);
    return "unreachable";
  });
  assert.equal(result, undefined);
  assert.ok(child.error instanceof CancelledError);
});

Deno.test("tg.cancel() from a child keeps the body's result if the body had returned", async () => {
  const result = await TaskGroup.run((tg) => {
    tg.createTask(async () => {
      await checkpoint();
      tg.cancel();
    });
    tg.createTask(() => sleep(60_000));
    return 7;
  });
  assert.equal(result, 7);
});

Deno.test("TaskGroup: creating a task on a closed group throws and leaves nothing running", async () => {
  let saved: TaskGroup | undefined;
  await TaskGroup.run((tg) => {
    saved = tg;
  });
  let ran = false;
  assert.throws(
    () =>
      saved!.createTask(() => {
        ran = true;
      }),
    /TaskGroup has closed/,
  );
  await checkpoint();
  assert.equal(ran, false);
});

Deno.test("TaskGroup: children may add tasks while the group waits for them", async () => {
  const order: number[] = [];
  await TaskGroup.run((tg) => {
    tg.createTask(async () => {
      await checkpoint();
      tg.createTask(async () => {
        await checkpoint();
        order.push(2);
      });
      order.push(1);
    });
  });
  assert.deepEqual(order, [1, 2]);
});

Deno.test("TaskGroup has one way to run: new TaskGroup() throws, TaskGroup.run works", async () => {
  assert.throws(() => new TaskGroup(), /TaskGroup\.run/);
  assert.equal(await TaskGroup.run(() => "ran"), "ran");
});

Deno.test("TaskGroup rejects bad input with TypeErrors, never throwing synchronously", async () => {
  await assert.rejects(TaskGroup.run(42 as never), TypeError);
  await assert.rejects(
    TaskGroup.run(() => {}, { signal: "no" as never }),
    TypeError,
  );
  await TaskGroup.run(async (tg) => {
    assert.throws(() => tg.createTask(null as never), TypeError);
    await assert.rejects(tg.start(null as never), TypeError);
  });
});

Deno.test("TaskGroup: a child that throws Object.create(null) fails the group with that very value", async () => {
  const odd = Object.create(null);
  const error = await TaskGroup.run((tg) => {
    tg.createTask(() => {
      throw odd;
    });
  }).catch((e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.equal(error.errors[0], odd);
  assert.match(error.message, /\[object Object\]/);
});

Deno.test("ExceptionGroup.split with a class that does not extend Error throws a clear TypeError", () => {
  class NotAnError {}
  const group = new ExceptionGroup("g", [new Error("x")]);
  assert.throws(() => group.split(NotAnError), {
    name: "TypeError",
    message: /NotAnError does not extend Error/,
  });
  assert.throws(() => group.subgroup(NotAnError), TypeError);
});

Deno.test("tg.cancel(new Error()) ends the group quietly", async () => {
  let childError: unknown;
  const result = await TaskGroup.run(async (tg) => {
    tg.createTask(async () => {
      try {
        await sleep(60_000);
      } catch (e) {
        childError = e;
        throw e;
      }
    });
    await checkpoint();
    tg.cancel(new Error("stop") as never);
    await sleep(60_000);
  });
  assert.equal(result, undefined);
  assert.ok(childError instanceof CancelledError);
});

Deno.test("TaskGroup: the body's own error is reported as the body's", async () => {
  let siblingError: unknown;
  const error = await TaskGroup.run(async (tg) => {
    tg.createTask(async () => {
      try {
        await sleep(60_000);
      } catch (e) {
        siblingError = e;
        throw e;
      }
    });
    await checkpoint();
    throw new Error("body broke");
  }).catch((e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.match(error.message, /the body: Error: body broke/);
  assert.ok(siblingError instanceof CancelledError);
  assert.match((siblingError as Error).message, /body of the TaskGroup failed/);
});

Deno.test("TaskGroup's signal option cancels the group like an outer cancellation", async () => {
  const controller = new AbortController();
  const group = TaskGroup.run(async (tg) => {
    tg.createTask(() => sleep(60_000));
    await checkpoint();
    controller.abort();
    await sleep(60_000);
  }, { signal: controller.signal });
  await assert.rejects(group, CancelledError);
});

Deno.test("tg.start() resolves with the value passed to started() while the task goes on", async () => {
  const log: string[] = [];
  await TaskGroup.run(async (tg) => {
    const port = await tg.start<number>(async (started) => {
      started(8080);
      await checkpoint();
      log.push("serving");
    });
    log.push(`listening on ${port}`);
  });
  assert.deepEqual(log, ["listening on 8080", "serving"]);
});

Deno.test("tg.start(): an error before started() rejects start() and leaves the group running", async () => {
  const result = await TaskGroup.run(async (tg) => {
    await assert.rejects(
      tg.start(() => {
        throw new Boom("bind failed");
      }),
      /bind failed/,
    );
    await assert.rejects(tg.start(async () => {}), /without calling started/);
    return "group still fine";
  });
  assert.equal(result, "group still fine");
});

Deno.test("tg.start(): an error after started() fails the group", async () => {
  const error = await TaskGroup.run(async (tg) => {
    await tg.start(async (started) => {
      started(undefined);
      await checkpoint();
      throw new Boom("later");
    });
    await sleep(60_000);
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof ExceptionGroup);
  assert.equal((error.errors[0] as Error).message, "later");
});

Deno.test("ExceptionGroup.split and subgroup match by class and predicate, through nested groups", async (t) => {
  const group = new ExceptionGroup("outer", [
    new TypeError("t1"),
    new ExceptionGroup("inner", [new RangeError("r1"), new TypeError("t2")]),
    new Boom("b"),
  ]);
  const cases: [
    string,
    Parameters<ExceptionGroup["split"]>[0],
    string[],
    string[],
  ][] = [
    ["class", TypeError, ["t1", "t2"], ["r1", "b"]],
    ["predicate", (e) => (e as Error).message.startsWith("r"), ["r1"], [
      "t1",
      "t2",
      "b",
    ]],
    ["Error matches all", Error, ["t1", "r1", "t2", "b"], []],
  ];
  const leaves = (g: ExceptionGroup | undefined): string[] =>
    g === undefined
      ? []
      : g.errors.flatMap((e) =>
        e instanceof ExceptionGroup ? leaves(e) : [(e as Error).message]
      ).sort();
  for (const [name, condition, match, rest] of cases) {
    await t.step(name, () => {
      const [m, r] = group.split(condition);
      assert.deepEqual(leaves(m), [...match].sort());
      assert.deepEqual(leaves(r), [...rest].sort());
      if (rest.length === 0) assert.equal(r, undefined);
      assert.deepEqual(leaves(group.subgroup(condition)), [...match].sort());
    });
  }
  await t.step("no match gives undefined", () => {
    assert.equal(group.subgroup(SyntaxError), undefined);
  });
  await t.step("the message and nesting are kept", () => {
    const [m] = group.split(RangeError);
    assert.equal(m!.message, "outer");
    assert.ok(m!.errors[0] instanceof ExceptionGroup);
  });
  await t.step("bad condition is a TypeError, empty group a RangeError", () => {
    assert.throws(() => group.split("x" as never), TypeError);
    assert.throws(() => new ExceptionGroup("none", []), RangeError);
  });
});

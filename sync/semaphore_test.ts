import assert from "node:assert/strict";
import {
  CancelledError,
  CancelScope,
  currentScope,
} from "../async/cancel_scope.ts";
import { sleep } from "../async/sleep.ts";
import { churnGuards, flush, holdViaRun, prng } from "./_test_util.ts";
import { BoundedSemaphore, Semaphore } from "./semaphore.ts";

Deno.test("Semaphore.acquire() takes a permit and the guard gives it back", async () => {
  const semaphore = new Semaphore(2);
  const guard = await semaphore.acquire();
  assert.equal(semaphore.value, 1);
  guard.release();
  assert.equal(semaphore.value, 2);
});

Deno.test("Semaphore defaults to one permit", () => {
  assert.equal(new Semaphore().value, 1);
});

Deno.test("Semaphore guard released twice throws and returns one permit", async () => {
  const semaphore = new Semaphore(1);
  const guard = await semaphore.acquire();
  guard.release();
  assert.throws(() => guard.release(), /already released/);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.locked() is true when no permit is free", async () => {
  const semaphore = new Semaphore(1);
  assert.equal(semaphore.locked(), false);
  using _ = await semaphore.acquire();
  assert.equal(semaphore.locked(), true);
});

Deno.test("Semaphore.acquire() waits for a release when no permit is free", async () => {
  const semaphore = new Semaphore(1);
  const guard = await semaphore.acquire();
  let acquired = false;
  const waiting = semaphore.acquire().then((g) => {
    acquired = true;
    return g;
  });
  await flush();
  assert.equal(acquired, false);
  guard.release();
  (await waiting).release();
  assert.equal(acquired, true);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore serves waiters first come, first served", async () => {
  const semaphore = new Semaphore(0);
  const order: number[] = [];
  const waiters = [1, 2, 3].map(async (id) => {
    using _ = await semaphore.acquire();
    order.push(id);
  });
  semaphore.release();
  await Promise.all(waiters);
  assert.deepEqual(order, [1, 2, 3]);
});

Deno.test("Semaphore.release() hands the permit to the oldest waiter, not to a newcomer", async () => {
  const semaphore = new Semaphore(0);
  const order: string[] = [];
  const waiter = semaphore.acquire().then((g) => {
    order.push("waiter");
    g.release();
  });
  semaphore.release();
  assert.equal(semaphore.value, 0); // handed over, not freed
  const newcomer = semaphore.acquire().then((g) => {
    order.push("newcomer");
    g.release();
  });
  await Promise.all([waiter, newcomer]);
  assert.deepEqual(order, ["waiter", "newcomer"]);
});

Deno.test("Semaphore.acquire() cancelled in the tick of the release takes no permit", async () => {
  const semaphore = new Semaphore(0);
  const controller = new AbortController();
  const waiting = semaphore.acquire({ signal: controller.signal });
  controller.abort();
  semaphore.release();
  await assert.rejects(waiting, CancelledError);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.acquire() in a cancelled scope rejects even with a free permit", async () => {
  const semaphore = new Semaphore(1);
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() => semaphore.acquire().catch((e) => error = e));
  assert.ok(error instanceof CancelledError);
  assert.equal(semaphore.value, 1);
});

Deno.test("BoundedSemaphore.release() past its bound throws and changes nothing", async () => {
  const semaphore = new BoundedSemaphore(2);
  const guard = await semaphore.acquire();
  semaphore.release();
  assert.throws(() => semaphore.release(), /released too many times/);
  assert.equal(semaphore.value, 2);
  assert.throws(() => guard.release(), /released too many times/);
});

Deno.test("BoundedSemaphore.release() hands the permit to a waiter", async () => {
  const semaphore = new BoundedSemaphore(1);
  const guard = await semaphore.acquire();
  const waiting = semaphore.acquire();
  guard.release();
  (await waiting).release();
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() runs at most `value` jobs at once and returns their results", async () => {
  const semaphore = new Semaphore(3);
  let running = 0;
  let most = 0;
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      semaphore.run(async () => {
        most = Math.max(most, ++running);
        await flush(i % 4);
        running--;
        return i;
      })),
  );
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(most, 3);
  assert.equal(semaphore.value, 3);
});

Deno.test("Semaphore.run() gives the permit back when the job rejects or throws", async () => {
  const semaphore = new Semaphore(1);
  await assert.rejects(
    semaphore.run(() => Promise.reject(new Error("async"))),
    /async/,
  );
  assert.equal(semaphore.value, 1);
  await assert.rejects(
    semaphore.run(() => {
      throw new Error("sync");
    }),
    /sync/,
  );
  assert.equal(semaphore.value, 1);
  assert.equal(await semaphore.run(() => 7), 7); // a plain value is fine too
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() waits in the same line as acquire(), first come, first served", async () => {
  const semaphore = new Semaphore(1);
  const guard = await semaphore.acquire();
  const order: string[] = [];
  const first = semaphore.run(() => order.push("run 1"));
  const second = semaphore.acquire().then((g) => {
    order.push("acquire");
    g.release();
  });
  const third = semaphore.run(() => order.push("run 2"));
  await flush();
  assert.deepEqual(order, []);
  guard.release();
  await Promise.all([first, second, third]);
  assert.deepEqual(order, ["run 1", "acquire", "run 2"]);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() cancelled while waiting does not call the job and takes no permit", async () => {
  const semaphore = new Semaphore(0);
  let called = 0;
  const job = () => called++;
  const controller = new AbortController();
  const bySignal = semaphore.run(job, { signal: controller.signal });
  const scope = new CancelScope();
  const byScope = scope.run(() => semaphore.run(job));
  await flush();
  controller.abort(); // both in the tick of the release
  scope.cancel();
  semaphore.release();
  await assert.rejects(bySignal, CancelledError);
  assert.equal(await byScope, undefined); // the scope swallowed its own cancel
  assert.equal(called, 0);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() in a cancelled scope rejects even with a free permit", async () => {
  const semaphore = new Semaphore(1);
  const scope = new CancelScope();
  scope.cancel();
  let called = false;
  let error: unknown;
  await scope.run(() =>
    semaphore.run(() => called = true).catch((e) => error = e)
  );
  assert.ok(error instanceof CancelledError);
  assert.equal(called, false);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() calls a job that waited in the caller's cancel scope", async () => {
  const semaphore = new Semaphore(0);
  const scope = new CancelScope();
  let seen: CancelScope | undefined;
  const running = scope.run(() =>
    semaphore.run(async () => {
      seen = currentScope();
      await sleep(60_000); // cancelled through the caller's scope
    })
  );
  await flush();
  semaphore.release();
  await flush();
  assert.equal(seen, scope);
  assert.equal(semaphore.value, 0); // the job holds it
  scope.cancel();
  await running;
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() calls a waiting job that has a `then` of its own", async () => {
  const semaphore = new Semaphore(0);
  const job = Object.assign(() => "called", { then: () => "not a thenable" });
  const result = semaphore.run(job);
  semaphore.release();
  assert.equal(await result, "called");
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.run() rejects a job that is not a function and takes nothing", async () => {
  const semaphore = new BoundedSemaphore(1);
  await assert.rejects(
    // @ts-expect-error: checked at run time too
    semaphore.run("job"),
    (e) =>
      e instanceof TypeError &&
      /BoundedSemaphore.*'fn'.*got string/.test(e.message),
  );
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore rejects a bad value", async (t) => {
  for (const Class of [Semaphore, BoundedSemaphore]) {
    for (const value of [-1, 0.5, NaN, Infinity]) {
      await t.step(`${Class.name}(${value}) throws RangeError`, () => {
        assert.throws(() => new Class(value), (error: Error) => {
          assert.ok(error instanceof RangeError);
          assert.ok(error.message.includes(String(value)));
          return true;
        });
      });
    }
    await t.step(`${Class.name}("1") throws TypeError`, () => {
      assert.throws(() => new Class("1" as unknown as number), TypeError);
    });
  }
});

// Property: acquirers cancelled at random points (often in the tick of the
// release racing with them); at most `permits` guards are held at once, and
// the permits all come back.
for (const seed of [21, 22, 23, 24, 25, 26]) {
  Deno.test(`Semaphore never leaks a permit under random cancellation (seed ${seed})`, async () => {
    const random = prng(seed);
    const permits = 1 + Math.floor(random() * 3);
    const semaphore = seed % 2 === 0
      ? new Semaphore(permits)
      : new BoundedSemaphore(permits);
    const { held, acquired, started } = await churnGuards(
      random,
      // Half the takers go through run(); their permit comes back a few
      // microtasks after release(), so the check is an upper bound.
      (signal) =>
        random() < 0.5
          ? semaphore.acquire({ signal })
          : holdViaRun(random, (fn, o) => semaphore.run(fn, o), signal),
      (held) => assert.ok(held + semaphore.value <= permits),
    );
    for (const guard of held) guard.release();
    await flush();
    assert.equal(semaphore.value, permits);
    assert.equal(semaphore.locked(), false);
    assert.ok(acquired > 0 && acquired < started);
  });
}

Deno.test("Semaphore.run() calls the job asynchronously also when a permit is free, holding it already", async () => {
  const semaphore = new Semaphore(1);
  let called = false;
  const done = semaphore.run(() => {
    called = true;
    return semaphore.value;
  });
  assert.equal(called, false);
  assert.equal(semaphore.value, 0); // taken at once: no newcomer overtakes
  assert.equal(await done, 0);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.tryAcquire() takes a free permit, and refuses when none is free or others wait", async () => {
  const semaphore = new Semaphore(2);
  const a = semaphore.tryAcquire();
  const b = semaphore.tryAcquire();
  assert.ok(a !== undefined && b !== undefined);
  assert.equal(semaphore.value, 0);
  assert.equal(semaphore.tryAcquire(), undefined);
  const waiter = semaphore.acquire();
  a.release(); // handed to the waiter
  assert.equal(semaphore.tryAcquire(), undefined);
  (await waiter).release();
  b.release();
  assert.equal(semaphore.value, 2);
  const bounded = new BoundedSemaphore(1);
  bounded.tryAcquire()!.release();
  assert.equal(bounded.value, 1);
});

Deno.test("Semaphore.waiting counts blocked acquire() and run() calls, not cancelled ones", async () => {
  const semaphore = new Semaphore(0);
  const controller = new AbortController();
  const a = semaphore.acquire();
  const b = semaphore.run(() => "b");
  const c = semaphore.acquire({ signal: controller.signal });
  assert.equal(semaphore.waiting, 3);
  controller.abort();
  await assert.rejects(c, CancelledError);
  assert.equal(semaphore.waiting, 2);
  semaphore.release();
  assert.equal(semaphore.waiting, 1);
  (await a).release(); // the permit passes on to b
  assert.equal(await b, "b");
  assert.equal(semaphore.waiting, 0);
  assert.equal(semaphore.value, 1);
});

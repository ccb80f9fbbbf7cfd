import { AssertionError } from "node:assert";
import assert from "node:assert/strict";
import { CancelledError, createTask, sleep } from "../async/mod.ts";
import { FakeTime } from "./fake_time.ts";
import { mockAsync, spyAsync } from "./mock.ts";

Deno.test("mockAsync() resolves with undefined by default and records the call", async () => {
  const mock = mockAsync<[string, number]>();
  assert.equal(await mock("a", 1), undefined);
  assert.equal(mock.callCount, 1);
  assert.deepEqual(mock.calls[0].args, ["a", 1]);
  assert.equal(mock.calls[0].status, "resolved");
});

Deno.test("mockAsync() returns a promise even when the implementation is synchronous", () => {
  const mock = mockAsync(() => 5);
  const result = mock();
  assert.ok(result instanceof Promise);
  return result.then((value) => assert.equal(value, 5));
});

Deno.test("resolves() makes every later call resolve with the value", async () => {
  const mock = mockAsync().resolves(7);
  assert.equal(await mock(), 7);
  assert.equal(await mock(), 7);
});

Deno.test("rejects() makes every later call reject and records the error", async () => {
  const error = new Error("boom");
  const mock = mockAsync().rejects(error);
  await assert.rejects(mock(), (e) => e === error);
  assert.equal(mock.calls[0].status, "rejected");
  assert.equal(mock.calls[0].error, error);
});

Deno.test("resolvesNext() queues outcomes, Errors reject, then the behaviour resumes", async () => {
  const mock = mockAsync().resolves("default").resolvesNext([
    1,
    new Error("second"),
  ]);
  assert.equal(await mock(), 1);
  await assert.rejects(mock(), /second/);
  assert.equal(await mock(), "default");
});

Deno.test("implementation() receives the arguments and this", async () => {
  const mock = mockAsync<[number], number>().implementation(
    function (this: unknown, n) {
      return (this as { base: number }).base + n;
    },
  );
  const holder = { base: 10, mock };
  assert.equal(await holder.mock(5), 15);
  assert.equal(mock.calls[0].self, holder);
});

Deno.test("A throwing implementation rejects instead of throwing", async () => {
  const mock = mockAsync(() => {
    throw new Error("sync throw");
  });
  const result = mock();
  await assert.rejects(result, /sync throw/);
});

Deno.test("Calls record start and end on the virtual clock", async () => {
  using time = new FakeTime(0);
  const mock = mockAsync(() => sleep(250));
  const done = mock();
  await time.tickAsync(100);
  assert.equal(mock.calls[0].status, "pending");
  assert.equal(mock.calls[0].end, undefined);
  await time.tickAsync(150);
  await done;
  assert.equal(mock.calls[0].start, 0);
  assert.equal(mock.calls[0].end, 250);
});

Deno.test("called(n) resolves when the n-th call arrives", async () => {
  const mock = mockAsync<[number]>();
  let got: number | undefined;
  const waiting = mock.called(2).then((call) => got = call.args[0]);
  await mock(1);
  await Promise.resolve();
  assert.equal(got, undefined);
  await mock(2);
  await waiting;
  assert.equal(got, 2);
});

Deno.test("called(n) resolves at once for a call that already happened", async () => {
  const mock = mockAsync<[string]>();
  await mock("first");
  const call = await mock.called(1);
  assert.deepEqual(call.args, ["first"]);
});

Deno.test("called(n) can be cancelled by a signal and withdraws its waiter", async () => {
  const mock = mockAsync();
  const controller = new AbortController();
  const waiting = mock.called(1, { signal: controller.signal });
  controller.abort();
  await assert.rejects(waiting, CancelledError);
  await mock(); // would wake the withdrawn waiter if it were still there
});

Deno.test("called(n) is cancelled with its task", async () => {
  const mock = mockAsync();
  const task = createTask(() => mock.called(3));
  await Promise.resolve();
  task.cancel();
  await assert.rejects(task, CancelledError);
});

Deno.test("called(n) rejects a count that is not an integer >= 1", async () => {
  await assert.rejects(mockAsync().called(0), /'n'.*got 0/);
});

Deno.test("assertCalled() throws an AssertionError when never called", async () => {
  const mock = mockAsync();
  assert.throws(() => mock.assertCalled(), AssertionError);
  await mock();
  mock.assertCalled();
});

Deno.test("assertCalledOnce() throws an AssertionError listing the calls", async () => {
  const mock = mockAsync<[number]>();
  await mock(1);
  mock.assertCalledOnce();
  await mock(2);
  assert.throws(() => mock.assertCalledOnce(), (error) => {
    assert.ok(error instanceof AssertionError);
    assert.match(error.message, /called 2 times:\n {2}\(1\)\n {2}\(2\)/);
    return true;
  });
});

Deno.test("assertCalledWith() shows a diff of the last call's arguments", async () => {
  const mock = mockAsync<[string, { id: number }]>();
  await mock("get", { id: 1 });
  mock.assertCalledWith("get", { id: 1 });
  assert.throws(() => mock.assertCalledWith("get", { id: 2 }), (error) => {
    assert.ok(error instanceof AssertionError);
    assert.match(error.message, /other arguments/);
    assert.match(error.message, /\+ {5}id: 1/);
    assert.match(error.message, /- {5}id: 2/);
    return true;
  });
});

Deno.test("assertCalledWith() on a mock never called says so", () => {
  const mock = mockAsync<[number]>();
  assert.throws(
    () => mock.assertCalledWith(1),
    /called with \(1\), but it was never called/,
  );
});

Deno.test("assertAwaited() passes only once a returned promise was awaited", async () => {
  const mock = mockAsync();
  const pending = mock();
  assert.throws(() => mock.assertAwaited(), AssertionError);
  assert.equal(mock.calls[0].awaited, false);
  await pending;
  mock.assertAwaited();
  assert.equal(mock.awaitCount, 1);
  assert.equal(mock.calls[0].awaited, true);
});

Deno.test("reset() forgets calls and queued outcomes", async () => {
  const mock = mockAsync().resolves("x").resolvesNext(["queued"]);
  mock.reset();
  assert.equal(mock.callCount, 0);
  assert.equal(await mock(), "x");
});

Deno.test("spyAsync() calls through to the original with its this and records results", async () => {
  class Store {
    prefix = "id-";
    async load(n: number): Promise<string> {
      await Promise.resolve();
      return this.prefix + n;
    }
  }
  const store = new Store();
  using spy = spyAsync(store, "load");
  assert.equal(await store.load(3), "id-3");
  spy.assertCalledWith(3);
  assert.equal(spy.calls[0].result, "id-3");
});

Deno.test("spyAsync() restores an inherited method on dispose", () => {
  class Store {
    load(): Promise<number> {
      return Promise.resolve(1);
    }
  }
  const store = new Store();
  {
    using _spy = spyAsync(store, "load");
    assert.equal(Object.hasOwn(store, "load"), true);
  }
  assert.equal(Object.hasOwn(store, "load"), false);
  assert.equal(store.load, Store.prototype.load);
});

Deno.test("spyAsync() restores an own method also when the test throws", () => {
  const original = () => Promise.resolve(1);
  const api = { get: original };
  assert.throws(() => {
    using _spy = spyAsync(api, "get");
    throw new Error("test failed");
  }, /test failed/);
  assert.equal(api.get, original);
});

Deno.test("spyAsync() can override the pass-through behaviour", async () => {
  const api = { get: (): Promise<number> => Promise.resolve(1) };
  using spy = spyAsync(api, "get");
  spy.resolves(2);
  assert.equal(await api.get(), 2);
});

Deno.test("spyAsync() refuses what is not a method", () => {
  const api = { value: 1 } as unknown as { value: () => Promise<void> };
  assert.throws(() => spyAsync(api, "value"), /'value': it must be a method/);
});

Deno.test("spyAsync() nested spies restored out of order leave the original", async () => {
  const api = { get: (n: number) => Promise.resolve(n + 1) };
  const original = api.get;
  const outer = spyAsync(api, "get");
  const inner = spyAsync(api, "get");
  outer.restore();
  assert.equal(api.get, inner); // the spy still in place stays installed
  assert.equal(await api.get(1), 2);
  assert.equal(inner.calls.length, 1);
  assert.equal(outer.calls.length, 0); // restored: no longer in the chain
  inner.restore();
  assert.equal(api.get, original);
  assert.equal(Object.keys(api).length, 1);
});

Deno.test("spyAsync() nested spies of an inherited method restored out of order delete the own property", () => {
  class Store {
    load(): Promise<number> {
      return Promise.resolve(1);
    }
  }
  const store = new Store();
  const a = spyAsync(store, "load");
  const b = spyAsync(store, "load");
  a.restore();
  b.restore();
  assert.equal(Object.hasOwn(store, "load"), false);
});

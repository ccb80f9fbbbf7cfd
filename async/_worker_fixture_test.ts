// Worker functions for the worker tests (loaded in workers, not a test).
import { type Transfer, transfer } from "./_worker_protocol.ts";

export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

export function inc(x: number): number {
  return x + 1;
}

export function echo<T>(value: T): T {
  return value;
}

/** Blocks the worker's thread (a real blocking call, like time.sleep). */
export function blockingSleep(ms: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return ms;
}

/** An async task that waits: a Web Worker's terminate() stops it. */
export function wait(ms: number, flag?: SharedArrayBuffer): Promise<string> {
  if (flag) started(flag);
  return new Promise((resolve) => setTimeout(() => resolve("waited"), ms));
}

/** Says it started (through `flag`), then never ends nor yields. */
export function spin(flag?: SharedArrayBuffer): never {
  if (flag) started(flag);
  while (true) {
    // spin
  }
}

function started(flag: SharedArrayBuffer): void {
  const cell = new Int32Array(flag);
  Atomics.store(cell, 0, 1);
  Atomics.notify(cell, 0);
}

export class CustomError extends Error {
  code = "E_CUSTOM";
  constructor(message: string) {
    super(message);
    this.name = "CustomError";
  }
}

export function fail(kind: string): never {
  switch (kind) {
    case "Error":
      throw new Error("plain failure");
    case "TypeError":
      throw new TypeError("wrong type");
    case "custom":
      throw new CustomError("custom failure");
    case "cause":
      throw new Error("outer", { cause: new RangeError("inner") });
    case "number":
      throw 42;
    case "object":
      throw { reason: "not an error" };
  }
  throw new Error(`unknown kind ${kind}`);
}

export function exit(code: number): void {
  Deno.exit(code);
}

/** Throws from a timer after returning: an uncaught error in the worker. */
export function crashLater(): Promise<never> {
  setTimeout(() => {
    throw new Error("uncaught in worker");
  }, 0);
  return new Promise(() => {});
}

export function byteLength(buffer: ArrayBuffer): number {
  return buffer.byteLength;
}

/** Returns the buffer it got, moved back to the caller. */
export function roundTrip(buffer: ArrayBuffer): Transfer<ArrayBuffer> {
  return transfer(buffer, [buffer]);
}

export function readEnv(name: string): string | undefined {
  return Deno.env.get(name);
}

/** Returns what cannot be structured-cloned. */
export function makeFunction(): () => number {
  return () => 1;
}

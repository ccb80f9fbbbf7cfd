/**
 * Network, disk and database I/O that obeys the ambient cancel scope:
 * aiofiles-style files, and (as they land) aiohttp's `ClientSession` and
 * asyncpg's PostgreSQL client.
 *
 * @example Read a file line by line
 * ```ts
 * import { open, tempDir, writeText } from "@aio/std/io";
 * import assert from "node:assert/strict";
 *
 * await using dir = await tempDir();
 * await writeText(`${dir.path}/a.txt`, "one\ntwo\n");
 * await using f = await open(`${dir.path}/a.txt`);
 * const lines: string[] = [];
 * for await (const line of f) lines.push(line);
 * assert.deepEqual(lines, ["one", "two"]);
 * ```
 *
 * @module
 */
export * from "./files.ts";
export * from "./http.ts";
export * from "./postgres.ts";
export * from "./postgres_pool.ts";

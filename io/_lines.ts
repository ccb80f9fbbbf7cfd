// The line splitter of io/files.ts: decoded text in, lines out, no I/O.
// Universal newlines (`\n`, `\r\n`, a lone `\r`), as Python's text files.
//
// Linear on any input: each chunk is searched once (the next `\n` and the
// next `\r` found are cached until passed), and a line that spans chunks is
// kept as a list of pieces joined once when its end is found — the std
// TextLineStream of old concatenated and rescanned, quadratic on long lines.

/**
 * Splits decoded text, pushed chunk by chunk, into lines. A `\r` that ends a
 * chunk is held until the next chunk (or {@linkcode LineScanner.end}) says
 * whether a `\n` follows it. Also the read-ahead buffer of a text file:
 * {@linkcode LineScanner.take} and {@linkcode LineScanner.takeAll} hand out
 * text that is not split, {@linkcode LineScanner.unshift} puts text back.
 *
 * @example Usage
 * ```ts
 * import { LineScanner } from "./_lines.ts";
 * import assert from "node:assert/strict";
 *
 * const scanner = new LineScanner();
 * const lines: string[] = [];
 * for (const chunk of ["a\r", "\nb\rc", "\n", "last"]) {
 *   scanner.push(chunk);
 *   for (let l; (l = scanner.nextLine(false)) !== undefined;) lines.push(l);
 * }
 * scanner.end();
 * for (let l; (l = scanner.nextLine(false)) !== undefined;) lines.push(l);
 * assert.deepEqual(lines, ["a", "b", "c", "last"]);
 * ```
 */
export class LineScanner {
  // The chunk being split, and the first code unit not handed out yet.
  #text = "";
  #pos = 0;
  // Index of the next `\n` / `\r` at or after #pos, `#text.length` for none,
  // stale when below #pos (-1 = not searched yet).
  #lf = -1;
  #cr = -1;
  // The start of the current line, from earlier chunks (no line end in it).
  #head: string[] = [];
  #ended = false;

  /**
   * Whether any text is held: a line or part of one not handed out yet.
   *
   * @returns `true` if something is left.
   */
  get pending(): boolean {
    return this.#pos < this.#text.length || this.#head.length !== 0;
  }

  /**
   * How many UTF-16 code units are held.
   *
   * @returns The count.
   */
  get pendingLength(): number {
    let length = this.#text.length - this.#pos;
    for (const piece of this.#head) length += piece.length;
    return length;
  }

  /** Whether {@linkcode LineScanner.end} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Adds a chunk of text after what is held.
   *
   * @param text The next decoded chunk.
   */
  push(text: string): void {
    if (this.#ended) {
      throw new TypeError("Cannot push text: the scanner has ended");
    }
    if (text.length === 0) return;
    const old = this.#text;
    const len = old.length;
    const pos = this.#pos;
    if (pos >= len) this.#text = text;
    else {
      const lf = this.#findLF();
      const cr = this.#findCR();
      if (lf === len && cr >= len - 1) {
        // No line end in what is left (but perhaps a final `\r`): it joins
        // the head, and the chunk starts afresh — nothing is rescanned.
        const cut = cr === len - 1 ? cr : len;
        if (cut > pos) this.#head.push(old.slice(pos, cut));
        this.#text = cut < len ? "\r" + text : text;
      } else {
        // Complete lines are still held (text pushed before they were
        // taken): keep them in front of the chunk.
        this.#text = old.slice(pos) + text;
      }
    }
    this.#pos = 0;
    this.#lf = -1;
    this.#cr = -1;
  }

  /** Marks the end of the input: what is held becomes the last line. */
  end(): void {
    this.#ended = true;
  }

  /**
   * The next complete line, or `undefined` when more text is needed (or,
   * after {@linkcode LineScanner.end}, when everything was handed out).
   *
   * @param keepEnds Whether the line keeps its ending (`\n`, `\r\n`, `\r`).
   * @returns The line, or `undefined`.
   */
  nextLine(keepEnds: boolean): string | undefined {
    const text = this.#text;
    const pos = this.#pos;
    const len = text.length;
    let lf = this.#lf;
    if (lf < pos) lf = this.#findLF();
    let cr = this.#cr;
    if (cr < pos) cr = this.#findCR();
    let end: number;
    let next: number;
    if (lf < cr) {
      end = lf;
      next = lf + 1;
    } else if (cr < len) {
      if (cr + 1 === len && !this.#ended) return undefined; // `\n` may follow
      end = cr;
      next = cr + 1 === lf ? cr + 2 : cr + 1;
    } else {
      // No line end held: the rest is the last line, once the input ended.
      if (!this.#ended || !this.pending) return undefined;
      return this.takeAll();
    }
    let line = text.slice(pos, keepEnds ? next : end);
    this.#pos = next;
    if (this.#head.length !== 0) {
      this.#head.push(line);
      line = this.#head.join("");
      this.#head = [];
    }
    return line;
  }

  /**
   * Hands out up to `n` code points (a surrogate pair counts as one, never
   * split) of what is held, without splitting lines.
   *
   * @param n How many code points at most; an integer ≥ 0.
   * @returns The text, shorter than asked if less is held.
   */
  take(n: number): string {
    let out = "";
    let left = n;
    const head = this.#head;
    while (head.length !== 0 && left > 0) {
      const piece = head[0];
      const end = codePointOffset(piece, 0, left);
      left -= countCodePoints(piece, 0, end);
      if (end === piece.length) {
        out += piece;
        head.shift();
      } else {
        out += piece.slice(0, end);
        head[0] = piece.slice(end);
      }
    }
    if (left > 0 && this.#pos < this.#text.length) {
      const end = codePointOffset(this.#text, this.#pos, left);
      out += this.#text.slice(this.#pos, end);
      this.#pos = end;
    }
    return out;
  }

  /**
   * Hands out everything held.
   *
   * @returns The text.
   */
  takeAll(): string {
    let out = this.#text.slice(this.#pos);
    if (this.#head.length !== 0) {
      this.#head.push(out);
      out = this.#head.join("");
      this.#head = [];
    }
    this.#text = "";
    this.#pos = 0;
    this.#lf = -1;
    this.#cr = -1;
    return out;
  }

  /**
   * What is held, without handing it out.
   *
   * @returns The text.
   */
  peekAll(): string {
    const rest = this.#text.slice(this.#pos);
    return this.#head.length === 0 ? rest : this.#head.join("") + rest;
  }

  /**
   * Puts text back in front of what is held (a read that was cancelled
   * after it took it).
   *
   * @param text The text to give back.
   */
  unshift(text: string): void {
    if (text.length === 0) return;
    this.#text = text + this.peekAll();
    this.#head = [];
    this.#pos = 0;
    this.#lf = -1;
    this.#cr = -1;
  }

  /** Forgets everything held and starts over (after a seek). */
  reset(): void {
    this.#text = "";
    this.#pos = 0;
    this.#lf = -1;
    this.#cr = -1;
    this.#head = [];
    this.#ended = false;
  }

  #findLF(): number {
    const i = this.#text.indexOf("\n", this.#pos);
    return this.#lf = i === -1 ? this.#text.length : i;
  }

  #findCR(): number {
    const i = this.#text.indexOf("\r", this.#pos);
    return this.#cr = i === -1 ? this.#text.length : i;
  }
}

/**
 * The offset in `text` after `n` code points from `start` (or its length).
 *
 * @param text The text.
 * @param start Where to start counting.
 * @param n How many code points.
 * @returns An offset that never splits a surrogate pair.
 */
export function codePointOffset(
  text: string,
  start: number,
  n: number,
): number {
  const len = text.length;
  let i = start;
  while (n > 0 && i < len) {
    const unit = text.charCodeAt(i++);
    if (unit >= 0xd800 && unit < 0xdc00 && i < len) {
      const low = text.charCodeAt(i);
      if (low >= 0xdc00 && low < 0xe000) i++;
    }
    n--;
  }
  return i;
}

/**
 * How many code points `text` holds between `start` and `end`.
 *
 * @param text The text.
 * @param start The first code unit.
 * @param end After the last code unit.
 * @returns The count; a surrogate pair counts once.
 */
export function countCodePoints(
  text: string,
  start = 0,
  end: number = text.length,
): number {
  let count = end - start;
  for (let i = start; i < end - 1; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit < 0xdc00) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        count--;
        i++;
      }
    }
  }
  return count;
}

/**
 * Splits bytes, given chunk by chunk, into lines: decodes with a streaming
 * `TextDecoder` of `encoding` (so a character split across chunks is whole)
 * and splits on universal newlines. The pure core of a text file's
 * `lines()`, for tests and for callers with bytes of their own.
 *
 * @example Usage
 * ```ts
 * import { splitLines } from "./_lines.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("é\r\nß");
 * const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)];
 * assert.deepEqual([...splitLines(chunks)], ["é", "ß"]);
 * ```
 *
 * @param chunks The bytes.
 * @param options `encoding` (any `TextDecoder` label, default UTF-8) and
 *   `keepEnds` (keep each line's ending).
 * @returns The lines.
 */
export function* splitLines(
  chunks: Iterable<Uint8Array>,
  options?: { encoding?: string; keepEnds?: boolean },
): Generator<string> {
  const decoder = new TextDecoder(options?.encoding ?? "utf-8", {
    ignoreBOM: true,
  });
  const keepEnds = options?.keepEnds ?? false;
  const scanner = new LineScanner();
  for (const chunk of chunks) {
    scanner.push(decoder.decode(chunk, { stream: true }));
    for (let l; (l = scanner.nextLine(keepEnds)) !== undefined;) yield l;
  }
  scanner.push(decoder.decode());
  scanner.end();
  for (let l; (l = scanner.nextLine(keepEnds)) !== undefined;) yield l;
}

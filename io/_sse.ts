// Pure codecs of io/http.ts's streaming readers: a line splitter (text in,
// lines out) and a Server-Sent Events parser (lines in, events out), both
// fed chunk by chunk. No I/O here, so they are tested without sockets.

/**
 * Splits text fed in pieces into lines ending in `\n`, `\r\n` or a lone
 * `\r` (the rule of `text/event-stream` and of Python's universal
 * newlines). A `\r` at the end of a piece is held until the next piece says
 * whether a `\n` follows. Lines are returned without their ends.
 */
export class LineSplitter {
  #rest = "";
  #pendingCR = false;

  /**
   * Feeds a piece of text; returns the lines it completes.
   *
   * @param text The next piece.
   * @returns The complete lines, without line ends.
   */
  push(text: string): string[] {
    const lines: string[] = [];
    let start = 0;
    if (this.#pendingCR) {
      this.#pendingCR = false;
      if (text.charCodeAt(0) === 10) start = 1; // the \n of a split \r\n
    }
    const n = text.length;
    for (let i = start; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const piece = text.slice(start, i);
      lines.push(this.#rest === "" ? piece : this.#rest + piece);
      this.#rest = "";
      if (c === 13) {
        if (i + 1 === n) this.#pendingCR = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    if (start < n) this.#rest += text.slice(start);
    return lines;
  }

  /**
   * Ends the input; returns the last line if it had no line end.
   *
   * @returns The unterminated last line, or `undefined`.
   */
  end(): string | undefined {
    const rest = this.#rest;
    this.#rest = "";
    this.#pendingCR = false;
    return rest === "" ? undefined : rest;
  }
}

/** One event of a `text/event-stream` (Server-Sent Events). */
export interface ServerSentEvent {
  /** The event type: the `event:` field, `"message"` when there is none. */
  event: string;
  /** The `data:` lines, joined by `\n`. */
  data: string;
  /** The last event ID seen so far in the stream (`id:`), `""` if none. */
  id: string;
  /** The reconnection time the server asked for (`retry:`), in ms, if any. */
  retry?: number;
}

/**
 * The event-stream interpretation of the HTML standard, line by line: fields
 * `data`, `event`, `id`, `retry`; comments (`:`) ignored; a blank line
 * dispatches the event if it has data.
 */
export class SSEParser {
  #data: string[] = [];
  #event = "";
  #id = "";
  #retry: number | undefined = undefined;
  #first = true;

  /**
   * Feeds one line (without its end); returns the event it completes, if any.
   *
   * @param line The line.
   * @returns The dispatched event, or `undefined`.
   */
  line(line: string): ServerSentEvent | undefined {
    if (this.#first) {
      this.#first = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    if (line === "") return this.#dispatch();
    if (line.charCodeAt(0) === 58) return undefined; // ":" comment
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(
        line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1,
      );
    }
    switch (field) {
      case "data":
        this.#data.push(value);
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): ServerSentEvent | undefined {
    const data = this.#data;
    const event = this.#event;
    const retry = this.#retry;
    this.#data = [];
    this.#event = "";
    this.#retry = undefined;
    if (data.length === 0) return undefined;
    const message: ServerSentEvent = {
      event: event === "" ? "message" : event,
      data: data.join("\n"),
      id: this.#id,
    };
    if (retry !== undefined) message.retry = retry;
    return message;
  }
}

// The cookie jar of io/http.ts: RFC 6265's storage model, pure (URLs and
// header values in, a Cookie header out, the clock passed in), so it is
// tested without a server.

interface StoredCookie {
  name: string;
  value: string;
  /** Lower-case host (host-only) or domain (domain cookie), no leading dot. */
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  /** Epoch ms; `Infinity` for a session cookie. */
  expires: number;
  /** Creation order, for the RFC's tie-break. */
  seq: number;
}

function isIP(host: string): boolean {
  return host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

/** RFC 6265 §5.1.3: `host` equals `domain` or ends with `.domain`. */
function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return !isIP(host) && host.endsWith("." + domain);
}

/** RFC 6265 §5.1.4: the directory of the request path. */
function defaultPath(pathname: string): string {
  if (!pathname.startsWith("/")) return "/";
  const last = pathname.lastIndexOf("/");
  return last <= 0 ? "/" : pathname.slice(0, last);
}

/** RFC 6265 §5.1.4: `requestPath` is `cookiePath` or below it. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

/**
 * A per-session cookie store: `Set-Cookie` headers of responses in, the
 * `Cookie` header of the next request out, by domain, path, `Secure` and
 * expiry. A cookie without `Domain` goes back only to the host that set it;
 * a `Domain` the host is not inside (another site), or one that is a bare
 * top-level label, is refused.
 */
export class CookieJar {
  #cookies = new Map<string, StoredCookie>();
  #seq = 0;

  /** How many cookies are stored (expired ones included until next use). */
  get size(): number {
    return this.#cookies.size;
  }

  /** Forgets every cookie. */
  clear(): void {
    this.#cookies.clear();
  }

  /**
   * Stores the cookies of a response's `Set-Cookie` headers.
   *
   * @param url The URL of the request the response answers.
   * @param headers The `Set-Cookie` header values.
   * @param now The current time, epoch ms.
   */
  store(url: URL, headers: string[], now: number): void {
    const host = url.hostname.toLowerCase();
    for (const header of headers) this.#storeOne(url, host, header, now);
  }

  #storeOne(url: URL, host: string, header: string, now: number): void {
    const parts = header.split(";");
    const pair = parts[0];
    const eq = pair.indexOf("=");
    if (eq < 0) return; // RFC 6265 §5.2: no "=" → ignore the cookie
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (name === "") return;
    let domain = "";
    let path = "";
    let secure = false;
    let expires = Infinity;
    let maxAgeSeen = false;
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i];
      const at = part.indexOf("=");
      const key = (at < 0 ? part : part.slice(0, at)).trim().toLowerCase();
      const attr = at < 0 ? "" : part.slice(at + 1).trim();
      if (key === "domain") {
        domain = attr.replace(/^\./, "").toLowerCase();
      } else if (key === "path") {
        path = attr.startsWith("/") ? attr : "";
      } else if (key === "secure") {
        secure = true;
      } else if (key === "max-age") {
        if (/^-?\d+$/.test(attr)) {
          const seconds = Number(attr);
          expires = seconds <= 0 ? -Infinity : now + seconds * 1000;
          maxAgeSeen = true;
        }
      } else if (key === "expires" && !maxAgeSeen) {
        const time = Date.parse(attr);
        if (!Number.isNaN(time)) expires = time;
      }
    }
    let hostOnly = true;
    if (domain !== "") {
      // A bare label (`com`) would reach every site under it; a domain the
      // host is not inside is another site's.
      if (!domainMatches(host, domain)) return;
      if (!domain.includes(".") && domain !== host) return;
      hostOnly = false;
    } else {
      domain = host;
    }
    // RFC 6265bis: a Secure cookie is set only over a secure channel.
    if (secure && url.protocol !== "https:") return;
    if (path === "") path = defaultPath(url.pathname);
    const key = `${domain};${path};${name}`;
    const old = this.#cookies.get(key);
    if (expires <= now) {
      this.#cookies.delete(key);
      return;
    }
    this.#cookies.set(key, {
      name,
      value,
      domain,
      hostOnly,
      path,
      secure,
      expires,
      seq: old?.seq ?? this.#seq++,
    });
  }

  /**
   * The `Cookie` header for a request to `url`, or `undefined` when no
   * cookie applies. Longer paths first, then older cookies (RFC 6265 §5.4).
   *
   * @param url The request's URL.
   * @param now The current time, epoch ms.
   * @returns The header value.
   */
  header(url: URL, now: number): string | undefined {
    if (this.#cookies.size === 0) return undefined;
    const host = url.hostname.toLowerCase();
    const secure = url.protocol === "https:";
    const path = url.pathname || "/";
    const matched: StoredCookie[] = [];
    for (const [key, cookie] of this.#cookies) {
      if (cookie.expires <= now) {
        this.#cookies.delete(key);
        continue;
      }
      if (
        cookie.hostOnly
          ? host !== cookie.domain
          : !domainMatches(host, cookie.domain)
      ) continue;
      if (cookie.secure && !secure) continue;
      if (!pathMatches(path, cookie.path)) continue;
      matched.push(cookie);
    }
    if (matched.length === 0) return undefined;
    matched.sort((a, b) => b.path.length - a.path.length || a.seq - b.seq);
    return matched.map((c) => `${c.name}=${c.value}`).join("; ");
  }
}

// Types of server/conformance/checks.mjs.

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What the protocol requires, in words. */
  expected: string;
  /** What the server did, in words. */
  actual: string;
}

export interface ConformanceOptions {
  /** The API root, e.g. http://127.0.0.1:8787/api */
  apiUrl: string;
  /** Default 'todos'. */
  resource?: string;
  /** Sent as `Authorization: Bearer {token}`. */
  token: string;
  /** Creates carry no id, as the client's do with `ids: 'server'`: for a server that refuses one. */
  serverIds?: boolean;
  fetch?: typeof fetch;
}

/** Runs every check against a live server; never throws for a failing check. */
export function runConformance(options: ConformanceOptions): Promise<CheckResult[]>;

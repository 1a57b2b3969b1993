// A thin HTTP client for the reference server's /api in tests: every call
// answers { status, headers, text, body } and never throws on a status.

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON; `any` because tests read arbitrary shapes from the server. */
  body: any;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  token?: string | null;
}

let counter = 0;
/** A key no other test uses. */
export function freshKey(): string {
  counter += 1;
  return `key-${process.pid}-${counter}`;
}

export function api(apiUrl: string, token = 'demo-alice') {
  const call = async (method: string, path: string, options: CallOptions = {}): Promise<Reply> => {
    const bearer = options.token === undefined ? token : options.token;
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        ...(bearer === null ? {} : { Authorization: `Bearer ${bearer}` }),
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
  };
  return {
    call,
    get: (path: string) => call('GET', path),
    create: (resource: string, fields: Record<string, unknown>, key = freshKey()) =>
      call('POST', `/${resource}`, { body: fields, headers: { 'Idempotency-Key': key } }),
    update: (resource: string, id: string, version: number, patch: Record<string, unknown>, key = freshKey()) =>
      call('PATCH', `/${resource}/${encodeURIComponent(id)}`, {
        body: patch,
        headers: { 'Idempotency-Key': key, 'If-Match': `"${version}"` },
      }),
    remove: (resource: string, id: string, version: number, key = freshKey()) =>
      call('DELETE', `/${resource}/${encodeURIComponent(id)}`, {
        headers: { 'Idempotency-Key': key, 'If-Match': `"${version}"` },
      }),
  };
}

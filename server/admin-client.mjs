// A small client for a running server's /admin endpoints, for tests and scripts.

/**
 * @param {string} baseUrl the server's root, e.g. http://127.0.0.1:8787/
 * @param {typeof fetch} [fetchImpl]
 */
export function createAdminClient(baseUrl, fetchImpl = fetch) {
  /**
   * @param {string} method
   * @param {string} path below the root
   * @param {unknown} [body]
   */
  const call = async (method, path, body) => {
    const response = await fetchImpl(new URL(path, baseUrl), {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  /** @param {Awaited<ReturnType<typeof call>>} answer @param {string} what */
  const ok = (answer, what) => {
    if (answer.status >= 300) throw new Error(`${what} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  return {
    /** Reads the fault settings, or merges `patch` into them (null resets a field). @param {Record<string, unknown>} [patch] */
    faults: async (patch) =>
      ok(patch ? await call('POST', 'admin/faults', patch) : await call('GET', 'admin/faults'), 'admin/faults'),
    /** @param {string} [resource] */
    ledger: async (resource) =>
      ok(await call('GET', resource ? `admin/ledger?resource=${encodeURIComponent(resource)}` : 'admin/ledger'), 'admin/ledger'),
    /** Writes as 'mallory'; answers like the API would (`{ status, body }`), 404 and 409 included. @param {Record<string, unknown>} edit */
    edit: (edit) => call('POST', 'admin/edit', edit),
    /** @param {string} resource @param {number} count */
    seed: async (resource, count) => ok(await call('POST', 'admin/seed', { resource, count }), 'admin/seed'),
    reset: async () => void ok(await call('POST', 'admin/reset'), 'admin/reset'),
  };
}

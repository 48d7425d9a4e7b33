// One JSON request to a running host, as the end-to-end tests send them: the answer's status, text,
// parsed body (undefined when not JSON) and Idempotent-Replayed header.

/** The embedded host's default card network key (API.md: printed at start-up). */
export const DEV_NETWORK_KEY = 'dev-network-key';

export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: any;
  readonly replayed: string | null;
}

export interface HostRequestOptions {
  readonly token?: string;
  readonly body?: unknown;
  readonly key?: string;
  /** Sent as the card network, with DEV_NETWORK_KEY. */
  readonly network?: boolean;
}

export async function requestHost(url: string, method: string, path: string, options: HostRequestOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  if (options.network === true) headers['x-network-key'] = DEV_NETWORK_KEY;
  const response = await fetch(`${url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  let body: unknown;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, text, body, replayed: response.headers.get('idempotent-replayed') };
}

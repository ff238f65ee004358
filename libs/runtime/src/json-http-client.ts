import { Agent, request as httpRequest } from 'node:http';

export interface JsonResponse<T> {
  status: number;
  body: T;
}

/**
 * JSON over HTTP with connections kept alive between calls and closed on `close()`: global fetch keeps
 * idle sockets open for seconds after the last call, which holds a short CLI command's exit back.
 */
export class JsonHttpClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });
  private readonly headers: Record<string, string>;

  /** `apiKey` goes with every request as `Authorization: Bearer <key>`; it is never put in a message. */
  constructor(options: { apiKey?: string } = {}) {
    this.headers = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  }

  request<T>(method: 'GET' | 'POST', url: string, body?: unknown, timeoutMs = 120_000): Promise<JsonResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        url,
        {
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            ...this.headers,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: response.statusCode ?? 0, body: (text === '' ? undefined : JSON.parse(text)) as T });
            } catch (error) {
              reject(
                new Error(`${method} ${url} answered ${response.statusCode} with non-JSON: ${text.slice(0, 200)}`, {
                  cause: error,
                }),
              );
            }
          });
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

import { parseJsonExact } from '@featurelog/domain';

type Done = (error: Error | null, body?: unknown) => void;
type BodyParser = (request: unknown, body: Buffer, done: Done) => void;

/** The slice of a Nest Fastify application this needs (NestFastifyApplication.useBodyParser). */
export interface JsonBodyParserHost {
  useBodyParser(type: string, options: Record<string, never>, parser: BodyParser): unknown;
  getHttpAdapter(): { getInstance(): unknown };
}

/**
 * Makes the app read JSON bodies with parseJsonExact instead of JSON.parse: an int64 beyond the safe
 * range in a push (or a join key in /get-online-features) reaches validation as the exact bigint and is
 * refused naming it, instead of being rounded before anyone looks (9007199254740993 → …992). A body it
 * refuses (malformed, empty, a `__proto__` key) goes to Fastify's own parser, so such bodies are answered
 * exactly as before. Call before `app.init()`: Nest then leaves its own JSON parser out.
 */
export function useExactJsonBodies(app: JsonBodyParserHost): void {
  const fastify = app.getHttpAdapter().getInstance() as {
    getDefaultJsonParser(onProtoPoisoning: string, onConstructorPoisoning: string): BodyParser;
  };
  const fallback = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', {}, (request, body, done) => {
    let parsed: unknown;
    try {
      parsed = parseJsonExact(body.toString('utf8'));
    } catch {
      // Fastify's parser fails it too, with its own status and message.
      fallback(request, body, done);
      return;
    }
    done(null, parsed);
  });
}

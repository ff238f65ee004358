import { parseJsonExact, type FeaturelogError } from '@featurelog/domain';

type Done = (error: Error | null, body?: unknown) => void;

/** The slice of a Nest Fastify application this needs (NestFastifyApplication.useBodyParser). */
export interface JsonBodyParserHost {
  useBodyParser(
    type: string,
    options: Record<string, never>,
    parser: (request: unknown, body: Buffer, done: Done) => void,
  ): unknown;
}

/**
 * Makes the app read JSON bodies with parseJsonExact instead of JSON.parse: an int64 beyond the safe
 * range in a push (or a join key in /get-online-features) reaches validation as the exact bigint and is
 * refused naming it, instead of being rounded before anyone looks (9007199254740993 → …992). Call before
 * `app.init()`: Nest then leaves its own JSON parser out.
 */
export function useExactJsonBodies(app: JsonBodyParserHost): void {
  app.useBodyParser('application/json', {}, (_request, body, done) => {
    const text = body.toString('utf8');
    if (text === '') return done(null, undefined);
    try {
      done(null, parseJsonExact(text));
    } catch (error) {
      // Fastify answers a parser's error with its statusCode; the app's filter keeps the code and message.
      (error as FeaturelogError & { statusCode?: number }).statusCode = 400;
      done(error as FeaturelogError);
    }
  });
}

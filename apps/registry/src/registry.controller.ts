import { Body, Controller, Get, Inject, Param, Post, Query } from '@nestjs/common';
import { AuthorizedCaller, RequireScope, type Caller } from '@featurelog/auth';
import {
  DEFINITION_KINDS,
  FeaturelogError,
  listDefinitions,
  parseTimestampText,
  registryAsOf,
  registryObjectKey,
  type DefinitionKind,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';
import { REGISTRY_RUNTIME, type RegistryRuntime } from './registry.runtime';

/**
 * URL segment of each kind: `/feature-views/driver_stats`. A Map, not an object literal: a segment is
 * user input, and an object would answer `constructor` or `__proto__` from its prototype.
 */
const KIND_BY_SEGMENT: ReadonlyMap<string, DefinitionKind> = new Map([
  ['entities', 'entity'],
  ['data-sources', 'data_source'],
  ['feature-views', 'feature_view'],
  ['feature-services', 'feature_service'],
  ['connectors', 'connector'],
]);

/** How long a read with `minVersion` waits for the fold to reach it. */
const MIN_VERSION_WAIT_MS = 10_000;

interface ChangeRequest {
  definitions?: unknown;
  prune?: unknown;
  author?: unknown;
}

/** Reads need the `read` scope, plan and apply the `apply` scope (checked by the app's route guard). */
@Controller()
@RequireScope('read')
export class RegistryController {
  constructor(@Inject(REGISTRY_RUNTIME) private readonly runtime: RegistryRuntime) {}

  /**
   * The whole registry, now or as of a version (`?version=`) or a time (`?time=` ISO-8601 or epoch
   * µs): the folded state itself (every object with its history, accepted applies, rejections), the
   * same value any process gets by folding the log up to that version.
   */
  @Get('registry')
  async registry(@Query() query: Record<string, string | undefined>): Promise<RegistryState> {
    return this.asOf(await this.readable(query.minVersion), query);
  }

  /** The current definitions of every kind (now, or as of `?version=` / `?time=`). */
  @Get('definitions')
  async definitions(@Query() query: Record<string, string | undefined>) {
    const asOf = this.asOf(await this.readable(query.minVersion), query);
    return {
      version: asOf.version,
      objects: Object.fromEntries(
        DEFINITION_KINDS.map((kind) => [kind, listDefinitions(asOf, kind).map((tagged) => tagged.definition)]),
      ),
    };
  }

  @Get(':kinds')
  async list(@Param('kinds') segment: string, @Query() query: Record<string, string | undefined>) {
    const kind = this.kind(segment);
    const state = this.asOf(await this.readable(query.minVersion), query);
    return { version: state.version, items: listDefinitions(state, kind).map((tagged) => tagged.definition) };
  }

  @Get(':kinds/:name')
  async get(
    @Param('kinds') segment: string,
    @Param('name') name: string,
    @Query() query: Record<string, string | undefined>,
  ) {
    const object = this.object(this.asOf(await this.readable(query.minVersion), query), this.kind(segment), name);
    if (object.deleted) {
      throw new FeaturelogError('OBJECT_NOT_FOUND', `${object.kind} '${name}' was deleted at offset ${object.offset}`);
    }
    const { history: _history, ...current } = object;
    return current;
  }

  /** Every version of one object, with the log offset and time of each change. */
  @Get(':kinds/:name/history')
  async history(
    @Param('kinds') segment: string,
    @Param('name') name: string,
    @Query('minVersion') minVersion?: string,
  ) {
    const object = this.object(await this.readable(minVersion), this.kind(segment), name);
    return { kind: object.kind, name: object.name, versions: object.history };
  }

  @Post('plan')
  @RequireScope('apply')
  async plan(@Body() body: ChangeRequest) {
    const { definitions, prune } = this.changeRequest(body);
    return this.runtime.applier.plan(definitions, { prune });
  }

  /** Applies and returns once the registry this app serves reflects the change. */
  @Post('apply')
  @RequireScope('apply')
  async apply(@Body() body: ChangeRequest, @AuthorizedCaller() caller: Caller | undefined) {
    const request = this.changeRequest(body);
    const { definitions, prune } = request;
    // With API keys on, the change is recorded under the key's name, not a name the body claims.
    const author = caller ? `api-key:${caller.name}` : request.author;
    const result = await this.runtime.applier.apply(definitions, { prune, ...(author ? { author } : {}) });
    if (result.offset !== undefined) await this.runtime.follower.waitForOffset(result.offset);
    return result;
  }

  private async readable(minVersion: string | undefined): Promise<RegistryState> {
    const { follower, fold } = this.runtime;
    fold.assertServable();
    if (minVersion !== undefined) {
      const wanted = this.integer('minVersion', minVersion);
      if (follower.state.version < wanted) {
        await follower.catchUp();
        const deadline = Date.now() + MIN_VERSION_WAIT_MS;
        while (follower.state.version < wanted && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          await follower.catchUp();
        }
        if (follower.state.version < wanted) {
          throw new FeaturelogError(
            'REGISTRY_VERSION_NOT_REACHED',
            `registry version ${wanted} was not reached within ${MIN_VERSION_WAIT_MS} ms (at ${follower.state.version})`,
            { retriable: true },
          );
        }
      }
    }
    fold.assertServable();
    return follower.state;
  }

  private asOf(state: RegistryState, query: Record<string, string | undefined>): RegistryState {
    if (query.version !== undefined && query.time !== undefined) {
      throw new FeaturelogError('BAD_QUERY', 'give either version or time, not both');
    }
    if (query.version !== undefined) return registryAsOf(state, { version: this.integer('version', query.version) });
    if (query.time !== undefined) return registryAsOf(state, { time: this.time(query.time) });
    return state;
  }

  private kind(segment: string): DefinitionKind {
    const kind = KIND_BY_SEGMENT.get(segment);
    if (kind === undefined) {
      throw new FeaturelogError(
        'UNKNOWN_KIND',
        `unknown kind '${segment}': expected one of ${[...KIND_BY_SEGMENT.keys()].join(', ')}`,
      );
    }
    return kind;
  }

  private object(state: RegistryState, kind: DefinitionKind, name: string) {
    const object = state.objects[registryObjectKey(kind, name)];
    if (object === undefined) throw new FeaturelogError('OBJECT_NOT_FOUND', `no ${kind} named '${name}'`);
    return object;
  }

  private integer(name: string, text: string): number {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new FeaturelogError('BAD_QUERY', `${name} must be a non-negative integer, got '${text}'`);
    }
    return value;
  }

  private time(text: string): number {
    if (/^\d+$/.test(text)) return Number(text);
    const micros = parseTimestampText(text);
    if (micros === undefined) {
      throw new FeaturelogError('BAD_QUERY', `time must be ISO-8601 or epoch microseconds, got '${text}'`);
    }
    return micros;
  }

  private changeRequest(body: ChangeRequest): { definitions: TaggedDefinition[]; prune: boolean; author?: string } {
    if (body === null || typeof body !== 'object' || !Array.isArray(body.definitions)) {
      throw new FeaturelogError(
        'BAD_REQUEST',
        'the body must be { "definitions": [{ "kind": ..., "definition": ... }], "prune"?: boolean }',
      );
    }
    if (body.prune !== undefined && typeof body.prune !== 'boolean') {
      throw new FeaturelogError('BAD_REQUEST', 'prune must be a boolean');
    }
    const definitions = body.definitions as TaggedDefinition[];
    definitions.forEach((tagged, index) => {
      if (!tagged || !DEFINITION_KINDS.includes(tagged.kind) || typeof tagged.definition !== 'object') {
        throw new FeaturelogError(
          'BAD_REQUEST',
          `definitions[${index}] must be { kind: ${DEFINITION_KINDS.join('|')}, definition: {...} }`,
        );
      }
    });
    return {
      definitions,
      prune: body.prune === true,
      ...(typeof body.author === 'string' ? { author: body.author } : {}),
    };
  }
}

import type { ConnectionOptions } from 'node:tls';
import { FeaturelogError } from '@featurelog/domain';
import { avroType, normalizedSchemaText, parseSchema, type AvroSchema } from './avro-type';
import { checkBackwardCompatible } from './backward-compatibility';
import {
  registryAuthError,
  registryTlsError,
  RegistryHttpClient,
  type RegistryHttpResponse,
  type SchemaRegistryBasicAuth,
} from './schema-registry-http';
import type {
  CompatibilityLevel,
  CompatibilityResult,
  RegisteredSchema,
  SchemaRegistryPort,
  RegisterOptions,
} from './schema-registry.port';

export interface ConfluentSchemaRegistryOptions {
  /** Base URL of the Confluent REST API, e.g. http://127.0.0.1:8081 or Apicurio's http://127.0.0.1:8080/apis/ccompat/v7. */
  url: string;
  /** Per request; a registry that does not answer in time is reported unavailable (retriable). */
  requestTimeoutMs?: number;
  /** Set on a subject's first registration unless it already has a level, so the registry enforces it too. */
  defaultCompatibility?: CompatibilityLevel;
  /** TLS options for an https:// URL (ca, cert, key, servername …); absent: the system's CAs. */
  tls?: ConnectionOptions;
  /** HTTP basic authentication, as Confluent's `basic.auth.user.info` (Confluent Cloud: API key and secret). */
  basicAuth?: SchemaRegistryBasicAuth;
  /** The featurelog.yaml section these options come from, to name settings in errors (default `schemaRegistry`). */
  settingsSection?: string;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
/** Confluent error codes in 404 bodies: subject, version, schema not found; subject level not configured. */
const NOT_FOUND_CODES = new Set([40401, 40402, 40403, 40408]);

interface SubjectVersion {
  subject?: string;
  id: number;
  version: number;
  schema: string;
}

/**
 * A Confluent-compatible schema registry over HTTP (Confluent Schema Registry, Apicurio's ccompat
 * API). Schemas by id are cached forever: ids are immutable. Compatibility is checked locally
 * against the latest version before the registry is asked, so the refusal names the field the
 * same way everywhere, and stays strict (removing a feature is refused) even where the registry's
 * own check is weaker or not configured.
 */
export class ConfluentSchemaRegistry implements SchemaRegistryPort {
  private readonly baseUrl: string;
  private readonly requestTimeoutMs: number;
  private readonly defaultCompatibility: CompatibilityLevel;
  private readonly schemasById = new Map<number, AvroSchema>();
  private readonly http: RegistryHttpClient;
  private readonly settingsSection: string;
  private readonly hasCredentials: boolean;

  constructor({
    url,
    requestTimeoutMs = 10_000,
    defaultCompatibility = 'BACKWARD',
    tls,
    basicAuth,
    settingsSection = 'schemaRegistry',
  }: ConfluentSchemaRegistryOptions) {
    if (!/^https?:\/\//.test(url)) {
      throw new FeaturelogError(
        'CONFIG_INVALID',
        `schema registry url '${url}' must be an http(s) URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7`,
      );
    }
    this.baseUrl = url.replace(/\/+$/, '');
    this.requestTimeoutMs = requestTimeoutMs;
    this.defaultCompatibility = defaultCompatibility;
    this.http = new RegistryHttpClient(this.baseUrl, { tls, basicAuth });
    this.settingsSection = settingsSection;
    this.hasCredentials = basicAuth !== undefined;
  }

  /**
   * One request at start-up (GET /config, the global compatibility level) so that a wrong password
   * or an untrusted certificate fails the start with the setting named, instead of the first
   * registration long after. A registry that does not answer yet is let be (retriable, reported
   * by the requests that need it).
   */
  async checkConnection(): Promise<void> {
    try {
      await this.request('GET', '/config');
    } catch (error) {
      if (error instanceof FeaturelogError && error.retriable) return;
      throw error;
    }
  }

  async register(subject: string, schema: AvroSchema, options: RegisterOptions = {}): Promise<number> {
    const parsed = parseSchema(schema);
    avroType(parsed);
    const text = JSON.stringify(parsed);
    const latest = await this.latestVersion(subject);
    if (latest !== undefined && normalizedSchemaText(latest.schema) === normalizedSchemaText(parsed)) return latest.id;
    const existing = await this.lookup(subject, text);
    if (existing !== undefined) return existing;
    const level = await this.compatibilityLevel(subject);
    if (level === undefined) await this.setCompatibility(subject, this.defaultCompatibility);
    const baseline = options.compatibleWith ?? latest?.schema;
    if (baseline !== undefined && (level ?? this.defaultCompatibility) !== 'NONE') {
      const problems = checkBackwardCompatible(baseline, parsed);
      if (problems.length > 0) {
        throw new FeaturelogError(
          'SCHEMA_INCOMPATIBLE',
          `schema is not BACKWARD compatible with subject '${subject}': ${problems.join('; ')}`,
        );
      }
    }
    const response = await this.request<{ id: number }>('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema: text,
    });
    if (response.status === 409) {
      throw new FeaturelogError(
        'SCHEMA_INCOMPATIBLE',
        `registry refused schema for subject '${subject}' as incompatible: ${response.message}`,
      );
    }
    if (response.status === 422) {
      throw new FeaturelogError(
        'AVRO_SCHEMA_INVALID',
        `registry refused schema for subject '${subject}' as invalid: ${response.message}`,
      );
    }
    const { id } = this.expectOk(response, `register a schema under subject '${subject}'`);
    this.schemasById.set(id, parsed);
    return id;
  }

  async getSchema(id: number): Promise<AvroSchema> {
    const cached = this.schemasById.get(id);
    if (cached !== undefined) return cached;
    const response = await this.request<{ schema: string }>('GET', `/schemas/ids/${id}`);
    if (response.status === 404)
      throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id} in ${this.baseUrl}: ${response.message}`);
    const schema = parseSchema(this.expectOk(response, `get schema ${id}`).schema);
    this.schemasById.set(id, schema);
    return schema;
  }

  async latestVersion(subject: string): Promise<RegisteredSchema | undefined> {
    const response = await this.request<SubjectVersion>(
      'GET',
      `/subjects/${encodeURIComponent(subject)}/versions/latest`,
    );
    if (response.status === 404) return undefined;
    const latest = this.expectOk(response, `get the latest version of subject '${subject}'`);
    const schema = parseSchema(latest.schema);
    this.schemasById.set(latest.id, schema);
    return { id: latest.id, version: latest.version, schema };
  }

  async checkCompatibility(subject: string, schema: AvroSchema): Promise<CompatibilityResult> {
    const parsed = parseSchema(schema);
    const latest = await this.latestVersion(subject);
    if (latest === undefined || ((await this.compatibilityLevel(subject)) ?? this.defaultCompatibility) === 'NONE') {
      return { compatible: true, messages: [] };
    }
    const messages = checkBackwardCompatible(latest.schema, parsed);
    const response = await this.request<{ is_compatible: boolean; messages?: string[]; reason?: string }>(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
      { schema: JSON.stringify(parsed) },
    );
    // A registry without this subject or check has nothing to add to the local verdict.
    if (response.status !== 404) {
      const remote = this.expectOk(response, `check compatibility with subject '${subject}'`);
      if (!remote.is_compatible) {
        // Confluent answers `messages` (verbose), Apicurio a single `reason`.
        const reasons = remote.messages?.length ? remote.messages : [remote.reason ?? 'not compatible'];
        messages.push(...reasons.map((reason) => `registry: ${reason}`));
      }
    }
    return { compatible: messages.length === 0, messages };
  }

  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    const response = await this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level });
    this.expectOk(response, `set compatibility of subject '${subject}' to ${level}`);
  }

  async listSubjects(): Promise<string[]> {
    const response = await this.request<string[]>('GET', '/subjects');
    return [...this.expectOk(response, 'list subjects')].sort();
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /** The id of `schema` if already registered under `subject` (any version), else undefined. */
  private async lookup(subject: string, text: string): Promise<number | undefined> {
    const response = await this.request<SubjectVersion>('POST', `/subjects/${encodeURIComponent(subject)}`, {
      schema: text,
    });
    if (response.status === 404) return undefined;
    return this.expectOk(response, `look up a schema under subject '${subject}'`).id;
  }

  /**
   * The subject's own level; featurelog's default when it has none. The registry's global default
   * is deliberately not consulted: Apicurio ships with NONE, which would silently allow breaking changes.
   */
  private async compatibilityLevel(subject: string): Promise<CompatibilityLevel | string | undefined> {
    const response = await this.request<{ compatibilityLevel?: string; compatibility?: string }>(
      'GET',
      `/config/${encodeURIComponent(subject)}`,
    );
    if (response.status === 404) return undefined;
    const body = this.expectOk(response, `get the compatibility level of subject '${subject}'`);
    return body.compatibilityLevel ?? body.compatibility;
  }

  private expectOk<T>(response: HttpResult<T>, action: string): T {
    if (response.status >= 200 && response.status < 300 && response.body !== undefined) return response.body;
    throw new FeaturelogError(
      response.status >= 500 ? 'SCHEMA_REGISTRY_UNAVAILABLE' : 'SCHEMA_REGISTRY_REQUEST_FAILED',
      `cannot ${action}: ${this.baseUrl} answered ${response.status}: ${response.message}`,
      { retriable: response.status >= 500 },
    );
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<HttpResult<T>> {
    let response: RegistryHttpResponse;
    try {
      response = await this.http.request(
        `${this.baseUrl}${path}`,
        method,
        { accept: CONTENT_TYPE, ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }) },
        body === undefined ? undefined : JSON.stringify(body),
        this.requestTimeoutMs,
      );
    } catch (error) {
      const setting = registryTlsError(error, this.baseUrl, this.settingsSection);
      if (setting) throw setting;
      throw new FeaturelogError(
        'SCHEMA_REGISTRY_UNAVAILABLE',
        `schema registry ${this.baseUrl} did not answer ${method} ${path}: ${(error as Error).message}`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
    const refused = registryAuthError(response.status, this.baseUrl, this.settingsSection, this.hasCredentials);
    if (refused) throw refused;
    const { text } = response;
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const errorBody = parsed as { error_code?: number; message?: string } | undefined;
    // Confluent signals "no such subject/version/schema" as 404 with a code; keep other 404s (wrong URL) loud.
    const status =
      response.status === 404 && errorBody?.error_code !== undefined && !NOT_FOUND_CODES.has(errorBody.error_code)
        ? 400
        : response.status;
    return { status, body: response.ok ? (parsed as T) : undefined, message: errorBody?.message ?? text.slice(0, 300) };
  }
}

interface HttpResult<T> {
  status: number;
  body: T | undefined;
  message: string;
}

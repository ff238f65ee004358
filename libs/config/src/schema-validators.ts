import Ajv2020, { type Options, type ValidateFunction } from 'ajv/dist/2020';
// The published schemas themselves, so the editor's validation and the loader's can never disagree.
import definitionSchema from '../../../schemas/definitions.schema.json';
import projectSchema from '../../../schemas/featurelog.schema.json';

export { definitionSchema, projectSchema };

/** The schemas a document is checked against, by the name the checks use. */
export const VALIDATED_SCHEMAS = { definition: definitionSchema, project: projectSchema } as const;
export type ValidatedSchemaName = keyof typeof VALIDATED_SCHEMAS;

/** Every error (not the first), with the failing value and schema, which the messages quote. */
export const VALIDATOR_OPTIONS: Options = { allErrors: true, strictTypes: true, verbose: true };

let ajv: Ajv2020 | undefined;
const compiled = new Map<ValidatedSchemaName, ValidateFunction>();

/**
 * The validator of one schema, compiled on first use. Compiling the definitions schema takes Ajv
 * 0.3–0.8 s, which every CLI call would pay: the build (tools/build/build.ts) replaces this module in
 * dist/ by Ajv's standalone code of the same validators, with the same options, generated once.
 */
export function schemaValidator(name: ValidatedSchemaName): ValidateFunction {
  let validate = compiled.get(name);
  if (validate === undefined) {
    ajv ??= new Ajv2020(VALIDATOR_OPTIONS);
    validate = ajv.compile(VALIDATED_SCHEMAS[name]);
    compiled.set(name, validate);
  }
  return validate;
}

// The validator scripts/schemaValidator.mjs generates from schemas/gpumod.schema.json at build time.
declare module 'gpumod:schema-validator' {
  import type { ErrorObject } from 'ajv';
  export const validate: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
}

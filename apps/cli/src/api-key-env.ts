/**
 * The environment variables a featurelog command reads its API key from. Apart from api-key.ts so
 * that main.ts can name them in `--help` without loading anything else.
 */
export const API_KEY_ENV = 'FEATURELOG_API_KEY';
export const API_KEY_FILE_ENV = 'FEATURELOG_API_KEY_FILE';

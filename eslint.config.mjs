// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.stack/', '.venv/', 'coverage/', 'target/', 'ui/build/', 'ui/screenshots/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/libs/*/src/**', '../../libs/**', '../../../libs/**'],
              message: 'Import a lib only through its @featurelog/<lib> alias.',
            },
            {
              group: ['**/apps/*/src/**', '../../*/src/**', '../../../*/src/**'],
              message: 'Import another app only through its @featurelog/app-<app> alias (apps/<app>/src/index.ts).',
            },
          ],
        },
      ],
    },
  },
  {
    // The web UI runs in the browser (the README's "The web UI").
    files: ['ui/src/**/*.{ts,tsx}'],
    languageOptions: {
      globals: {
        document: 'readonly',
        location: 'readonly',
        sessionStorage: 'readonly',
        fetch: 'readonly',
        addEventListener: 'readonly',
        removeEventListener: 'readonly',
      },
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly' },
    },
  },
  {
    // Decorated constructor parameters need value imports for emitDecoratorMetadata.
    files: ['apps/**/*.ts', 'libs/**/*.module.ts', 'libs/**/*.controller.ts', 'libs/**/*.service.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
);

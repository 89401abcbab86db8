// The linter `npm run lint` (and so `npm test`) runs: ESLint's and
// typescript-eslint's recommended rules, without type information (fast, and
// no second compile), plus a few rules that catch real mistakes. Formatting is
// not the linter's business here.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  {ignores: ['**/dist/**', '**/node_modules/**', 'build/**', 'tmp/**', 'oclif.manifest.json']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {globals: {...globals.node}},
    linterOptions: {reportUnusedDisableDirectives: 'error'},
    rules: {
      eqeqeq: ['error', 'always', {null: 'ignore'}],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-console': 'off',
      '@typescript-eslint/consistent-type-imports': ['error', {fixStyle: 'inline-type-imports'}],
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
    },
  },
  {
    // CommonJS (bin/package.json): see the top of bin/run.js.
    files: ['bin/**/*.js'],
    languageOptions: {sourceType: 'commonjs'},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
  {
    files: ['test/**/*.ts', 'packages/*/test/**/*.ts', 'plugins/*/test/**/*.ts', 'examples/*/test/**/*.ts'],
    languageOptions: {globals: {...globals.mocha}},
    rules: {
      // chai's `expect(x).to.be.true` is an expression statement by design.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
)

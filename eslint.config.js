// ESLint flat config: type-aware rules for the TypeScript sources and tests.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "node_modules/",
      "coverage/",
      "examples/**/*.js",
      "examples/**/*.mjs",
      "bench/**/*.mjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // dependency-cruiser's config: CommonJS, read by the depcruise command.
    files: [".dependency-cruiser.cjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: "commonjs",
      globals: { module: "writable" },
    },
  },
  {
    // The dashboard: plain ES modules the browser loads as they are.
    files: ["dashboard/**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: "module",
      globals: Object.fromEntries(
        [
          "document",
          "window",
          "location",
          "fetch",
          "EventSource",
          "Node",
          "CSS",
          "URL",
          "confirm",
          "console",
          "setTimeout",
          "clearTimeout",
          "setInterval",
          "history",
          "URLSearchParams",
          "CustomEvent",
        ].map((name) => [name, "readonly"]),
      ),
    },
  },
);

import { defineConfig } from 'vite';

// Preact's JSX through esbuild: no Babel, no plugin.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir: 'dist', assetsDir: 'assets', target: 'es2022', sourcemap: false, reportCompressedSize: true },
});

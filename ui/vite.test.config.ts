import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The test build: the same app, started by tests/harness/harness.ts after it has installed
// `mockIPC` from @tauri-apps/api/mocks. Written to `dist-test/` (never shipped).
export default defineConfig({
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) })],
  clearScreen: false,
  base: './',
  root: fileURLToPath(new URL('./tests/harness', import.meta.url)),
  build: {
    outDir: fileURLToPath(new URL('./dist-test', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
  },
});

import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The product build: `ui/dist`, served by the Tauri shell (src-tauri). Test-only code
// (tests/harness) is NOT part of this build; see vite.test.config.ts.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  base: './',
  server: { port: 5173, strictPort: true, host: '127.0.0.1' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: ['es2022', 'chrome105', 'safari15'],
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
});

// Svelte 5, runes everywhere. TypeScript in components needs no preprocessor.
/** @type {import('@sveltejs/vite-plugin-svelte').SvelteConfig} */
export default {
  compilerOptions: { runes: true },
};

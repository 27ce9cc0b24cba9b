import { defineConfig } from "vite";

// Served by llmfw-state under /dashboard/; everything bundled, nothing from a CDN.
export default defineConfig({
  base: "/dashboard/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});

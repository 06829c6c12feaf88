/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The Go binary embeds dist/ (go:embed) and serves it under a strict CSP
// (script-src 'self'): relative asset paths, no inline scripts, no source maps.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: false, // keep dist/.placeholder; scripts/clean-dist.mjs cleans the rest
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
  },
  test: {
    // Pure logic runs in node; component tests opt into jsdom with a docblock.
    environment: "node",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});

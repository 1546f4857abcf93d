/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The Tauri app embeds ui/dist (frontendDist) and, in `tauri dev`, loads the dev
// server at http://localhost:5173 (devUrl). Everything is bundled: no CDN, no web fonts.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
    host: "127.0.0.1",
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Tauri 2 webviews: WebView2 (Chromium), WKWebView (Safari 13+), WebKitGTK.
    target: ["es2021", "chrome105", "safari15"],
    sourcemap: false,
  },
  resolve: process.env.VITEST ? { conditions: ["browser"] } : undefined,
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});

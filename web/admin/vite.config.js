// The admin UI (/_/), built into web/dist/admin with fixed file names that
// CMakeLists.txt embeds into the binary (RESTD_WEB_ASSETS).
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/_/",
  build: {
    outDir: fileURLToPath(new URL("../dist/admin", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: "assets/admin.js",
        chunkFileNames: "assets/admin-[name].js",
        assetFileNames: "assets/admin[extname]",
      },
    },
  },
});

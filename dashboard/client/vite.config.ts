// Builds the dashboard's web UI. The output folder comes from the build
// (CMake passes --outDir into its build folder); `npm run build` alone writes
// dist/ (git-ignored). Relative asset URLs: the server may be reached under
// any host name it answers to, and the files are served from its root.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});

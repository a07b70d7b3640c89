import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const root = fileURLToPath(new URL('.', import.meta.url));
const admin = process.env.MOAT_ADMIN_URL ?? 'http://127.0.0.1:8025';

/**
 * The policy the admin listener and the desktop shell also send. Put in the built page as well, so the UI can
 * never run looser than this wherever it is opened (dev keeps Vite's inline refresh preamble, so build only).
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'";

function contentSecurityPolicy(): Plugin {
  return {
    name: 'moat-csp',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head' }],
  };
}

export default defineConfig({
  root,
  // Relative asset URLs: the same build is served from http://127.0.0.1:8025/ and from the shell's app://moat/.
  base: './',
  plugins: [react(), contentSecurityPolicy()],
  build: {
    outDir: '../dist-renderer',
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill is an inline-free chunk anyway, but every browser we run in has modulepreload.
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': {
        target: admin,
        changeOrigin: true,
        // The admin listener refuses requests from another origin (CSRF); the dev server is one hop in front.
        configure: (proxy) => proxy.on('proxyReq', (request) => request.setHeader('origin', admin)),
      },
    },
  },
});

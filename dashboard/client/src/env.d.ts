// Vite bundles imported style sheets into the page.
declare module '*.css';

// hls.js ships types for its full build only; its light build has the same API for what the listen page uses.
declare module 'hls.js/light' {
  export { default } from 'hls.js';
}

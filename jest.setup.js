// jsdom 20 lacks structuredClone, which @dagrejs/dagre 3 calls during layout.
const v8 = require('v8');
if (typeof globalThis.structuredClone !== 'function') {
  globalThis.structuredClone = value => v8.deserialize(v8.serialize(value));
}

/** The in-memory storage adapter: the default storage, for tests and development. */
export { createMemoryStorage } from './memory-storage.js';

import { describeStorageThread } from '../support/storage-thread-cases.js';

describeStorageThread('postgres');

import { describeDispatcherWorker } from '../support/dispatcher-worker-cases.js';

describeDispatcherWorker('sqlite');

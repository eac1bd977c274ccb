/** Runs inside every test file (vitest `setupFiles`): closes what shared test helpers started for the file. */
import { afterAll } from 'vitest';
import { closeAwsRulesLayers } from './aws-rules.js';

afterAll(closeAwsRulesLayers);

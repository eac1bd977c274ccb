/** The local Step Functions endpoint the `streamfleet` CLI drives in local mode. */
export { HistoryTranslator, type WireHistoryEvent } from './history.js';
export {
  type OperatorEndpoints,
  type OperatorEndpointsInput,
  startOperatorEndpoints,
} from './operator-endpoints.js';
export {
  LOCAL_ACCOUNT_ID,
  LocalStepFunctions,
  type LocalStepFunctionsOptions,
  startLocalStepFunctions,
} from './server.js';

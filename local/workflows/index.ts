/** Local Step Functions runs of the real workflow definitions, bound to the real handlers. */

export { loadHandler } from './handlers.js';
export {
  allStates,
  ExecutionStatus,
  type HistoryEvent,
  type LambdaLike,
  type LocalExecutionEvent,
  type LogLevel,
  localWorkflowDefinition,
  type RunWorkflowOptions,
  runWorkflowLocally,
  validateWorkflowDefinition,
  type WorkflowExecution,
} from './run.js';

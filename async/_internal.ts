/**
 * The one private seam of the core that other folders (sync/, io/,
 * testing/) may import: what a primitive built on the core needs and users
 * do not. Keep it small; everything here is unstable and unexported from
 * `@aio/std`.
 *
 * @module
 */
export {
  addListener,
  ambientCancelled,
  type CancelListener,
  currentScope,
  isCancellationIn,
  isThenable,
  rejection,
  removeListener,
  runOutside,
  toCancelError,
} from "./_scope.ts";
export { reportException } from "./_report.ts";
export { registerResource, resourceClosed } from "./_debug.ts";
export { Task } from "./task.ts";

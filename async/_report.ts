// Where errors that nobody else could be given go: the exception handler's
// state, private to async/ (`setExceptionHandler` is its public face).
import type { ExceptionContext, ExceptionHandler } from "./task.ts";

const defaultHandler: ExceptionHandler = (context) => {
  console.error(
    `${context.message}${
      context.taskName === undefined ? "" : ` (task '${context.taskName}')`
    }:`,
    context.error,
  );
};
let exceptionHandler: ExceptionHandler = defaultHandler;

/** Installs `handler` (the default for `undefined`); returns the previous one. */
export function swapExceptionHandler(
  handler: ExceptionHandler | undefined,
): ExceptionHandler {
  const previous = exceptionHandler;
  exceptionHandler = handler ?? defaultHandler;
  return previous;
}

/** Reports an error through the current exception handler. */
export function reportException(context: ExceptionContext): void {
  try {
    exceptionHandler(context);
  } catch (error) {
    defaultHandler({ message: "The exception handler failed", error });
    defaultHandler(context);
  }
}

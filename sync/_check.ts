// The argument check shared by the constructors and methods of sync/. Private
// to sync/.

/**
 * Checks a count given to a primitive: a number that is an integer ≥ `min`.
 *
 * @param action What was being done, for the message: "create the Barrier".
 * @param name The argument's name.
 * @param value The argument.
 * @param min The least value allowed.
 * @returns `value`.
 * @throws {TypeError} If `value` is not a number.
 * @throws {RangeError} If `value` is not an integer ≥ `min`.
 */
export function checkCount(
  action: string,
  name: string,
  value: unknown,
  min: number,
): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action}: '${name}' must be a number, got ${typeof value}`,
    );
  }
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `Cannot ${action}: '${name}' must be an integer >= ${min}, got ${value}`,
    );
  }
  return value;
}

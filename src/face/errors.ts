/**
 * The input-error face: the one error type for bad user input and how its
 * messages quote what was found. One part of the library's face (src/index.ts
 * is all of them, through the allocator's part); apart so that a command's
 * shared file and input code loads no model to name it.
 */

export { asInputError, InputError, quote } from "../stdx/errors.ts";

/** Vite's inline worker import: the worker's bundle, started from a blob URL. */
declare module "*?worker&inline" {
  const WorkerConstructor: new () => Worker;
  export default WorkerConstructor;
}

/** Style sheets, inlined into the page by the build. */
declare module "*.css" {}

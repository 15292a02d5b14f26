// Types of what bin/iovalab.js (JavaScript, so that the command's start loads no TypeScript) exports to scripts/build.ts.
export declare const ROOT: string;
export declare const BUNDLE: string;
export declare const STAMP: string;
export declare function sourceListing(root?: string): string;

// Types of bin/bundle-stamp.js (JavaScript, so that the command's entry loads no TypeScript).
export declare const ROOT: string;
export declare const BUNDLE_DIR: string;
export declare const STAMP_FILE: string;
export declare const BUNDLE_ENTRY: string;
export declare function sourceListing(root?: string): string;
export declare function currentBundle(root?: string): string | null;

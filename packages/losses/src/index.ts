export const PACKAGE = '@hier-ts/losses';

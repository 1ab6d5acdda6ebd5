export const PACKAGE = '@hier-ts/cli';
